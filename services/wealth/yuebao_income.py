"""Yu'e Bao (余额宝) daily income runs: one business date's income paid to every holder.

A run of business date D quotes the income per 10,000 shares once, then pays the holders
page by page (yuebao.distribute_daily_income, residue carried from page to page), and on
completion owes the day's credited income, as one payout, from the income account into the
omnibus account: the new shares need that cash behind them. The paging, the exactly-once
markers and the transactions are the store's and the servicer's (rpc_income.py); the
figures of a page and of a completed run are decided here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from chassis.errors import FailedPrecondition, InvalidArgument
from services.wealth.payouts import (
    YUEBAO_INCOME_ACCOUNT_ID,
    YUEBAO_OMNIBUS_ACCOUNT_ID,
    Payout,
    PayoutKind,
    PayoutSettlement,
    plan_payout,
)
from services.wealth.yuebao import Distribution, distribute_daily_income
from services.wealth.yuebao_accounts import YuebaoAccount, credit_income, income_base_fen

# The periodic job catches up at most this many missed dates, oldest first.
INCOME_CATCH_UP_DAYS_MAX = 7


@dataclass(frozen=True, slots=True)
class IncomeRun:
    """The progress of one business date's income distribution."""

    business_date: date
    completed: bool
    income_per_10k_yuan: Decimal
    cursor: str
    holders_paid: int
    credited_fen: int
    residue_added_fen: Decimal
    started_at: datetime
    completed_at: datetime | None
    payout_id: str


@dataclass(frozen=True, slots=True)
class IncomeRecord:
    """One holder's income for one business date."""

    investor_id: str
    business_date: date
    income_fen: int
    shares_before_fen: int
    income_per_10k_yuan: Decimal
    cumulative_income_fen: int


@dataclass(frozen=True, slots=True)
class IncomeCredit:
    """One holder's account before and after a date's income, and the shares it was paid on."""

    before: YuebaoAccount
    after: YuebaoAccount
    base_fen: int

    @property
    def income_fen(self) -> int:
        return self.after.cumulative_income_fen - self.before.cumulative_income_fen


@dataclass(frozen=True, slots=True)
class IncomePage:
    """What one page of holders is paid for a business date, and the residue carried on."""

    credits: tuple[IncomeCredit, ...]
    distribution: Distribution

    @property
    def cursor(self) -> str:
        """The run's checkpoint after this page: its last holder (pages go in id order)."""
        return self.credits[-1].before.investor_id


def require_ended_business_date(business_date: date, today: date) -> date:
    """A date whose income may be distributed: one that has ended."""
    if business_date >= today:
        raise InvalidArgument(
            "cannot distribute the income of a business date that has not ended",
            reason="INVALID_BUSINESS_DATE",
            metadata={"business_date": business_date.isoformat()},
        )
    return business_date


def income_date_out_of_order(business_date: date) -> FailedPrecondition:
    """A later date has started: its holders' movements are all an account remembers, so an
    earlier date can no longer be paid on the right shares."""
    return FailedPrecondition(
        f"the income of a date after {business_date.isoformat()} has already "
        "started; dates are distributed in order",
        reason="INCOME_DATE_OUT_OF_ORDER",
        metadata={"business_date": business_date.isoformat()},
    )


def pay_income_page(
    holders: Sequence[YuebaoAccount],
    business_date: date,
    income_per_10k_yuan: Decimal,
    carried_residue_fen: Decimal,
) -> IncomePage:
    """Each holder's income of business_date, paid on the shares held when it ended."""
    assert holders, "an income page has at least one holder"
    base_fen = {holder.investor_id: income_base_fen(holder, business_date) for holder in holders}
    distribution = distribute_daily_income(base_fen, income_per_10k_yuan, carried_residue_fen)
    credits = tuple(
        IncomeCredit(
            before=holder,
            after=credit_income(
                holder, distribution.income_fen_by_holder[holder.investor_id], business_date
            ),
            base_fen=base_fen[holder.investor_id],
        )
        for holder in holders
    )
    return IncomePage(credits=credits, distribution=distribution)


def income_payout_id(business_date: date) -> str:
    return f"yuebao-income:{business_date.isoformat()}"


def income_run_payouts(run: IncomeRun, now: datetime) -> tuple[Payout, ...]:
    """The completed run's credited income, owed into the omnibus account (none if nothing)."""
    if not run.credited_fen:
        return ()
    return (
        plan_payout(
            payout_id=income_payout_id(run.business_date),
            kind=PayoutKind.YUEBAO_INCOME,
            from_account_id=YUEBAO_INCOME_ACCOUNT_ID,
            to_account_id=YUEBAO_OMNIBUS_ACCOUNT_ID,
            amount_fen=run.credited_fen,
            due_on=run.business_date,
            settlement=PayoutSettlement.SCHEDULED,
            investor_id="",
            reference=run.business_date.isoformat(),
            now=now,
        ),
    )


def first_income_date_due(latest_completed: date | None, yesterday: date) -> date:
    """The first date the periodic job pays: the day after the latest completed one, at most
    INCOME_CATCH_UP_DAYS_MAX days back from yesterday."""
    first = yesterday if latest_completed is None else latest_completed + timedelta(days=1)
    return max(first, yesterday - timedelta(days=INCOME_CATCH_UP_DAYS_MAX - 1))
