"""Buy a marketplace fund (蚂蚁聚宝) from the balance: the PURCHASE template.

BuyFund is the try: it checks suitability (a fund above the investor's risk level needs
``risk_acknowledged``, else FAILED_PRECONDITION reason SUITABILITY, and the hold is voided)
and places an order priced at the NAV of its trading day (the 15:00 CST cut-off). The
amount is captured into platform:wealth:funds_omnibus; ConfirmPurchase funds the order,
which is priced at once if its NAV is already published, else when it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, WealthClient
from gateway.edge.representations import money_json, money_to_proto
from gateway.sagas.definition import JsonObject, SagaDefinition, StepContext
from gateway.wealth.ledger import FUNDS_OMNIBUS_ACCOUNT_ID
from gateway.wealth.sagas.purchase import (
    CONFIRM_PURCHASE,
    purchase_amount,
    purchase_input,
    purchase_saga,
)

FUND_PURCHASE = "fund_purchase"
BUY_FUND = "buy_fund"


def fund_purchase_input(
    investor_account_id: str, fund_id: str, amount: Money, *, risk_acknowledged: bool
) -> JsonObject:
    return purchase_input(
        investor_account_id, amount, fund_id=fund_id, risk_acknowledged=risk_acknowledged
    )


def fund_purchase_saga(
    payment: PaymentClient, wealth: WealthClient, hold_ttl_seconds: int
) -> SagaDefinition:
    async def buy_fund(context: StepContext, purchase_id: str) -> tuple[wpb.Purchase, JsonObject]:
        response = await wealth.buy_fund(
            wpb.BuyFundRequest(
                idempotency_key=context.key,
                purchase_id=purchase_id,
                investor_id=context.input["investor_account_id"],
                fund_id=context.input["fund_id"],
                amount=money_to_proto(purchase_amount(context.input)),
                risk_acknowledged=bool(context.input["risk_acknowledged"]),
            )
        )
        return response.purchase, {}

    def delivered(response: wpb.ConfirmPurchaseResponse) -> JsonObject:
        order = response.fund_order
        return {
            "order_id": order.order_id,
            "state": wpb.FundOrderState.Name(order.state),
            "nav_date": order.nav_date,
        }

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        order = results[CONFIRM_PURCHASE]
        return {
            "amount": money_json(purchase_amount(saga_input)),
            "fund_id": saga_input["fund_id"],
            "order_id": order["order_id"],
            "order_state": str(order["state"]).removeprefix("FUND_ORDER_STATE_").lower(),
            "nav_date": order["nav_date"],
            "risk_acknowledged": saga_input["risk_acknowledged"],
        }

    return purchase_saga(
        name=FUND_PURCHASE,
        summary="Buy a fund from the balance: hold, place the order (suitability checked), "
        "capture, confirm",
        payment=payment,
        wealth=wealth,
        hold_ttl_seconds=hold_ttl_seconds,
        try_step=BUY_FUND,
        try_purchase=buy_fund,
        omnibus_account_id=FUNDS_OMNIBUS_ACCOUNT_ID,
        delivered=delivered,
        outcome=outcome,
        memo="fund purchase",
    )
