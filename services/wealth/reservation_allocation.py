"""A Zhaocaibao reservation (预约) matching run: a newly listed product's quota shared among
the reservations it matches, within each investor's available funds (DOMAIN.md §2).

fixed_term.allocate_reservations decides each reservation's share; this module turns the
shares into what the run records: per reservation, a pending product subscription (quota
taken, holding planned) and the reservation with that purchase recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from services.wealth.fixed_term import Holding, Product
from services.wealth.fixed_term_reservations import (
    Reservation,
    allocate_reservations,
    record_purchase,
)
from services.wealth.purchase_tries import plan_product_purchase, subscribe_product
from services.wealth.purchases import Purchase


@dataclass(frozen=True, slots=True)
class ReservationAllocation:
    """One reservation's share: its pending purchase, planned holding, and the reservation
    before and after the purchase is recorded."""

    reservation: Reservation
    recorded: Reservation
    purchase: Purchase
    holding: Holding


@dataclass(frozen=True, slots=True)
class AllocationPlan:
    """Every share of a run and the product once all of them have taken its quota."""

    allocations: tuple[ReservationAllocation, ...]
    product: Product

    @property
    def total_fen(self) -> int:
        """The quota the run takes, in one guarded update of the product."""
        return sum(allocation.purchase.amount_fen for allocation in self.allocations)


def plan_allocation(
    product: Product,
    matching: Sequence[Reservation],
    funds_fen_by_investor: Mapping[str, int],
    *,
    new_purchase_id: Callable[[], str],
    now: datetime,
    business_date: date,
) -> AllocationPlan:
    """Share the product among the matching reservations (in reservation order)."""
    fills = allocate_reservations(
        product.remaining_quota_fen,
        matching,
        funds_fen_by_investor,
        amount_fen_min=product.amount_fen_min,
    )
    by_id = {reservation.reservation_id: reservation for reservation in matching}
    allocations: list[ReservationAllocation] = []
    planned = product
    for fill in fills:
        reservation = by_id[fill.reservation_id]
        purchase = plan_product_purchase(
            purchase_id=new_purchase_id(),
            investor_id=reservation.investor_id,
            product_id=product.product_id,
            amount_fen=fill.amount_fen,
            now=now,
            business_date=business_date,
            reservation_id=reservation.reservation_id,
        )
        subscription = subscribe_product(planned, purchase, now)
        planned = subscription.product
        recorded = record_purchase(
            reservation, product_id=product.product_id, amount_fen=fill.amount_fen, now=now
        )
        allocations.append(
            ReservationAllocation(reservation, recorded, purchase, subscription.holding)
        )
    return AllocationPlan(allocations=tuple(allocations), product=planned)
