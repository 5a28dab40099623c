"""Zhaocaibao reservations (预约): standing orders that buy fixed-term products automatically.

An investor asks for amount_fen, a minimum yield and a maximum term; for 30 days every
matching product on sale buys into it automatically, funds permitting, in reservation order,
possibly across several products until the amount is reached.

    ACTIVE ──bought its amount (or RESERVATION_PURCHASES_MAX purchases)──► FULFILLED
      ├────30 days passed (the business-date job)──► EXPIRED
      └────the investor cancels──► CANCELLED   (what it already bought stays bought)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount
from services.wealth.fixed_term import (
    Product,
    illegal_transition,
    on_sale,
    require_aware,
    require_id,
    require_term_days,
    require_yield,
)

# A reservation subscribes automatically for one month (DOMAIN.md §2, seed): 30 days.
RESERVATION_VALID_FOR = timedelta(days=30)
# A reservation records at most this many purchases; reaching it closes the reservation.
RESERVATION_PURCHASES_MAX = 20
# One allocation run covers at most this many reservations (the store pages them).
RESERVATIONS_PER_ALLOCATION_MAX = 10_000


class ReservationState(StrEnum):
    ACTIVE = "active"
    FULFILLED = "fulfilled"  # bought its whole amount, or reached RESERVATION_PURCHASES_MAX
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ReservationPurchase:
    """One product a reservation bought into."""

    product_id: str
    amount_fen: int
    purchased_at: datetime


@dataclass(frozen=True, slots=True)
class Reservation:
    """An investor's standing order (预约) for matching products, for 30 days."""

    reservation_id: str
    investor_id: str
    amount_fen: int
    annual_yield_min: Decimal
    term_days_max: int
    created_at: datetime
    expires_at: datetime
    state: ReservationState = ReservationState.ACTIVE
    filled_fen: int = 0
    purchases: tuple[ReservationPurchase, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.filled_fen <= self.amount_fen:
            raise AssertionError(f"reservation {self.reservation_id} overfilled")
        if sum(purchase.amount_fen for purchase in self.purchases) != self.filled_fen:
            raise AssertionError(f"reservation {self.reservation_id}: purchases != filled")

    @property
    def remaining_fen(self) -> int:
        """What the reservation may still buy."""
        return self.amount_fen - self.filled_fen


class ReservationFill(NamedTuple):
    """One reservation's share of a product's quota."""

    reservation_id: str
    amount_fen: int


def create_reservation(
    *,
    reservation_id: str,
    investor_id: str,
    amount_fen: int,
    annual_yield_min: Decimal,
    term_days_max: int,
    now: datetime,
) -> Reservation:
    """A new ACTIVE reservation, expiring 30 days after now."""
    require_aware(now)
    return Reservation(
        reservation_id=require_id(reservation_id, "reservation_id"),
        investor_id=require_id(investor_id, "investor_id"),
        amount_fen=require_positive_amount(amount_fen, "reservation amount"),
        annual_yield_min=require_yield(annual_yield_min, "annual_yield_min", zero_allowed=True),
        term_days_max=require_term_days(term_days_max, "term_days_max"),
        created_at=now,
        expires_at=now + RESERVATION_VALID_FOR,
    )


def matches(reservation: Reservation, product: Product, now: datetime) -> bool:
    """True if the reservation is live, the product on sale and within its conditions."""
    require_aware(now)
    return (
        reservation.state is ReservationState.ACTIVE
        and reservation.created_at <= now < reservation.expires_at
        and on_sale(product, now)
        and product.expected_annual_yield >= reservation.annual_yield_min
        and product.term_days <= reservation.term_days_max
        and reservation.remaining_fen >= product.amount_fen_min
        and product.remaining_quota_fen >= product.amount_fen_min
    )


def _reservation_order(reservation: Reservation) -> tuple[datetime, str]:
    return reservation.created_at, reservation.reservation_id


def allocate_reservations(
    product_remaining_quota_fen: int,
    reservations: Sequence[Reservation],
    funds_available_fen_by_investor: Mapping[str, int],
    *,
    amount_fen_min: int = 1,
) -> list[ReservationFill]:
    """Share a product's quota among matching reservations, first come first served.

    Each reservation in turn takes the least of what it still wants, what its investor has
    left (shared by the investor's reservations) and the quota left; a share below the
    product's minimum is skipped. Once a reservation is cut short by the quota, none after
    it gets anything.
    """
    if len(reservations) > RESERVATIONS_PER_ALLOCATION_MAX:
        raise ValueError(f"at most {RESERVATIONS_PER_ALLOCATION_MAX} reservations per run")
    if product_remaining_quota_fen < 0 or amount_fen_min < 1:
        raise ValueError("the quota is non-negative and the minimum at least 1 fen")
    orders = [_reservation_order(reservation) for reservation in reservations]
    if orders != sorted(orders) or len(set(orders)) != len(orders):
        raise ValueError("reservations must be distinct and in reservation order")
    funds_left_fen = dict(funds_available_fen_by_investor)
    if any(funds_fen < 0 for funds_fen in funds_left_fen.values()):
        raise ValueError("available funds cannot be negative")
    quota_left_fen = product_remaining_quota_fen
    fills: list[ReservationFill] = []
    for reservation in reservations:
        if reservation.state is not ReservationState.ACTIVE:
            raise ValueError(f"reservation {reservation.reservation_id} is not active")
        if quota_left_fen < amount_fen_min:
            break
        funds_fen = funds_left_fen.get(reservation.investor_id, 0)
        take_fen = min(reservation.remaining_fen, funds_fen, quota_left_fen)
        if take_fen < amount_fen_min:
            continue
        fills.append(ReservationFill(reservation.reservation_id, take_fen))
        funds_left_fen[reservation.investor_id] = funds_fen - take_fen
        quota_left_fen -= take_fen
    if sum(fill.amount_fen for fill in fills) > product_remaining_quota_fen:
        raise AssertionError("reservations oversold the product")
    return fills


def record_purchase(
    reservation: Reservation, *, product_id: str, amount_fen: int, now: datetime
) -> Reservation:
    """The reservation after buying amount_fen of a product; FULFILLED once complete."""
    if reservation.state is not ReservationState.ACTIVE:
        raise illegal_transition(
            "reservation", reservation.reservation_id, reservation.state, "purchase"
        )
    require_positive_amount(amount_fen, "purchase amount")
    if amount_fen > reservation.remaining_fen:
        raise InvalidArgument(
            f"{amount_fen} fen exceeds the {reservation.remaining_fen} fen the reservation "
            "still wants",
            reason="INVALID_AMOUNT",
        )
    purchases = (*reservation.purchases, ReservationPurchase(product_id, amount_fen, now))
    filled_fen = reservation.filled_fen + amount_fen
    complete = filled_fen == reservation.amount_fen or len(purchases) >= RESERVATION_PURCHASES_MAX
    return replace(
        reservation,
        filled_fen=filled_fen,
        purchases=purchases,
        state=ReservationState.FULFILLED if complete else ReservationState.ACTIVE,
    )


def expire_reservation(reservation: Reservation, now: datetime) -> Reservation:
    """ACTIVE → EXPIRED once its 30 days have passed (run by the business-date job)."""
    require_aware(now)
    if reservation.state is not ReservationState.ACTIVE:
        raise illegal_transition(
            "reservation", reservation.reservation_id, reservation.state, "expire"
        )
    if now < reservation.expires_at:
        raise FailedPrecondition(
            f"reservation {reservation.reservation_id} runs until "
            f"{reservation.expires_at.isoformat()}",
            reason="RESERVATION_NOT_EXPIRED",
            metadata={
                "reservation_id": reservation.reservation_id,
                "expires_at": reservation.expires_at.isoformat(),
            },
        )
    return replace(reservation, state=ReservationState.EXPIRED)


def cancel_reservation(reservation: Reservation) -> Reservation:
    """ACTIVE → CANCELLED by the investor; what it already bought stays bought."""
    if reservation.state is not ReservationState.ACTIVE:
        raise illegal_transition(
            "reservation", reservation.reservation_id, reservation.state, "cancel"
        )
    return replace(reservation, state=ReservationState.CANCELLED)
