"""Periods: the waterfall, the overdue penalty and the minimum payment's extension, by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.loan.bills import minimum_payment_fen
from services.loan.delinquency import Bucket, Delinquency, assess_delinquency, bucket_of
from services.loan.periods import Charges, Period, accrue_period, apply_waterfall, days_overdue

DUE = date(2025, 3, 11)


def bill(principal_fen: int, fee_fen: int = 0, minimum_fen: int = 0) -> Period:
    return Period(
        "b:2025-03-01",
        DUE,
        Charges(fee_fen=fee_fen, principal_fen=principal_fen),
        extended_due_date=date(2025, 4, 11),
        minimum_fen=minimum_fen,
    )


def test_paid_in_full_on_the_due_date_costs_nothing_more() -> None:
    period, _, left = apply_waterfall([bill(100_000)], 100_000, DUE)
    assert left == 0
    later = accrue_period(period[0], date(2025, 4, 30))
    assert later.charged == Charges(principal_fen=100_000)
    assert days_overdue(later, date(2025, 4, 30)) == 0


def test_a_bill_paid_a_day_late_costs_one_day_of_penalty() -> None:
    # 100,000 fen x 0.05% x 1 day = 50 fen.
    late = accrue_period(bill(100_000), date(2025, 3, 12))
    assert late.charged.penalty_fen == 50
    assert days_overdue(late, date(2025, 3, 12)) == 1
    paid, payments, left = apply_waterfall([late], 100_050, date(2025, 3, 12))
    assert left == 0 and paid[0].is_paid
    assert payments[0].paid == Charges(penalty_fen=50, principal_fen=100_000)
    assert payments[0].days_overdue == 1


def test_the_penalty_rounds_down_and_keeps_the_residue() -> None:
    # 33,333 fen x 0.0005 = 16.6665 a day (a penalty is never penalised): 2 days = 33.3330,
    # charged 33 fen (ROUND_DOWN), residue 0.3330 kept on the bill.
    late = accrue_period(bill(33_333), date(2025, 3, 13))
    assert late.penalty_exact_fen == Decimal("33.3330")
    assert late.charged.penalty_fen == 33
    assert late.penalty_residue_fen == Decimal("0.3330")


def test_minimum_paid_by_the_due_date_extends_the_rest_with_interest() -> None:
    # Minimum of a 1,000-yuan bill: 10% = 10,000 fen. Paid on the due date, the rest (90,000)
    # accrues 0.05% a day as interest (45 fen a day) and is not overdue until 11 April.
    minimum = minimum_payment_fen(100_000, 0, 0)
    assert minimum == 10_000
    [paid], _, _ = apply_waterfall([bill(100_000, minimum_fen=minimum)], minimum, DUE)
    later = accrue_period(paid, date(2025, 3, 21))
    assert later.charged.interest_fen == 450  # 10 days x 45 fen
    assert later.charged.penalty_fen == 0
    assert days_overdue(later, date(2025, 4, 11)) == 0
    assert days_overdue(later, date(2025, 4, 12)) == 1


def test_the_waterfall_on_a_partial_repayment() -> None:
    # Two periods: March (overdue: penalty 150, fee 833, principal 33,333) and April (fee 833,
    # principal 33,333). 40,000 fen pays March whole (150 + 833 + 33,333 = 34,316), then
    # April's fee 833, then 4,851 of its principal.
    march = Period("m", date(2025, 3, 11), Charges(150, 833, 0, 33_333))
    april = Period("a", date(2025, 4, 11), Charges(0, 833, 0, 33_333))
    periods, payments, left = apply_waterfall([april, march], 40_000, date(2025, 3, 20))
    assert left == 0
    assert payments[0].paid == Charges(150, 833, 0, 33_333)
    assert payments[1].paid == Charges(0, 833, 0, 4_851)
    assert periods[1].unpaid == Charges(principal_fen=28_482)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.integers(0, 10_000),
            st.integers(0, 10_000),
            st.integers(0, 10**7),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 10**8),
)
def test_the_waterfall_conserves_the_amount(
    charges: list[tuple[int, int, int, int]], amount_fen: int
) -> None:
    periods = [
        Period(f"p{i}", date(2025, 1 + i, 1), Charges(*parts)) for i, parts in enumerate(charges)
    ]
    after, payments, left = apply_waterfall(periods, amount_fen, date(2025, 2, 1))
    owed = sum(p.unpaid.total_fen for p in periods)
    assert sum(p.paid.total_fen for p in payments) + left == amount_fen
    assert left == max(0, amount_fen - owed)
    assert sum(p.unpaid.total_fen for p in after) == max(0, owed - amount_fen)


def test_buckets() -> None:
    assert [bucket_of(d) for d in (0, 1, 30, 31, 60, 61, 90, 91)] == [
        Bucket.CURRENT,
        Bucket.DPD_1_30,
        Bucket.DPD_1_30,
        Bucket.DPD_31_60,
        Bucket.DPD_31_60,
        Bucket.DPD_61_90,
        Bucket.DPD_61_90,
        Bucket.DPD_90_PLUS,
    ]


def test_settled_is_reported_only_after_entering_90() -> None:
    recorded, change = assess_delinquency(Delinquency(), 91)
    assert change is not None and change.entered_90 and recorded.reported_90
    down, change = assess_delinquency(recorded, 45)
    assert change is not None and not change.settled and down.reported_90
    back, change = assess_delinquency(down, 0)
    assert change is not None and change.settled and not back.reported_90
    _, change = assess_delinquency(Delinquency(Bucket.DPD_1_30, 3), 0)
    assert change is not None and not change.settled
