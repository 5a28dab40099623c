"""Merchant facilities: hand-computed cases (docs/loans.md "Merchant lending")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chassis.errors import DomainError
from services.loan.merchant.facilities import (
    DEFAULT_POLICY,
    Decline,
    FacilityState,
    MerchantFigures,
    Part,
    accrue_facility,
    apply_for_facility,
    apply_repayment,
    confirm_draw,
    one_year_after,
    reserve_draw,
    reserve_repayment,
    start_facility,
)

DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Beijing on DAY
GOOD = MerchantFigures(
    months_with_settlements=12,
    settled_sales_fen=10_000_000_00,
    refunded_fen=10_000_00,
    merchant_overdue=False,
)


def started(amount_fen: int, fixed_fen: int) -> object:
    facility = apply_for_facility(
        facility_id="f1",
        merchant_id="2188000000000001",
        amount_fen=amount_fen,
        fixed_fen=fixed_fen,
        figures=GOOD,
        policy=DEFAULT_POLICY,
        now=NOW,
    )
    assert facility.state is FacilityState.PENDING_DISBURSEMENT
    return start_facility(facility, "posting-1", DAY)


def test_revolving_100000_yuan_drawn_17_days_owes_1020_yuan() -> None:
    facility = started(300_000_00, 100_000_00)
    facility = confirm_draw(reserve_draw(facility, 100_000_00, DAY), 100_000_00, DAY)
    later = accrue_facility(facility, DAY + timedelta(days=17))
    # 10,000,000 fen x 0.0006 x 17 = 102,000 fen
    assert later.revolving.interest_owed_fen == 102_000
    paid, applied = apply_repayment(
        reserve_repayment(
            facility, Part.REVOLVING, 100_000_00 + 102_000, later.revolving.accrued_through
        ),
        Part.REVOLVING,
        100_000_00 + 102_000,
        DAY + timedelta(days=17),
    )
    assert (applied.interest_fen, applied.principal_fen) == (102_000, 100_000_00)
    assert paid.revolving.owed_fen == 0
    # nothing more accrues on a repaid draw
    assert accrue_facility(paid, DAY + timedelta(days=40)).revolving.interest_owed_fen == 0


def test_fixed_50000_yuan_for_30_days_owes_750_yuan() -> None:
    facility = started(250_000_00, 50_000_00)
    later = accrue_facility(facility, DAY + timedelta(days=30))
    # 5,000,000 fen x 0.0005 x 30 = 75,000 fen; the revolving part, undrawn, owes nothing
    assert later.fixed.interest_owed_fen == 75_000
    assert later.revolving.interest_owed_fen == 0


def test_interest_rounds_down_and_keeps_the_fraction() -> None:
    facility = started(250_000_00, 50_000_00)
    facility = confirm_draw(reserve_draw(facility, 1_23, DAY), 1_23, DAY)
    # 123 fen x 0.0006 = 0.0738 fen a day: 13 days = 0.9594 → 0 fen, 14 days = 1.0332 → 1 fen
    assert accrue_facility(facility, DAY + timedelta(days=13)).revolving.interest_owed_fen == 0
    assert accrue_facility(facility, DAY + timedelta(days=14)).revolving.interest_owed_fen == 1


def test_partial_repayment_pays_interest_then_principal() -> None:
    facility = started(300_000_00, 100_000_00)
    facility = confirm_draw(reserve_draw(facility, 100_000_00, DAY), 100_000_00, DAY)
    day10 = DAY + timedelta(days=10)
    tried = reserve_repayment(facility, Part.REVOLVING, 50_000_00, day10)
    paid, applied = apply_repayment(tried, Part.REVOLVING, 50_000_00, day10)
    assert applied.interest_fen == 60_000  # 10 days x 6,000 fen
    assert paid.revolving.principal_fen == 100_000_00 - (50_000_00 - 60_000)
    # from day 11 the lower principal accrues: 5,060,000 x 0.0006 = 3,036 fen a day
    assert accrue_facility(paid, day10 + timedelta(days=1)).revolving.interest_owed_fen == 3_036


@pytest.mark.parametrize(
    ("amount_fen", "fixed_fen", "rules"),
    [
        # 20% but under 50,000 yuan
        (200_000_00, 40_000_00, "FIXED_AT_LEAST_50000_YUAN"),
        # 50,000 yuan but under 20% of 1,000,000
        (1_000_000_00, 150_000_00, "FIXED_AT_LEAST_20_PERCENT"),
        # both
        (1_000_000_00, 10_000_00, "FIXED_AT_LEAST_20_PERCENT,FIXED_AT_LEAST_50000_YUAN"),
    ],
)
def test_fixed_part_rules_refuse_naming_the_rule(
    amount_fen: int, fixed_fen: int, rules: str
) -> None:
    with pytest.raises(DomainError) as caught:
        apply_for_facility(
            facility_id="f",
            merchant_id="m",
            amount_fen=amount_fen,
            fixed_fen=fixed_fen,
            figures=GOOD,
            policy=DEFAULT_POLICY,
            now=NOW,
        )
    assert caught.value.reason == "FACILITY_FIXED_PART"
    assert caught.value.metadata["rules"] == rules


@pytest.mark.parametrize(
    ("amount_fen", "fixed_fen"),
    [(200_000_00, 50_000_00), (250_000_00, 50_000_00), (50_000_00, 50_000_00)],
)
def test_fixed_part_at_the_boundaries_is_accepted(amount_fen: int, fixed_fen: int) -> None:
    assert started(amount_fen, fixed_fen).state is FacilityState.ACTIVE


@pytest.mark.parametrize("amount_fen", [49_999_99, 1_000_000_01])
def test_facility_size_outside_50000_to_1000000_yuan_is_refused(amount_fen: int) -> None:
    with pytest.raises(DomainError) as caught:
        started(amount_fen, 50_000_00)
    assert caught.value.reason == "INVALID_AMOUNT"


@pytest.mark.parametrize(
    ("figures", "declines"),
    [
        (GOOD, []),
        (
            MerchantFigures(5, 10_000_000_00, 0, False),
            [Decline.SHORT_SETTLEMENT_HISTORY],
        ),
        # refunds 60,000 of 450,000 paid = 13% > 5%; 200,000 > 50% of 390,000 sales
        (
            MerchantFigures(12, 390_000_00, 60_000_00, True),
            [Decline.REFUND_RATE_HIGH, Decline.ABOVE_SALES_LIMIT, Decline.OVERDUE_EXISTING],
        ),
        # exactly 5% refunds (40,000 of 800,000 paid) and exactly 50% of sales pass
        (MerchantFigures(6, 760_000_00, 40_000_00, False), []),
        (MerchantFigures(6, 400_000_00, 0, False), []),
        (MerchantFigures(6, 399_999_99, 0, False), [Decline.ABOVE_SALES_LIMIT]),
    ],
)
def test_credit_decision_lists_every_reason(
    figures: MerchantFigures, declines: list[Decline]
) -> None:
    facility = apply_for_facility(
        facility_id="f",
        merchant_id="m",
        amount_fen=200_000_00,
        fixed_fen=50_000_00,
        figures=figures,
        policy=DEFAULT_POLICY,
        now=NOW,
    )
    assert list(facility.declines) == declines
    expected = FacilityState.DECLINED if declines else FacilityState.PENDING_DISBURSEMENT
    assert facility.state is expected


def test_draws_beyond_the_revolving_part_and_repayments_beyond_owed_are_refused() -> None:
    facility = started(300_000_00, 100_000_00)
    tried = reserve_draw(facility, 150_000_00, DAY)
    with pytest.raises(DomainError) as caught:
        reserve_draw(tried, 50_000_01, DAY)
    assert caught.value.reason == "FACILITY_EXCEEDED"
    with pytest.raises(DomainError) as owed:
        reserve_repayment(facility, Part.FIXED, 100_000_01, DAY)
    assert owed.value.reason == "REPAYMENT_EXCEEDS_OWED"


def test_no_draw_after_the_year_and_the_year_ends_on_28_february() -> None:
    facility = started(300_000_00, 100_000_00)
    assert facility.end_date == date(2027, 3, 2)
    with pytest.raises(DomainError) as caught:
        reserve_draw(facility, 1_00, date(2027, 3, 3))
    assert caught.value.reason == "FACILITY_NOT_ACTIVE"
    assert facility.overdue_on(date(2027, 3, 3))
    assert one_year_after(date(2028, 2, 29)) == date(2029, 2, 28)
