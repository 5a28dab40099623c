"""Post-loan control by hand: a withheld amount pays the revolving part, then the fixed,
each interest then principal; the rest is excess."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.loan.merchant.facilities import (
    DEFAULT_POLICY,
    MerchantFigures,
    apply_for_facility,
    confirm_draw,
    reserve_draw,
    start_facility,
)
from services.loan.merchant.post_loan import collect, excess_returned

DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
FIGURES = MerchantFigures(12, 10_000_000_00, 0, False)


def test_a_collection_pays_revolving_then_fixed_and_the_rest_is_excess() -> None:
    facility = apply_for_facility(
        facility_id="f",
        merchant_id="m",
        amount_fen=200_000_00,
        fixed_fen=50_000_00,
        figures=FIGURES,
        policy=DEFAULT_POLICY,
        now=NOW,
    )
    facility = start_facility(facility, "p", DAY)
    facility = confirm_draw(reserve_draw(facility, 100_000_00, DAY), 100_000_00, DAY)
    day = DAY + timedelta(days=1)
    # owed on day 1: revolving 10,000,000 + 6,000; fixed 5,000,000 + 2,500
    after, where = collect(facility, 16_000_000, day)
    assert [(p.value, fen) for p, fen, _ in where.parts] == [
        ("revolving", 10_006_000),
        ("fixed", 5_002_500),
    ]
    assert where.parts[0][2].interest_fen == 6_000
    assert where.excess_fen == 16_000_000 - 10_006_000 - 5_002_500
    assert (after.revolving.owed_fen, after.fixed.owed_fen) == (0, 0)
    assert after.excess_pending_fen == where.excess_fen
    assert excess_returned(after, where.excess_fen).excess_pending_fen == 0


def test_a_small_collection_stops_at_the_revolving_interest() -> None:
    facility = start_facility(
        apply_for_facility(
            facility_id="f",
            merchant_id="m",
            amount_fen=200_000_00,
            fixed_fen=50_000_00,
            figures=FIGURES,
            policy=DEFAULT_POLICY,
            now=NOW,
        ),
        "p",
        DAY,
    )
    facility = confirm_draw(reserve_draw(facility, 100_000_00, DAY), 100_000_00, DAY)
    after, where = collect(facility, 5_000, DAY + timedelta(days=1))
    assert [(p.value, fen, s.interest_fen) for p, fen, s in where.parts] == [
        ("revolving", 5_000, 5_000)
    ]
    assert where.excess_fen == 0
    assert after.revolving.interest_owed_fen == 1_000
