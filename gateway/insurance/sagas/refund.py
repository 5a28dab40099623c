"""Cancelling a policy and paying its refund (colony.insurance.v1 "CANCEL A POLICY").

1. ``cancel_policy``: CancelPolicy: ACTIVE → CANCELLED with the refund owed (all of it in
   the 15-day cooling-off period, later pro rata by days, ROUND_DOWN) and the insurer's part
   of it. A refusal here (a claim open, the policy not active) moved nothing and ends the
   saga with that refusal.
2. ``fund_refund``: the insurer's share, insurer → omnibus (the rest is the commission the
   platform gives back, already in the omnibus).
3. ``pay_refund``: the refund, omnibus → the holder's balance.
4. ``mark_refund_paid``: MarkRefundPaid with both postings.

Every step is past the point of no return (retried forward); a zero refund skips 2-4.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chassis.money import Money
from colony.insurance.v1 import insurance_pb2 as ipb
from gateway.clients import InsuranceClient
from gateway.edge.representations import money_json
from gateway.insurance.ledger import (
    OMNIBUS_ACCOUNT_ID,
    InsuranceLedger,
    refund_funding_key,
    refund_key,
)
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext

POLICY_REFUND = "policy_refund"
CANCEL_POLICY = "cancel_policy"
FUND_REFUND = "fund_refund"
PAY_REFUND = "pay_refund"
MARK_REFUND_PAID = "mark_refund_paid"
SKIPPED: JsonObject = {"skipped": True}


def refund_input(policy: ipb.Policy) -> JsonObject:
    return {
        "policy_id": policy.policy_id,
        "holder_id": policy.holder_id,
        "insurer_account_id": policy.insurer_account_id,
        "currency": policy.premium.currency or "CNY",
    }


def policy_refund_saga(insurance: InsuranceClient, ledger: InsuranceLedger) -> SagaDefinition:
    def cancelled(context: StepContext) -> tuple[Money, Money]:
        """(refund, the insurer's share) as CancelPolicy gave them."""
        result = context.results[CANCEL_POLICY]
        currency = str(context.input["currency"])
        return (
            Money(int(result["refund_fen"]), currency),
            Money(int(result["insurer_share_fen"]), currency),
        )

    async def cancel_policy(context: StepContext) -> JsonObject:
        response = await insurance.cancel_policy(
            ipb.CancelPolicyRequest(
                idempotency_key=context.key, policy_id=context.input["policy_id"]
            )
        )
        policy = response.policy
        return {
            "refund_fen": policy.refund.amount_fen,
            "insurer_share_fen": policy.refund_insurer_share.amount_fen,
            "cancelled_on": policy.cancelled_on,
        }

    async def fund_refund(context: StepContext) -> JsonObject:
        refund, share = cancelled(context)
        if not refund.fen or not share.fen:
            return SKIPPED
        posting_id = await ledger.transfer(
            refund_funding_key(context.input["policy_id"]),
            context.input["insurer_account_id"],
            OMNIBUS_ACCOUNT_ID,
            share,
            "insurer's share of a premium refund",
        )
        return {"posting_id": posting_id}

    async def pay_refund(context: StepContext) -> JsonObject:
        refund, _ = cancelled(context)
        if not refund.fen:
            return SKIPPED
        posting_id = await ledger.transfer(
            refund_key(context.input["policy_id"]),
            OMNIBUS_ACCOUNT_ID,
            context.input["holder_id"],
            refund,
            "insurance premium refund",
        )
        return {"posting_id": posting_id}

    async def mark_refund_paid(context: StepContext) -> JsonObject:
        refund, _ = cancelled(context)
        if not refund.fen:
            return SKIPPED
        funded = context.results[FUND_REFUND]
        await insurance.mark_refund_paid(
            ipb.MarkRefundPaidRequest(
                idempotency_key=context.key,
                policy_id=context.input["policy_id"],
                # A refund the commission alone covers needs no insurer transfer.
                insurer_transfer_id=str(
                    funded.get("posting_id") or context.results[PAY_REFUND]["posting_id"]
                ),
                refund_transfer_id=context.results[PAY_REFUND]["posting_id"],
            )
        )
        return {}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        result = results[CANCEL_POLICY]
        return {
            "policy_id": saga_input["policy_id"],
            "state": "cancelled",
            "cancelled_on": result["cancelled_on"],
            "refund": money_json(Money(int(result["refund_fen"]), str(saga_input["currency"]))),
            "posting_id": results[PAY_REFUND].get("posting_id"),
        }

    return SagaDefinition(
        name=POLICY_REFUND,
        summary="Cancel an insurance policy and refund its premium (in full in the 15-day "
        "cooling-off period, later pro rata by days) to the holder's balance",
        steps=(
            Step(CANCEL_POLICY, cancel_policy, compensation=RETRY_FORWARD),
            Step(FUND_REFUND, fund_refund, compensation=RETRY_FORWARD),
            Step(PAY_REFUND, pay_refund, compensation=RETRY_FORWARD),
            Step(MARK_REFUND_PAID, mark_refund_paid, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
