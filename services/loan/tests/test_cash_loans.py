"""Cash loans: the 310 decision, interest by the day across a month end and a leap day, the
equal-installment schedule and early repayment, by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from services.loan.cash_loans import (
    CashLoan,
    CashLoanState,
    DeclineReason,
    RepaymentMethod,
    accrue_loan,
    decide_cash_loan,
    disburse,
    equal_installment_fen,
    monthly_rate,
    payoff_fen,
    repay_cash_loan,
)
from services.loan.credit_advice import CreditAdvice

NOW = datetime(2024, 2, 27, tzinfo=UTC)


def advice(**changes: object) -> CreditAdvice:
    base = CreditAdvice(
        person_id="2088000000000001",
        score=660,
        model_version="sesame-2025.1",
        huabei_line_fen=800_000,
        cash_loan_ceiling_fen=2_000_000,
        daily_rate_min=Decimal("0.0004"),
        daily_rate_max=Decimal("0.0005"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def loan(method: RepaymentMethod, amount_fen: int = 1_000_000, term: int = 12) -> CashLoan:
    return decide_cash_loan(
        loan_id="L1",
        advice=advice(),
        amount_fen=amount_fen,
        term_months=term,
        method=method,
        exposure_fen=0,
        overdue=False,
        now=NOW,
    )


def test_the_decision_gives_every_reason() -> None:
    declined = decide_cash_loan(
        loan_id="L",
        advice=advice(refusal="BLACKLISTED", cash_loan_ceiling_fen=0),
        amount_fen=100_000,
        term_months=6,
        method=RepaymentMethod.BY_DAY,
        exposure_fen=0,
        overdue=True,
        now=NOW,
    )
    assert declined.state is CashLoanState.DECLINED
    assert declined.decline_reasons == (DeclineReason.BLACKLISTED, DeclineReason.OVERDUE_EXISTING)
    above = decide_cash_loan(
        loan_id="L",
        advice=advice(),
        amount_fen=1_500_000,
        term_months=6,
        method=RepaymentMethod.BY_DAY,
        exposure_fen=600_000,
        overdue=False,
        now=NOW,
    )
    assert above.decline_reasons == (DeclineReason.ABOVE_CEILING,)


def test_rate_by_term_and_its_annual_quote() -> None:
    six = loan(RepaymentMethod.BY_DAY, term=6)
    twelve = loan(RepaymentMethod.BY_DAY, term=12)
    assert six.daily_rate == Decimal("0.0004") and six.annual_rate == Decimal("0.1460")
    assert twelve.daily_rate == Decimal("0.0005") and twelve.annual_rate == Decimal("0.1825")


def test_daily_interest_across_a_month_end_and_a_leap_day() -> None:
    # 10,000 yuan at 0.05% a day = 5 yuan (500 fen) a day. Disbursed 27 February 2024; the
    # first period is due 27 March. Days 28 Feb, 29 Feb (leap day), 1 Mar, 2 Mar = 4 days.
    active = disburse(loan(RepaymentMethod.BY_DAY), "posting-1", date(2024, 2, 27))
    on_2_march = accrue_loan(active, date(2024, 3, 2))
    assert on_2_march.periods[0].charged.interest_fen == 2_000
    # Repaying 5,000 yuan of principal on 2 March (after its interest): interest then runs on
    # 5,000 yuan, 250 fen a day: 3 March to 27 March = 25 days = 6,250 fen.
    payoff = payoff_fen(on_2_march, date(2024, 3, 2))
    assert payoff == 1_002_000
    repaid, _, _ = repay_cash_loan(on_2_march, 502_000, date(2024, 3, 2))
    on_due = accrue_loan(repaid, date(2024, 3, 27))
    assert on_due.periods[0].charged.interest_fen == 2_000 + 6_250
    assert on_due.principal_outstanding_fen == 500_000


def test_an_odd_daily_interest_keeps_its_residue() -> None:
    # 333.33 yuan at 0.05%/day = 16.6665 fen a day: 3 days = 49.9995 → 49 fen, residue 0.9995.
    active = disburse(loan(RepaymentMethod.BY_DAY, amount_fen=33_333), "p", date(2025, 1, 31))
    later = accrue_loan(active, date(2025, 2, 3))
    assert later.periods[0].charged.interest_fen == 49
    assert later.interest_residue_fen == Decimal("0.9995")
    # The first period of a loan disbursed on 31 January is due 28 February (month end).
    assert later.periods[0].due_date == date(2025, 2, 28)


def test_equal_installment_schedule() -> None:
    # 1,000 yuan over 6 months at 0.05%/day: m = 0.0005 x 365 / 12 = 0.015208333...;
    # payment = 100,000 x m (1+m)^6 / ((1+m)^6 - 1) = 17,564.98 → 17,565 fen.
    assert monthly_rate(Decimal("0.0005")) == Decimal("0.0005") * 365 / 12
    assert equal_installment_fen(100_000, 6, monthly_rate(Decimal("0.0005"))) == 17_565
    pending = replace(
        loan(RepaymentMethod.EQUAL_INSTALLMENT, 100_000, 6), daily_rate=Decimal("0.0005")
    )
    active = disburse(pending, "p", date(2025, 1, 10))
    first = active.periods[0]
    # Interest of month 1: 100,000 x m = 1,520.83 → 1,521; principal 17,565 - 1,521 = 16,044.
    assert first.charged.interest_fen == 1_521 and first.charged.principal_fen == 16_044
    assert sum(p.charged.principal_fen for p in active.periods) == 100_000
    assert all(p.charged.total_fen in {17_565, 17_564, 17_566} for p in active.periods[:-1])


def test_early_repayment_of_an_equal_installment_loan_costs_no_fee() -> None:
    pending = replace(
        loan(RepaymentMethod.EQUAL_INSTALLMENT, 100_000, 6), daily_rate=Decimal("0.0005")
    )
    active = disburse(pending, "p", date(2025, 1, 10))
    # Before the first due date the payoff is the principal: no fee, no future interest.
    assert payoff_fen(active, date(2025, 1, 20)) == 100_000
    settled, _, prepaid = repay_cash_loan(active, 100_000, date(2025, 1, 20))
    assert prepaid.principal_fen == 100_000
    assert settled.state is CashLoanState.SETTLED
