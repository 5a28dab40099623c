"""What every group of payment RPCs shares: the store, the clock, and the posting helpers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import argon2

from chassis.clock import Clock
from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.idempotency import IdempotencyStore
from chassis.keyed_lock import KeyedLock
from chassis.mongo import MongoClient, Session, run_in_transaction
from chassis.outbox import (
    EventLog,
    OutboxFeed,
)
from colony.payment.v1 import payment_pb2 as pb
from services.payment.activity import (
    device_known,
    payee_known,
    recent_figures,
    record_outgoing,
)
from services.payment.bank_channel import BankChannel
from services.payment.bills import Biller
from services.payment.ledger import (
    Account,
    Posting,
)
from services.payment.payment_password import (
    PasswordState,
    register_failure,
    require_not_locked,
    verify_payment_password,
    wrong_password_error,
)
from services.payment.risk import (
    DEFAULT_RULES,
    KycLevel,
    PaymentContext,
    PaymentKind,
    RiskAction,
    RiskDecision,
    Rule,
    evaluate_risk,
    require_allowed,
)
from services.payment.store import (
    PaymentStore,
)
from services.payment.wire import (
    posting_to_proto,
)

log = logging.getLogger(__name__)


class RiskRefused(FailedPrecondition):
    """Risk control refused a movement (DENY, or a CHALLENGE not met); carries its record."""

    def __init__(self, refusal: FailedPrecondition, record: dict[str, Any]) -> None:
        super().__init__(refusal.message, reason=refusal.reason, metadata=refusal.metadata)
        self.record = record


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """What answers a risk challenge for one movement: a verified password or authorization."""

    verified: bool = False
    # Set when it is a payment authorization, which the movement's transaction spends.
    authorization_digest: str = ""


NO_SECOND_FACTOR = SecondFactor()


def authorization_digest(authorization: str) -> str:
    """How a payment authorization is stored: its sha256, never the bearer value itself."""
    return hashlib.sha256(authorization.encode()).hexdigest()


def authorization_factor(authorization: str) -> SecondFactor:
    """A payment authorization offered as the second factor (or none, if empty); checked
    and spent by _screen in the movement's transaction."""
    if not authorization:
        return NO_SECOND_FACTOR
    return SecondFactor(verified=True, authorization_digest=authorization_digest(authorization))


def invalid_authorization() -> FailedPrecondition:
    return FailedPrecondition(
        "the payment authorization is unknown, expired, already used, or not for this payment",
        reason="PAYMENT_AUTHORIZATION_INVALID",
    )


def _password_state(record: dict[str, Any]) -> PasswordState:
    return PasswordState(
        failed_attempts=record.get("failed_attempts", 0), locked_until=record.get("locked_until")
    )


def _decision_record(
    context: PaymentContext, decision: RiskDecision, decided_at: datetime
) -> dict[str, Any]:
    """The audit record of one risk decision."""
    return {
        "_id": uuid.uuid4().hex,
        "payer_account_id": context.payer_account_id,
        "payee_account_id": context.payee_account_id,
        "payment_kind": context.payment_kind.value,
        "amount_fen": context.amount_fen,
        "action": decision.action.value,
        "rule_ids": list(decision.rule_ids),
        "reasons": list(decision.reasons),
        "device_id": context.device_id,
        "decided_at": decided_at,
    }


def require_account_id(account_id: str, field: str = "account_id") -> str:
    if not account_id:
        raise InvalidArgument(f"{field} is required")
    return account_id


def require_shard_count(hot_shards: int) -> int:
    if not 0 <= hot_shards <= HOT_SHARDS_MAX:
        raise InvalidArgument(f"hot_shards must be between 0 and {HOT_SHARDS_MAX}")
    return hot_shards


def require_owner_ref(owner_ref: str) -> str:
    if not owner_ref:
        raise InvalidArgument("owner_ref is required")
    return owner_ref


PLATFORM_ACCOUNT_ID_PREFIX = "platform:"
PLATFORM_FEE_INCOME_ACCOUNT_ID = "platform:fee_income"
# Buyers' money held for escrow trades; credited by every trade payment, so hot.
ESCROW_ACCOUNT_ID = "platform:escrow"
ESCROW_HOT_SHARDS = 16
HOT_SHARDS_MAX = 64
# The bank clearing account takes every top-up and withdrawal: the hottest account there is.
BANK_CLEARING_HOT_SHARDS = 16
HOLD_SWEEP_INTERVAL_SECONDS = 5.0
HOLD_SWEEP_BATCH = 100
HOLD_SWEEP_BATCHES_MAX = 50


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
    ) -> None:
        self._client = client
        self._billers = billers
        self._risk_rules = risk_rules
        # One hasher per process; argon2 runs in the default executor (it is CPU-heavy).
        self._password_hasher = argon2.PasswordHasher()
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
            return SecondFactor(verified=True)
        return NO_SECOND_FACTOR

    async def _verify_payment_password(self, account_id: str, payment_password: str) -> None:
        """Verify the payment password, or refuse (wrong, locked, not set).

        Each try is counted as a failure *before* the (slow) verification, in a transaction
        that first checks the lock: concurrent guesses serialise on the record, so no more
        than the allowed number can ever be verified. A right password then clears the count.
        """

        async def reserve_attempt(session: Session) -> dict[str, Any]:
            current = await self._store.get_password_record(account_id, session)
            if current is None:
                raise FailedPrecondition(
                    "no payment password has been set", reason="PAYMENT_PASSWORD_NOT_SET"
                )
            state = _password_state(current)
            require_not_locked(state, self._clock.now())
            counted = register_failure(state, self._clock.now())
            await self._store.password_state_in(session, account_id, counted)
            return {**current, "counted": counted}

        record = await run_in_transaction(self._client, reserve_attempt)
        matches = await asyncio.get_running_loop().run_in_executor(
            None,
            functools.partial(
                verify_payment_password,
                record["password_hash"],
                payment_password,
                hasher=self._password_hasher,
            ),
        )
        if not matches:
            raise wrong_password_error(record["counted"], self._clock.now())
        await self._store.save_password_state(account_id, PasswordState())

    async def _screen(
        self,
        session: Session,
        *,
        payer: Account,
        payee_account_id: str,
        payment_kind: PaymentKind,
        amount_fen: int,
        device_id: str,
        second_factor: SecondFactor,
    ) -> None:
        """Real-time risk control of one outgoing movement, inside its transaction.

        Evaluates the rules on the payer's activity as this transaction sees it; a refusal
        raises RiskRefused (recorded by _risk_audit after the transaction aborts); a
        payment that may proceed has its decision recorded and the payer's activity
        updated in the same transaction as the posting.
        """
        now = self._clock.now()
        figures = recent_figures(payer.activity, now)
        blacklisted = await self._store.blacklisted_among(
            [payer.account_id, payee_account_id], session
        )
        context = PaymentContext(
            payer_account_id=payer.account_id,
            payer_kyc_level=KycLevel(payer.kyc_level),
            payee_account_id=payee_account_id,
            payment_kind=payment_kind,
            amount_fen=amount_fen,
            device_id=device_id,
            device_known=device_known(payer.activity, device_id),
            payee_known=payee_known(payer.activity, payee_account_id),
            last_minute_count=figures.last_minute_count,
            last_minute_amount_fen=figures.last_minute_amount_fen,
            today_amount_fen=figures.today_amount_fen,
            payer_blacklisted=payer.account_id in blacklisted,
            payee_blacklisted=payee_account_id in blacklisted,
        )
        decision = evaluate_risk(self._risk_rules, context)
        record = _decision_record(context, decision, now)
        try:
            require_allowed(decision, second_factor_verified=second_factor.verified)
        except FailedPrecondition as refusal:
            raise RiskRefused(refusal, record) from None
        # An authorization is spent only on the challenge it answers: one offered up front
        # to a payment that needs none stays unspent (and cannot fail it by lapsing).
        if (
            second_factor.authorization_digest
            and decision.action is RiskAction.CHALLENGE
            and not await self._store.use_payment_authorization(
                session, second_factor.authorization_digest, payer.account_id, amount_fen, now
            )
        ):
            raise invalid_authorization()
        await self._store.insert_risk_decision(session, {**record, "proceeded": True})
        activity = record_outgoing(
            payer.activity,
            now=now,
            amount_fen=amount_fen,
            payee_account_id=payee_account_id,
            device_id=device_id,
        )
        await self._store.record_outgoing_activity(session, payer.account_id, activity)

    @contextlib.asynccontextmanager
    async def _risk_audit(self) -> AsyncIterator[None]:
        """Record the decision of a movement that risk control refused, then re-raise."""
        try:
            yield
        except RiskRefused as refused:
            await self._store.insert_risk_decision(None, {**refused.record, "proceeded": False})
            raise

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
