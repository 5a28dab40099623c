"""Retail payment RPCs: face-to-face payment codes (付款码) and utility bills (水电煤缴费)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from chassis.grpc_server import Context
from chassis.idempotency import fingerprint_request, require_idempotency_key
from chassis.mongo import Session
from chassis.wire import amount_from_proto, timestamp_to_proto
from colony.payment.v1 import payment_pb2 as pb
from services.payment.batch_model import MovementAsk
from services.payment.batch_retail import ChargeCodeJob
from services.payment.bills import find_biller, validate_bill_reference
from services.payment.identity import mask_name
from services.payment.ledger import Account, AccountKind, Posting, PostingKind, require_kind
from services.payment.payment_authorization import authorization_factor
from services.payment.payment_code import (
    PaymentCode,
    code_digest,
    code_payment,
    code_payment_posting,
    issue_payment_code,
    mark_used,
    require_known,
    require_usable,
    validate_payment_code,
)
from services.payment.risk import PaymentKind
from services.payment.rpc_base import PaymentRpcBase, require_account_id
from services.payment.rpc_merchant_review import require_merchant_approved
from services.payment.screening import OutgoingPayment
from services.payment.wire import account_to_proto, biller_to_proto, posting_to_proto

MEMO_LENGTH_MAX = 64


class RetailRpc(PaymentRpcBase):
    """Payments at the till and to billers."""

    async def IssuePaymentCode(
        self, request: pb.IssuePaymentCodeRequest, context: Context
    ) -> pb.IssuePaymentCodeResponse:
        account = await self._store.get_account(
            require_account_id(request.account_id), with_balance=False
        )
        require_kind(account, (AccountKind.PERSONAL,), "show payment codes")
        issued = issue_payment_code(account.account_id, self._clock.now())
        await self._store.insert_payment_code(issued.payment_code, self._clock)
        return pb.IssuePaymentCodeResponse(
            code=issued.code, expires_at=timestamp_to_proto(issued.payment_code.expires_at)
        )

    async def ChargePaymentCode(
        self, request: pb.ChargePaymentCodeRequest, context: Context
    ) -> pb.ChargePaymentCodeResponse:
        require_idempotency_key(request.idempotency_key)
        merchant_id = require_account_id(request.merchant_account_id, "merchant_account_id")
        digest = code_digest(validate_payment_code(request.code))
        amount_fen = amount_from_proto(request.amount)
        # A challenge is met only by an authorization the payer's wallet gave with the code.
        factor = authorization_factor(request.payment_authorization)
        await require_merchant_approved(self._store, merchant_id, "charge payment codes")
        scope = f"charge-code:{merchant_id}"
        if self._batcher is not None:
            key = request.idempotency_key
            job = ChargeCodeJob(
                record_id=f"{scope}:{key}",
                fingerprint=fingerprint_request(request),
                idempotency_key=key,
                code_digest=digest,
                merchant_account_id=merchant_id,
                amount_fen=amount_fen,
                memo=request.memo,
                second_factor=factor,
            )
            return await self._batcher.submit_job(
                job, pb.ChargePaymentCodeResponse, code_charged_response
            )

        async def charge(session: Session) -> pb.ChargePaymentCodeResponse:
            now = self._clock.now()
            code, merchant, payer = await self._charge_parties(session, digest, merchant_id, now)
            payment = code_payment(payer, merchant_id, amount_fen)
            await self._screen(session, payer, payment, factor)
            posting = code_payment_posting(
                code, merchant, amount_fen, request.memo, now, posting_id=uuid.uuid4().hex
            )
            await self._store.mark_payment_code_used(session, mark_used(code, now))
            await self._post(session, posting, known=(payer, merchant))
            return pb.ChargePaymentCodeResponse(
                posting=posting_to_proto(posting), payer_name=mask_name(payer.display_name)
            )

        async with self._risk_audit(), self._movement_scope():
            return await self._once(scope, request, pb.ChargePaymentCodeResponse, charge)

    async def _charge_parties(
        self, session: Session, digest: str, merchant_id: str, now: datetime
    ) -> tuple[PaymentCode, Account, Account]:
        """The scanned code (if usable), the merchant charging it, and the payer who showed it."""
        code = require_known(await self._store.get_payment_code(session, digest))
        require_usable(code, now)
        merchant = await self._store.get_account(merchant_id, session, with_balance=False)
        require_kind(merchant, (AccountKind.MERCHANT,), "charge payment codes")
        return code, merchant, await self._store.get_account(code.account_id, session)

    async def ListBillers(
        self, request: pb.ListBillersRequest, context: Context
    ) -> pb.ListBillersResponse:
        return pb.ListBillersResponse(billers=[biller_to_proto(b) for b in self._billers])

    async def CheckBillReference(
        self, request: pb.CheckBillReferenceRequest, context: Context
    ) -> pb.CheckBillReferenceResponse:
        biller = find_biller(self._billers, request.biller_id)
        return pb.CheckBillReferenceResponse(
            reference=validate_bill_reference(biller, request.reference)
        )

    async def PayBill(self, request: pb.PayBillRequest, context: Context) -> pb.PayBillResponse:
        key = require_idempotency_key(request.idempotency_key)
        account_id = require_account_id(request.account_id)
        biller = find_biller(self._billers, request.biller_id)
        reference = validate_bill_reference(biller, request.reference)
        amount_fen = amount_from_proto(request.amount)
        verified = await self._second_factor(account_id, request.risk)
        payee_id = biller.merchant_account_id
        if self._batcher is not None:
            ask = MovementAsk(
                record_id=f"pay-bill:{key}",
                fingerprint=fingerprint_request(request),
                idempotency_key=key,
                from_account_id=account_id,
                to_account_id=payee_id,
                amount_fen=amount_fen,
                memo=f"{biller.name} {reference}"[:MEMO_LENGTH_MAX],
                device_id=request.risk.device_id,
                second_factor=verified,
                posting_kind=PostingKind.BILL_PAYMENT,
                payment_kind=PaymentKind.PAYMENT,
                reference=reference,
                payer_may="pay bills",
                payee_may="",
            )
            return await self._batcher.submit(ask, pb.PayBillResponse)
        payment = OutgoingPayment(payee_id, PaymentKind.PAYMENT, amount_fen, request.risk.device_id)

        async def pay_bill(session: Session) -> pb.PayBillResponse:
            payer = await self._store.get_account(account_id, session)
            require_kind(payer, (AccountKind.PERSONAL, AccountKind.MERCHANT), "pay bills")
            await self._screen(session, payer, payment, verified)
            memo = f"{biller.name} {reference}"[:MEMO_LENGTH_MAX]
            posting = self._movement(
                PostingKind.BILL_PAYMENT, account_id, payee_id, amount_fen, memo
            )
            after = await self._post(session, posting, reference=reference, known=(payer,))
            return pb.PayBillResponse(
                posting=posting_to_proto(posting), account=account_to_proto(after[account_id])
            )

        async with self._risk_audit(), self._movement_scope(account_id):
            return await self._once("pay-bill", request, pb.PayBillResponse, pay_bill)


def code_charged_response(result: object) -> pb.ChargePaymentCodeResponse:
    posting, payer_name = cast(tuple[Posting, str], result)
    return pb.ChargePaymentCodeResponse(posting=posting_to_proto(posting), payer_name=payer_name)
