"""Investors' shares of a pool's period (abs_investors.py): pro rata by units to the fen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition
from services.loan.merchant.abs_investors import Holding, buy_units, distribute, split_pro_rata

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
    after, shares = distribute(holdings, interest, returned)
    assert sum(held.units_fen for held in after.values()) == total - returned
    assert all(held.units_fen >= 0 for held in after.values())
    assert sum(s.interest_fen for s in shares) == interest
    assert sum(s.returned_fen for s in shares) == returned


def test_buying_units_adds_to_the_holding() -> None:
    first = buy_units({}, "a", 100)
    again = buy_units({"a": first}, "a", 50)
    assert (again.units_fen, again.bought_fen) == (150, 150)
