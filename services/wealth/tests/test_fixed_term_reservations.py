"""Zhaocaibao reservations (预约): matching, allocation of a product's quota in reservation
order, purchases, expiry and cancellation (services/wealth/fixed_term_reservations.py)."""

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition, InvalidArgument
from services.wealth.fixed_term import (
    close_product,
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
from services.wealth.tests.fixed_term_support import (
    DAY,
    MICROSECOND,
    T0,
    YUAN,
    new_product,
)

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
