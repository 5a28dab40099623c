"""Subscribe to a Zhaocaibao (招财宝) fixed-term product from the balance: the PURCHASE template.

hold on the investor → SubscribeProduct (takes the amount from the product's quota with a
guarded update: never oversold, however many buy at once) → capture into
platform:wealth:fixed_term_omnibus → ConfirmPurchase (the holding appears, its id the
operation's). Refused for quota, sale window or minimum: the hold is voided.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, WealthClient
from gateway.edge.representations import money_json, money_to_proto
from gateway.sagas.definition import JsonObject, SagaDefinition, StepContext
from gateway.wealth.ledger import FIXED_TERM_OMNIBUS_ACCOUNT_ID
from gateway.wealth.sagas.purchase import (
    CONFIRM_PURCHASE,
    purchase_amount,
    purchase_input,
    purchase_saga,
)

PRODUCT_SUBSCRIPTION = "product_subscription"
SUBSCRIBE_PRODUCT = "subscribe_product"


def product_subscription_input(
    investor_account_id: str, product_id: str, amount: Money
) -> JsonObject:
    return purchase_input(investor_account_id, amount, product_id=product_id)


def holding_result(holding: wpb.Holding) -> JsonObject:
    """What the log keeps of a new holding: what its owner is shown."""
    return {
        "holding_id": holding.holding_id,
        "product_id": holding.product_id,
        "principal_fen": holding.principal.amount_fen,
        "annual_yield": holding.annual_yield,
        "value_date": holding.value_date,
        "maturity_date": holding.maturity_date,
        "maturity_payout_fen": holding.maturity_payout.amount_fen,
    }


def holding_outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
    holding = results[CONFIRM_PURCHASE]
    return {
        "amount": money_json(purchase_amount(saga_input)),
        "holding": {
            "holding_id": holding["holding_id"],
            "product_id": holding["product_id"],
            "principal": money_json(Money(holding["principal_fen"])),
            "annual_yield": holding["annual_yield"],
            "value_date": holding["value_date"],
            "maturity_date": holding["maturity_date"],
            "maturity_payout": money_json(Money(holding["maturity_payout_fen"])),
        },
    }


def product_subscription_saga(
    payment: PaymentClient, wealth: WealthClient, hold_ttl_seconds: int
) -> SagaDefinition:
    async def subscribe_product(
        context: StepContext, purchase_id: str
    ) -> tuple[wpb.Purchase, JsonObject]:
        response = await wealth.subscribe_product(
            wpb.SubscribeProductRequest(
                idempotency_key=context.key,
                purchase_id=purchase_id,
                investor_id=context.input["investor_account_id"],
                product_id=context.input["product_id"],
                amount=money_to_proto(purchase_amount(context.input)),
            )
        )
        return response.purchase, {}

    def delivered(response: wpb.ConfirmPurchaseResponse) -> JsonObject:
        return holding_result(response.holding)

    return purchase_saga(
        name=PRODUCT_SUBSCRIPTION,
        summary="Subscribe to a fixed-term product from the balance: hold, take quota, "
        "capture, confirm",
        payment=payment,
        wealth=wealth,
        hold_ttl_seconds=hold_ttl_seconds,
        try_step=SUBSCRIBE_PRODUCT,
        try_purchase=subscribe_product,
        omnibus_account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID,
        delivered=delivered,
        outcome=holding_outcome,
        memo="Zhaocaibao subscription",
    )
