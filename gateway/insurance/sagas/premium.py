"""Buying a policy: the premium saga (colony.insurance.v1 "BUY A POLICY").

The route has a quote (CreateQuote) and a plan of who pays what (balance, Yu'e Bao, Huabei:
gateway.payment.wallet_funding). Then:

1. ``try_buy``: TryBuyPolicy(policy id, quote, the quote's inputs again): a PENDING policy,
   the quote consumed; undone by CancelPolicyPurchase (a tombstone refuses a late try).
2.-5. the Yu'e Bao and Huabei parts brought into the balance (gateway.insurance.sagas.funding).
6. ``hold``: a hold of the premium on the payer's balance; undone by VoidHold.
7. ``capture`` (retried forward): the hold captured into platform:insurance:omnibus.
8. ``pay_insurer`` (retried forward): the net premium (premium - commission) passed from the
   omnibus to the insurer's account, keyed "insurance-premium:<policy id>". The commission
   stays in the omnibus.
9. ``confirm``: ConfirmPolicyPurchase with both postings: the policy is ACTIVE.
10.-11. the Yu'e Bao payout marked paid, the Huabei purchase captured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from chassis.money import Money
from colony.insurance.v1 import insurance_pb2 as ipb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import InsuranceClient, PaymentClient
from gateway.edge.representations import money_json, money_to_proto
from gateway.insurance.ledger import OMNIBUS_ACCOUNT_ID, InsuranceLedger, premium_key
from gateway.insurance.sagas.funding import FundingSteps, funding_json
from gateway.payment.methods import Funding
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext

POLICY_PREMIUM = "policy_premium"
TRY_BUY = "try_buy"
HOLD = "hold"
CAPTURE = "capture"
PAY_INSURER = "pay_insurer"
CONFIRM = "confirm"
MEMO = "insurance premium"
VOID_REASON = "insurance purchase undone"


def premium_input(
    *,
    policy_id: str,
    quote: ipb.Quote,
    inputs: ipb.QuoteInputs,
    insurer_account_id: str,
    payer_account_id: str,
    funding: Funding,
) -> JsonObject:
    """The saga's input as the log stores it (the quote's inputs as their proto JSON)."""
    premium = quote.premium
    return {
        "policy_id": policy_id,
        "quote_id": quote.quote_id,
        "product_id": quote.product_id,
        "subject_id": quote.subject_id,
        "inputs": json_format.MessageToDict(inputs, preserving_proto_field_name=True),
        "payer_account_id": payer_account_id,
        "insurer_account_id": insurer_account_id,
        "premium_fen": premium.amount_fen,
        "insurer_premium_fen": premium.amount_fen - quote.commission.amount_fen,
        "currency": premium.currency or "CNY",
        "funding": funding_json(funding),
        "huabei_reference": f"insurance:{policy_id}",
    }


def _money(saga_input: Mapping[str, Any], field: str) -> Money:
    return Money(int(saga_input[field]), str(saga_input["currency"]))


def policy_premium_saga(
    payment: PaymentClient,
    insurance: InsuranceClient,
    ledger: InsuranceLedger,
    funding: FundingSteps,
) -> SagaDefinition:
    async def try_buy(context: StepContext) -> JsonObject:
        inputs = json_format.ParseDict(context.input["inputs"], ipb.QuoteInputs())
        response = await insurance.try_buy_policy(
            ipb.TryBuyPolicyRequest(
                idempotency_key=context.key,
                policy_id=context.input["policy_id"],
                quote_id=context.input["quote_id"],
                inputs=inputs,
            )
        )
        assert response.policy.premium.amount_fen == int(context.input["premium_fen"]), response
        return {}

    async def cancel_purchase(context: StepContext) -> JsonObject:
        await insurance.cancel_policy_purchase(
            ipb.CancelPolicyPurchaseRequest(
                idempotency_key=context.compensation_key, policy_id=context.input["policy_id"]
            )
        )
        return {}

    async def hold(context: StepContext) -> JsonObject:
        await ledger.ensure_accounts()
        await payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=context.key,
                account_id=context.input["payer_account_id"],
                amount=money_to_proto(_money(context.input, "premium_fen")),
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
                hold_id=context.key_of(HOLD), credit_account_id=OMNIBUS_ACCOUNT_ID, memo=MEMO
            )
        )
        return {"posting_id": response.posting.posting_id}

    async def pay_insurer(context: StepContext) -> JsonObject:
        posting_id = await ledger.transfer(
            premium_key(context.input["policy_id"]),
            OMNIBUS_ACCOUNT_ID,
            context.input["insurer_account_id"],
            _money(context.input, "insurer_premium_fen"),
            "net insurance premium",
        )
        return {"posting_id": posting_id}

    async def confirm(context: StepContext) -> JsonObject:
        response = await insurance.confirm_policy_purchase(
            ipb.ConfirmPolicyPurchaseRequest(
                idempotency_key=context.key,
                policy_id=context.input["policy_id"],
                premium_transfer_id=context.results[CAPTURE]["posting_id"],
                insurer_transfer_id=context.results[PAY_INSURER]["posting_id"],
            )
        )
        policy = response.policy
        return {"start_date": policy.start_date, "end_date": policy.end_date}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        currency = str(saga_input["currency"])
        return {
            "policy_id": saga_input["policy_id"],
            "product_id": saga_input["product_id"],
            "subject_id": saga_input["subject_id"],
            "premium": money_json(_money(saga_input, "premium_fen")),
            "funding": [
                {"method": method, "amount": money_json(Money(int(fen), currency))}
                for method, fen in saga_input["funding"]
            ],
            "start_date": results[CONFIRM]["start_date"],
            "end_date": results[CONFIRM]["end_date"],
            "posting_id": results[CAPTURE]["posting_id"],
        }

    return SagaDefinition(
        name=POLICY_PREMIUM,
        summary="Buy an insurance policy: the premium from the balance, Yu'e Bao and/or "
        "Huabei into the insurance omnibus, the net premium on to the insurer",
        steps=(
            Step(TRY_BUY, try_buy, compensation=cancel_purchase),
            *funding.before_payment(),
            Step(HOLD, hold, compensation=release),
            Step(CAPTURE, capture, compensation=RETRY_FORWARD),
            Step(PAY_INSURER, pay_insurer, compensation=RETRY_FORWARD),
            Step(CONFIRM, confirm, compensation=RETRY_FORWARD),
            *funding.after_payment(),
        ),
        outcome=outcome,
    )
