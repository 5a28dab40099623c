"""Order loans (订单贷款): a merchant borrows against its trades still in escrow.

- *Cover*: the merchant's trades paid and not yet settled (PAID, SHIPPED, REFUND_REQUESTED),
  not pledged to another order loan; the loan is at most 80% of their amount in escrow,
  rounded down to the fen (ORDER_LOAN_COVER beyond it, the cover in metadata).
- *Repayment* is automatic: each tied trade carries a withholding instruction in the payment
  service, so its settlement pays the loan before the merchant (the payment posting and the
  withholding are one transaction there). Collections pay interest, then principal; what a
  collection brings beyond what is owed is *excess*, given back to the merchant.
- *Interest*: 0.05% a day on the principal, by the day as a facility's (facilities.py).
- *Shortfall*: a refunded trade brings nothing, so the cover shrinks. Once every tied trade
  is finished (settled, refunded or closed), or ORDER_LOAN_DAYS after disbursement, anything
  still owed is *overdue*: an ordinary overdue loan, withheld from every later settlement of
  the merchant until repaid (post-loan control).
*Example:* trades of 600 and 400 yuan in escrow → at most 800 yuan; lent 800 on day D; the
600-yuan trade settles on D + 5 (596.40 net): 2.00 yuan interest (800 x 0.05% x 5) then
594.40 principal withheld; the 400-yuan trade is refunded → 205.60 yuan principal is
overdue from that day and withheld from the merchant's next settlements.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from chassis.clock import business_date_of
from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount
from services.loan.merchant.facilities import Principal, accrue

ORDER_LEDGER_ACCOUNT_ID = "platform:loan:order"
COVER_SHARE = Decimal("0.8")
ORDER_DAILY_RATE = Decimal("0.0005")
ORDER_LOAN_DAYS = 30


class OrderLoanState(StrEnum):
    PENDING_DISBURSEMENT = "pending_disbursement"
    CANCELLED = "cancelled"
    ACTIVE = "active"
    SETTLED = "settled"


@dataclass(frozen=True, slots=True)
class PledgedTrade:
    trade_id: str
    in_escrow_fen: int
    finished: bool = False


def cover_fen(trades: tuple[PledgedTrade, ...]) -> int:
    """80% of the trades' amount in escrow, rounded down to the fen."""
    total = Decimal(sum(trade.in_escrow_fen for trade in trades))
    return int((total * COVER_SHARE).to_integral_value(rounding=ROUND_DOWN))


@dataclass(frozen=True, slots=True)
class ExcessDue:
    """What one collection brought beyond the debt: given back to the merchant."""

    application_id: str
    amount_fen: int
    returned: bool = False


@dataclass(frozen=True, slots=True)
class OrderLoan:
    loan_id: str
    merchant_id: str
    trades: tuple[PledgedTrade, ...]
    amount_fen: int
    state: OrderLoanState
    decided_at: datetime
    disbursement_posting_id: str = ""
    disbursed_on: date | None = None
    principal: Principal = field(default_factory=Principal)
    collections: tuple[str, ...] = ()  # application ids applied
    collected_fen: int = 0
    excess: tuple[ExcessDue, ...] = ()
    overdue_since: date | None = None

    @property
    def excess_unreturned_fen(self) -> int:
        return sum(item.amount_fen for item in self.excess if not item.returned)

    @property
    def excess_returned_fen(self) -> int:
        return sum(item.amount_fen for item in self.excess if item.returned)

    @property
    def due_date(self) -> date | None:
        if self.disbursed_on is None:
            return None
        return self.disbursed_on + timedelta(days=ORDER_LOAN_DAYS)

    @property
    def exposure_fen(self) -> int:
        pending = self.amount_fen if self.state is OrderLoanState.PENDING_DISBURSEMENT else 0
        return self.principal.principal_fen + pending

    def overdue_on(self, day: date) -> bool:
        if self.state is not OrderLoanState.ACTIVE:
            return False
        if self.overdue_since is not None:
            return True
        return self.due_date is not None and day > self.due_date


def require_trades(trades: list[PledgedTrade]) -> tuple[PledgedTrade, ...]:
    if not trades:
        raise InvalidArgument(
            "an order loan needs at least one trade", metadata={"field": "trades"}
        )
    if len({trade.trade_id for trade in trades}) != len(trades):
        raise InvalidArgument("a trade is named twice", metadata={"field": "trades"})
    for trade in trades:
        require_positive_amount(trade.in_escrow_fen, "in_escrow")
    return tuple(trades)


def apply_for_order_loan(
    *,
    loan_id: str,
    merchant_id: str,
    trades: list[PledgedTrade],
    amount_fen: int,
    pledged_elsewhere: set[str],
    merchant_overdue: bool,
    now: datetime,
) -> OrderLoan:
    """The loan awaiting disbursement, or a refusal naming the rule."""
    pledged = require_trades(trades)
    require_positive_amount(amount_fen)
    taken = sorted(trade.trade_id for trade in pledged if trade.trade_id in pledged_elsewhere)
    if taken:
        raise FailedPrecondition(
            "a trade is pledged to another order loan",
            reason="TRADE_PLEDGED",
            metadata={"trade_ids": ",".join(taken)},
        )
    if merchant_overdue:
        raise FailedPrecondition(
            "a merchant loan is overdue: repay it first", reason="LOAN_OVERDUE"
        )
    cover = cover_fen(pledged)
    if amount_fen > cover:
        raise FailedPrecondition(
            "an order loan is at most 80% of the trades in escrow",
            reason="ORDER_LOAN_COVER",
            metadata={"cover_fen": str(cover)},
        )
    return OrderLoan(
        loan_id, merchant_id, pledged, amount_fen, OrderLoanState.PENDING_DISBURSEMENT, now
    )


def disburse_order_loan(loan: OrderLoan, posting_id: str, now: datetime) -> OrderLoan:
    if loan.state is OrderLoanState.ACTIVE and loan.disbursement_posting_id == posting_id:
        return loan
    if loan.state is not OrderLoanState.PENDING_DISBURSEMENT:
        raise FailedPrecondition(
            f"order loan {loan.loan_id} is {loan.state.value}",
            reason="FACILITY_NOT_ACTIVE",
            metadata={"state": loan.state.value},
        )
    today = business_date_of(now)
    return replace(
        loan,
        state=OrderLoanState.ACTIVE,
        disbursement_posting_id=posting_id,
        disbursed_on=today,
        principal=Principal(principal_fen=loan.amount_fen, accrued_through=today),
    )


def cancel_order_loan(loan: OrderLoan) -> OrderLoan:
    if loan.state is OrderLoanState.PENDING_DISBURSEMENT:
        return replace(loan, state=OrderLoanState.CANCELLED)
    if loan.state is OrderLoanState.CANCELLED:
        return loan
    raise FailedPrecondition(
        "a disbursed order loan cannot be cancelled", reason="FACILITY_NOT_ACTIVE"
    )


def accrue_order_loan(loan: OrderLoan, day: date) -> OrderLoan:
    if loan.state is not OrderLoanState.ACTIVE:
        return loan
    return replace(loan, principal=accrue(loan.principal, ORDER_DAILY_RATE, day))


@dataclass(frozen=True, slots=True)
class Collected:
    interest_fen: int
    principal_fen: int
    excess_fen: int


def apply_collection(
    loan: OrderLoan, application_id: str, amount_fen: int, day: date
) -> tuple[OrderLoan, Collected]:
    """A withheld amount: interest, then principal, the rest excess (to give back)."""
    if application_id in loan.collections:
        return loan, Collected(0, 0, 0)
    require_positive_amount(amount_fen)
    accrued = accrue_order_loan(loan, day)
    if accrued.state is not OrderLoanState.ACTIVE:
        return replace(
            accrued,
            collections=(*accrued.collections, application_id),
            collected_fen=accrued.collected_fen + amount_fen,
            excess=(*accrued.excess, ExcessDue(application_id, amount_fen)),
        ), Collected(0, 0, amount_fen)
    part = accrued.principal
    interest = min(amount_fen, part.interest_owed_fen)
    principal = min(amount_fen - interest, part.principal_fen)
    excess = amount_fen - interest - principal
    paid = replace(
        part,
        interest_paid_fen=part.interest_paid_fen + interest,
        principal_fen=part.principal_fen - principal,
        principal_repaid_fen=part.principal_repaid_fen + principal,
    )
    state = OrderLoanState.SETTLED if paid.owed_fen == 0 else OrderLoanState.ACTIVE
    return replace(
        accrued,
        principal=paid,
        state=state,
        collections=(*accrued.collections, application_id),
        collected_fen=accrued.collected_fen + amount_fen,
        excess=(*accrued.excess, ExcessDue(application_id, excess)) if excess else accrued.excess,
    ), Collected(interest, principal, excess)


def finish_trades(loan: OrderLoan, finished: set[str], day: date) -> OrderLoan:
    """Tied trades settled, refunded or closed; with all finished and money owed, the
    shortfall is overdue from day."""
    trades = tuple(
        replace(trade, finished=trade.finished or trade.trade_id in finished)
        for trade in loan.trades
    )
    after = replace(loan, trades=trades)
    accrued = accrue_order_loan(after, day)
    if (
        accrued.state is OrderLoanState.ACTIVE
        and accrued.overdue_since is None
        and all(trade.finished for trade in trades)
        and accrued.principal.owed_fen > 0
    ):
        return replace(after, overdue_since=day)
    return after


def owed_fen(loan: OrderLoan, day: date) -> int:
    return accrue_order_loan(loan, day).principal.owed_fen


def excess_returned(loan: OrderLoan, application_id: str) -> OrderLoan:
    """The excess of one application given back (again: nothing changes)."""
    if not any(item.application_id == application_id for item in loan.excess):
        raise FailedPrecondition(
            f"no excess from {application_id} on order loan {loan.loan_id}",
            reason="FAILED_PRECONDITION",
        )
    return replace(
        loan,
        excess=tuple(
            replace(item, returned=True) if item.application_id == application_id else item
            for item in loan.excess
        ),
    )
