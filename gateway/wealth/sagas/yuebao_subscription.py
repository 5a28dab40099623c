"""Subscribe to Yu'e Bao (余额宝) from the balance (DOMAIN.md §2): the PURCHASE template.

hold on the investor → IssueShares (shares = amount at NAV 1.00, pending) → capture into
platform:wealth:yuebao_omnibus → ConfirmPurchase (the shares are credited and earn from
the next business date). Undone before the capture: VoidHold and CancelPurchase, so a
refused or failed subscription moves no money and issues no shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, WealthClient
from gateway.edge.representations import money_json, money_to_proto
from gateway.sagas.definition import JsonObject, SagaDefinition, StepContext
from gateway.wealth.ledger import YUEBAO_OMNIBUS_ACCOUNT_ID
from gateway.wealth.sagas.purchase import (
    CONFIRM_PURCHASE,
    purchase_amount,
    purchase_input,
    purchase_saga,
)

YUEBAO_SUBSCRIPTION = "yuebao_subscription"
ISSUE_SHARES = "issue_shares"


def yuebao_subscription_input(investor_account_id: str, amount: Money) -> JsonObject:
    return purchase_input(investor_account_id, amount)


def yuebao_subscription_saga(
    payment: PaymentClient, wealth: WealthClient, hold_ttl_seconds: int
) -> SagaDefinition:
    async def issue_shares(
        context: StepContext, purchase_id: str
    ) -> tuple[wpb.Purchase, JsonObject]:
        response = await wealth.issue_shares(
            wpb.IssueSharesRequest(
                idempotency_key=context.key,
                purchase_id=purchase_id,
                investor_id=context.input["investor_account_id"],
                amount=money_to_proto(purchase_amount(context.input)),
            )
        )
        return response.purchase, {}

    def delivered(response: wpb.ConfirmPurchaseResponse) -> JsonObject:
        return {"shares_fen": response.yuebao_account.shares.amount_fen}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        amount = purchase_amount(saga_input)
        return {
            "amount": money_json(amount),
            # One share per fen at NAV 1.00.
            "shares_issued": money_json(amount),
            "shares_held": money_json(Money(results[CONFIRM_PURCHASE]["shares_fen"])),
        }

    return purchase_saga(
        name=YUEBAO_SUBSCRIPTION,
        summary="Subscribe to Yu'e Bao from the balance: hold, issue shares, capture, confirm",
        payment=payment,
        wealth=wealth,
        hold_ttl_seconds=hold_ttl_seconds,
        try_step=ISSUE_SHARES,
        try_purchase=issue_shares,
        omnibus_account_id=YUEBAO_OMNIBUS_ACCOUNT_ID,
        delivered=delivered,
        outcome=outcome,
        memo="Yu'e Bao subscription",
    )
