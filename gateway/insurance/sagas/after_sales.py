"""An after-sales refund (售后退款) of a settled trade, from the merchant to the buyer.

Once a trade has settled, its money is the merchant's: a refund the platform decides after
that is paid from the merchant's balance.

1. ``hold``: a hold of the refund on the merchant's balance; undone by VoidHold. Refused with
   INSUFFICIENT_FUNDS when the merchant cannot fund it: the saga ends with that refusal, and
   the route consults the merchant's deposit insurance (消保险) before anything else
   (gateway.insurance.deposit).
2. ``capture`` (retried forward): the hold captured into the buyer's balance.

One after-sales refund per trade: the saga id derives from the trade.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.representations import money_json, money_to_proto
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext

AFTER_SALES_REFUND = "after_sales_refund"
HOLD = "hold"
CAPTURE = "capture"
MEMO = "after-sales refund"
VOID_REASON = "after-sales refund undone"


def after_sales_input(trade: pb.Trade, amount: Money, reason: str) -> JsonObject:
    return {
        "trade_id": trade.trade_id,
        "merchant_account_id": trade.merchant_account_id,
        "buyer_account_id": trade.buyer_account_id,
        "amount_fen": amount.fen,
        "currency": amount.currency,
        "reason": reason,
    }


def _amount(saga_input: Mapping[str, Any]) -> Money:
    return Money(int(saga_input["amount_fen"]), str(saga_input["currency"]))


def after_sales_refund_saga(payment: PaymentClient) -> SagaDefinition:
    async def hold(context: StepContext) -> JsonObject:
        await payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=context.key,
                account_id=context.input["merchant_account_id"],
                amount=money_to_proto(_amount(context.input)),
                memo=MEMO,
            )
        )
        return {}

    async def release(context: StepContext) -> JsonObject:
        await payment.void_hold(pb.VoidHoldRequest(hold_id=context.key, reason=VOID_REASON))
        return {}

    async def capture(context: StepContext) -> JsonObject:
        response = await payment.capture_hold(
            pb.CaptureHoldRequest(
                hold_id=context.key_of(HOLD),
                credit_account_id=context.input["buyer_account_id"],
                memo=MEMO,
            )
        )
        return {"posting_id": response.posting.posting_id}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        return {
            "trade_id": saga_input["trade_id"],
            "amount": money_json(_amount(saga_input)),
            "paid_by": "merchant",
            "posting_id": results[CAPTURE]["posting_id"],
        }

    return SagaDefinition(
        name=AFTER_SALES_REFUND,
        summary="Refund a settled trade's buyer from the merchant's balance",
        steps=(
            Step(HOLD, hold, compensation=release),
            Step(CAPTURE, capture, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
