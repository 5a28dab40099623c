"""Pay for one allocation of a reservation (预约): the PURCHASE template, its try done already.

When a new product is listed, the wealth service shares its quota among the matching
reservations (AllocateReservations, gateway.wealth.reservations): each allocation is a
pending purchase whose try it made itself. This saga completes one:

1. ``check_allocation``: GetPurchase: the allocation is still pending (or confirmed, on a
   re-run). Undone by CancelPurchase, which hands the amount back to the reservation.
2. ``reserve_funds``: a hold on the investor for the amount; refused when their balance no
   longer covers it (they spent it since the funds were read), and then step 1 is undone.
3. ``capture_to_omnibus`` and 4. ``confirm_purchase``: as every purchase; the holding
   appears and the reservation reports what it bought.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis.errors import FailedPrecondition
from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, WealthClient
from gateway.edge.representations import money_json
from gateway.sagas.definition import JsonObject, SagaDefinition, StepContext
from gateway.wealth.ledger import FIXED_TERM_OMNIBUS_ACCOUNT_ID
from gateway.wealth.sagas.product_subscription import holding_result
from gateway.wealth.sagas.purchase import CONFIRM_PURCHASE, purchase_input, purchase_saga

RESERVATION_PURCHASE = "reservation_purchase"
CHECK_ALLOCATION = "check_allocation"
_OPEN_STATES = (wpb.PURCHASE_STATE_PENDING, wpb.PURCHASE_STATE_CONFIRMED)


def reservation_purchase_input(allocation: wpb.ReservationAllocation) -> JsonObject:
    purchase = allocation.purchase
    return purchase_input(
        allocation.investor_id,
        Money(purchase.amount.amount_fen, purchase.amount.currency or "CNY"),
        purchase_id=purchase.purchase_id,
        product_id=purchase.product_id,
        reservation_id=allocation.reservation_id,
    )


def reservation_purchase_saga(
    payment: PaymentClient, wealth: WealthClient, hold_ttl_seconds: int
) -> SagaDefinition:
    async def check_allocation(
        context: StepContext, purchase_id: str
    ) -> tuple[wpb.Purchase, JsonObject]:
        response = await wealth.get_purchase(wpb.GetPurchaseRequest(purchase_id=purchase_id))
        purchase = response.purchase
        if purchase.state not in _OPEN_STATES:
            raise FailedPrecondition(
                f"allocation {purchase_id} was cancelled",
                reason="PURCHASE_CANCELLED",
                metadata={"purchase_id": purchase_id},
            )
        return purchase, {}

    def delivered(response: wpb.ConfirmPurchaseResponse) -> JsonObject:
        return holding_result(response.holding)

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        holding = results[CONFIRM_PURCHASE]
        return {
            "reservation_id": saga_input["reservation_id"],
            "product_id": saga_input["product_id"],
            "amount": money_json(Money(int(saga_input["amount_fen"]), saga_input["currency"])),
            "holding_id": holding["holding_id"],
            "maturity_date": holding["maturity_date"],
        }

    return purchase_saga(
        name=RESERVATION_PURCHASE,
        summary="Pay for a reservation's allocation of a new product: check it, hold, "
        "capture, confirm",
        payment=payment,
        wealth=wealth,
        hold_ttl_seconds=hold_ttl_seconds,
        try_step=CHECK_ALLOCATION,
        try_purchase=check_allocation,
        omnibus_account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID,
        delivered=delivered,
        outcome=outcome,
        memo="Zhaocaibao reservation",
        purchase_id=lambda context: str(context.input["purchase_id"]),
        tried_before=True,
    )
