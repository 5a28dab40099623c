"""The payment gRPC servicer: proto in, one ledger rule, proto out.

Each mutating method is a short use case: validate the request, then inside one
idempotent transaction load the accounts, ask the ledger rules, apply the posting and
append its event. Rules live in ledger.py and identity.py; documents in store.py.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

import grpc
from colony.common.v1 import money_pb2, paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from chassis.clock import Clock
from chassis.errors import InvalidArgument
from chassis.grpc_server import GrpcService, build_grpc_service
from chassis.idempotency import IdempotencyStore, require_idempotency_key
from chassis.keyed_lock import KeyedLock
from chassis.money import CURRENCY_CNY, Money, require_positive_amount
from chassis.mongo import MongoClient, Session
from chassis.outbox import append_event
from chassis.settings import ServiceSettings
from services.payment.bank_channel import BankChannel, FakeBankChannel
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
    plan_movement,
    require_kind,
)
from services.payment.store import (
    STATEMENT_PAGE_SIZE_DEFAULT,
    STATEMENT_PAGE_SIZE_MAX,
    PaymentStore,
    StatementEntry,
    decode_page_token,
    encode_page_token,
)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PaymentService"].full_name
PERSONAL_ACCOUNT_ID_PREFIX = "2088"  # Alipay's user ids start with 2088
ACCOUNT_ID_RANDOM_DIGITS = 12
ACCOUNT_ID_ATTEMPTS_MAX = 5

_KIND_TO_PROTO = {
    AccountKind.PERSONAL: pb.ACCOUNT_KIND_PERSONAL,
    AccountKind.MERCHANT: pb.ACCOUNT_KIND_MERCHANT,
    AccountKind.PLATFORM: pb.ACCOUNT_KIND_PLATFORM,
    AccountKind.EXTERNAL: pb.ACCOUNT_KIND_EXTERNAL,
}
_STATUS_TO_PROTO = {
    AccountStatus.ACTIVE: pb.ACCOUNT_STATUS_ACTIVE,
    AccountStatus.FROZEN: pb.ACCOUNT_STATUS_FROZEN,
    AccountStatus.CLOSED: pb.ACCOUNT_STATUS_CLOSED,
}


def _timestamp(moment: datetime | None) -> Timestamp:
    stamp = Timestamp()
    if moment is not None:
        stamp.FromDatetime(moment)
    return stamp


def _money(amount_fen: int) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=amount_fen, currency=CURRENCY_CNY)


def amount_from_proto(amount: money_pb2.Money, field: str = "amount") -> int:
    """The positive fen amount of a request's Money; refuses other currencies and non-positive."""
    Money(amount.amount_fen, amount.currency or CURRENCY_CNY)  # validates the currency
    return require_positive_amount(amount.amount_fen, field)


def account_to_proto(account: Account) -> pb.Account:
    return pb.Account(
        account_id=account.account_id,
        kind=_KIND_TO_PROTO[account.kind],
        status=_STATUS_TO_PROTO[account.status],
        display_name=account.display_name,
        phone=account.phone,
        resident_id_masked=account.resident_id_masked,
        owner_ref=account.owner_ref,
        balance=_money(account.balance_fen),
        available=_money(account.available_fen),
        opened_at=_timestamp(account.opened_at),
    )


def posting_to_proto(posting: Posting) -> pb.Posting:
    return pb.Posting(
        posting_id=posting.posting_id,
        kind=posting.kind.value,
        entries=[
            pb.PostingEntry(account_id=e.account_id, amount=_money(e.amount_fen))
            for e in posting.entries
        ],
        memo=posting.memo,
        posted_at=_timestamp(posting.posted_at),
    )


def statement_entry_to_proto(entry: StatementEntry) -> pb.StatementEntry:
    return pb.StatementEntry(
        entry_id=entry.entry_id,
        posting_id=entry.posting_id,
        kind=entry.kind.value,
        amount=_money(entry.amount_fen),
        balance_after=_money(entry.balance_after_fen),
        counterpart_account_id=entry.counterpart_account_id,
        counterpart_name=entry.counterpart_name,
        memo=entry.memo,
        posted_at=_timestamp(entry.posted_at),
    )


def _new_account_id(kind: AccountKind) -> str:
    digits = "".join(secrets.choice("0123456789") for _ in range(ACCOUNT_ID_RANDOM_DIGITS))
    prefix = PERSONAL_ACCOUNT_ID_PREFIX if kind is AccountKind.PERSONAL else "2188"
    return prefix + digits


Context = grpc.aio.ServicerContext[Any, Any]


class PaymentServicer(payment_pb2_grpc.PaymentServiceServicer):
    """The PaymentService RPCs over one PaymentStore."""

    def __init__(
        self, client: MongoClient, store: PaymentStore, bank: BankChannel, clock: Clock
    ) -> None:
        self._client = client
        self._store = store
        self._bank = bank
        self._clock = clock
        self._idempotency = IdempotencyStore(store.idempotency, clock)
        self._account_locks = KeyedLock()

    async def OpenPersonalAccount(
        self, request: pb.OpenPersonalAccountRequest, context: Context
    ) -> pb.OpenPersonalAccountResponse:
        require_idempotency_key(request.idempotency_key)
        resident_id = validate_resident_id(request.resident_id)
        account = Account(
            account_id=_new_account_id(AccountKind.PERSONAL),
            kind=AccountKind.PERSONAL,
            status=AccountStatus.ACTIVE,
            display_name=validate_name(request.real_name, "real_name"),
            owner_ref=_require_owner_ref(request.owner_ref),
            phone=validate_phone(request.phone),
            resident_id_masked=mask_resident_id(resident_id),
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
            account_id=_new_account_id(AccountKind.MERCHANT),
            kind=AccountKind.MERCHANT,
            status=AccountStatus.ACTIVE,
            display_name=validate_name(request.merchant_name, "merchant_name"),
            owner_ref=_require_owner_ref(request.owner_ref),
            phone=validate_phone(request.phone),
            opened_at=self._clock.now(),
        )
        opened = await self._open_account(request, account, resident_id=None)
        return pb.OpenMerchantAccountResponse(account=opened)

    async def _open_account(
        self,
        request: pb.OpenPersonalAccountRequest | pb.OpenMerchantAccountRequest,
        account: Account,
        resident_id: str | None,
    ) -> pb.Account:
        async def open_in(session: Session) -> pb.Account:
            await self._store.insert_account(session, account, resident_id)
            opened = account_to_proto(account)
            await append_event(
                self._store.outbox,
                session,
                event_type="payment.account.opened",
                aggregate_id=account.account_id,
                payload=opened,
                occurred_at=self._clock.now(),
            )
            return opened

        response = await self._idempotency.run(
            self._client,
            scope=f"open-account:{account.kind.value}",
            request=request,
            response_type=pb.Account,
            operation=open_in,
        )
        return response

    async def GetAccount(
        self, request: pb.GetAccountRequest, context: Context
    ) -> pb.GetAccountResponse:
        account = await self._store.get_account(_require_account_id(request.account_id))
        return pb.GetAccountResponse(account=account_to_proto(account))

    async def FindAccountByPhone(
        self, request: pb.FindAccountByPhoneRequest, context: Context
    ) -> pb.FindAccountByPhoneResponse:
        account = await self._store.find_account_by_phone(validate_phone(request.phone))
        return pb.FindAccountByPhoneResponse(account=account_to_proto(account))

    async def TopUp(self, request: pb.TopUpRequest, context: Context) -> pb.TopUpResponse:
        key = require_idempotency_key(request.idempotency_key)
        amount_fen = amount_from_proto(request.amount)
        account_id = _require_account_id(request.account_id)

        async def top_up(session: Session) -> pb.TopUpResponse:
            account = await self._store.get_account(account_id, session)
            require_kind(account, (AccountKind.PERSONAL, AccountKind.MERCHANT), "top up")
            receipt = await self._bank.charge_card(key, request.bank_card_number, amount_fen)
            posting = plan_movement(
                posting_id=uuid.uuid4().hex,
                kind=PostingKind.TOP_UP,
                from_account_id=self._bank.clearing_account_id,
                to_account_id=account_id,
                amount_fen=amount_fen,
                posted_at=self._clock.now(),
                memo=f"top-up from card ending {receipt.card_last4}",
            )
            after = await self._post(session, posting)
            return pb.TopUpResponse(
                posting=posting_to_proto(posting), account=account_to_proto(after[account_id])
            )

        async with self._account_locks.hold((account_id, self._bank.clearing_account_id)):
            return await self._idempotency.run(
                self._client,
                scope="top-up",
                request=request,
                response_type=pb.TopUpResponse,
                operation=top_up,
            )

    async def Withdraw(self, request: pb.WithdrawRequest, context: Context) -> pb.WithdrawResponse:
        key = require_idempotency_key(request.idempotency_key)
        amount_fen = amount_from_proto(request.amount)
        account_id = _require_account_id(request.account_id)

        async def withdraw(session: Session) -> pb.WithdrawResponse:
            account = await self._store.get_account(account_id, session)
            require_kind(account, (AccountKind.PERSONAL, AccountKind.MERCHANT), "withdraw")
            posting = plan_movement(
                posting_id=uuid.uuid4().hex,
                kind=PostingKind.WITHDRAWAL,
                from_account_id=account_id,
                to_account_id=self._bank.clearing_account_id,
                amount_fen=amount_fen,
                posted_at=self._clock.now(),
                memo=f"withdrawal to card ending {request.bank_card_number[-4:]}",
            )
            after = await self._post(session, posting)
            # The payout is asked for after the debit is guarded, inside the transaction: a
            # declined payout aborts the debit. The channel answers a repeated key the same.
            await self._bank.pay_out(key, request.bank_card_number, amount_fen)
            return pb.WithdrawResponse(
                posting=posting_to_proto(posting), account=account_to_proto(after[account_id])
            )

        async with self._account_locks.hold((account_id, self._bank.clearing_account_id)):
            return await self._idempotency.run(
                self._client,
                scope="withdraw",
                request=request,
                response_type=pb.WithdrawResponse,
                operation=withdraw,
            )

    async def Transfer(self, request: pb.TransferRequest, context: Context) -> pb.TransferResponse:
        require_idempotency_key(request.idempotency_key)
        amount_fen = amount_from_proto(request.amount)
        from_account_id = _require_account_id(request.from_account_id, "from_account_id")
        to_account_id = _require_account_id(request.to_account_id, "to_account_id")

        async def transfer(session: Session) -> pb.TransferResponse:
            payee = await self._store.get_account(to_account_id, session)
            require_kind(payee, (AccountKind.PERSONAL, AccountKind.MERCHANT), "receive transfers")
            posting = plan_movement(
                posting_id=uuid.uuid4().hex,
                kind=PostingKind.TRANSFER,
                from_account_id=from_account_id,
                to_account_id=to_account_id,
                amount_fen=amount_fen,
                posted_at=self._clock.now(),
                memo=request.memo,
            )
            payer = await self._store.get_account(from_account_id, session)
            require_kind(payer, (AccountKind.PERSONAL, AccountKind.MERCHANT), "send transfers")
            after = await self._post(session, posting)
            return pb.TransferResponse(
                posting=posting_to_proto(posting),
                account=account_to_proto(after[from_account_id]),
            )

        async with self._account_locks.hold((from_account_id, to_account_id)):
            return await self._idempotency.run(
                self._client,
                scope="transfer",
                request=request,
                response_type=pb.TransferResponse,
                operation=transfer,
            )

    async def ListStatement(
        self, request: pb.ListStatementRequest, context: Context
    ) -> pb.ListStatementResponse:
        account_id = _require_account_id(request.account_id)
        page_size = request.page.page_size or STATEMENT_PAGE_SIZE_DEFAULT
        if not 1 <= page_size <= STATEMENT_PAGE_SIZE_MAX:
            raise InvalidArgument(f"page_size must be between 1 and {STATEMENT_PAGE_SIZE_MAX}")
        before_sequence = decode_page_token(request.page.page_token)
        await self._store.get_account(account_id)  # NOT_FOUND for an unknown account
        entries = await self._store.list_statement(account_id, page_size, before_sequence)
        next_token = ""
        if len(entries) == page_size and entries[-1].sequence > 1:
            next_token = encode_page_token(entries[-1].sequence)
        return pb.ListStatementResponse(
            entries=[statement_entry_to_proto(e) for e in entries],
            page=paging_pb2.PageInfo(next_page_token=next_token),
        )

    async def _post(self, session: Session, posting: Posting) -> dict[str, Account]:
        """Apply a posting and append its event, in the caller's transaction."""
        after = await self._store.apply_posting(session, posting)
        await append_event(
            self._store.outbox,
            session,
            event_type="payment.posting.recorded",
            aggregate_id=posting.posting_id,
            payload=posting_to_proto(posting),
            occurred_at=posting.posted_at,
        )
        return after


def _require_account_id(account_id: str, field: str = "account_id") -> str:
    if not account_id:
        raise InvalidArgument(f"{field} is required")
    return account_id


def _require_owner_ref(owner_ref: str) -> str:
    if not owner_ref:
        raise InvalidArgument("owner_ref is required")
    return owner_ref


PLATFORM_FEE_INCOME_ACCOUNT_ID = "platform:fee_income"


async def build_payment_service(
    settings: ServiceSettings,
    client: MongoClient,
    clock: Clock,
    bank: BankChannel | None = None,
) -> GrpcService:
    """Prepare the payment database (indexes, system accounts) and build its gRPC server."""
    store = PaymentStore(client[settings.database_name])
    await store.ensure_indexes()
    bank_channel = bank or FakeBankChannel()
    await store.ensure_system_account(
        bank_channel.clearing_account_id,
        AccountKind.EXTERNAL,
        "Bank clearing (fake bank)",
        clock.now(),
    )
    await store.ensure_system_account(
        PLATFORM_FEE_INCOME_ACCOUNT_ID, AccountKind.PLATFORM, "Colony fee income", clock.now()
    )
    servicer = PaymentServicer(client, store, bank_channel, clock)
    return build_grpc_service(
        settings,
        register=[
            lambda server: payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, server)
        ],
        service_names=[SERVICE_NAME],
    )
