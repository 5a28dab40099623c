"""Zhaocaibao: product terms, subscription refusals, value and maturity dates, and interest
at maturity (services/wealth/fixed_term.py)."""

from dataclasses import replace
from datetime import date, datetime
from decimal import Context, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition, InvalidArgument
from services.wealth.fixed_term import (
    HoldingState,
    Product,
    ProductState,
    check_subscription,
    close_product,
    holding_payout,
    mature,
    maturity_date_for,
    maturity_due,
    maturity_payout,
    on_sale,
    subscribe,
    value_date_for,
)
from services.wealth.fixed_term_transfers import (
    list_for_transfer,
)
from services.wealth.tests.fixed_term_support import (
    DAY,
    MICROSECOND,
    SUBSCRIBED_ON,
    T0,
    YUAN,
    held,
    new_product,
)

# --- products and subscription ------------------------------------------------------------


def test_a_new_product_is_listed_with_nothing_sold() -> None:
    product = new_product()
    assert (product.state, product.sold_fen, product.remaining_quota_fen) == (
        ProductState.LISTED,
        0,
        100_000_000,
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"product_id": ""}, "product_id"),
        ({"issuer": ""}, "issuer"),
        ({"insurer": ""}, "insurer"),  # an insurer stands behind every product
        ({"term_days": 0}, "term_days"),
        ({"term_days": 5 * 365 + 1}, "term_days"),
        ({"expected_annual_yield": Decimal(0)}, "expected_annual_yield"),
        ({"expected_annual_yield": Decimal("0.24")}, "expected_annual_yield"),
        ({"expected_annual_yield": 0.04}, "expected_annual_yield"),
        ({"amount_fen_min": 2_000_000 * YUAN}, "amount_fen_min"),
        ({"sale_ends_at": T0}, "sale"),
    ],
)
def test_create_product_refuses_bad_terms(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        new_product(**changes)
    assert refusal.value.metadata["field"] == field


@pytest.mark.parametrize("changes", [{"quota_fen": 0}, {"amount_fen_min": 0}])
def test_create_product_refuses_non_positive_amounts(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        new_product(**changes)
    assert refusal.value.reason == "INVALID_AMOUNT"


def test_a_product_value_can_never_be_oversold() -> None:
    with pytest.raises(AssertionError):
        replace(new_product(), sold_fen=100_000_001)


def test_subscription_inside_the_window_sells_quota_and_opens_a_holding() -> None:
    product, holding = subscribe(
        new_product(),
        holding_id="h1",
        holder_id="investor",
        amount_fen=10_000 * YUAN,
        now=T0,
        business_date=SUBSCRIBED_ON,
    )
    assert product.sold_fen == 1_000_000
    assert product.remaining_quota_fen == 99_000_000
    assert holding.principal_fen == holding.cost_fen == 1_000_000
    assert (holding.annual_yield, holding.term_days) == (Decimal("0.0400"), 90)
    # Subscribed on 2026-01-30: value date T+1 = 2026-01-31; 90 days on:
    # Feb 1 is day 1, Feb 28 day 28, Mar 31 day 59, Apr 30 day 89, May 1 day 90.
    assert holding.value_date == date(2026, 1, 31)
    assert holding.maturity_date == date(2026, 5, 1)
    assert holding.state is HoldingState.HELD


@pytest.mark.parametrize(
    ("product", "now", "why"),
    [
        (new_product(), T0 - MICROSECOND, "sale_not_started"),
        (new_product(), T0 + 3 * DAY, "sale_ended"),  # the end is exclusive
        (close_product(new_product()), T0 + DAY, "closed"),
    ],
)
def test_subscription_outside_the_sale_is_refused(
    product: Product, now: datetime, why: str
) -> None:
    with pytest.raises(FailedPrecondition) as refusal:
        check_subscription(product, 10_000 * YUAN, now)
    assert refusal.value.reason == "PRODUCT_NOT_ON_SALE"
    assert refusal.value.metadata == {"product_id": "p1", "why": why}


def test_the_window_includes_its_start_and_excludes_its_end() -> None:
    product = new_product()
    assert on_sale(product, T0)
    assert on_sale(product, T0 + 3 * DAY - MICROSECOND)
    assert not on_sale(product, T0 + 3 * DAY)


def test_subscription_below_the_minimum_is_refused() -> None:
    check_subscription(new_product(), 1_000 * YUAN, T0)
    with pytest.raises(FailedPrecondition) as refusal:
        check_subscription(new_product(), 1_000 * YUAN - 1, T0)
    assert refusal.value.reason == "BELOW_MINIMUM"
    assert refusal.value.metadata["amount_fen_min"] == "100000"


def test_subscription_above_the_remaining_quota_is_refused() -> None:
    product = replace(new_product(), sold_fen=99_500_000)  # 5,000 yuan left
    check_subscription(product, 500_000, T0)
    with pytest.raises(FailedPrecondition) as refusal:
        check_subscription(product, 500_001, T0)
    assert refusal.value.reason == "QUOTA_EXCEEDED"
    assert refusal.value.metadata["remaining_quota_fen"] == "500000"


def test_a_sold_out_product_refuses_every_subscription() -> None:
    product = replace(new_product(), sold_fen=100_000_000)
    with pytest.raises(FailedPrecondition) as refusal:
        check_subscription(product, 100_000, T0)
    assert refusal.value.reason == "QUOTA_EXCEEDED"


@pytest.mark.parametrize("amount_fen", [0, -5])
def test_subscription_of_no_money_is_refused(amount_fen: int) -> None:
    with pytest.raises(InvalidArgument):
        check_subscription(new_product(), amount_fen, T0)


def test_naive_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        check_subscription(new_product(), 100_000, datetime(2026, 1, 30, 9, 0))


@given(amounts=st.lists(st.integers(min_value=1, max_value=30_000_000), max_size=40))
def test_subscriptions_never_oversell(amounts: list[int]) -> None:
    product = new_product(amount_fen_min=1)
    for index, amount_fen in enumerate(amounts):
        try:
            product, _ = subscribe(
                product,
                holding_id=f"h{index}",
                holder_id="i",
                amount_fen=amount_fen,
                now=T0,
                business_date=SUBSCRIBED_ON,
            )
        except FailedPrecondition as refusal:
            assert refusal.reason == "QUOTA_EXCEEDED"
            assert amount_fen > product.remaining_quota_fen
    assert 0 <= product.sold_fen <= product.quota_fen


# --- dates and interest -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subscribed_on", "term_days", "value_date", "maturity_date"),
    [
        (date(2026, 1, 30), 90, date(2026, 1, 31), date(2026, 5, 1)),
        (date(2026, 3, 6), 30, date(2026, 3, 7), date(2026, 4, 6)),  # Friday: Saturday value
        (date(2026, 12, 31), 1, date(2027, 1, 1), date(2027, 1, 2)),
        (date(2027, 12, 31), 366, date(2028, 1, 1), date(2029, 1, 1)),  # 2028 has 366 days
    ],
)
def test_value_date_is_t_plus_one_and_maturity_is_term_days_later(
    subscribed_on: date, term_days: int, value_date: date, maturity_date: date
) -> None:
    assert value_date_for(subscribed_on) == value_date
    assert maturity_date_for(value_date, term_days) == maturity_date


@pytest.mark.parametrize(
    ("principal_fen", "annual_yield", "term_days", "interest_fen", "residue"),
    [
        # 1,000,000 * 0.04 * 90 / 365 = 3,600,000 / 365 = 9,863.0137 -> 9,863.
        (1_000_000, "0.0400", 90, 9_863, "0.0137"),
        # 500,000 * 0.045 * 365 / 365 = 22,500 exactly.
        (500_000, "0.0450", 365, 22_500, "0"),
        # 2,000,000 * 0.052 * 180 / 365 = 18,720,000 / 365 = 51,287.6712 -> 51,288 (up).
        (2_000_000, "0.0520", 180, 51_288, "-0.3288"),
        # 100,000 * 0.0365 * 1 / 365 = 10 fen exactly: one day at 3.65%.
        (100_000, "0.0365", 1, 10, "0"),
        # Actual/365 Fixed: 366 days earn 366/365 of a year: 100,000 * 0.0365 * 366/365 = 3,660.
        (100_000, "0.0365", 366, 3_660, "0"),
        # Half-even at the half fen: 3,650 * 0.01 * 5 / 365 = 0.5 -> 0 (0 is even).
        (3_650, "0.01", 5, 0, "0.5"),
        # 10,950 * 0.01 * 5 / 365 = 1.5 -> 2 (2 is even).
        (10_950, "0.01", 5, 2, "-0.5"),
        # 18,250 * 0.01 * 5 / 365 = 2.5 -> 2 (down to even; half-up would pay 3).
        (18_250, "0.01", 5, 2, "0.5"),
    ],
)
def test_maturity_interest_is_actual_365_rounded_half_even(
    principal_fen: int, annual_yield: str, term_days: int, interest_fen: int, residue: str
) -> None:
    payout = maturity_payout(principal_fen, Decimal(annual_yield), term_days)
    assert payout.interest_fen == interest_fen
    assert payout.payout_fen == principal_fen + interest_fen
    assert payout.interest_residue_fen.quantize(Decimal("0.0001")) == Decimal(residue)
    with localcontext(Context(prec=60)):
        assert payout.interest_exact_fen == payout.interest_fen + payout.interest_residue_fen


@given(
    principal_fen=st.integers(min_value=1, max_value=10**12),
    annual_yield=st.decimals(min_value=0, max_value="0.2399", places=4),
    term_days=st.integers(min_value=1, max_value=5 * 365),
)
def test_paid_interest_is_within_half_a_fen_of_the_exact_interest(
    principal_fen: int, annual_yield: Decimal, term_days: int
) -> None:
    payout = maturity_payout(principal_fen, annual_yield, term_days)
    assert abs(payout.interest_residue_fen) <= Decimal("0.5")
    assert payout.interest_fen >= 0


def test_a_holding_matures_on_its_maturity_date_and_not_before() -> None:
    holding = held()  # matures 2026-05-01
    assert not maturity_due(holding, date(2026, 4, 30))
    assert maturity_due(holding, date(2026, 5, 1))
    with pytest.raises(FailedPrecondition) as refusal:
        mature(holding, date(2026, 4, 30))
    assert refusal.value.reason == "HOLDING_NOT_MATURED"
    matured = mature(holding, date(2026, 5, 1))
    assert matured.state is HoldingState.MATURED
    assert not maturity_due(matured, date(2026, 6, 1))
    # 10,000 yuan at 4% for 90 days: 9,863 fen of interest (above).
    assert holding_payout(matured).payout_fen == 1_009_863


def test_an_unsold_listing_lapses_at_maturity_and_pays_the_seller() -> None:
    listed = list_for_transfer(held(), 1_004_000, date(2026, 3, 2))
    assert maturity_due(listed, date(2026, 5, 1))
    matured = mature(listed, date(2026, 5, 1))
    assert (matured.state, matured.holder_id, matured.listing_price_fen) == (
        HoldingState.MATURED,
        "seller",
        0,
    )


def test_a_matured_holding_cannot_mature_again() -> None:
    matured = mature(held(), date(2026, 5, 1))
    with pytest.raises(FailedPrecondition) as refusal:
        mature(matured, date(2026, 5, 2))
    assert refusal.value.reason == "ILLEGAL_TRANSITION"
