"""Buy a Zhaocaibao holding another investor listed for early liquidation (变现).

The PURCHASE template with BuyTransferListing as its try: the listing is reserved for this
buyer at the agreed price; the price is captured into platform:wealth:fixed_term_omnibus;
ConfirmPurchase hands the buyer the remaining term (a holding whose id is the operation's)
and owes the seller the price less the 0.2%-of-principal fee, and the fee to the platform,
as payouts the daily job pays (gateway.wealth.jobs).
"""

from __future__ import annotations

from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, WealthClient
from gateway.edge.representations import money_to_proto
from gateway.sagas.definition import JsonObject, SagaDefinition, StepContext
from gateway.wealth.ledger import FIXED_TERM_OMNIBUS_ACCOUNT_ID
from gateway.wealth.sagas.product_subscription import holding_outcome, holding_result
from gateway.wealth.sagas.purchase import purchase_amount, purchase_input, purchase_saga

TRANSFER_PURCHASE = "transfer_purchase"
BUY_LISTING = "buy_listing"


def transfer_purchase_input(investor_account_id: str, holding_id: str, price: Money) -> JsonObject:
    return purchase_input(investor_account_id, price, holding_id=holding_id)


def transfer_purchase_saga(
    payment: PaymentClient, wealth: WealthClient, hold_ttl_seconds: int
) -> SagaDefinition:
    async def buy_listing(
        context: StepContext, purchase_id: str
    ) -> tuple[wpb.Purchase, JsonObject]:
        response = await wealth.buy_transfer_listing(
            wpb.BuyTransferListingRequest(
                idempotency_key=context.key,
                purchase_id=purchase_id,
                investor_id=context.input["investor_account_id"],
                holding_id=context.input["holding_id"],
                price=money_to_proto(purchase_amount(context.input)),
            )
        )
        return response.purchase, {}

    def delivered(response: wpb.ConfirmPurchaseResponse) -> JsonObject:
        return holding_result(response.holding)

    return purchase_saga(
        name=TRANSFER_PURCHASE,
        summary="Buy a listed fixed-term holding from the balance: hold, reserve the "
        "listing, capture, confirm",
        payment=payment,
        wealth=wealth,
        hold_ttl_seconds=hold_ttl_seconds,
        try_step=BUY_LISTING,
        try_purchase=buy_listing,
        omnibus_account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID,
        delivered=delivered,
        outcome=holding_outcome,
        memo="Zhaocaibao transfer",
    )
