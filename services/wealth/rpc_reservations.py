"""Zhaocaibao reservation (预约) RPCs: standing orders and the matching run of a new product.

Whether an investor can pay is the payment ledger's business, which this service never
reads. So the matching run is two steps of the gateway's: it lists the reservations a newly
listed product matches, reads those investors' available balances from payment, and asks
AllocateReservations to share the quota among them within those funds. Each allocation is
a pending purchase (quota taken, the reservation's purchase recorded) that the gateway
completes like any other (hold, capture, confirm) or cancels when the investor's money is
no longer there, which gives the amount back to the reservation.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from chassis.errors import InvalidArgument, NotFound
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import amount_from_proto, decimal_from_text, next_page, page_size_of
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.fixed_term import Product
from services.wealth.fixed_term_reservations import (
    Reservation,
    cancel_reservation,
    create_reservation,
    matches,
)
from services.wealth.reservation_allocation import (
    AllocationPlan,
    ReservationAllocation,
    plan_allocation,
)
from services.wealth.rpc_base import WealthRpcBase, require_id, require_investor_id
from services.wealth.wire import product_to_proto, purchase_to_proto, reservation_to_proto

log = logging.getLogger(__name__)

RESERVATION_ID_PREFIX = "rsv-"
# One matching run considers at most this many reservations, in reservation order.
ALLOCATION_RESERVATIONS_MAX = 500


class ReservationsRpc(WealthRpcBase):
    """Reservations: for 30 days, matching new products are bought automatically."""

    async def CreateReservation(
        self, request: pb.CreateReservationRequest, context: Context
    ) -> pb.CreateReservationResponse:
        reservation = create_reservation(
            reservation_id=f"{RESERVATION_ID_PREFIX}{uuid.uuid4().hex}",
            investor_id=require_investor_id(request.investor_id),
            amount_fen=amount_from_proto(request.amount),
            annual_yield_min=decimal_from_text(request.annual_yield_min, "annual_yield_min"),
            term_days_max=request.term_days_max,
            now=self._clock.now(),
        )

        async def create(session: Session) -> pb.CreateReservationResponse:
            await self._store.insert_reservation(session, reservation)
            message = reservation_to_proto(reservation)
            await self._events.append(
                session,
                "wealth.fixed_term.reservation_created",
                reservation.reservation_id,
                message,
            )
            return pb.CreateReservationResponse(reservation=message)

        return await self._idempotent(
            "create-reservation", request, pb.CreateReservationResponse, create
        )

    async def CancelReservation(
        self, request: pb.CancelReservationRequest, context: Context
    ) -> pb.CancelReservationResponse:
        investor_id = require_investor_id(request.investor_id)
        reservation_id = require_id(request.reservation_id, "reservation_id")

        async def cancel(session: Session) -> pb.CancelReservationResponse:
            reservation = await self._store.get_reservation(reservation_id, session)
            if reservation.investor_id != investor_id:
                raise NotFound(
                    f"reservation {reservation_id} does not exist",
                    metadata={"reservation_id": reservation_id},
                )
            cancelled = cancel_reservation(reservation)
            await self._store.save_reservation(session, reservation, cancelled)
            message = reservation_to_proto(cancelled)
            await self._events.append(
                session, "wealth.fixed_term.reservation_cancelled", reservation_id, message
            )
            return pb.CancelReservationResponse(reservation=message)

        return await self._idempotent(
            "cancel-reservation", request, pb.CancelReservationResponse, cancel
        )

    async def ListReservations(
        self, request: pb.ListReservationsRequest, context: Context
    ) -> pb.ListReservationsResponse:
        investor_id = require_investor_id(request.investor_id)
        query = f"reservations:{investor_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        reservations = await self._store.list_reservations(investor_id, page_size, after)
        return pb.ListReservationsResponse(
            reservations=[reservation_to_proto(r) for r in reservations],
            page=next_page(
                len(reservations),
                page_size,
                lambda: encode_page_token(
                    query, reservations[-1].created_at.isoformat(), reservations[-1].reservation_id
                ),
            ),
        )

    async def ListMatchingReservations(
        self, request: pb.ListMatchingReservationsRequest, context: Context
    ) -> pb.ListMatchingReservationsResponse:
        product = await self._store.get_product(require_id(request.product_id, "product_id"))
        matching = await self._matching(product)
        return pb.ListMatchingReservationsResponse(
            reservations=[reservation_to_proto(r) for r in matching]
        )

    async def AllocateReservations(
        self, request: pb.AllocateReservationsRequest, context: Context
    ) -> pb.AllocateReservationsResponse:
        product_id = require_id(request.product_id, "product_id")
        funds_fen_by_investor = _funds_by_investor(request.funds)

        async def allocate(session: Session) -> pb.AllocateReservationsResponse:
            now = self._clock.now()
            product = await self._store.get_product(product_id, session)
            plan = plan_allocation(
                product,
                await self._matching(product, session),
                funds_fen_by_investor,
                new_purchase_id=lambda: uuid.uuid4().hex,
                now=now,
                business_date=self._today(),
            )
            allocations = [await self._record_allocation(session, a) for a in plan.allocations]
            if plan.allocations:
                product = await self._take_allocated_quota(session, plan, now)
            return pb.AllocateReservationsResponse(
                allocations=allocations, product=product_to_proto(product, now)
            )

        async with self._product_locks.hold([product_id]):
            return await self._idempotent(
                "allocate-reservations", request, pb.AllocateReservationsResponse, allocate
            )

    async def _take_allocated_quota(
        self, session: Session, plan: AllocationPlan, now: datetime
    ) -> Product:
        """Take the run's whole share of the quota in one guarded update."""
        product_id = plan.product.product_id
        taken = await self._store.take_quota(session, product_id, plan.total_fen, now)
        assert taken is not None and taken.sold_fen == plan.product.sold_fen, (
            f"product {product_id} sold underneath the allocation"
        )
        return taken

    async def _record_allocation(
        self, session: Session, allocation: ReservationAllocation
    ) -> pb.ReservationAllocation:
        """Record one reservation's share: its pending purchase and the reservation's purchase."""
        purchase, reservation_id = allocation.purchase, allocation.reservation.reservation_id
        await self._store.insert_purchase(session, purchase, planned_holding=allocation.holding)
        await self._store.save_reservation(session, allocation.reservation, allocation.recorded)
        purchase_message = purchase_to_proto(purchase)
        await self._events.append(
            session, "wealth.purchase.tried", purchase.purchase_id, purchase_message
        )
        await self._events.append(
            session,
            "wealth.fixed_term.reservation_allocated",
            reservation_id,
            reservation_to_proto(allocation.recorded),
        )
        return pb.ReservationAllocation(
            reservation_id=reservation_id,
            investor_id=purchase.investor_id,
            purchase=purchase_message,
        )

    async def _matching(
        self, product: Product, session: Session | None = None
    ) -> list[Reservation]:
        """The live reservations the product matches, in reservation order (bounded)."""
        now = self._clock.now()
        candidates = await self._store.candidate_reservations(
            product, now, ALLOCATION_RESERVATIONS_MAX, session
        )
        return [reservation for reservation in candidates if matches(reservation, product, now)]


def _funds_by_investor(funds: Sequence[pb.InvestorFunds]) -> dict[str, int]:
    """What each investor can spend, as the gateway read it from payment; one line each."""
    if len(funds) > ALLOCATION_RESERVATIONS_MAX:
        raise InvalidArgument(f"at most {ALLOCATION_RESERVATIONS_MAX} investors' funds")
    by_investor: dict[str, int] = {}
    for line in funds:
        investor_id = require_investor_id(line.investor_id)
        if investor_id in by_investor:
            raise InvalidArgument(f"investor {investor_id} appears twice in funds")
        if line.available.amount_fen < 0:
            raise InvalidArgument("available funds cannot be negative", reason="INVALID_AMOUNT")
        by_investor[investor_id] = line.available.amount_fen
    return by_investor
