"""Retail payment RPCs: face-to-face payment codes (付款码) and utility bills (水电煤缴费)."""

from __future__ import annotations

import uuid

from chassis.errors import NotFound
from chassis.grpc_server import Context
from chassis.idempotency import require_idempotency_key
from chassis.mongo import Session
from chassis.wire import amount_from_proto, timestamp_to_proto
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bills import find_biller, validate_bill_reference
from services.payment.identity import mask_name
from services.payment.ledger import AccountKind, PostingKind, plan_movement, require_kind
from services.payment.payment_code import (
    code_digest,
    issue_payment_code,
    mark_used,
    require_usable,
    validate_payment_code,
)
from services.payment.risk import PaymentKind
from services.payment.rpc_base import PaymentRpcBase, authorization_factor, require_account_id
from services.payment.wire import account_to_proto, posting_to_proto


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
        await self._store.insert_payment_code(issued.payment_code)
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

        async def charge(session: Session) -> pb.ChargePaymentCodeResponse:
            now = self._clock.now()
            code = await self._store.get_payment_code(session, digest)
            if code is None:
                raise NotFound("no such payment code", reason="INVALID_PAYMENT_CODE")
            require_usable(code, now)
            merchant = await self._store.get_account(merchant_id, session, with_balance=False)
            require_kind(merchant, (AccountKind.MERCHANT,), "charge payment codes")
            payer = await self._store.get_account(code.account_id, session)
            # The code was made on the payer's own phone: that device is the payer's. A
            # challenge is met only by an authorization the payer's wallet gave with it.
            await self._screen(
                session,
                payer=payer,
                payee_account_id=merchant_id,
                payment_kind=PaymentKind.PAYMENT,
                amount_fen=amount_fen,
                device_id=payer.activity.devices[-1] if payer.activity.devices else "",
                second_factor=authorization_factor(request.payment_authorization),
            )
            posting = plan_movement(
                posting_id=uuid.uuid4().hex,
                kind=PostingKind.CODE_PAYMENT,
                from_account_id=payer.account_id,
                to_account_id=merchant_id,
                amount_fen=amount_fen,
                posted_at=now,
                memo=request.memo or f"payment at {merchant.display_name}"[:64],
            )
            await self._store.mark_payment_code_used(session, mark_used(code, now))
            await self._post(session, posting, known=(payer, merchant))
            return pb.ChargePaymentCodeResponse(
                posting=posting_to_proto(posting), payer_name=mask_name(payer.display_name)
            )

        async with self._risk_audit(), self._movement_scope():
            return await self._idempotency.run(
                self._client,
                scope=f"charge-code:{merchant_id}",
                request=request,
                response_type=pb.ChargePaymentCodeResponse,
                operation=charge,
            )

    async def ListBillers(
        self, request: pb.ListBillersRequest, context: Context
    ) -> pb.ListBillersResponse:
        return pb.ListBillersResponse(
            billers=[
                pb.Biller(
                    biller_id=b.biller_id,
                    name=b.name,
                    category=b.category.value,
                    reference_hint=b.reference_hint,
                    merchant_account_id=b.merchant_account_id,
                )
                for b in self._billers
            ]
        )

    async def CheckBillReference(
        self, request: pb.CheckBillReferenceRequest, context: Context
    ) -> pb.CheckBillReferenceResponse:
        biller = find_biller(self._billers, request.biller_id)
        return pb.CheckBillReferenceResponse(
            reference=validate_bill_reference(biller, request.reference)
        )

    async def PayBill(self, request: pb.PayBillRequest, context: Context) -> pb.PayBillResponse:
        require_idempotency_key(request.idempotency_key)
        account_id = require_account_id(request.account_id)
        biller = find_biller(self._billers, request.biller_id)
        reference = validate_bill_reference(biller, request.reference)
        amount_fen = amount_from_proto(request.amount)
        verified = await self._second_factor(account_id, request.risk)

        async def pay_bill(session: Session) -> pb.PayBillResponse:
            payer = await self._store.get_account(account_id, session)
            require_kind(payer, (AccountKind.PERSONAL, AccountKind.MERCHANT), "pay bills")
            await self._screen(
                session,
                payer=payer,
                payee_account_id=biller.merchant_account_id,
                payment_kind=PaymentKind.PAYMENT,
                amount_fen=amount_fen,
                device_id=request.risk.device_id,
                second_factor=verified,
            )
            posting = plan_movement(
                posting_id=uuid.uuid4().hex,
                kind=PostingKind.BILL_PAYMENT,
                from_account_id=account_id,
                to_account_id=biller.merchant_account_id,
                amount_fen=amount_fen,
                posted_at=self._clock.now(),
                memo=f"{biller.name} {reference}"[:64],
            )
            after = await self._post(session, posting, reference=reference, known=(payer,))
            return pb.PayBillResponse(
                posting=posting_to_proto(posting), account=account_to_proto(after[account_id])
            )

        async with self._risk_audit(), self._movement_scope(account_id):
            return await self._idempotency.run(
                self._client,
                scope="pay-bill",
                request=request,
                response_type=pb.PayBillResponse,
                operation=pay_bill,
            )
