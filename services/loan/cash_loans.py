"""Cash loans (借呗): the "310" decision, the schedule, interest by the day, early repayment.

Decision (no human, from the credit advice): declined for a blacklisted person
(BLACKLISTED), a score with no cash loan advised (NO_CASH_LOAN_ADVISED), an amount past due
on any of the borrower's Huabei or cash-loan accounts (OVERDUE_EXISTING), or other cash-loan
principal plus this amount above the advised ceiling (ABOVE_CEILING) — every reason that
applies is given. The daily rate is the advised band's lower rate for 6 months, its upper
rate for 12; the annual quote is daily x 365 (simple, Actual/365).

Two repayment methods, 6 or 12 monthly periods due on the disbursement's day of the month:
- BY_DAY (随借随还, 先息后本): each day d in (disbursement date, final due date] accrues
  principal held at the start of d x daily rate into the period covering d; principal is due
  at the end. Prepaying principal stops its interest from the next day.
- EQUAL_INSTALLMENT (等额本息): payment = P·m·(1+m)^n / ((1+m)^n - 1) with the monthly rate
  m = daily x 365 / 12, rounded half-even to the fen; each period's interest = principal
  remaining x m (half-even), its principal = payment - interest, the last period takes the
  principal left. Prepaid principal re-amortises the periods not yet due over the same count
  (their interest recomputed on the lower principal): no fee, no interest on money returned.
docs/loans.md "Cash loans".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount
from services.loan.credit_advice import CreditAdvice
from services.loan.delinquency import Delinquency
from services.loan.periods import (
    ACCRUAL_DAYS_MAX,
    NO_CHARGES,
    Charges,
    Period,
    PeriodPayment,
    accrue_period,
    apply_waterfall,
    floor_fen,
)
from services.loan.statements import add_months

CASH_LOAN_LEDGER_ACCOUNT_ID = "platform:loan:cash_loan"
TERMS_MONTHS = (6, 12)
AMOUNT_FEN_MIN = 100_00
DAYS_PER_YEAR = 365
MONTHS_PER_YEAR = 12


class CashLoanState(StrEnum):
    DECLINED = "declined"
    PENDING_DISBURSEMENT = "pending_disbursement"
    CANCELLED = "cancelled"
    ACTIVE = "active"
    SETTLED = "settled"


class RepaymentMethod(StrEnum):
    BY_DAY = "by_day"
    EQUAL_INSTALLMENT = "equal_installment"


class DeclineReason(StrEnum):
    BLACKLISTED = "BLACKLISTED"
    NO_CASH_LOAN_ADVISED = "NO_CASH_LOAN_ADVISED"
    OVERDUE_EXISTING = "OVERDUE_EXISTING"
    ABOVE_CEILING = "ABOVE_CEILING"


@dataclass(frozen=True, slots=True)
class CashLoan:
    loan_id: str
    borrower_id: str
    state: CashLoanState
    principal_fen: int
    term_months: int
    method: RepaymentMethod
    daily_rate: Decimal | None
    decline_reasons: tuple[DeclineReason, ...]
    score: int
    ceiling_fen: int
    exposure_fen: int
    decided_at: datetime
    disbursed_on: date | None = None
    disbursement_posting_id: str = ""
    periods: tuple[Period, ...] = ()
    delinquency: Delinquency = field(default_factory=Delinquency)
    interest_accrued_through: date | None = None
    settled_on: date | None = None

    @property
    def annual_rate(self) -> Decimal | None:
        return None if self.daily_rate is None else self.daily_rate * DAYS_PER_YEAR

    @property
    def principal_outstanding_fen(self) -> int:
        if self.state is CashLoanState.PENDING_DISBURSEMENT:
            return self.principal_fen
        return sum(period.unpaid.principal_fen for period in self.periods)

    @property
    def interest_residue_fen(self) -> Decimal:
        return sum(
            (p.interest_exact_fen - floor_fen(p.interest_exact_fen) for p in self.periods),
            Decimal(0),
        )


def require_term(term_months: int) -> int:
    if term_months not in TERMS_MONTHS:
        raise InvalidArgument("term_months must be 6 or 12", metadata={"field": "term_months"})
    return term_months


def decline_reasons(
    advice: CreditAdvice, amount_fen: int, exposure_fen: int, overdue: bool
) -> tuple[DeclineReason, ...]:
    """Every reason the application fails (empty: approved)."""
    reasons = []
    if advice.blacklisted:
        reasons.append(DeclineReason.BLACKLISTED)
    elif advice.cash_loan_ceiling_fen == 0 or advice.daily_rate_min is None:
        reasons.append(DeclineReason.NO_CASH_LOAN_ADVISED)
    if overdue:
        reasons.append(DeclineReason.OVERDUE_EXISTING)
    if advice.cash_loan_ceiling_fen and exposure_fen + amount_fen > advice.cash_loan_ceiling_fen:
        reasons.append(DeclineReason.ABOVE_CEILING)
    return tuple(reasons)


def daily_rate_for(advice: CreditAdvice, term_months: int) -> Decimal | None:
    """The band's lower rate for 6 months, its upper rate for 12."""
    return advice.daily_rate_min if term_months == 6 else advice.daily_rate_max


def decide_cash_loan(
    *,
    loan_id: str,
    advice: CreditAdvice,
    amount_fen: int,
    term_months: int,
    method: RepaymentMethod,
    exposure_fen: int,
    overdue: bool,
    now: datetime,
) -> CashLoan:
    """The automatic decision: PENDING_DISBURSEMENT, or DECLINED with its reasons."""
    require_positive_amount(amount_fen)
    if amount_fen < AMOUNT_FEN_MIN:
        raise InvalidArgument(
            f"a cash loan is at least {AMOUNT_FEN_MIN} fen", reason="BELOW_MINIMUM"
        )
    reasons = decline_reasons(advice, amount_fen, exposure_fen, overdue)
    return CashLoan(
        loan_id=loan_id,
        borrower_id=advice.person_id,
        state=CashLoanState.DECLINED if reasons else CashLoanState.PENDING_DISBURSEMENT,
        principal_fen=amount_fen,
        term_months=require_term(term_months),
        method=method,
        daily_rate=None if reasons else daily_rate_for(advice, term_months),
        decline_reasons=reasons,
        score=advice.score,
        ceiling_fen=advice.cash_loan_ceiling_fen,
        exposure_fen=exposure_fen,
        decided_at=now,
    )


def round_fen(exact: Decimal) -> int:
    return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))


def monthly_rate(daily_rate: Decimal) -> Decimal:
    return daily_rate * DAYS_PER_YEAR / MONTHS_PER_YEAR


def equal_installment_fen(principal_fen: int, months: int, rate: Decimal) -> int:
    """The level monthly payment of principal_fen over months at monthly rate (half-even)."""
    growth = (1 + rate) ** months
    return round_fen(principal_fen * rate * growth / (growth - 1))


def amortise(
    principal_fen: int, due_dates: list[date], rate: Decimal, first_id: int, loan_id: str
) -> list[Period]:
    """Equal-installment periods for principal_fen over due_dates."""
    months = len(due_dates)
    payment_fen = equal_installment_fen(principal_fen, months, rate) if principal_fen else 0
    remaining = principal_fen
    periods = []
    for offset, due in enumerate(due_dates):
        interest_fen = round_fen(remaining * rate)
        part_fen = remaining if offset == months - 1 else min(remaining, payment_fen - interest_fen)
        remaining -= part_fen
        charged = Charges(interest_fen=interest_fen, principal_fen=part_fen)
        periods.append(Period(f"{loan_id}:{first_id + offset}", due, charged))
    assert remaining == 0, "amortisation left principal"
    return periods


def schedule_periods(loan: CashLoan, start: date) -> tuple[Period, ...]:
    due_dates = [add_months(start, k, start.day) for k in range(1, loan.term_months + 1)]
    if loan.method is RepaymentMethod.EQUAL_INSTALLMENT:
        assert loan.daily_rate is not None
        return tuple(
            amortise(loan.principal_fen, due_dates, monthly_rate(loan.daily_rate), 1, loan.loan_id)
        )
    last = len(due_dates)
    return tuple(
        Period(
            f"{loan.loan_id}:{number}",
            due,
            Charges(principal_fen=loan.principal_fen if number == last else 0),
        )
        for number, due in enumerate(due_dates, start=1)
    )


def disburse(loan: CashLoan, posting_id: str, today: date) -> CashLoan:
    """PENDING_DISBURSEMENT → ACTIVE, its schedule from today; a repeat is unchanged."""
    if loan.state is CashLoanState.ACTIVE or loan.state is CashLoanState.SETTLED:
        if loan.disbursement_posting_id != posting_id:
            raise FailedPrecondition(
                f"loan {loan.loan_id} was disbursed by another posting",
                reason="ILLEGAL_TRANSITION",
                metadata={"payment_posting_id": loan.disbursement_posting_id},
            )
        return loan
    require_state(loan, CashLoanState.PENDING_DISBURSEMENT, "disburse")
    started = replace(
        loan,
        state=CashLoanState.ACTIVE,
        disbursed_on=today,
        disbursement_posting_id=posting_id,
        interest_accrued_through=today,
    )
    return replace(started, periods=schedule_periods(started, today))


def cancel_cash_loan(loan: CashLoan) -> CashLoan:
    """PENDING_DISBURSEMENT → CANCELLED (a repeat is unchanged)."""
    if loan.state is CashLoanState.CANCELLED:
        return loan
    require_state(loan, CashLoanState.PENDING_DISBURSEMENT, "cancel")
    return replace(loan, state=CashLoanState.CANCELLED)


def require_state(loan: CashLoan, state: CashLoanState, action: str) -> None:
    if loan.state is not state:
        raise FailedPrecondition(
            f"cannot {action} loan {loan.loan_id}: it is {loan.state.value}",
            reason="ILLEGAL_TRANSITION",
            metadata={"state": loan.state.value},
        )


def accrue_loan(loan: CashLoan, through: date) -> CashLoan:
    """Interest by the day (BY_DAY) and overdue penalties, up to and including `through`."""
    if loan.state is not CashLoanState.ACTIVE:
        return loan
    periods = list(loan.periods)
    if loan.method is RepaymentMethod.BY_DAY:
        periods = _accrue_daily_interest(loan, periods, through)
    periods = [accrue_period(period, through) for period in periods]
    accrued = max(loan.interest_accrued_through or through, through)
    return replace(loan, periods=tuple(periods), interest_accrued_through=accrued)


def _accrue_daily_interest(loan: CashLoan, periods: list[Period], through: date) -> list[Period]:
    assert loan.daily_rate is not None and loan.interest_accrued_through is not None
    last_day = min(through, periods[-1].due_date)
    day = loan.interest_accrued_through
    assert (last_day - day).days <= ACCRUAL_DAYS_MAX, f"{loan.loan_id}: accrual too long"
    while day < last_day:
        day += timedelta(days=1)
        held_fen = sum(period.unpaid.principal_fen for period in periods)
        index = next(i for i, period in enumerate(periods) if period.due_date >= day)
        period = periods[index]
        exact = period.interest_exact_fen + held_fen * loan.daily_rate
        added = floor_fen(exact) - floor_fen(period.interest_exact_fen)
        charged = replace(period.charged, interest_fen=period.charged.interest_fen + added)
        periods[index] = replace(period, charged=charged, interest_exact_fen=exact)
    return periods


def due_periods(loan: CashLoan, day: date) -> list[Period]:
    return [period for period in loan.periods if period.due_date <= day]


def due_fen(loan: CashLoan, day: date) -> int:
    """Unpaid of the periods due on or before day."""
    return sum(period.unpaid.total_fen for period in due_periods(loan, day))


def payoff_fen(loan: CashLoan, day: date) -> int:
    """Everything that may be repaid on day (the loan accrued to day)."""
    if loan.state is not CashLoanState.ACTIVE:
        return 0
    if loan.method is RepaymentMethod.BY_DAY:
        return sum(period.unpaid.total_fen for period in loan.periods)
    future = [p for p in loan.periods if p.due_date > day]
    return due_fen(loan, day) + sum(p.unpaid.principal_fen for p in future)


def repay_cash_loan(
    loan: CashLoan, amount_fen: int, day: date
) -> tuple[CashLoan, list[PeriodPayment], Charges]:
    """Apply a repayment (≤ payoff) to a loan accrued to day: the loan, its period payments and
    the principal prepaid beyond them (EQUAL_INSTALLMENT's re-amortised principal)."""
    assert amount_fen <= payoff_fen(loan, day), "a repayment above the payoff was let through"
    if loan.method is RepaymentMethod.BY_DAY:
        periods, payments, left = apply_waterfall(loan.periods, amount_fen, day)
        assert left == 0
        return _settle_if_paid(replace(loan, periods=tuple(periods)), day), payments, NO_CHARGES
    due = [p for p in loan.periods if p.due_date <= day]
    future = [p for p in loan.periods if p.due_date > day]
    paid_due, payments, prepaid_fen = apply_waterfall(due, amount_fen, day)
    if prepaid_fen:
        future = _reamortise(loan, future, prepaid_fen)
    repaid = replace(loan, periods=tuple(paid_due + future))
    return _settle_if_paid(repaid, day), payments, Charges(principal_fen=prepaid_fen)


def _reamortise(loan: CashLoan, future: list[Period], prepaid_fen: int) -> list[Period]:
    assert loan.daily_rate is not None
    remaining = sum(p.unpaid.principal_fen for p in future) - prepaid_fen
    assert remaining >= 0, "prepaid beyond the principal"
    first = int(future[0].period_id.rsplit(":", 1)[1])
    return amortise(
        remaining, [p.due_date for p in future], monthly_rate(loan.daily_rate), first, loan.loan_id
    )


def _settle_if_paid(loan: CashLoan, day: date) -> CashLoan:
    if all(period.is_paid for period in loan.periods):
        return replace(loan, state=CashLoanState.SETTLED, settled_on=day)
    return loan
