"""The matching run of a newly listed Zhaocaibao product: reservations (预约) buy it.

1. ListMatchingReservations: the live reservations the product matches, in reservation
   order (at most 500: what one allocation considers).
2. Each of their investors' available balance, read from the payment ledger now.
3. AllocateReservations with those funds: the wealth service shares the quota first come
   first served within each investor's funds, taking it at once (pending purchases).
4. Each allocation is paid by a reservation_purchase saga (gateway.sagas), owned by the
   investor, so they can follow it as an operation; an allocation whose hold is refused
   (the balance was spent since step 2) is cancelled and its amount handed back.

The allocation is keyed by the product and the funds read: running the match again with
the same balances (after a crash between steps 3 and 4) replays the same allocations and
resumes their sagas; with other balances it allocates what quota is left.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, WealthClient
from gateway.edge.representations import money_to_proto
from gateway.sagas.definition import SagaDefinition, SagaState, derive_saga_id
from gateway.sagas.engine import SagaEngine
from gateway.wealth.ledger import WealthLedger
from gateway.wealth.sagas.reservation_purchase import reservation_purchase_input

log = logging.getLogger("colony.gateway.wealth")

SAGAS_IN_FLIGHT = 8


@dataclass(frozen=True, slots=True)
class AllocationOutcome:
    """One reservation's share of the product and what became of paying for it."""

    reservation_id: str
    investor_id: str
    amount_fen: int
    operation_id: str
    state: SagaState


class ReservationMatching:
    """Runs the matching of a product against the live reservations."""

    def __init__(
        self,
        payment: PaymentClient,
        wealth: WealthClient,
        ledger: WealthLedger,
        engine: SagaEngine,
        definition: SagaDefinition,
        *,
        wait_seconds: float,
    ) -> None:
        self._payment = payment
        self._wealth = wealth
        self._ledger = ledger
        self._engine = engine
        self._definition = definition
        self._wait_seconds = wait_seconds

    async def run(self, product_id: str) -> list[AllocationOutcome]:
        await self._ledger.ensure_accounts()
        matching = await self._wealth.list_matching_reservations(
            wpb.ListMatchingReservationsRequest(product_id=product_id)
        )
        investors = list(dict.fromkeys(r.investor_id for r in matching.reservations))
        if not investors:
            return []
        owners: dict[str, str] = {}
        funds: list[wpb.InvestorFunds] = []
        for investor_id in investors:
            account = await self._payment.get_account(investor_id)
            owners[investor_id] = account.owner_ref
            funds.append(
                wpb.InvestorFunds(
                    investor_id=investor_id,
                    available=money_to_proto(
                        Money(account.available.amount_fen, account.available.currency or "CNY")
                    ),
                )
            )
        response = await self._wealth.allocate_reservations(
            wpb.AllocateReservationsRequest(
                idempotency_key=_allocation_key(product_id, funds),
                product_id=product_id,
                funds=funds,
            )
        )
        gate = asyncio.Semaphore(SAGAS_IN_FLIGHT)

        async def pay(allocation: wpb.ReservationAllocation) -> AllocationOutcome:
            owner = owners[allocation.investor_id]
            purchase_id = allocation.purchase.purchase_id
            async with gate:
                record = await self._engine.start(
                    self._definition,
                    saga_id=derive_saga_id(owner, f"reservation:{purchase_id}"),
                    owner_user_id=owner,
                    saga_input=reservation_purchase_input(allocation),
                    fingerprint=purchase_id,
                    wait_seconds=self._wait_seconds,
                )
            return AllocationOutcome(
                reservation_id=allocation.reservation_id,
                investor_id=allocation.investor_id,
                amount_fen=allocation.purchase.amount.amount_fen,
                operation_id=record.saga_id,
                state=record.state,
            )

        outcomes = await asyncio.gather(*(pay(a) for a in response.allocations))
        log.info(
            "reservations matched",
            extra={"product_id": product_id, "allocations": len(outcomes)},
        )
        return list(outcomes)


def _allocation_key(product_id: str, funds: list[wpb.InvestorFunds]) -> str:
    """The same product and the same balances read: the same allocation, replayed."""
    digest = hashlib.sha256(
        "\n".join(f"{f.investor_id}:{f.available.amount_fen}" for f in funds).encode()
    ).hexdigest()[:32]
    return f"reservation-matching:{product_id}:{digest}"
