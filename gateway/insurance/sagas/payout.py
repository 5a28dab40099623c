"""Paying an approved claim to the beneficiary's wallet (colony.insurance.v1 "PAY A CLAIM").

1. ``fund_claim``: the claim amount, the insurer's account → omnibus (the insurer funds
   every claim; its external-party account may go negative).
2. ``pay_claim``: omnibus → the beneficiary's balance (the holder; the buyer for deposit
   insurance).
3. ``mark_claim_paid``: MarkClaimPaid with both postings: APPROVED → PAID.

All retried forward: an approved claim is owed. The saga id derives from the claim id
(gateway.insurance.claims), so however many times a claim is found approved (the route that
approved it, the job that sweeps approved claims, two replicas) it is paid once.
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
    claim_funding_key,
    claim_payout_key,
)
from gateway.sagas.definition import RETRY_FORWARD, JsonObject, SagaDefinition, Step, StepContext

CLAIM_PAYOUT = "claim_payout"
FUND_CLAIM = "fund_claim"
PAY_CLAIM = "pay_claim"
MARK_CLAIM_PAID = "mark_claim_paid"


def payout_input(claim: ipb.Claim) -> JsonObject:
    return {
        "claim_id": claim.claim_id,
        "policy_id": claim.policy_id,
        "beneficiary_id": claim.beneficiary_id,
        "insurer_account_id": claim.insurer_account_id,
        "amount_fen": claim.amount.amount_fen,
        "currency": claim.amount.currency or "CNY",
    }


def _amount(saga_input: Mapping[str, Any]) -> Money:
    return Money(int(saga_input["amount_fen"]), str(saga_input["currency"]))


def claim_payout_saga(insurance: InsuranceClient, ledger: InsuranceLedger) -> SagaDefinition:
    async def fund_claim(context: StepContext) -> JsonObject:
        posting_id = await ledger.transfer(
            claim_funding_key(context.input["claim_id"]),
            context.input["insurer_account_id"],
            OMNIBUS_ACCOUNT_ID,
            _amount(context.input),
            "insurer funds a claim",
        )
        return {"posting_id": posting_id}

    async def pay_claim(context: StepContext) -> JsonObject:
        posting_id = await ledger.transfer(
            claim_payout_key(context.input["claim_id"]),
            OMNIBUS_ACCOUNT_ID,
            context.input["beneficiary_id"],
            _amount(context.input),
            "insurance claim payout",
        )
        return {"posting_id": posting_id}

    async def mark_claim_paid(context: StepContext) -> JsonObject:
        await insurance.mark_claim_paid(
            ipb.MarkClaimPaidRequest(
                idempotency_key=context.key,
                claim_id=context.input["claim_id"],
                insurer_transfer_id=context.results[FUND_CLAIM]["posting_id"],
                payout_transfer_id=context.results[PAY_CLAIM]["posting_id"],
            )
        )
        return {}

    def outcome(saga_input: Mapping[str, Any], results: Mapping[str, JsonObject]) -> JsonObject:
        return {
            "claim_id": saga_input["claim_id"],
            "policy_id": saga_input["policy_id"],
            "amount": money_json(_amount(saga_input)),
            "posting_id": results[PAY_CLAIM]["posting_id"],
        }

    return SagaDefinition(
        name=CLAIM_PAYOUT,
        summary="Pay an approved insurance claim: the insurer funds it, the omnibus pays "
        "the beneficiary's balance",
        steps=(
            Step(FUND_CLAIM, fund_claim, compensation=RETRY_FORWARD),
            Step(PAY_CLAIM, pay_claim, compensation=RETRY_FORWARD),
            Step(MARK_CLAIM_PAID, mark_claim_paid, compensation=RETRY_FORWARD),
        ),
        outcome=outcome,
    )
