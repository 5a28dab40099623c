"""Pay a merchant from the balance through a hold: the first saga (DESIGN.md "Holds (TCC)").

1. ``reserve_funds``: CreateHold on the payer's account, the hold id being the step's key;
   undone by VoidHold with that same id (which leaves a tombstone if the hold was never
   created, so a late CreateHold cannot reserve money nobody will release).
2. ``capture_to_merchant``: CaptureHold into the merchant's account. Past the point of no
   return: once it succeeds the money has moved, so it is retried until it does. A refusal
   (the hold expired, the merchant's account frozen) certainly moved nothing, so the
   reservation is voided and the payment is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.representations import money_json, money_to_proto, timestamp_json
from gateway.sagas.definition import (
    RETRY_FORWARD,
    JsonObject,
    SagaDefinition,
    Step,
    StepContext,
)

MERCHANT_PAYMENT = "merchant_payment"
RESERVE_FUNDS = "reserve_funds"
CAPTURE_TO_MERCHANT = "capture_to_merchant"
MEMO_DEFAULT = "merchant payment"
VOID_REASON = "merchant payment undone"


def merchant_payment_input(
    *,
    payer_account_id: str,
    merchant_account_id: str,
    amount: Money,
    memo: str,
    device_id: str = "",
    payment_authorization: str = "",
) -> JsonObject:
    """The saga's input as the log stores it (JSON values; no password: an authorization,
    single use and short-lived, answers a risk challenge instead)."""
    return {
        "payer_account_id": payer_account_id,
        "merchant_account_id": merchant_account_id,
        "amount_fen": amount.fen,
        "currency": amount.currency,
        "memo": memo,
        "device_id": device_id,
        "payment_authorization": payment_authorization,
    }


def _amount(saga_input: Mapping[str, Any]) -> Money:
    return Money(int(saga_input["amount_fen"]), str(saga_input["currency"]))


def merchant_payment_saga(payment: PaymentClient, hold_ttl_seconds: int) -> SagaDefinition:
    """The saga over the payment service; holds live hold_ttl_seconds before the sweeper."""

    async def reserve_funds(context: StepContext) -> JsonObject:
        response = await payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=context.key,
                account_id=context.input["payer_account_id"],
                amount=money_to_proto(_amount(context.input)),
                ttl_seconds=hold_ttl_seconds,
                memo=context.input["memo"] or MEMO_DEFAULT,
                # Screened by risk control as a payment to the merchant; a challenge is
                # met by the payment authorization, if the payer gave their password.
                payee_account_id=context.input["merchant_account_id"],
                risk=pb.RiskSignals(
                    device_id=context.input.get("device_id", ""),
                    payment_authorization=context.input.get("payment_authorization", ""),
                ),
            )
        )
        return {"held_fen": response.hold.amount.amount_fen}

    async def release_funds(context: StepContext) -> JsonObject:
        hold = await payment.void_hold(pb.VoidHoldRequest(hold_id=context.key, reason=VOID_REASON))
        return {"hold_state": pb.HoldState.Name(hold.state)}

    async def capture_to_merchant(context: StepContext) -> JsonObject:
        response = await payment.capture_hold(
            pb.CaptureHoldRequest(
                hold_id=context.key_of(RESERVE_FUNDS),
                credit_account_id=context.input["merchant_account_id"],
                memo=context.input["memo"] or MEMO_DEFAULT,
            )
        )
        return {
            "posting_id": response.posting.posting_id,
            "captured_fen": response.hold.captured_amount.amount_fen,
            "paid_at": timestamp_json(response.posting.posted_at),
        }

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        capture = results[CAPTURE_TO_MERCHANT]
        # The whole hold is captured: what the merchant got is what the payer asked to pay.
        assert capture["captured_fen"] == saga_input["amount_fen"], capture
        return {
            "posting_id": capture["posting_id"],
            "merchant_account_id": saga_input["merchant_account_id"],
            "amount": money_json(_amount(saga_input)),
            "memo": saga_input["memo"],
            "paid_at": capture["paid_at"],
        }

    return SagaDefinition(
        name=MERCHANT_PAYMENT,
        summary="Pay a merchant from the balance: hold, then capture to the merchant",
        steps=(
            Step(RESERVE_FUNDS, reserve_funds, compensation=release_funds),
            Step(CAPTURE_TO_MERCHANT, capture_to_merchant, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
