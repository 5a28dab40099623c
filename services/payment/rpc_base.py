"""What every group of payment RPCs shares: the store, the clock, and the movement steps.

A movement's steps, in its transaction: _screen (risk control, screening.py) and _post
(apply the posting, append its event). Around it: _movement_scope (lock the debited
account, lease hot sub-accounts) and _risk_audit (keep the record of a refused movement).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import argon2
from google.protobuf.message import Message

from chassis.clock import Clock
from chassis.errors import Aborted, InvalidArgument
from chassis.idempotency import IdempotencyStore
from chassis.keyed_lock import KeyedLock
from chassis.mongo import MongoClient, Session, run_in_transaction
from chassis.outbox import EventLog, OutboxFeed
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import BankChannel
from services.payment.bills import Biller
from services.payment.ledger import (
    PLATFORM_FEE_INCOME_ACCOUNT_ID,
    Account,
    Posting,
    PostingKind,
    plan_movement,
)
from services.payment.payment_authorization import (
    NO_SECOND_FACTOR,
    PASSWORD_VERIFIED,
    SecondFactor,
    authorization_factor,
    invalid_authorization,
)
from services.payment.payment_password import (
    PasswordRecord,
    PasswordState,
    require_password_set,
    reserve_try,
    settle_try,
    verify_payment_password,
    wrong_password_error,
)
from services.payment.risk import DEFAULT_RULES, Rule
from services.payment.rpc_batching import MovementBatcher
from services.payment.screening import OutgoingPayment, RiskRefused, screen_outgoing
from services.payment.store import PaymentStore
from services.payment.wire import posting_to_proto

# PLATFORM_FEE_INCOME_ACCOUNT_ID lives in ledger.py; it is re-exported here for the gateway
# tests that still import it from this module.
__all__ = [
    "PLATFORM_FEE_INCOME_ACCOUNT_ID",
    "PaymentRpcBase",
    "require_account_id",
    "require_owner_ref",
]

log = logging.getLogger(__name__)

_Response = TypeVar("_Response", bound=Message)


def require_account_id(account_id: str, field: str = "account_id") -> str:
    if not account_id:
        raise InvalidArgument(f"{field} is required")
    return account_id


def require_owner_ref(owner_ref: str) -> str:
    if not owner_ref:
        raise InvalidArgument("owner_ref is required")
    return owner_ref


# A try that finds every slot taken by tries being verified waits this long between looks.
PASSWORD_TRY_WAIT_SECONDS = 0.05
PASSWORD_TRY_WAITS_MAX = 60


class PaymentRpcBase:
    """State and helpers shared by the PaymentService RPC groups (mixed into one servicer)."""

    def __init__(
        self,
        client: MongoClient,
        store: PaymentStore,
        bank: BankChannel,
        clock: Clock,
        feed: OutboxFeed,
        *,
        risk_rules: tuple[Rule, ...] = DEFAULT_RULES,
        billers: tuple[Biller, ...] = (),
        password_pepper: bytes = b"",
        group_commit: bool = True,
    ) -> None:
        self._client = client
        self._billers = billers
        self._risk_rules = risk_rules
        # One hasher per process; argon2 runs in the default executor (it is CPU-heavy).
        self._password_hasher = argon2.PasswordHasher()
        # A server-side secret mixed into every payment password hash: a leaked hash store
        # alone is then useless (payment_password.py).
        self._password_pepper = password_pepper
        self._store = store
        self._feed = feed
        self._events = EventLog(store.outbox, clock)
        self._bank = bank
        self._clock = clock
        self._idempotency = IdempotencyStore(store.idempotency, clock)
        # Only the account a movement draws from is locked: that is where a burst of
        # guarded debits would otherwise conflict; credits (above all to hot accounts)
        # must not queue behind each other.
        self._account_locks = KeyedLock()
        # Group commit (rpc_batching.py): transfers, bills, top-ups share transactions.
        self._batcher = (
            MovementBatcher(client, store, clock, lambda: self._risk_rules)
            if group_commit
            else None
        )

    async def _once(
        self,
        scope: str,
        request: Message,
        response_type: type[_Response],
        operation: Callable[[Session], Awaitable[_Response]],
    ) -> _Response:
        """Run an idempotent operation in one transaction (a repeated key replays its answer)."""
        return await self._idempotency.run(
            self._client,
            scope=scope,
            request=request,
            response_type=response_type,
            operation=operation,
        )

    @contextlib.asynccontextmanager
    async def _movement_scope(self, *debit_account_ids: str) -> AsyncIterator[None]:
        """Around one money movement's transaction: lock the debited account, lease shards."""
        with self._store.shard_leases():
            async with self._account_locks.hold(debit_account_ids):
                yield

    async def _second_factor(self, account_id: str, risk: pb.RiskSignals) -> SecondFactor:
        """The second factor the client offered for a movement.

        A payment password is verified now (a wrong one is refused). A payment authorization
        is checked and spent by _screen inside the movement's transaction, only when risk
        control challenges the movement, and only there: a replay of a movement that
        already spent it must still find its recorded answer.
        Neither: NO_SECOND_FACTOR (a challenge will then be refused).
        """
        if risk.payment_authorization:
            return authorization_factor(risk.payment_authorization)
        if risk.payment_password:
            await self._verify_payment_password(account_id, risk.payment_password)
            return PASSWORD_VERIFIED
        return NO_SECOND_FACTOR

    async def _verify_payment_password(self, account_id: str, payment_password: str) -> None:
        """Verify the payment password, or refuse (wrong, locked, not set).

        The try reserves a slot before the (slow) verification, in a transaction that checks
        the lock (payment_password.reserve_try), and settles it afterwards: a right password
        gives the slot back and clears the count, a wrong one counts towards the lock.
        """
        token = uuid.uuid4().hex
        record = await self._reserve_password_try(account_id, token)
        verify = functools.partial(
            verify_payment_password,
            record.password_hash,
            payment_password,
            hasher=self._password_hasher,
            pepper=self._password_pepper,
        )
        verified = await asyncio.get_running_loop().run_in_executor(None, verify)

        async def settle(session: Session) -> PasswordState:
            current = require_password_set(
                await self._store.get_password_record(account_id, session)
            )
            state = settle_try(current.state, token, self._clock.now(), verified=verified)
            await self._store.save_password_state(account_id, state, session)
            return state

        settled = await run_in_transaction(self._client, settle)
        if not verified:
            raise wrong_password_error(settled, self._clock.now())

    async def _reserve_password_try(self, account_id: str, token: str) -> PasswordRecord:
        """Admit the try, waiting (bounded) while other tries hold every slot."""

        async def reserve(session: Session) -> PasswordRecord:
            record = require_password_set(
                await self._store.get_password_record(account_id, session)
            )
            state = reserve_try(record.state, token, self._clock.now())
            await self._store.save_password_state(account_id, state, session)
            return PasswordRecord(record.password_hash, state)

        for wait in range(PASSWORD_TRY_WAITS_MAX):
            try:
                return await run_in_transaction(self._client, reserve)
            except Aborted:
                if wait == PASSWORD_TRY_WAITS_MAX - 1:
                    raise
                await asyncio.sleep(PASSWORD_TRY_WAIT_SECONDS)
        raise AssertionError("unreachable: the last wait re-raises")

    async def _screen(
        self, session: Session, payer: Account, payment: OutgoingPayment, factor: SecondFactor
    ) -> None:
        """Real-time risk control of one outgoing movement, inside its transaction.

        A refusal raises RiskRefused (recorded by _risk_audit after the transaction
        aborts); a movement that may proceed has its decision recorded, the authorization
        that answered a challenge spent, and the payer's activity updated, in the same
        transaction as the posting.
        """
        now = self._clock.now()
        parties = [payer.account_id, payment.payee_account_id]
        blacklisted = await self._store.blacklisted_among(parties, session)
        screening = screen_outgoing(
            self._risk_rules,
            payer,
            payment,
            blacklisted=blacklisted,
            second_factor=factor,
            now=now,
        )
        digest, amount_fen = screening.authorization_digest, payment.amount_fen
        if digest and not await self._store.use_payment_authorization(
            session, digest, payer.account_id, amount_fen, now
        ):
            raise invalid_authorization()
        await self._store.insert_risk_decision(session, screening.record)
        await self._store.record_outgoing_activity(session, payer.account_id, screening.activity)

    @contextlib.asynccontextmanager
    async def _risk_audit(self) -> AsyncIterator[None]:
        """Record the decision of a movement that risk control refused, then re-raise."""
        try:
            yield
        except RiskRefused as refused:
            await self._store.insert_risk_decision(None, refused.record)
            raise

    def _movement(
        self,
        kind: PostingKind,
        from_account_id: str,
        to_account_id: str,
        amount_fen: int,
        memo: str = "",
        *,
        posted_at: datetime | None = None,
    ) -> Posting:
        """The ledger's two-entry posting for one movement, with a fresh id (posted now)."""
        return plan_movement(
            posting_id=uuid.uuid4().hex,
            kind=kind,
            from_account_id=from_account_id,
            to_account_id=to_account_id,
            amount_fen=amount_fen,
            posted_at=posted_at or self._clock.now(),
            memo=memo,
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
        await self._events.append(
            session,
            "payment.posting.recorded",
            posting.posting_id,
            posting_to_proto(posting),
            occurred_at=posting.posted_at,
        )
        return after
