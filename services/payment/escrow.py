"""Escrow trade (担保交易), Alipay's origin: the platform holds the buyer's money (DOMAIN.md §1).

A merchant creates a trade; the buyer pays into escrow; the merchant ships; the buyer
confirms receipt (or the trade auto-confirms) and the money goes to the merchant less the
acquiring fee. Until then the buyer may ask for part or all of the money back.

States (every transition is a function below; anything else is ILLEGAL_TRANSITION):

    CREATED ──pay──► PAID ──ship──► SHIPPED ──confirm / auto_confirm──► SETTLED
       │               │               │
       │ cancel,       └─request_refund┴──► REFUND_REQUESTED
       │ expire                              │ approve (the whole rest) ──► REFUNDED
       ▼                                     │ approve (part)  ──► back to PAID / SHIPPED
     CLOSED                                  │ reject          ──► back to PAID / SHIPPED

- CREATED: the merchant created the trade; nothing paid. It may be paid until `pay_by`.
- CLOSED: cancelled by a party, or expired unpaid. Terminal; no money ever moved.
- PAID: the buyer's money is held in escrow; the merchant has not shipped.
- SHIPPED: the merchant marked the goods shipped; the auto-confirm clock runs.
- REFUND_REQUESTED: the buyer asked for money back; the merchant or the platform decides.
  The auto-confirm clock is paused: a dispute is never settled by the clock.
- SETTLED: the buyer confirmed receipt, or the trade auto-confirmed. Terminal; what is left
  in escrow went to the merchant less the acquiring fee.
- REFUNDED: refunds approved for the whole amount. Terminal; no fee is charged.

Partial refunds are not a state of their own. As on Taobao, an approved partial refund goes
back to the buyer at once and the trade returns to where it was (PAID or SHIPPED) carrying
`refund_fen`; the rest stays in escrow until the buyer confirms receipt, so the buyer keeps
the protection for goods not yet delivered. A settled trade with refund_fen > 0 is the
"partially refunded" outcome; `settlement_split` shows the three parts.

Auto-confirm rule: a trade auto-confirms AUTO_CONFIRM_AFTER (10 days, physical goods,
DOMAIN.md §1) after it was marked shipped, never counting time spent in REFUND_REQUESTED.
A trade paid but never shipped never auto-confirms: paying a merchant who never shipped
would defeat the escrow; the buyer's remedy there is a refund.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from chassis.money import require_positive_amount

# Buyers' money held for escrow trades; credited by every trade payment, so hot.
ESCROW_ACCOUNT_ID = "platform:escrow"
ESCROW_HOT_SHARDS = 16
# Physical goods auto-confirm 10 days after shipment (DOMAIN.md §1, market).
AUTO_CONFIRM_AFTER = timedelta(days=10)
# An unpaid trade closes after its payment window. One day by default; Alipay's own range
# for an unpaid order's timeout is 1 minute to 15 days (market).
PAYMENT_WINDOW_DEFAULT = timedelta(days=1)
PAYMENT_WINDOW_MIN = timedelta(minutes=1)
PAYMENT_WINDOW_MAX = timedelta(days=15)
# Merchant acquiring fee (收单费用) taken at settlement: 0.6% (DOMAIN.md §1, market).
ACQUIRING_FEE_RATE = Decimal("0.006")
# A buyer may ask for a refund at most this many times per trade (approved or rejected):
# bounds the request/reject loop so a dispute cannot hold the money forever.
REFUND_REQUESTS_MAX = 3
DESCRIPTION_LENGTH_MAX = 128
REFUND_REASON_LENGTH_MAX = 200


class TradeState(StrEnum):
    CREATED = "created"
    CLOSED = "closed"
    PAID = "paid"
    SHIPPED = "shipped"
    REFUND_REQUESTED = "refund_requested"
    SETTLED = "settled"
    REFUNDED = "refunded"


class TradeAction(StrEnum):
    PAY = "pay"
    CANCEL = "cancel"
    EXPIRE = "expire"
    SHIP = "ship"
    CONFIRM_RECEIPT = "confirm_receipt"
    AUTO_CONFIRM = "auto_confirm"
    REQUEST_REFUND = "request_refund"
    APPROVE_REFUND = "approve_refund"
    REJECT_REFUND = "reject_refund"


class RefundDecider(StrEnum):
    MERCHANT = "merchant"
    PLATFORM = "platform"


class TradeRole(StrEnum):
    """Who acts on a trade: its two parties, a platform operator, or the platform's jobs."""

    BUYER = "buyer"
    MERCHANT = "merchant"
    PLATFORM = "platform"
    SYSTEM = "system"


class SettledBy(StrEnum):
    BUYER = "buyer"
    AUTO_CONFIRM = "auto_confirm"


TERMINAL_STATES = frozenset({TradeState.CLOSED, TradeState.SETTLED, TradeState.REFUNDED})
# States in which the trade's money sits in the escrow account.
ESCROW_STATES = frozenset({TradeState.PAID, TradeState.SHIPPED, TradeState.REFUND_REQUESTED})

# The state machine: the actions each state accepts. The target state is decided by the
# action's function (an approval's target depends on the amount, a rejection's on the prior
# state), so this table is about legality only.
ALLOWED_ACTIONS: Mapping[TradeState, frozenset[TradeAction]] = {
    TradeState.CREATED: frozenset({TradeAction.PAY, TradeAction.CANCEL, TradeAction.EXPIRE}),
    TradeState.CLOSED: frozenset(),
    TradeState.PAID: frozenset({TradeAction.SHIP, TradeAction.REQUEST_REFUND}),
    TradeState.SHIPPED: frozenset(
        {TradeAction.CONFIRM_RECEIPT, TradeAction.AUTO_CONFIRM, TradeAction.REQUEST_REFUND}
    ),
    TradeState.REFUND_REQUESTED: frozenset({TradeAction.APPROVE_REFUND, TradeAction.REJECT_REFUND}),
    TradeState.SETTLED: frozenset(),
    TradeState.REFUNDED: frozenset(),
}


# Who may take each action: the object-level authorisation of a trade, kept next to the
# state machine so that the two cannot drift apart.
ACTION_ROLES: Mapping[TradeAction, frozenset[TradeRole]] = {
    TradeAction.PAY: frozenset({TradeRole.BUYER}),
    TradeAction.CANCEL: frozenset({TradeRole.BUYER, TradeRole.MERCHANT}),
    TradeAction.EXPIRE: frozenset({TradeRole.SYSTEM}),
    TradeAction.SHIP: frozenset({TradeRole.MERCHANT}),
    TradeAction.CONFIRM_RECEIPT: frozenset({TradeRole.BUYER}),
    TradeAction.AUTO_CONFIRM: frozenset({TradeRole.SYSTEM}),
    TradeAction.REQUEST_REFUND: frozenset({TradeRole.BUYER}),
    TradeAction.APPROVE_REFUND: frozenset({TradeRole.MERCHANT, TradeRole.PLATFORM}),
    TradeAction.REJECT_REFUND: frozenset({TradeRole.MERCHANT, TradeRole.PLATFORM}),
}


@dataclass(frozen=True, slots=True)
class Trade:
    """An escrow trade as of one read; every transition returns a new value."""

    trade_id: str
    merchant_account_id: str
    buyer_account_id: str
    amount_fen: int
    description: str
    state: TradeState
    created_at: datetime
    updated_at: datetime
    pay_by: datetime
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    auto_confirm_at: datetime | None = None
    # Money already approved back to the buyer (sum over approved requests).
    refund_fen: int = 0
    refund_requests_count: int = 0
    # The open request (while REFUND_REQUESTED) or the last one decided.
    refund_requested_fen: int = 0
    refund_reason: str = ""
    refund_requested_at: datetime | None = None
    state_before_refund: TradeState | None = None
    refund_decided_by: RefundDecider | None = None
    settled_by: SettledBy | None = None
    finished_at: datetime | None = None

    def __post_init__(self) -> None:
        # Money invariants of every trade value, asserted where trades are made.
        if not 0 <= self.refund_fen <= self.amount_fen:
            raise AssertionError(f"trade {self.trade_id}: refund {self.refund_fen} out of range")
        if self.refund_fen == self.amount_fen and self.state is TradeState.SETTLED:
            raise AssertionError(f"trade {self.trade_id}: settled with everything refunded")

    @property
    def escrow_held_fen(self) -> int:
        """What this trade has in the escrow account now (the reconciliation figure)."""
        if self.state in ESCROW_STATES:
            return self.amount_fen - self.refund_fen
        return 0

    @property
    def refundable_fen(self) -> int:
        """The most the buyer may still ask back: what is left in escrow."""
        return self.amount_fen - self.refund_fen


@dataclass(frozen=True, slots=True)
class Settlement:
    """Where a paid trade's money ends up; the three parts sum to the paid amount."""

    merchant_fen: int
    fee_fen: int
    refund_fen: int

    @property
    def total_fen(self) -> int:
        """The paid amount the parts add up to."""
        return self.merchant_fen + self.fee_fen + self.refund_fen


def party_role(trade: Trade, account_id: str) -> TradeRole:
    """The role of an account in this trade (buyer or merchant), else PERMISSION_DENIED."""
    if account_id == trade.buyer_account_id:
        return TradeRole.BUYER
    if account_id == trade.merchant_account_id:
        return TradeRole.MERCHANT
    raise PermissionDenied(
        f"account {account_id} is not a party to trade {trade.trade_id}",
        metadata={"trade_id": trade.trade_id},
    )


def require_role(trade: Trade, action: TradeAction, role: TradeRole) -> None:
    """Refuse an action the role may not take on a trade (PERMISSION_DENIED)."""
    if role not in ACTION_ROLES[action]:
        raise PermissionDenied(
            f"the {role.value} cannot {action.value} trade {trade.trade_id}",
            metadata={"trade_id": trade.trade_id, "action": action.value, "role": role.value},
        )


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("escrow rules need a timezone-aware now")


def _require_action(trade: Trade, action: TradeAction) -> None:
    """Refuse an action the trade's current state does not accept."""
    if action not in ALLOWED_ACTIONS[trade.state]:
        raise FailedPrecondition(
            f"trade {trade.trade_id} is {trade.state.value}; cannot {action.value}",
            reason="ILLEGAL_TRANSITION",
            metadata={
                "trade_id": trade.trade_id,
                "state": trade.state.value,
                "action": action.value,
            },
        )


def _not_yet_due(trade: Trade, action: TradeAction, due_at: datetime) -> FailedPrecondition:
    return FailedPrecondition(
        f"trade {trade.trade_id} cannot {action.value} before {due_at.isoformat()}",
        reason="TRADE_NOT_DUE",
        metadata={"trade_id": trade.trade_id, "action": action.value, "due_at": due_at.isoformat()},
    )


def _require_text(text: str, field: str, length_max: int, *, required: bool) -> str:
    trimmed = text.strip()
    if (required and not trimmed) or len(trimmed) > length_max:
        low = 1 if required else 0
        raise InvalidArgument(
            f"{field} must be {low} to {length_max} characters", metadata={"field": field}
        )
    return trimmed


def create_trade(
    *,
    trade_id: str,
    merchant_account_id: str,
    buyer_account_id: str,
    amount_fen: int,
    description: str,
    now: datetime,
    payment_window: timedelta = PAYMENT_WINDOW_DEFAULT,
) -> Trade:
    """A new trade in CREATED, payable until now + payment_window."""
    _require_aware(now)
    require_positive_amount(amount_fen)
    if merchant_account_id == buyer_account_id:
        raise InvalidArgument("a merchant cannot trade with itself", reason="SAME_ACCOUNT")
    if not PAYMENT_WINDOW_MIN <= payment_window <= PAYMENT_WINDOW_MAX:
        raise InvalidArgument(
            f"payment window must be between {PAYMENT_WINDOW_MIN} and {PAYMENT_WINDOW_MAX}",
            metadata={"field": "payment_window"},
        )
    return Trade(
        trade_id=trade_id,
        merchant_account_id=merchant_account_id,
        buyer_account_id=buyer_account_id,
        amount_fen=amount_fen,
        description=_require_text(
            description, "description", DESCRIPTION_LENGTH_MAX, required=True
        ),
        state=TradeState.CREATED,
        created_at=now,
        updated_at=now,
        pay_by=now + payment_window,
    )


def pay(trade: Trade, now: datetime) -> Trade:
    """CREATED → PAID: the buyer's amount_fen moves into escrow (refused once pay_by passed)."""
    _require_aware(now)
    _require_action(trade, TradeAction.PAY)
    if now >= trade.pay_by:
        raise FailedPrecondition(
            f"trade {trade.trade_id} expired unpaid at {trade.pay_by.isoformat()}",
            reason="TRADE_EXPIRED",
            metadata={"trade_id": trade.trade_id, "pay_by": trade.pay_by.isoformat()},
        )
    return replace(trade, state=TradeState.PAID, paid_at=now, updated_at=now)


def require_payable(trade: Trade, now: datetime) -> None:
    """Refuse, as pay would, a trade that cannot be paid now (no state changes)."""
    pay(trade, now)


def cancel(trade: Trade, now: datetime) -> Trade:
    """CREATED → CLOSED: a party cancels an unpaid trade; no money moves."""
    _require_aware(now)
    _require_action(trade, TradeAction.CANCEL)
    return replace(trade, state=TradeState.CLOSED, updated_at=now, finished_at=now)


def expiry_due(trade: Trade, now: datetime) -> bool:
    """True if the trade is unpaid and its payment window has passed (the closing job's query)."""
    return trade.state is TradeState.CREATED and now >= trade.pay_by


def expire(trade: Trade, now: datetime) -> Trade:
    """CREATED → CLOSED once pay_by has passed (run by the expiry job)."""
    _require_aware(now)
    _require_action(trade, TradeAction.EXPIRE)
    if now < trade.pay_by:
        raise _not_yet_due(trade, TradeAction.EXPIRE, trade.pay_by)
    return replace(trade, state=TradeState.CLOSED, updated_at=now, finished_at=now)


def mark_shipped(trade: Trade, now: datetime) -> Trade:
    """PAID → SHIPPED: the merchant shipped; the auto-confirm clock starts (AUTO_CONFIRM_AFTER)."""
    _require_aware(now)
    _require_action(trade, TradeAction.SHIP)
    return replace(
        trade,
        state=TradeState.SHIPPED,
        shipped_at=now,
        auto_confirm_at=now + AUTO_CONFIRM_AFTER,
        updated_at=now,
    )


def confirm_receipt(trade: Trade, now: datetime) -> Trade:
    """SHIPPED → SETTLED: the buyer confirmed receipt; what is in escrow goes to the merchant."""
    _require_aware(now)
    _require_action(trade, TradeAction.CONFIRM_RECEIPT)
    return _settle(trade, now, SettledBy.BUYER)


def auto_confirm_due(trade: Trade, now: datetime) -> bool:
    """True if the trade is SHIPPED and its auto-confirm deadline has come (the job's query)."""
    return (
        trade.state is TradeState.SHIPPED
        and trade.auto_confirm_at is not None
        and now >= trade.auto_confirm_at
    )


def auto_confirm(trade: Trade, now: datetime) -> Trade:
    """SHIPPED → SETTLED by the clock, only once auto_confirm_at has come."""
    _require_aware(now)
    _require_action(trade, TradeAction.AUTO_CONFIRM)
    # Re-checked here, not only in the job's query: a refund decision between the query
    # and this call may have moved the deadline on.
    if trade.auto_confirm_at is None or now < trade.auto_confirm_at:
        due_at = trade.auto_confirm_at or now
        raise _not_yet_due(trade, TradeAction.AUTO_CONFIRM, due_at)
    return _settle(trade, now, SettledBy.AUTO_CONFIRM)


def _settle(trade: Trade, now: datetime, settled_by: SettledBy) -> Trade:
    return replace(
        trade, state=TradeState.SETTLED, settled_by=settled_by, updated_at=now, finished_at=now
    )


def request_refund(trade: Trade, refund_fen: int, reason: str, now: datetime) -> Trade:
    """PAID/SHIPPED → REFUND_REQUESTED: the buyer asks for refund_fen (≤ what is in escrow) back."""
    _require_aware(now)
    _require_action(trade, TradeAction.REQUEST_REFUND)
    require_positive_amount(refund_fen, "refund amount")
    if refund_fen > trade.refundable_fen:
        raise InvalidArgument(
            f"refund of {refund_fen} fen exceeds the {trade.refundable_fen} fen left in escrow",
            reason="INVALID_AMOUNT",
            metadata={"refundable_fen": str(trade.refundable_fen)},
        )
    if trade.refund_requests_count >= REFUND_REQUESTS_MAX:
        raise FailedPrecondition(
            f"trade {trade.trade_id} already had {REFUND_REQUESTS_MAX} refund requests",
            reason="REFUND_NOT_ALLOWED",
            metadata={"trade_id": trade.trade_id},
        )
    return replace(
        trade,
        state=TradeState.REFUND_REQUESTED,
        state_before_refund=trade.state,
        refund_requested_fen=refund_fen,
        refund_reason=_require_text(reason, "reason", REFUND_REASON_LENGTH_MAX, required=True),
        refund_requested_at=now,
        refund_requests_count=trade.refund_requests_count + 1,
        refund_decided_by=None,
        updated_at=now,
    )


def decide_refund(
    trade: Trade, *, approve: bool, decided_by: RefundDecider, now: datetime
) -> Trade:
    """REFUND_REQUESTED → REFUNDED, or back to PAID/SHIPPED (partial approval or rejection)."""
    _require_aware(now)
    _require_action(trade, TradeAction.APPROVE_REFUND if approve else TradeAction.REJECT_REFUND)
    if trade.state_before_refund is None or trade.refund_requested_at is None:
        raise AssertionError(f"trade {trade.trade_id} is in refund without its request")
    refund_fen = trade.refund_fen + (trade.refund_requested_fen if approve else 0)
    if refund_fen == trade.amount_fen:
        return replace(
            trade,
            state=TradeState.REFUNDED,
            refund_fen=refund_fen,
            refund_decided_by=decided_by,
            auto_confirm_at=None,
            updated_at=now,
            finished_at=now,
        )
    # Back to where the trade was; the auto-confirm clock was paused while the request was
    # open, so the buyer loses none of the confirmation time to the dispute.
    auto_confirm_at = trade.auto_confirm_at
    if auto_confirm_at is not None:
        auto_confirm_at += max(now - trade.refund_requested_at, timedelta(0))
    return replace(
        trade,
        state=trade.state_before_refund,
        refund_fen=refund_fen,
        refund_decided_by=decided_by,
        auto_confirm_at=auto_confirm_at,
        updated_at=now,
    )


def acquiring_fee_fen(settled_fen: int) -> int:
    """The acquiring fee on settled_fen: 0.6%, rounded half-even to the fen."""
    if settled_fen < 0:
        raise ValueError("settled amount cannot be negative")
    # Half-even (banker's rounding) so the .5 cases do not all favour one side over many trades.
    fee = (Decimal(settled_fen) * ACQUIRING_FEE_RATE).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(fee)


def split_settlement(paid_fen: int, refund_fen: int) -> Settlement:
    """Split paid_fen: refund_fen to the buyer, the rest to the merchant less the acquiring fee."""
    if not 0 <= refund_fen <= paid_fen:
        raise ValueError(f"refund {refund_fen} fen is outside 0..{paid_fen} fen")
    settled_fen = paid_fen - refund_fen
    fee_fen = acquiring_fee_fen(settled_fen)
    settlement = Settlement(
        merchant_fen=settled_fen - fee_fen, fee_fen=fee_fen, refund_fen=refund_fen
    )
    # The split moves exactly the escrowed money: no fen created or lost, no negative part.
    if settlement.total_fen != paid_fen:
        raise AssertionError(f"{settlement} does not sum to the paid {paid_fen} fen")
    if min(settlement.merchant_fen, settlement.fee_fen, settlement.refund_fen) < 0:
        raise AssertionError(f"{settlement} has a negative part")
    return settlement


def settlement_split(trade: Trade) -> Settlement:
    """Where a SETTLED or REFUNDED trade's paid amount went (merchant, fee, buyer)."""
    if trade.state not in (TradeState.SETTLED, TradeState.REFUNDED):
        raise ValueError(f"trade {trade.trade_id} is {trade.state.value}, not settled or refunded")
    return split_settlement(trade.amount_fen, trade.refund_fen)
