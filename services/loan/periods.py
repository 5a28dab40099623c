"""Repayment periods: what one due date asks for, daily accrual after it, and the waterfall.

A period is one amount due on one date — a Huabei bill (花呗账单) or one month of a cash loan
(借呗) — by component: penalty, fee, interest, principal. Both products share these rules
(docs/loans.md "Periods, accrual and the waterfall"):

- Accrual is by the business day and lazy: a period remembers the last day it accrued
  (accrued_through), so accruing to a day twice adds nothing, whoever asks (the daily job,
  a repayment). Amounts accrue exactly as Decimals; the fen charged is the exact sum rounded
  down (ROUND_DOWN), the fraction of a fen is the residue, kept on the period and never lost.
- After the effective due date, the overdue amount (unpaid principal + fee + interest)
  accrues the overdue penalty, 0.05% a day. Between a bill's due date and its extended due
  date (the minimum was paid in time) the unpaid principal accrues interest at the same rate.
- The waterfall: periods oldest due date first; within a period penalty → fee → interest →
  principal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

PENALTY_DAILY_RATE = Decimal("0.0005")
REVOLVING_DAILY_RATE = Decimal("0.0005")
# A period accrues at most this many days per call (a decade): every loop has a bound.
ACCRUAL_DAYS_MAX = 3660


@dataclass(frozen=True, slots=True)
class Charges:
    """Fen amounts by component, in the waterfall's order."""

    penalty_fen: int = 0
    fee_fen: int = 0
    interest_fen: int = 0
    principal_fen: int = 0

    @property
    def total_fen(self) -> int:
        return self.penalty_fen + self.fee_fen + self.interest_fen + self.principal_fen

    def __add__(self, other: Charges) -> Charges:
        return Charges(
            self.penalty_fen + other.penalty_fen,
            self.fee_fen + other.fee_fen,
            self.interest_fen + other.interest_fen,
            self.principal_fen + other.principal_fen,
        )

    def __sub__(self, other: Charges) -> Charges:
        return Charges(
            self.penalty_fen - other.penalty_fen,
            self.fee_fen - other.fee_fen,
            self.interest_fen - other.interest_fen,
            self.principal_fen - other.principal_fen,
        )


NO_CHARGES = Charges()


def floor_fen(exact_fen: Decimal) -> int:
    """The whole fen of an exact amount (ROUND_DOWN: the fraction stays as residue)."""
    return int(exact_fen.to_integral_value(rounding=ROUND_DOWN))


@dataclass(frozen=True, slots=True)
class Period:
    """One due date's charges, payments and accrual state."""

    period_id: str
    due_date: date
    charged: Charges
    paid: Charges = NO_CHARGES
    # A bill whose minimum was paid by its due date is due in full only on this date.
    extended_due_date: date | None = None
    minimum_fen: int = 0
    paid_by_due_fen: int = 0
    accrued_through: date | None = None
    penalty_exact_fen: Decimal = Decimal(0)
    interest_exact_fen: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        unpaid = self.unpaid
        for value in (unpaid.penalty_fen, unpaid.fee_fen, unpaid.interest_fen):
            assert value >= 0, f"period {self.period_id} overpaid: {unpaid}"
        assert unpaid.principal_fen >= 0, f"period {self.period_id} overpaid: {unpaid}"

    @property
    def unpaid(self) -> Charges:
        return self.charged - self.paid

    @property
    def is_paid(self) -> bool:
        return self.unpaid.total_fen == 0

    @property
    def minimum_met(self) -> bool:
        return self.minimum_fen > 0 and self.paid_by_due_fen >= self.minimum_fen

    @property
    def effective_due_date(self) -> date:
        """The last day before the unpaid rest is overdue."""
        if self.extended_due_date is not None and self.minimum_met:
            return self.extended_due_date
        return self.due_date

    @property
    def penalty_residue_fen(self) -> Decimal:
        return self.penalty_exact_fen - self.charged.penalty_fen

    @property
    def interest_residue_fen(self) -> Decimal:
        return self.interest_exact_fen - floor_fen(self.interest_exact_fen)

    def overdue_base_fen(self) -> int:
        """What the overdue penalty accrues on: unpaid principal, fee and interest."""
        unpaid = self.unpaid
        return unpaid.principal_fen + unpaid.fee_fen + unpaid.interest_fen


def days_overdue(period: Period, day: date) -> int:
    """Days past the effective due date with something unpaid (0 when current)."""
    if period.is_paid or day <= period.effective_due_date:
        return 0
    return (day - period.effective_due_date).days


def accrue_period(period: Period, through: date) -> Period:
    """The period with penalty (and extension interest) accrued for every day up to through.

    Day d accrues on the amounts unpaid at its start: penalty when d is past the effective
    due date; interest on the unpaid principal when d is past the due date but within the
    extension.
    """
    start = period.accrued_through or period.due_date
    if through <= start:
        return period
    assert (through - start).days <= ACCRUAL_DAYS_MAX, f"{period.period_id}: accrual too long"
    penalty_exact = period.penalty_exact_fen
    interest_exact = period.interest_exact_fen
    charged = period.charged
    day = max(start, period.due_date)
    current = period
    while day < through:
        day += timedelta(days=1)
        if current.is_paid:
            continue
        if day > current.effective_due_date:
            penalty_exact += current.overdue_base_fen() * PENALTY_DAILY_RATE
        elif day > current.due_date:
            interest_exact += current.unpaid.principal_fen * REVOLVING_DAILY_RATE
        charged = replace(
            charged,
            penalty_fen=floor_fen(penalty_exact),
            interest_fen=period.charged.interest_fen
            + floor_fen(interest_exact)
            - floor_fen(period.interest_exact_fen),
        )
        current = replace(
            current,
            charged=charged,
            penalty_exact_fen=penalty_exact,
            interest_exact_fen=interest_exact,
        )
    return replace(current, accrued_through=through)


@dataclass(frozen=True, slots=True)
class PeriodPayment:
    """What one repayment paid on one period."""

    period_id: str
    paid: Charges
    days_overdue: int


def pay_period(period: Period, amount_fen: int, day: date) -> tuple[Period, PeriodPayment]:
    """Pay up to amount_fen on one period: penalty → fee → interest → principal."""
    unpaid = period.unpaid
    left = amount_fen
    parts = []
    for owed in (unpaid.penalty_fen, unpaid.fee_fen, unpaid.interest_fen, unpaid.principal_fen):
        part = min(owed, left)
        parts.append(part)
        left -= part
    paid = Charges(*parts)
    by_due = period.paid_by_due_fen + (paid.total_fen if day <= period.due_date else 0)
    after = replace(period, paid=period.paid + paid, paid_by_due_fen=by_due)
    return after, PeriodPayment(period.period_id, paid, days_overdue(period, day))


def apply_waterfall(
    periods: Sequence[Period], amount_fen: int, day: date
) -> tuple[list[Period], list[PeriodPayment], int]:
    """Pay amount_fen over periods, oldest due date first; returns them, the payments, and
    what is left over (for the caller's rule: prepayment, credit)."""
    ordered = sorted(periods, key=lambda period: (period.due_date, period.period_id))
    left = amount_fen
    after: list[Period] = []
    payments: list[PeriodPayment] = []
    for period in ordered:
        if left == 0 or period.is_paid:
            after.append(period)
            continue
        paid_period, payment = pay_period(period, left, day)
        left -= payment.paid.total_fen
        after.append(paid_period)
        payments.append(payment)
    assert sum(p.paid.total_fen for p in payments) + left == amount_fen, "waterfall leaked"
    return after, payments, left


def sum_paid(payments: Sequence[PeriodPayment]) -> Charges:
    total = NO_CHARGES
    for payment in payments:
        total = total + payment.paid
    return total
