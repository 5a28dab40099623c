"""Zhaocaibao: product terms, subscription refusals, value and maturity dates, interest at
maturity, early liquidation (变现) and its fee, and reservations (预约) with their allocation."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition, InvalidArgument
from services.wealth.fixed_term import (
    Holding,
    HoldingState,
    Product,
    ProductState,
    check_subscription,
    close_product,
    create_product,
    holding_payout,
    mature,
    maturity_date_for,
    maturity_due,
    maturity_payout,
    on_sale,
    subscribe,
    value_date_for,
)
from services.wealth.fixed_term_reservations import (
    RESERVATION_PURCHASES_MAX,
    RESERVATION_VALID_FOR,
    RESERVATIONS_PER_ALLOCATION_MAX,
    Reservation,
    ReservationFill,
    ReservationState,
    allocate_reservations,
    cancel_reservation,
    create_reservation,
    expire_reservation,
    matches,
    record_purchase,
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

# 2026-01-30 09:00 CST.
T0 = datetime(2026, 1, 30, 1, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)
SUBSCRIBED_ON = date(2026, 1, 30)
YUAN = 100


def new_product(**changes: object) -> Product:
    terms: dict[str, object] = {
        "product_id": "p1",
        "issuer": "Zhejiang Small Loans Co.",
        "insurer": "Zhong An Insurance",
        "term_days": 90,
        "expected_annual_yield": Decimal("0.0400"),
        "amount_fen_min": 1_000 * YUAN,
        "quota_fen": 1_000_000 * YUAN,
        "sale_starts_at": T0,
        "sale_ends_at": T0 + 3 * DAY,
    }
    terms.update(changes)
    return create_product(**terms)  # type: ignore[arg-type]


def held(principal_fen: int = 10_000 * YUAN) -> Holding:
    _, holding = subscribe(
        new_product(),
        holding_id="h1",
        holder_id="seller",
        amount_fen=principal_fen,
        now=T0,
        business_date=SUBSCRIBED_ON,
    )
    return holding


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


# --- reservations (预约) -------------------------------------------------------------------


def new_reservation(
    reservation_id: str = "r1",
    investor_id: str = "i1",
    amount_fen: int = 50_000 * YUAN,
    *,
    annual_yield_min: str = "0.0380",
    term_days_max: int = 180,
    created_at: datetime = T0 - DAY,
) -> Reservation:
    return create_reservation(
        reservation_id=reservation_id,
        investor_id=investor_id,
        amount_fen=amount_fen,
        annual_yield_min=Decimal(annual_yield_min),
        term_days_max=term_days_max,
        now=created_at,
    )


def test_a_reservation_runs_for_30_days() -> None:
    reservation = new_reservation()
    assert timedelta(days=30) == RESERVATION_VALID_FOR
    assert reservation.expires_at == T0 - DAY + 30 * DAY
    assert (reservation.state, reservation.remaining_fen) == (ReservationState.ACTIVE, 5_000_000)


@pytest.mark.parametrize(
    ("changes", "matched"),
    [
        ({}, True),
        # the product pays 4.00%: a minimum of exactly 4.00% matches, 4.01% does not
        ({"annual_yield_min": "0.0400"}, True),
        ({"annual_yield_min": "0.0401"}, False),
        # the product runs 90 days: a maximum of 90 matches, 89 does not
        ({"term_days_max": 90}, True),
        ({"term_days_max": 89}, False),
        # a reservation for less than the product's 1,000-yuan minimum cannot buy it
        ({"amount_fen": 999 * YUAN}, False),
    ],
)
def test_matches_compares_yield_term_and_amount(changes: dict[str, object], matched: bool) -> None:
    reservation = new_reservation(**changes)  # type: ignore[arg-type]
    assert matches(reservation, new_product(), T0) is matched


def test_matches_needs_a_live_reservation_and_a_product_on_sale() -> None:
    reservation = new_reservation()
    product = new_product()
    assert matches(reservation, product, T0)
    # The product's window: 3 days from T0; the reservation's: until T0 + 29 days.
    assert not matches(reservation, product, T0 + 3 * DAY)
    assert not matches(reservation, close_product(product), T0)
    assert not matches(reservation, replace(product, sold_fen=99_999_999), T0)
    late = new_product(sale_starts_at=T0 + 28 * DAY, sale_ends_at=T0 + 40 * DAY)
    assert matches(reservation, late, T0 + 29 * DAY - MICROSECOND)
    assert not matches(reservation, late, T0 + 29 * DAY)  # expired
    assert not matches(cancel_reservation(reservation), product, T0)
    assert not matches(new_reservation(created_at=T0 + DAY), product, T0)  # not yet made


def test_allocation_follows_reservation_order_funds_and_minimum() -> None:
    # Quota 100,000 fen, product minimum 10,000 fen. Funds: i1 50,000, i2 20,000, i3 5,000,
    # i4 100,000.
    #   r1 (i1 wants 30,000): min(30,000, 50,000, 100,000) = 30,000 -> i1 20,000, quota 70,000
    #   r2 (i2 wants 50,000): min(50,000, 20,000, 70,000) = 20,000 -> i2 0,      quota 50,000
    #   r3 (i1 wants 40,000): min(40,000, 20,000, 50,000) = 20,000 -> i1 0,      quota 30,000
    #   r4 (i3 wants 10,000): min(10,000, 5,000, 30,000) = 5,000 < the minimum: skipped
    #   r5 (i4 wants 20,000): min(20,000, 100,000, 30,000) = 20,000 ->          quota 10,000
    reservations = [
        new_reservation("r1", "i1", 30_000, created_at=T0 - 5 * DAY),
        new_reservation("r2", "i2", 50_000, created_at=T0 - 4 * DAY),
        new_reservation("r3", "i1", 40_000, created_at=T0 - 3 * DAY),
        new_reservation("r4", "i3", 10_000, created_at=T0 - 2 * DAY),
        new_reservation("r5", "i4", 20_000, created_at=T0 - DAY),
    ]
    funds = {"i1": 50_000, "i2": 20_000, "i3": 5_000, "i4": 100_000}
    fills = allocate_reservations(100_000, reservations, funds, amount_fen_min=10_000)
    assert fills == [
        ReservationFill("r1", 30_000),
        ReservationFill("r2", 20_000),
        ReservationFill("r3", 20_000),
        ReservationFill("r5", 20_000),
    ]


@pytest.mark.parametrize(
    ("quota_fen", "expected"),
    [
        # r1 takes 30,000; r2 the 15,000 left (>= the 10,000 minimum); nothing for r3.
        (45_000, [("r1", 30_000), ("r2", 15_000)]),
        # r1 takes 30,000; 5,000 left is below the minimum: r2 and r3 get nothing.
        (35_000, [("r1", 30_000)]),
        # Below the minimum from the start.
        (9_999, []),
        (0, []),
    ],
)
def test_allocation_cut_short_by_the_quota_stops_there(
    quota_fen: int, expected: list[tuple[str, int]]
) -> None:
    reservations = [
        new_reservation("r1", "i1", 30_000, created_at=T0 - 3 * DAY),
        new_reservation("r2", "i2", 50_000, created_at=T0 - 2 * DAY),
        new_reservation("r3", "i3", 10_000, created_at=T0 - DAY),
    ]
    funds = {"i1": 10**9, "i2": 10**9, "i3": 10**9}
    fills = allocate_reservations(quota_fen, reservations, funds, amount_fen_min=10_000)
    assert fills == [ReservationFill(*fill) for fill in expected]


def test_an_investor_without_known_funds_gets_nothing() -> None:
    fills = allocate_reservations(100_000, [new_reservation("r1", "ghost", 30_000)], {})
    assert fills == []


def test_allocation_refuses_reservations_out_of_order_or_repeated() -> None:
    first = new_reservation("r1", created_at=T0 - 2 * DAY)
    second = new_reservation("r2", created_at=T0 - DAY)
    with pytest.raises(ValueError):
        allocate_reservations(10**6, [second, first], {"i1": 10**6})
    with pytest.raises(ValueError):
        allocate_reservations(10**6, [first, first], {"i1": 10**6})
    # Same instant: the reservation id breaks the tie.
    tie = new_reservation("r0", created_at=T0 - 2 * DAY)
    with pytest.raises(ValueError):
        allocate_reservations(10**6, [first, tie], {"i1": 10**6})
    assert allocate_reservations(10**6, [tie, first], {"i1": 10**6})[0].reservation_id == "r0"


def test_allocation_refuses_bad_input() -> None:
    reservation = new_reservation()
    with pytest.raises(ValueError):
        allocate_reservations(-1, [reservation], {"i1": 1})
    with pytest.raises(ValueError):
        allocate_reservations(1, [reservation], {"i1": -1})
    with pytest.raises(ValueError):
        allocate_reservations(1, [reservation], {"i1": 1}, amount_fen_min=0)
    with pytest.raises(ValueError):
        allocate_reservations(1, [cancel_reservation(reservation)], {"i1": 1})
    many = [
        new_reservation(f"r{i:05d}", created_at=T0)
        for i in range(RESERVATIONS_PER_ALLOCATION_MAX + 1)
    ]
    with pytest.raises(ValueError):
        allocate_reservations(1, many, {"i1": 1})


# (investor, amount wanted); i4 has no funds at all.
reservation_lists = st.lists(
    st.tuples(
        st.sampled_from(["i1", "i2", "i3", "i4"]), st.integers(min_value=1, max_value=50_000)
    ),
    max_size=30,
)


@given(
    quota_fen=st.integers(min_value=0, max_value=300_000),
    wanted=reservation_lists,
    funds=st.fixed_dictionaries(
        {investor: st.integers(min_value=0, max_value=80_000) for investor in ("i1", "i2", "i3")}
    ),
    amount_fen_min=st.integers(min_value=1, max_value=20_000),
)
def test_allocation_never_oversells_overspends_or_jumps_the_queue(
    quota_fen: int,
    wanted: list[tuple[str, int]],
    funds: dict[str, int],
    amount_fen_min: int,
) -> None:
    reservations = [
        new_reservation(f"r{index:03d}", investor_id, amount_fen, created_at=T0)
        for index, (investor_id, amount_fen) in enumerate(wanted)
    ]
    fills = allocate_reservations(quota_fen, reservations, funds, amount_fen_min=amount_fen_min)
    by_id = {r.reservation_id: r for r in reservations}
    assert sum(fill.amount_fen for fill in fills) <= quota_fen
    spent: dict[str, int] = {}
    for fill in fills:
        reservation = by_id[fill.reservation_id]
        assert amount_fen_min <= fill.amount_fen <= reservation.remaining_fen
        spent[reservation.investor_id] = spent.get(reservation.investor_id, 0) + fill.amount_fen
    for investor_id, spent_fen in spent.items():
        assert spent_fen <= funds.get(investor_id, 0)
    # Fills come in reservation order, and once one is cut short by the quota (got less
    # than it wanted and its investor could pay), nothing after it is filled.
    ids = [fill.reservation_id for fill in fills]
    assert ids == sorted(ids)
    funds_left = dict(funds)
    filled = dict(fills)
    cut_short = False
    for reservation in reservations:
        got = filled.get(reservation.reservation_id, 0)
        if cut_short:
            assert got == 0
        could = min(reservation.remaining_fen, funds_left.get(reservation.investor_id, 0))
        if could >= amount_fen_min and got < could:
            cut_short = True
        funds_left[reservation.investor_id] = funds_left.get(reservation.investor_id, 0) - got


def test_recording_purchases_fills_the_reservation_and_reports_them() -> None:
    reservation = new_reservation(amount_fen=300_000)
    reservation = record_purchase(reservation, product_id="p1", amount_fen=100_000, now=T0)
    assert (reservation.state, reservation.filled_fen, reservation.remaining_fen) == (
        ReservationState.ACTIVE,
        100_000,
        200_000,
    )
    reservation = record_purchase(reservation, product_id="p2", amount_fen=200_000, now=T0 + DAY)
    assert reservation.state is ReservationState.FULFILLED
    assert [(p.product_id, p.amount_fen) for p in reservation.purchases] == [
        ("p1", 100_000),
        ("p2", 200_000),
    ]
    with pytest.raises(FailedPrecondition) as refusal:
        record_purchase(reservation, product_id="p3", amount_fen=1, now=T0 + DAY)
    assert refusal.value.reason == "ILLEGAL_TRANSITION"


def test_a_purchase_above_what_the_reservation_wants_is_refused() -> None:
    with pytest.raises(InvalidArgument) as refusal:
        record_purchase(new_reservation(amount_fen=100), product_id="p", amount_fen=101, now=T0)
    assert refusal.value.reason == "INVALID_AMOUNT"


def test_a_reservation_closes_after_its_maximum_number_of_purchases() -> None:
    reservation = new_reservation(amount_fen=10**6)
    for index in range(RESERVATION_PURCHASES_MAX):
        assert reservation.state is ReservationState.ACTIVE
        reservation = record_purchase(reservation, product_id=f"p{index}", amount_fen=1, now=T0)
    assert reservation.state is ReservationState.FULFILLED
    assert reservation.remaining_fen == 10**6 - RESERVATION_PURCHASES_MAX


def test_a_reservation_expires_after_30_days_and_not_before() -> None:
    reservation = new_reservation()
    with pytest.raises(FailedPrecondition) as refusal:
        expire_reservation(reservation, reservation.expires_at - MICROSECOND)
    assert refusal.value.reason == "RESERVATION_NOT_EXPIRED"
    expired = expire_reservation(reservation, reservation.expires_at)
    assert expired.state is ReservationState.EXPIRED
    with pytest.raises(FailedPrecondition) as illegal:
        cancel_reservation(expired)
    assert illegal.value.reason == "ILLEGAL_TRANSITION"


@pytest.mark.parametrize(
    "changes",
    [
        {"amount_fen": 0},
        {"annual_yield_min": Decimal("-0.01")},
        {"annual_yield_min": Decimal("0.24")},
        {"term_days_max": 0},
        {"reservation_id": ""},
        {"investor_id": ""},
    ],
)
def test_create_reservation_refuses_bad_conditions(changes: dict[str, object]) -> None:
    terms: dict[str, object] = {
        "reservation_id": "r",
        "investor_id": "i",
        "amount_fen": 100,
        "annual_yield_min": Decimal("0.04"),
        "term_days_max": 90,
        "now": T0,
    }
    terms.update(changes)
    with pytest.raises(InvalidArgument):
        create_reservation(**terms)  # type: ignore[arg-type]


def test_a_reservation_value_cannot_be_overfilled() -> None:
    with pytest.raises(AssertionError):
        replace(new_reservation(amount_fen=100), filled_fen=101)
