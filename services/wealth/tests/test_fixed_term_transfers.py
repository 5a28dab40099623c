"""Zhaocaibao early liquidation (变现): the fee, the listing price range, when a holding can
change hands, and the money of a transfer (services/wealth/fixed_term_transfers.py)."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition, InvalidArgument
from services.wealth.fixed_term import (
    Holding,
    HoldingState,
    holding_payout,
    mature,
)
from services.wealth.fixed_term_transfers import (
    buy_listed_holding,
    early_liquidation_fee_fen,
    list_for_transfer,
    listing_price_range_fen,
    seller_proceeds_fen,
    transfer_terms,
    withdraw_listing,
)
from services.wealth.tests.fixed_term_support import (
    held,
)

# --- early liquidation (变现) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal_fen", "fee_fen"),
    [
        (1_000_000, 2_000),  # 10,000 yuan * 0.2% = 20 yuan
        (123_456, 247),  # 246.912 -> 247
        (1_001, 2),  # 2.002 -> 2
        (250, 0),  # 0.5 -> 0 (half-even: 0 is even)
        (750, 2),  # 1.5 -> 2 (half-even: 2 is even)
        (1_250, 2),  # 2.5 -> 2 (half-even: down to even)
        (1_000_000_000_000, 2_000_000_000),
    ],
)
def test_early_liquidation_fee_is_two_per_mille_of_principal_half_even(
    principal_fen: int, fee_fen: int
) -> None:
    assert early_liquidation_fee_fen(principal_fen) == fee_fen


def test_transfer_terms_for_the_seller_and_the_buyer() -> None:
    # 10,000 yuan at 4% for 90 days (value 2026-01-31, maturity 2026-05-01), listed and bought
    # on 2026-03-02 at 10,040 yuan: 60 days remain (Mar 2 -> Apr 2 is 31, -> May 1 is 29).
    listed = list_for_transfer(held(), 1_004_000, date(2026, 3, 2))
    assert (listed.state, listed.listed_on) == (HoldingState.LISTED, date(2026, 3, 2))
    terms = transfer_terms(listed, date(2026, 3, 2))
    # Fee 1,000,000 * 0.002 = 2,000 fen from the seller; the seller gets 1,004,000 - 2,000.
    assert (terms.price_fen, terms.fee_fen, terms.seller_proceeds_fen) == (
        1_004_000,
        2_000,
        1_002_000,
    )
    assert seller_proceeds_fen(1_004_000, 1_000_000) == 1_002_000
    # The buyer is paid the whole maturity payout: 1,000,000 + 9,863.
    assert (terms.buyer_payout_fen, terms.maturity_date, terms.remaining_days) == (
        1_009_863,
        date(2026, 5, 1),
        60,
    )
    # Buyer's yield: (1,009,863 - 1,004,000) * 365 / (1,004,000 * 60)
    #   = 5,863 * 365 / 60,240,000 = 2,139,995 / 60,240,000 = 0.035524 -> 3.55%.
    assert terms.buyer_annual_yield == Decimal("0.0355")


def test_the_buyer_inherits_the_remaining_term() -> None:
    listed = list_for_transfer(held(), 1_004_000, date(2026, 3, 2))
    transfer = buy_listed_holding(
        listed, buyer_id="buyer", new_holding_id="h2", business_date=date(2026, 3, 2)
    )
    assert transfer.seller_holding.state is HoldingState.TRANSFERRED
    bought = transfer.buyer_holding
    assert (bought.holder_id, bought.state, bought.acquired_from_holding_id) == (
        "buyer",
        HoldingState.HELD,
        "h1",
    )
    assert (bought.principal_fen, bought.cost_fen) == (1_000_000, 1_004_000)
    assert (bought.value_date, bought.maturity_date) == (date(2026, 1, 31), date(2026, 5, 1))
    assert holding_payout(bought).payout_fen == 1_009_863
    # Money of the transfer: the buyer's 1,004,000 = 2,000 fee + 1,002,000 to the seller.
    assert transfer.terms.fee_fen + transfer.terms.seller_proceeds_fen == 1_004_000
    # The buyer may list it again.
    assert list_for_transfer(bought, 1_005_000, date(2026, 3, 3)).state is HoldingState.LISTED


def test_listing_price_range_is_above_the_fee_and_at_most_the_payout() -> None:
    holding = held()
    assert listing_price_range_fen(holding) == (2_001, 1_009_863)
    for price_fen in (2_000, 1_009_864, 0):
        with pytest.raises(InvalidArgument) as refusal:
            list_for_transfer(holding, price_fen, date(2026, 3, 2))
        assert refusal.value.reason == "INVALID_AMOUNT"
    assert list_for_transfer(holding, 2_001, date(2026, 3, 2)).listing_price_fen == 2_001
    assert list_for_transfer(holding, 1_009_863, date(2026, 3, 2)).listing_price_fen == 1_009_863


@pytest.mark.parametrize(
    "business_date",
    [
        date(2026, 1, 30),  # the subscription day: before the value date
        date(2026, 5, 1),  # the maturity date
        date(2026, 6, 1),  # after it
    ],
)
def test_listing_outside_value_date_to_the_day_before_maturity_is_refused(
    business_date: date,
) -> None:
    with pytest.raises(FailedPrecondition) as refusal:
        list_for_transfer(held(), 1_004_000, business_date)
    assert refusal.value.reason == "HOLDING_NOT_TRANSFERABLE"


def test_listing_is_allowed_from_the_value_date_to_the_day_before_maturity() -> None:
    assert list_for_transfer(held(), 1_004_000, date(2026, 1, 31)).state is HoldingState.LISTED
    assert list_for_transfer(held(), 1_004_000, date(2026, 4, 30)).state is HoldingState.LISTED


def test_a_listing_cannot_be_bought_on_its_maturity_date() -> None:
    listed = list_for_transfer(held(), 1_004_000, date(2026, 4, 30))
    with pytest.raises(FailedPrecondition) as refusal:
        buy_listed_holding(
            listed, buyer_id="b", new_holding_id="h2", business_date=date(2026, 5, 1)
        )
    assert refusal.value.reason == "HOLDING_NOT_TRANSFERABLE"


def test_a_seller_cannot_buy_their_own_listing() -> None:
    listed = list_for_transfer(held(), 1_004_000, date(2026, 3, 2))
    with pytest.raises(InvalidArgument) as refusal:
        buy_listed_holding(
            listed, buyer_id="seller", new_holding_id="h2", business_date=date(2026, 3, 2)
        )
    assert refusal.value.reason == "SAME_ACCOUNT"


def test_withdrawing_a_listing_returns_the_holding_to_held() -> None:
    listed = list_for_transfer(held(), 1_004_000, date(2026, 3, 2))
    withdrawn = withdraw_listing(listed)
    assert (withdrawn.state, withdrawn.listing_price_fen, withdrawn.listed_on) == (
        HoldingState.HELD,
        0,
        None,
    )


@pytest.mark.parametrize(
    ("action", "state"),
    [
        ("list", HoldingState.LISTED),
        ("list", HoldingState.TRANSFERRED),
        ("list", HoldingState.MATURED),
        ("withdraw", HoldingState.HELD),
        ("withdraw", HoldingState.TRANSFERRED),
        ("buy", HoldingState.HELD),
        ("buy", HoldingState.TRANSFERRED),
        ("buy", HoldingState.MATURED),
        ("price", HoldingState.HELD),
        ("mature", HoldingState.TRANSFERRED),
    ],
)
def test_holding_actions_in_the_wrong_state_are_illegal(action: str, state: HoldingState) -> None:
    holding = replace(held(), state=state, listing_price_fen=1_004_000)
    on = date(2026, 3, 2)
    with pytest.raises(FailedPrecondition) as refusal:
        if action == "list":
            list_for_transfer(holding, 1_004_000, on)
        elif action == "withdraw":
            withdraw_listing(holding)
        elif action == "buy":
            buy_listed_holding(holding, buyer_id="b", new_holding_id="h2", business_date=on)
        elif action == "price":
            transfer_terms(holding, on)
        else:
            mature(holding, date(2026, 5, 1))
    assert refusal.value.reason == "ILLEGAL_TRANSITION"
    assert refusal.value.metadata["action"] == action


@given(
    principal_fen=st.integers(min_value=1_000, max_value=10**10),
    annual_yield=st.decimals(min_value="0.0001", max_value="0.2", places=4),
    term_days=st.integers(min_value=2, max_value=1_000),
    price_share=st.decimals(min_value=0, max_value=1, places=6),
    days_in=st.integers(min_value=0, max_value=999),
)
def test_a_transfer_moves_exactly_the_price(
    principal_fen: int, annual_yield: Decimal, term_days: int, price_share: Decimal, days_in: int
) -> None:
    holding = Holding(
        holding_id="h",
        product_id="p",
        holder_id="s",
        principal_fen=principal_fen,
        annual_yield=annual_yield,
        term_days=term_days,
        value_date=date(2026, 1, 1),
        maturity_date=date(2026, 1, 1) + timedelta(days=term_days),
        cost_fen=principal_fen,
    )
    low, high = listing_price_range_fen(holding)
    price_fen = low + int((high - low) * price_share)
    on = holding.value_date + timedelta(days=days_in % term_days)
    listed = list_for_transfer(holding, price_fen, on)
    transfer = buy_listed_holding(listed, buyer_id="b", new_holding_id="h2", business_date=on)
    terms = transfer.terms
    assert terms.fee_fen + terms.seller_proceeds_fen == terms.price_fen == price_fen
    assert terms.seller_proceeds_fen > 0
    assert terms.price_fen <= terms.buyer_payout_fen
    assert terms.remaining_days == (holding.maturity_date - on).days >= 1
