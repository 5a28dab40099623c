"""Holds: the TCC reservation of funds (DESIGN.md "Holds (TCC)").

Try = create a hold (available balance drops), Confirm = capture it into a posting,
Cancel = void it. All three are idempotent. A void that arrives before its hold is
recorded as a burnt id, so the late try is refused: no reservation is ever left
suspended with nobody to release it. Holds carry a TTL and are expired by a sweeper.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.errors import FailedPrecondition, InsufficientFunds, InvalidArgument
from chassis.money import require_positive_amount
from services.payment.ledger import (
    Account,
    Posting,
    PostingKind,
    plan_movement,
    require_can_debit,
)

HOLD_TTL_SECONDS_DEFAULT = 15 * 60
HOLD_TTL_SECONDS_MAX = 7 * 24 * 3600
HOLD_ID_LENGTH_MAX = 200


class HoldState(StrEnum):
    HELD = "held"
    CAPTURED = "captured"
    VOIDED = "voided"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Hold:
    """A reservation of amount_fen on account_id, and what became of it."""

    hold_id: str
    account_id: str
    amount_fen: int
    state: HoldState
    created_at: datetime
    expires_at: datetime
    memo: str = ""
    captured_fen: int = 0
    credit_account_id: str = ""
    posting_id: str = ""
    voided_before_created: bool = False
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.state is HoldState.HELD


def require_can_reserve(account: Account, amount_fen: int) -> None:
    """Refuse a hold the account cannot take (the store's guard refused it; this says why).

    A hot account takes no holds (they live on its main document). A hold reserves money
    the account has, even on one that may go negative (an external party's): such an
    account pays beyond that by a movement, not a hold.
    """
    if account.is_hot:
        raise InvalidArgument("holds cannot be placed on a hot account")
    require_can_debit(account, amount_fen)
    if account.may_go_negative and account.available_fen < amount_fen:
        raise InsufficientFunds(account.account_id, amount_fen, account.available_fen)


def require_hold_id(hold_id: str) -> str:
    """Return the hold id if usable as a key."""
    if not hold_id or len(hold_id) > HOLD_ID_LENGTH_MAX:
        raise InvalidArgument(f"hold_id is required (at most {HOLD_ID_LENGTH_MAX} characters)")
    return hold_id


def plan_hold(
    *, hold_id: str, account_id: str, amount_fen: int, ttl_seconds: int, memo: str, now: datetime
) -> Hold:
    """A new open hold; ttl_seconds 0 means the default."""
    ttl = ttl_seconds or HOLD_TTL_SECONDS_DEFAULT
    if not 0 < ttl <= HOLD_TTL_SECONDS_MAX:
        raise InvalidArgument(f"ttl_seconds must be between 1 and {HOLD_TTL_SECONDS_MAX}")
    return Hold(
        hold_id=require_hold_id(hold_id),
        account_id=account_id,
        amount_fen=require_positive_amount(amount_fen),
        state=HoldState.HELD,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        memo=memo,
    )


def check_repeated_create(existing: Hold, requested: Hold) -> Hold:
    """A create for an id that exists: the same hold again, or a refusal."""
    if existing.state is HoldState.VOIDED and existing.voided_before_created:
        raise FailedPrecondition(
            f"hold {existing.hold_id} was voided before it was created", reason="HOLD_VOIDED"
        )
    if (existing.account_id, existing.amount_fen) != (requested.account_id, requested.amount_fen):
        raise FailedPrecondition(
            f"hold {existing.hold_id} exists for a different account or amount",
            reason="HOLD_MISMATCH",
        )
    return existing


def plan_capture(
    hold: Hold, *, amount_fen: int, credit_account_id: str, posting_id: str, now: datetime
) -> Hold:
    """The captured hold; amount_fen 0 captures the whole held amount."""
    captured_fen = amount_fen or hold.amount_fen
    if hold.state is HoldState.CAPTURED:
        if (hold.captured_fen, hold.credit_account_id) == (captured_fen, credit_account_id):
            return hold  # a repeated confirm: the same outcome
        raise FailedPrecondition(
            f"hold {hold.hold_id} was already captured with other terms",
            reason="HOLD_ALREADY_CAPTURED",
        )
    if hold.state is HoldState.VOIDED:
        raise FailedPrecondition(f"hold {hold.hold_id} was voided", reason="HOLD_VOIDED")
    if hold.state is HoldState.EXPIRED or now >= hold.expires_at:
        raise FailedPrecondition(f"hold {hold.hold_id} has expired", reason="HOLD_EXPIRED")
    require_positive_amount(captured_fen)
    if captured_fen > hold.amount_fen:
        raise InvalidArgument(
            f"cannot capture {captured_fen} fen from a hold of {hold.amount_fen} fen",
            reason="INVALID_AMOUNT",
        )
    if not credit_account_id or credit_account_id == hold.account_id:
        raise InvalidArgument("credit_account_id must name another account")
    return replace(
        hold,
        state=HoldState.CAPTURED,
        captured_fen=captured_fen,
        credit_account_id=credit_account_id,
        posting_id=posting_id,
        closed_at=now,
    )


def capture_posting(hold: Hold, captured: Hold, memo: str, now: datetime) -> Posting:
    """The posting of a capture: what it captured, from the hold's account to the credit one."""
    return plan_movement(
        posting_id=captured.posting_id,
        kind=PostingKind.HOLD_CAPTURE,
        from_account_id=hold.account_id,
        to_account_id=captured.credit_account_id,
        amount_fen=captured.captured_fen,
        posted_at=now,
        memo=memo or hold.memo,
    )


def plan_void(hold: Hold, now: datetime, *, expired: bool = False) -> Hold:
    """The released hold; voiding a closed-without-capture hold again changes nothing."""
    if hold.state is HoldState.CAPTURED:
        raise FailedPrecondition(
            f"hold {hold.hold_id} was already captured", reason="HOLD_ALREADY_CAPTURED"
        )
    if not hold.is_open:
        return hold
    return replace(hold, state=HoldState.EXPIRED if expired else HoldState.VOIDED, closed_at=now)


def void_before_create(hold_id: str, now: datetime) -> Hold:
    """The tombstone recorded when a cancel arrives before its try."""
    return Hold(
        hold_id=require_hold_id(hold_id),
        account_id="",
        amount_fen=0,
        state=HoldState.VOIDED,
        created_at=now,
        expires_at=now,
        voided_before_created=True,
        closed_at=now,
    )
