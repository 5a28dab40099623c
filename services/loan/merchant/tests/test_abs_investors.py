"""Investors' shares of a pool's period (abs_investors.py): the coupon by unit-days, returned
principal by units, to the fen."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition
from services.loan.merchant.abs_investors import (
    Holding,
    buy_units,
    distribute,
    missed_unit_days,
    split_pro_rata,
)
from services.loan.merchant.abs_pool import Collection, Eligibility, Pool, pass_through, sell_units

units = st.dictionaries(
    st.text("abcdef", min_size=1, max_size=3), st.integers(1, 10**12), min_size=1, max_size=8
)


def test_largest_remainder_by_hand() -> None:
    # 8,219 fen of coupon on 3:2 units: 4,931.4 and 3,287.6 -> the fen left goes to the 0.6.
    assert split_pro_rata(8_219, {"a": 3_000_000, "b": 2_000_000}) == {"a": 4_931, "b": 3_288}
    assert split_pro_rata(2, {"a": 1, "b": 1, "c": 1}) == {"a": 1, "b": 1, "c": 0}
    assert split_pro_rata(0, {"a": 5}) == {"a": 0}
    with pytest.raises(FailedPrecondition):
        split_pro_rata(1, {})


@given(st.integers(0, 10**13), units)
def test_shares_sum_to_the_amount_each_within_a_fen_of_exact(
    amount: int, weights: dict[str, int]
) -> None:
    shares = split_pro_rata(amount, weights)
    assert sum(shares.values()) == amount
    total = sum(weights.values())
    for key, share in shares.items():
        exact = Decimal(amount) * weights[key] / total
        assert exact - 1 < share < exact + 1


@given(units, st.data())
def test_returned_principal_never_exceeds_an_investors_units(
    weights: dict[str, int], data: st.DataObject
) -> None:
    holdings = {key: Holding(key, units_fen=fen, bought_fen=fen) for key, fen in weights.items()}
    total = sum(weights.values())
    returned = data.draw(st.integers(0, total))
    interest = data.draw(st.integers(0, 10**9))
    after, shares = distribute(holdings, interest, returned, 30)
    assert sum(held.units_fen for held in after.values()) == total - returned
    assert all(held.units_fen >= 0 for held in after.values())
    assert sum(s.interest_fen for s in shares) == interest
    assert sum(s.returned_fen for s in shares) == returned


def test_buying_units_adds_to_the_holding() -> None:
    first = buy_units({}, "a", 100)
    again = buy_units({"a": first}, "a", 50)
    assert (again.units_fen, again.bought_fen) == (150, 150)


def test_units_bought_mid_period_earn_from_their_purchase_day() -> None:
    # A 30-day period at 6%: a holds 30,000 yuan all along, b buys 20,000 yuan on day 10.
    # unit-days: a 3,000,000 x 30 = 90,000,000; b 2,000,000 x 20 = 40,000,000.
    # coupon 130,000,000 x 0.06 / 365 = 21,369.86 -> 21,369 (units at the end would give
    # 5,000,000 x 0.06 x 30 / 365 -> 24,657); a 21,369 x 9/13 = 14,794.38 -> 14,794,
    # b 21,369 x 4/13 = 6,575.07 -> 6,575.
    pool = Pool("p", Decimal("0.06"), date(2026, 6, 30), Eligibility())
    holdings = {"a": buy_units({}, "a", 3_000_000)}
    holdings["b"] = buy_units(holdings, "b", 2_000_000, days_into_period=10)
    pool = sell_units(sell_units(pool, 3_000_000), 2_000_000)
    assert holdings["b"].missed_unit_days == 20_000_000
    assert missed_unit_days(holdings) == 20_000_000
    _, month = pass_through(
        pool,
        [],
        [],
        period_days=30,
        today=date(2026, 1, 31),
        missed_unit_days=missed_unit_days(holdings),
    )
    assert month.investor_interest_fen == 0  # nothing collected: no coupon paid
    pool = replace_loans(pool)
    _, month = pass_through(
        pool,
        [Collection("L", interest_fen=1_000_000)],
        [],
        period_days=30,
        today=date(2026, 1, 31),
        missed_unit_days=missed_unit_days(holdings),
    )
    assert (month.investor_interest_fen, month.excess_spread_fen) == (21_369, 978_631)
    after, shares = distribute(holdings, 21_369, 0, 30)
    assert {s.investor_id: s.interest_fen for s in shares} == {"a": 14_794, "b": 6_575}
    assert after["b"].missed_unit_days == 0  # the next period b holds every day


def replace_loans(pool: Pool) -> Pool:
    """The pool holding one loan L of all its cash (for a collection to arrive on)."""
    return replace(pool, loans={"L": ("m", pool.cash_fen)}, cash_fen=0)


purchases = st.lists(
    st.tuples(st.sampled_from("abcde"), st.integers(1, 10**9), st.integers(0, 31)),
    min_size=1,
    max_size=10,
)


@given(purchases, st.integers(1, 31), st.integers(0, 2000), st.integers(0, 10**9))
def test_coupon_by_unit_days_sums_to_the_fen_and_conserves(
    bought: list[tuple[str, int, int]], days: int, coupon_bp: int, interest: int
) -> None:
    start = date(2026, 1, 1)
    pool = Pool("p", Decimal(coupon_bp) / 10_000, date(2026, 6, 30), Eligibility())
    holdings: dict[str, Holding] = {}
    for investor, amount, day in bought:
        within = min(day, days)  # within the period
        holdings[investor] = buy_units(holdings, investor, amount, days_into_period=within)
        pool = sell_units(pool, amount)
    pool = replace_loans(pool)
    missed = missed_unit_days(holdings)
    _, month = pass_through(
        pool,
        [Collection("L", interest_fen=interest)],
        [],
        period_days=days,
        today=start + timedelta(days=days),
        missed_unit_days=missed,
    )
    assert month.investor_interest_fen + month.excess_spread_fen == interest
    unit_days = {key: held.unit_days(days) for key, held in holdings.items()}
    total = sum(unit_days.values())
    exact = Decimal(total) * pool.coupon_rate / 365
    assert month.investor_interest_fen == min(interest, int(exact))  # ROUND_DOWN
    after, shares = distribute(holdings, month.investor_interest_fen, 0, days)
    paid = {s.investor_id: s.interest_fen for s in shares}
    assert sum(paid.values()) == month.investor_interest_fen
    for key, weight in unit_days.items():
        share = Decimal(month.investor_interest_fen) * weight / total if total else 0
        assert share - 1 < paid.get(key, 0) < share + 1
    assert all(held.missed_unit_days == 0 for held in after.values())
