"""The payment gRPC servicer: proto in, one ledger rule, proto out.

Each mutating method is a short use case: validate the request, then inside one
idempotent transaction load the accounts, ask the ledger rules, apply the posting and
append its event. Rules live in ledger.py and identity.py; documents in store.py.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from chassis.clock import Clock
from chassis.errors import InvalidArgument, NotFound
from chassis.grpc_server import GrpcService, build_grpc_service
from chassis.idempotency import IdempotencyStore, require_idempotency_key
from chassis.keyed_lock import KeyedLock
from chassis.money import CURRENCY_CNY, Money, require_positive_amount
from chassis.mongo import MongoClient, Session, run_in_transaction
from chassis.outbox import (
    FEED_BATCH_DEFAULT,
    FEED_BATCH_MAX,
    OutboxFeed,
    append_event,
    parse_position,
)
from chassis.settings import ServiceSettings
from colony.common.v1 import money_pb2, paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from services.payment.bank_channel import BankChannel, FakeBankChannel
from services.payment.holds import (
    Hold,
    HoldState,
    check_repeated_create,
    plan_capture,
    plan_hold,
    plan_void,
    require_hold_id,
    void_before_create,
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
    plan_movement,
    require_kind,
    validate_memo,
)
from services.payment.store import (
    STATEMENT_PAGE_SIZE_DEFAULT,
    STATEMENT_PAGE_SIZE_MAX,
    PaymentStore,
    StatementEntry,
    decode_page_token,
    encode_page_token,
)

log = logging.getLogger(__name__)

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
        hot_shards=account.hot_shards,
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
    line = pb.StatementEntry(
        entry_id=entry.entry_id,
        posting_id=entry.posting_id,
        kind=entry.kind.value,
        amount=_money(entry.amount_fen),
        counterpart_account_id=entry.counterpart_account_id,
        counterpart_name=entry.counterpart_name,
        memo=entry.memo,
        posted_at=_timestamp(entry.posted_at),
        has_balance_after=entry.balance_after_fen is not None,
        reference=entry.reference,
    )
    if entry.balance_after_fen is not None:
        line.balance_after.CopyFrom(_money(entry.balance_after_fen))
    return line


_HOLD_STATE_TO_PROTO = {
    HoldState.HELD: pb.HOLD_STATE_HELD,
    HoldState.CAPTURED: pb.HOLD_STATE_CAPTURED,
    HoldState.VOIDED: pb.HOLD_STATE_VOIDED,
    HoldState.EXPIRED: pb.HOLD_STATE_EXPIRED,
}


def hold_to_proto(hold: Hold) -> pb.Hold:
    return pb.Hold(
        hold_id=hold.hold_id,
        account_id=hold.account_id,
        amount=_money(hold.amount_fen),
        state=_HOLD_STATE_TO_PROTO[hold.state],
        created_at=_timestamp(hold.created_at),
        expires_at=_timestamp(hold.expires_at),
        captured_amount=_money(hold.captured_fen),
        credit_account_id=hold.credit_account_id,
        posting_id=hold.posting_id,
        memo=hold.memo,
        voided_before_created=hold.voided_before_created,
    )


def _new_account_id(kind: AccountKind) -> str:
    digits = "".join(secrets.choice("0123456789") for _ in range(ACCOUNT_ID_RANDOM_DIGITS))
    prefix = PERSONAL_ACCOUNT_ID_PREFIX if kind is AccountKind.PERSONAL else "2188"
    return prefix + digits


Context = grpc.aio.ServicerContext[Any, Any]


class PaymentServicer(payment_pb2_grpc.PaymentServiceServicer):
    """The PaymentService RPCs over one PaymentStore."""

    def __init__(
        self,
        client: MongoClient,
        store: PaymentStore,
        bank: BankChannel,
        clock: Clock,
        feed: OutboxFeed,
    ) -> None:
        self._client = client
        self._store = store
        self._feed = feed
        self._bank = bank
        self._clock = clock
        self._idempotency = IdempotencyStore(store.idempotency, clock)
        # Only the account a movement draws from is locked: that is where a burst of
        # guarded debits would otherwise conflict; credits (above all to hot accounts)
        # must not queue behind each other.
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

        async with self._movement_scope(account_id):
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

        async with self._movement_scope(account_id):
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
            payee = await self._store.get_account(to_account_id, session, with_balance=False)
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
            after = await self._post(session, posting, known=(payer, payee))
            return pb.TransferResponse(
                posting=posting_to_proto(posting),
                account=account_to_proto(after[from_account_id]),
            )

        async with self._movement_scope(from_account_id):
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

    async def EnsurePlatformAccount(
        self, request: pb.EnsurePlatformAccountRequest, context: Context
    ) -> pb.EnsurePlatformAccountResponse:
        account_id = _require_account_id(request.account_id)
        if not account_id.startswith(PLATFORM_ACCOUNT_ID_PREFIX):
            raise InvalidArgument(f"platform account ids start with {PLATFORM_ACCOUNT_ID_PREFIX!r}")
        account = await self._store.ensure_system_account(
            account_id,
            AccountKind.PLATFORM,
            validate_name(request.display_name, "display_name"),
            self._clock.now(),
            hot_shards=_require_shard_count(request.hot_shards),
        )
        return pb.EnsurePlatformAccountResponse(account=account_to_proto(account))

    async def SetAccountHot(
        self, request: pb.SetAccountHotRequest, context: Context
    ) -> pb.SetAccountHotResponse:
        account = await self._store.set_hot_shards(
            _require_account_id(request.account_id), _require_shard_count(request.hot_shards)
        )
        return pb.SetAccountHotResponse(account=account_to_proto(account))

    async def CreateHold(
        self, request: pb.CreateHoldRequest, context: Context
    ) -> pb.CreateHoldResponse:
        requested = plan_hold(
            hold_id=request.hold_id,
            account_id=_require_account_id(request.account_id),
            amount_fen=amount_from_proto(request.amount),
            ttl_seconds=request.ttl_seconds,
            memo=validate_memo(request.memo),
            now=self._clock.now(),
        )

        async def create(session: Session) -> pb.CreateHoldResponse:
            existing = await self._store.get_hold(requested.hold_id, session)
            if existing is not None:
                hold = check_repeated_create(existing, requested)
                account = await self._store.get_account(hold.account_id, session)
            else:
                hold = requested
                account = await self._store.insert_hold(session, hold)
                await self._append(
                    session, "payment.hold.created", hold.hold_id, hold_to_proto(hold)
                )
            return pb.CreateHoldResponse(
                hold=hold_to_proto(hold), account=account_to_proto(account)
            )

        async with self._movement_scope(requested.account_id):
            return await run_in_transaction(self._client, create)

    async def CaptureHold(
        self, request: pb.CaptureHoldRequest, context: Context
    ) -> pb.CaptureHoldResponse:
        hold_id = require_hold_id(request.hold_id)
        amount_fen = request.amount.amount_fen and amount_from_proto(request.amount)
        credit_account_id = _require_account_id(request.credit_account_id, "credit_account_id")

        async def capture(session: Session) -> pb.CaptureHoldResponse:
            hold = await self._require_hold(hold_id, session)
            captured = plan_capture(
                hold,
                amount_fen=amount_fen,
                credit_account_id=credit_account_id,
                posting_id=uuid.uuid4().hex,
                now=self._clock.now(),
            )
            if captured is hold:  # a repeated confirm: return the original posting
                posting = await self._store.get_posting(hold.posting_id, session)
                return pb.CaptureHoldResponse(
                    hold=hold_to_proto(hold), posting=posting_to_proto(posting)
                )
            await self._store.close_hold(session, hold, captured)
            posting = plan_movement(
                posting_id=captured.posting_id,
                kind=PostingKind.HOLD_CAPTURE,
                from_account_id=hold.account_id,
                to_account_id=credit_account_id,
                amount_fen=captured.captured_fen,
                posted_at=self._clock.now(),
                memo=request.memo or hold.memo,
            )
            await self._post(session, posting, reference=hold_id)
            await self._append(session, "payment.hold.captured", hold_id, hold_to_proto(captured))
            return pb.CaptureHoldResponse(
                hold=hold_to_proto(captured), posting=posting_to_proto(posting)
            )

        hold = await self._require_hold(hold_id)
        async with self._movement_scope(hold.account_id):
            return await run_in_transaction(self._client, capture)

    async def VoidHold(self, request: pb.VoidHoldRequest, context: Context) -> pb.VoidHoldResponse:
        hold_id = require_hold_id(request.hold_id)
        hold = await self.void_hold(hold_id, expired=False)
        return pb.VoidHoldResponse(hold=hold_to_proto(hold))

    async def void_hold(self, hold_id: str, *, expired: bool) -> Hold:
        """Release a hold (or burn its id if it does not exist yet); idempotent."""

        async def void(session: Session) -> Hold:
            now = self._clock.now()
            hold = await self._store.get_hold(hold_id, session)
            if hold is None:
                tombstone = void_before_create(hold_id, now)
                await self._store.insert_hold(session, tombstone)
                return tombstone
            voided = plan_void(hold, now, expired=expired)
            if voided is not hold:
                await self._store.close_hold(session, hold, voided)
                event_type = "payment.hold.expired" if expired else "payment.hold.voided"
                await self._append(session, event_type, hold_id, hold_to_proto(voided))
            return voided

        existing = await self._store.get_hold(hold_id)
        async with self._movement_scope(*([existing.account_id] if existing else [])):
            return await run_in_transaction(self._client, void)

    async def expire_due_holds(self) -> int:
        """Release every open hold past its TTL (the sweeper's work); returns how many."""
        expired = 0
        for _ in range(HOLD_SWEEP_BATCHES_MAX):
            due = await self._store.holds_due_to_expire(self._clock.now(), HOLD_SWEEP_BATCH)
            for hold in due:
                await self.void_hold(hold.hold_id, expired=True)
            expired += len(due)
            if len(due) < HOLD_SWEEP_BATCH:
                break
        return expired

    async def GetHold(self, request: pb.GetHoldRequest, context: Context) -> pb.GetHoldResponse:
        hold = await self._require_hold(require_hold_id(request.hold_id))
        return pb.GetHoldResponse(hold=hold_to_proto(hold))

    async def _require_hold(self, hold_id: str, session: Session | None = None) -> Hold:
        hold = await self._store.get_hold(hold_id, session)
        if hold is None:
            raise NotFound(f"hold {hold_id} does not exist", metadata={"hold_id": hold_id})
        return hold

    async def StreamEvents(
        self, request: pb.StreamEventsRequest, context: Context
    ) -> AsyncIterator[pb.StreamEventsResponse]:
        after_position = parse_position(request.after_position)
        batch_size = request.batch_size or FEED_BATCH_DEFAULT
        if not 1 <= batch_size <= FEED_BATCH_MAX:
            raise InvalidArgument(f"batch_size must be between 1 and {FEED_BATCH_MAX}")
        async for events in self._feed.follow(after_position, batch_size, follow=request.follow):
            yield pb.StreamEventsResponse(events=events)

    @contextlib.asynccontextmanager
    async def _movement_scope(self, *debit_account_ids: str) -> AsyncIterator[None]:
        """Around one money movement's transaction: lock the debited account, lease shards."""
        with self._store.shard_leases():
            async with self._account_locks.hold(debit_account_ids):
                yield

    async def _append(
        self, session: Session, event_type: str, aggregate_id: str, payload: Message
    ) -> None:
        await append_event(
            self._store.outbox,
            session,
            event_type=event_type,
            aggregate_id=aggregate_id,
            payload=payload,
            occurred_at=self._clock.now(),
        )

    async def _post(
        self,
        session: Session,
        posting: Posting,
        reference: str = "",
        known: tuple[Account, ...] = (),
    ) -> dict[str, Account]:
        """Apply a posting and append its event, in the caller's transaction."""
        after = await self._store.apply_posting(
            session, posting, reference, known={a.account_id: a for a in known}
        )
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


def _require_shard_count(hot_shards: int) -> int:
    if not 0 <= hot_shards <= HOT_SHARDS_MAX:
        raise InvalidArgument(f"hot_shards must be between 0 and {HOT_SHARDS_MAX}")
    return hot_shards


def _require_owner_ref(owner_ref: str) -> str:
    if not owner_ref:
        raise InvalidArgument("owner_ref is required")
    return owner_ref


PLATFORM_ACCOUNT_ID_PREFIX = "platform:"
PLATFORM_FEE_INCOME_ACCOUNT_ID = "platform:fee_income"
HOT_SHARDS_MAX = 64
# The bank clearing account takes every top-up and withdrawal: the hottest account there is.
BANK_CLEARING_HOT_SHARDS = 16
HOLD_SWEEP_INTERVAL_SECONDS = 5.0
HOLD_SWEEP_BATCH = 100
HOLD_SWEEP_BATCHES_MAX = 50


async def build_payment_service(
    settings: ServiceSettings,
    client: MongoClient,
    clock: Clock,
    bank: BankChannel | None = None,
) -> GrpcService:
    """Prepare the payment database (indexes, system accounts) and build its gRPC server."""
    store = PaymentStore(client[settings.database_name])
    await store.ensure_indexes()
    feed = OutboxFeed(client, store.database)
    await feed.ensure_indexes()
    bank_channel = bank or FakeBankChannel()
    await store.ensure_system_account(
        bank_channel.clearing_account_id,
        AccountKind.EXTERNAL,
        "Bank clearing (fake bank)",
        clock.now(),
        hot_shards=BANK_CLEARING_HOT_SHARDS,
    )
    await store.ensure_system_account(
        PLATFORM_FEE_INCOME_ACCOUNT_ID, AccountKind.PLATFORM, "Colony fee income", clock.now()
    )
    servicer = PaymentServicer(client, store, bank_channel, clock, feed)
    service = build_grpc_service(
        settings,
        register=[
            lambda server: payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, server)
        ],
        service_names=[SERVICE_NAME],
    )
    service.add_background("outbox-sequencer", feed.run_sequencer)
    service.add_periodic("hold-sweeper", HOLD_SWEEP_INTERVAL_SECONDS, servicer.expire_due_holds)
    return service
