"""Account RPCs: opening accounts, top-up, withdrawal, transfer, statement, platform accounts."""

from __future__ import annotations

import functools
import logging
from typing import cast

from chassis.grpc_server import Context
from chassis.idempotency import fingerprint_request, require_idempotency_key
from chassis.mongo import Session
from chassis.wire import amount_from_proto, money_to_proto, page_size_of
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import validate_card_number
from services.payment.batch_model import MovementAsk
from services.payment.batch_top_ups import TopUpJob, pending_top_up
from services.payment.batch_withdrawals import (
    WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
    WithdrawJob,
    pending_withdrawal,
    withdrawal_memo,
)
from services.payment.identity import (
    mask_resident_id,
    validate_name,
    validate_phone,
    validate_resident_id,
)
from services.payment.ledger import (
    Account,
    AccountKind,
    AccountStatus,
    Posting,
    PostingKind,
    new_account_id,
    require_active,
    require_ensured_as,
    require_kind,
    require_platform_account_id,
    require_shard_count,
)
from services.payment.merchant_review import MerchantOnboarding, Onboarding, opening_onboarding
from services.payment.payment_authorization import SecondFactor
from services.payment.risk import KycLevel, PaymentKind
from services.payment.risk_top_up import (
    require_top_up_within_day_limit,
    require_top_up_within_limit,
    top_up_day_after,
    topped_up_today,
)
from services.payment.rpc_base import PaymentRpcBase, require_account_id, require_owner_ref
from services.payment.rpc_top_up_charges import TopUpCharges
from services.payment.rpc_withdrawal_payouts import WithdrawalPayouts
from services.payment.screening import OutgoingPayment
from services.payment.wire import (
    account_opened_event,
    account_to_proto,
    posting_to_proto,
    statement_entry_to_proto,
)

log = logging.getLogger(__name__)

PEOPLE_AND_MERCHANTS = (AccountKind.PERSONAL, AccountKind.MERCHANT)


class AccountsRpc(PaymentRpcBase):
    """Accounts and the plain money movements between them."""

    # How a new merchant opens (COLONY_MERCHANT_ONBOARDING; set by build_payment_service).
    merchant_onboarding: MerchantOnboarding = MerchantOnboarding.REVIEW

    async def OpenPersonalAccount(
        self, request: pb.OpenPersonalAccountRequest, context: Context
    ) -> pb.OpenPersonalAccountResponse:
        require_idempotency_key(request.idempotency_key)
        resident_id = validate_resident_id(request.resident_id)
        account = Account(
            account_id=new_account_id(AccountKind.PERSONAL),
            kind=AccountKind.PERSONAL,
            status=AccountStatus.ACTIVE,
            display_name=validate_name(request.real_name, "real_name"),
            owner_ref=require_owner_ref(request.owner_ref),
            phone=validate_phone(request.phone),
            resident_id_masked=mask_resident_id(resident_id),
            kyc_level=KycLevel.REAL_NAME,
            opened_at=self._clock.now(),
        )
        opened = await self._open_account(request, account, resident_id)
        return pb.OpenPersonalAccountResponse(account=opened)

    async def OpenMerchantAccount(
        self, request: pb.OpenMerchantAccountRequest, context: Context
    ) -> pb.OpenMerchantAccountResponse:
        require_idempotency_key(request.idempotency_key)
        validate_name(request.business_licence, "business_licence")
        account = Account(
            account_id=new_account_id(AccountKind.MERCHANT),
            kind=AccountKind.MERCHANT,
            status=AccountStatus.ACTIVE,
            display_name=validate_name(request.merchant_name, "merchant_name"),
            owner_ref=require_owner_ref(request.owner_ref),
            phone=validate_phone(request.phone),
            # An unchecked licence is no proof: level 3 only by binding a card in its name.
            kyc_level=KycLevel.REAL_NAME,
            opened_at=self._clock.now(),
        )
        # In review until an operator approves (merchant_review.py), unless dev auto-approves.
        onboarding = opening_onboarding(self.merchant_onboarding, self._clock.now())
        opened = await self._open_account(request, account, resident_id=None, onboarding=onboarding)
        return pb.OpenMerchantAccountResponse(account=opened)

    async def _open_account(
        self,
        request: pb.OpenPersonalAccountRequest | pb.OpenMerchantAccountRequest,
        account: Account,
        resident_id: str | None,
        onboarding: Onboarding | None = None,
    ) -> pb.Account:
        async def open_in(session: Session) -> pb.Account:
            await self._store.insert_account(session, account, resident_id, onboarding)
            opened = account_to_proto(account)
            await self._events.append(
                session,
                "payment.account.opened",
                account.account_id,
                account_opened_event(opened, resident_id),
            )
            return opened

        return await self._once(f"open-account:{account.kind.value}", request, pb.Account, open_in)

    async def GetAccount(
        self, request: pb.GetAccountRequest, context: Context
    ) -> pb.GetAccountResponse:
        account = await self._store.get_account(require_account_id(request.account_id))
        message = account_to_proto(account)
        message.in_escrow.CopyFrom(
            money_to_proto(await self._store.in_escrow_fen(account.account_id))
        )
        return pb.GetAccountResponse(account=message)

    async def FindAccountByPhone(
        self, request: pb.FindAccountByPhoneRequest, context: Context
    ) -> pb.FindAccountByPhoneResponse:
        account = await self._store.find_account_by_phone(validate_phone(request.phone))
        return pb.FindAccountByPhoneResponse(account=account_to_proto(account))

    async def TopUp(self, request: pb.TopUpRequest, context: Context) -> pb.TopUpResponse:
        """Reserve, charge, settle (batch_top_ups.py): the card is never charged inside a
        transaction. The answer waits for the settle: the credit's posting and the account
        after it if the bank charged the card, its refusal (BANK_DECLINED) if it declined."""
        key = require_idempotency_key(request.idempotency_key)
        amount_fen = amount_from_proto(request.amount)
        account_id = require_account_id(request.account_id)
        if self._batcher is not None:
            job = TopUpJob(
                record_id=f"top-up:{key}",
                fingerprint=fingerprint_request(request),
                idempotency_key=key,
                account_id=account_id,
                amount_fen=amount_fen,
                bank_card_number=request.bank_card_number,
            )
            reserved = await self._batcher.submit_job(job, pb.TopUpResponse, top_up_reserved)
        else:
            reserved = await self._reserve_top_up(request, key, account_id, amount_fen)
        # A replay lands here too: a pending top-up (its first driver killed) is completed
        # now; a credited one answers its kept answer, a declined one the refusal. A top-up
        # credited before reserve-first has no record: its idempotency record is the answer.
        answered = await self.top_up_charges.answer(key)
        return reserved if answered is None else answered

    async def _reserve_top_up(
        self, request: pb.TopUpRequest, key: str, account_id: str, amount_fen: int
    ) -> pb.TopUpResponse:
        """The one-transaction path's reserve: TopUp's checks, the day's figure and the
        pending top-up record, with the idempotency record. A charged card proves nothing
        of its holder's name: KYC level 3 comes only from binding a card (BindCard)."""

        async def reserve(session: Session) -> pb.TopUpResponse:
            account = await self._store.get_account(account_id, session)
            require_kind(account, PEOPLE_AND_MERCHANTS, "top up")
            require_top_up_within_limit(account.kyc_level, amount_fen)
            now = self._clock.now()
            day = await self._store.get_top_up_day(session, account_id)
            require_top_up_within_day_limit(
                account.kyc_level, topped_up_today(day, now), amount_fen
            )
            validate_card_number(request.bank_card_number)  # as the bank's charge checked it
            require_active(account)  # as the credit would: never charge for a frozen one
            await self._store.record_top_up_day(
                session, account_id, top_up_day_after(day, now, amount_fen)
            )
            pending = pending_top_up(key, account_id, request.bank_card_number, amount_fen, now)
            await self._store.insert_top_ups(session, [pending])
            return top_up_reserved(pending)

        async with self._movement_scope(account_id):
            return await self._once("top-up", request, pb.TopUpResponse, reserve)

    @functools.cached_property
    def top_up_charges(self) -> TopUpCharges:
        """Steps 2 and 3 of every top-up, and the recovery job (server.py)."""
        return TopUpCharges(self._client, self._store, self._bank, self._clock)

    async def Withdraw(self, request: pb.WithdrawRequest, context: Context) -> pb.WithdrawResponse:
        """Reserve, pay out, settle (batch_withdrawals.py): the bank is never asked inside a
        transaction. The answer waits for the settle: the reserve's posting and account if
        the bank paid, its refusal (BANK_DECLINED) if it declined and the money went back."""
        key = require_idempotency_key(request.idempotency_key)
        amount_fen = amount_from_proto(request.amount)
        account_id = require_account_id(request.account_id)
        verified = await self._second_factor(account_id, request.risk)
        if self._batcher is not None:
            job = WithdrawJob(
                record_id=f"withdraw:{key}",
                fingerprint=fingerprint_request(request),
                idempotency_key=key,
                account_id=account_id,
                amount_fen=amount_fen,
                bank_card_number=request.bank_card_number,
                device_id=request.risk.device_id,
                second_factor=verified,
            )
            reserved = await self._batcher.submit_job(job, pb.WithdrawResponse, withdrawal_response)
        else:
            reserved = await self._reserve_withdrawal(
                request, key, account_id, amount_fen, verified
            )
        # A replay lands here too, with the reserve's recorded answer: a pending withdrawal
        # (its first driver killed) is completed now, a declined one answers the refusal.
        await self.withdrawal_payouts.answer(key)
        return reserved

    async def _reserve_withdrawal(
        self,
        request: pb.WithdrawRequest,
        key: str,
        account_id: str,
        amount_fen: int,
        verified: SecondFactor,
    ) -> pb.WithdrawResponse:
        """The one-transaction path's reserve: Withdraw's checks, the debit into in-transit
        and the pending withdrawal record, with the idempotency record."""
        payment = OutgoingPayment(
            WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
            PaymentKind.WITHDRAWAL,
            amount_fen,
            request.risk.device_id,
        )

        async def reserve(session: Session) -> pb.WithdrawResponse:
            account = await self._store.get_account(account_id, session)
            require_kind(account, PEOPLE_AND_MERCHANTS, "withdraw")
            # Money leaves only for a card bound in the account's real name (CARD_NOT_BOUND).
            await self._store.require_bound_card(session, account_id, request.bank_card_number)
            await self._screen(session, account, payment, verified)
            in_transit = await self._store.get_account(
                WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID, session, with_balance=False
            )
            posting = self._movement(
                PostingKind.WITHDRAWAL,
                account_id,
                WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
                amount_fen,
                withdrawal_memo(request.bank_card_number),
            )
            after = await self._post(session, posting, known=(account, in_transit))
            await self._store.insert_withdrawals(
                session,
                [
                    pending_withdrawal(
                        key, account_id, request.bank_card_number, amount_fen, posting
                    )
                ],
            )
            return pb.WithdrawResponse(
                posting=posting_to_proto(posting), account=account_to_proto(after[account_id])
            )

        async with self._risk_audit(), self._movement_scope(account_id):
            return await self._once("withdraw", request, pb.WithdrawResponse, reserve)

    @functools.cached_property
    def withdrawal_payouts(self) -> WithdrawalPayouts:
        """Steps 2 and 3 of every withdrawal, and the recovery job (server.py)."""
        return WithdrawalPayouts(self._client, self._store, self._bank, self._clock)

    async def Transfer(self, request: pb.TransferRequest, context: Context) -> pb.TransferResponse:
        key = require_idempotency_key(request.idempotency_key)
        amount_fen = amount_from_proto(request.amount)
        from_id = require_account_id(request.from_account_id, "from_account_id")
        to_id = require_account_id(request.to_account_id, "to_account_id")
        verified = await self._second_factor(from_id, request.risk)
        if self._batcher is not None:
            return await self._batcher.transfer(
                MovementAsk(
                    record_id=f"transfer:{key}",
                    fingerprint=fingerprint_request(request),
                    idempotency_key=key,
                    from_account_id=from_id,
                    to_account_id=to_id,
                    amount_fen=amount_fen,
                    memo=request.memo,
                    device_id=request.risk.device_id,
                    second_factor=verified,
                )
            )
        payment = OutgoingPayment(to_id, PaymentKind.TRANSFER, amount_fen, request.risk.device_id)

        async def transfer(session: Session) -> pb.TransferResponse:
            payee = await self._store.get_account(to_id, session, with_balance=False)
            require_kind(payee, PEOPLE_AND_MERCHANTS, "receive transfers")
            posting = self._movement(PostingKind.TRANSFER, from_id, to_id, amount_fen, request.memo)
            payer = await self._store.get_account(from_id, session)
            require_kind(payer, PEOPLE_AND_MERCHANTS, "send transfers")
            await self._screen(session, payer, payment, verified)
            after = await self._post(session, posting, known=(payer, payee))
            return pb.TransferResponse(
                posting=posting_to_proto(posting), account=account_to_proto(after[from_id])
            )

        async with self._risk_audit(), self._movement_scope(from_id):
            return await self._once("transfer", request, pb.TransferResponse, transfer)

    async def ListStatement(
        self, request: pb.ListStatementRequest, context: Context
    ) -> pb.ListStatementResponse:
        account_id = require_account_id(request.account_id)
        page_size = page_size_of(request.page)
        await self._store.get_account(account_id)  # NOT_FOUND for an unknown account
        entries, next_token = await self._store.list_statement(
            account_id, page_size, request.page.page_token
        )
        return pb.ListStatementResponse(
            entries=[statement_entry_to_proto(e) for e in entries],
            page=paging_pb2.PageInfo(next_page_token=next_token),
        )

    async def EnsurePlatformAccount(
        self, request: pb.EnsurePlatformAccountRequest, context: Context
    ) -> pb.EnsurePlatformAccountResponse:
        account_id = require_platform_account_id(require_account_id(request.account_id))
        kind = AccountKind.EXTERNAL if request.external_party else AccountKind.PLATFORM
        account = await self._store.ensure_system_account(
            account_id,
            kind,
            validate_name(request.display_name, "display_name"),
            self._clock.now(),
            hot_shards=require_shard_count(request.hot_shards),
        )
        ensured = require_ensured_as(account, kind)
        return pb.EnsurePlatformAccountResponse(account=account_to_proto(ensured))

    async def PlatformTransfer(
        self, request: pb.PlatformTransferRequest, context: Context
    ) -> pb.PlatformTransferResponse:
        require_idempotency_key(request.idempotency_key)
        amount_fen = amount_from_proto(request.amount)
        from_id = require_account_id(request.from_account_id, "from_account_id")
        to_id = require_account_id(request.to_account_id, "to_account_id")

        async def pay_out(session: Session) -> pb.PlatformTransferResponse:
            payer = await self._store.get_account(from_id, session, with_balance=False)
            # Only the platform's own money moves this way; a person's needs their consent.
            require_kind(payer, (AccountKind.PLATFORM, AccountKind.EXTERNAL), "pay out")
            payee = await self._store.get_account(to_id, session, with_balance=False)
            kind = PostingKind.PLATFORM_TRANSFER
            posting = self._movement(kind, from_id, to_id, amount_fen, request.memo)
            await self._post(session, posting, reference=request.reference, known=(payer, payee))
            return pb.PlatformTransferResponse(posting=posting_to_proto(posting))

        async with self._movement_scope():
            return await self._once(
                "platform-transfer", request, pb.PlatformTransferResponse, pay_out
            )

    async def SetAccountHot(
        self, request: pb.SetAccountHotRequest, context: Context
    ) -> pb.SetAccountHotResponse:
        account = await self._store.set_hot_shards(
            require_account_id(request.account_id), require_shard_count(request.hot_shards)
        )
        return pb.SetAccountHotResponse(account=account_to_proto(account))


def withdrawal_response(result: object) -> pb.WithdrawResponse:
    """A batched withdrawal's answer (batch_withdrawals.WithdrawJob's result)."""
    posting, account = cast(tuple[Posting, Account], result)
    return pb.WithdrawResponse(posting=posting_to_proto(posting), account=account_to_proto(account))


def top_up_reserved(result: object) -> pb.TopUpResponse:
    """A top-up's reserve answer, kept in its idempotency record: empty (no money moved
    yet); TopUp answers what its settle kept (rpc_top_up_charges.TopUpCharges.answer)."""
    return pb.TopUpResponse()
