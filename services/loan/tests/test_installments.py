"""Installments: a 1,000-yuan bill in 3, 6 and 12 parts, by hand; parts always sum up."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.loan.installments import plan_installments, settle_early, split_evenly, total_fee_fen

NOW = datetime(2025, 3, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("months", "fee_fen", "principal_parts", "fee_parts"),
    [
        # 100,000 fen x 2.5% = 2,500; 100,000 / 3 = 33,333 r1; 2,500 / 3 = 833 r1
        (3, 2_500, [33_333, 33_333, 33_334], [833, 833, 834]),
        # x 4.5% = 4,500; 100,000 / 6 = 16,666 (x5 = 83,330, last 16,670); 4,500 / 6 = 750
        (6, 4_500, [16_666] * 5 + [16_670], [750] * 6),
        # x 8.8% = 8,800; 100,000 / 12 = 8,333 (x11 = 91,663, last 8,337); 8,800 / 12 = 733
        # (x11 = 8,063, last 737)
        (12, 8_800, [8_333] * 11 + [8_337], [733] * 11 + [737]),
    ],
)
def test_a_1000_yuan_bill_in_installments(
    months: int, fee_fen: int, principal_parts: list[int], fee_parts: list[int]
) -> None:
    plan = plan_installments(
        plan_id="p",
        borrower_id="b",
        principal_fen=100_000,
        months=months,
        after=date(2025, 3, 1),
        statement_day=1,
        now=NOW,
    )
    assert plan.fee_fen == fee_fen
    assert [part.principal_fen for part in plan.parts] == principal_parts
    assert [part.fee_fen for part in plan.parts] == fee_parts
    # The first part is on the next statement after the bill's: 1 April, then monthly.
    assert plan.parts[0].statement_date == date(2025, 4, 1)


def test_fee_rounds_half_even() -> None:
    # 100 fen x 2.5% = 2.5 → 2 (half to even); 300 fen x 2.5% = 7.5 → 8
    assert total_fee_fen(100, 3) == 2
    assert total_fee_fen(300, 3) == 8


def test_statement_day_31_falls_on_the_last_day_of_shorter_months() -> None:
    plan = plan_installments(
        plan_id="p",
        borrower_id="b",
        principal_fen=30_000,
        months=3,
        after=date(2024, 1, 31),
        statement_day=31,
        now=NOW,
    )
    # 29 February in a leap year, 31 March, 30 April.
    assert [p.statement_date for p in plan.parts] == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


def test_early_settlement_waives_the_fees_of_unbilled_parts() -> None:
    plan = plan_installments(
        plan_id="p",
        borrower_id="b",
        principal_fen=100_000,
        months=3,
        after=date(2025, 3, 1),
        statement_day=1,
        now=NOW,
    )
    billed_first = replace(
        plan, parts=(replace(plan.parts[0], bill_id="b:2025-04-01"), *plan.parts[1:])
    )
    settled = settle_early(billed_first)
    # Parts 2 and 3 are settled early: principal 33,333 + 33,334 = 66,667, fees 833 + 834 waived.
    assert billed_first.unbilled_principal_fen == 66_667
    assert settled.fee_waived_fen == 1_667
    assert settled.unbilled_principal_fen == 0


@given(st.integers(min_value=1, max_value=10**10), st.sampled_from([3, 6, 12]))
def test_parts_sum_to_principal_and_fee(principal_fen: int, months: int) -> None:
    plan = plan_installments(
        plan_id="p",
        borrower_id="b",
        principal_fen=principal_fen,
        months=months,
        after=date(2025, 1, 15),
        statement_day=15,
        now=NOW,
    )
    assert sum(p.principal_fen for p in plan.parts) == principal_fen
    assert sum(p.fee_fen for p in plan.parts) == total_fee_fen(principal_fen, months)
    assert all(p.principal_fen >= 0 and p.fee_fen >= 0 for p in plan.parts)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=24))
def test_split_evenly_conserves(amount_fen: int, parts: int) -> None:
    split = split_evenly(amount_fen, parts)
    assert sum(split) == amount_fen
    assert len(split) == parts
    assert max(split) - min(split) < parts
