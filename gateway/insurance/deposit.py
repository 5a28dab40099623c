"""A refund the merchant cannot fund consults its deposit insurance (消保险) first.

The after-sales refund of a settled trade (gateway.insurance.sagas.after_sales) takes the
money from the merchant's balance. When the merchant cannot fund it (the hold is refused
with INSUFFICIENT_FUNDS), the merchant's active deposit policy is consulted before anything
else: a claim with MERCHANT_REFUND_UNFUNDED evidence for the refund, the buyer its
beneficiary, is approved by the insurance service's rule (up to the remaining cover) and
paid to the buyer's balance by the claim_payout saga. Without such a policy (or with its
cover spent) the refund stays refused with the merchant's INSUFFICIENT_FUNDS.

Idempotent: the refund's id derives from the trade (one after-sales refund per trade), the
claim's id from the refund, and the payout saga's from the claim.
"""

from __future__ import annotations

from chassis.errors import DomainError, FailedPrecondition
from chassis.money import Money
from colony.common.v1 import paging_pb2
from colony.insurance.v1 import insurance_pb2 as ipb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import InsuranceClient
from gateway.edge.representations import money_to_proto
from gateway.insurance.claims import ClaimPayouts

POLICIES_PAGE_SIZE = 100
UNFUNDED_REASON = "INSUFFICIENT_FUNDS"


def after_sales_refund_id(trade_id: str) -> str:
    return f"after-sales:{trade_id}"


def deposit_claim_id(refund_id: str) -> str:
    return f"clm_dep_{refund_id.removeprefix('after-sales:')}"


class DepositInsurance:
    def __init__(self, insurance: InsuranceClient, payouts: ClaimPayouts) -> None:
        self._insurance = insurance
        self._payouts = payouts

    async def cover_refund(self, trade: pb.Trade, amount: Money, refused: DomainError) -> ipb.Claim:
        """The deposit claim that pays the buyer the refund the merchant could not fund
        (paid, or being paid); the merchant's refusal again when no deposit policy covers it."""
        policy = await self._active_policy(trade.merchant_account_id)
        if policy is None:
            raise refused
        refund_id = after_sales_refund_id(trade.trade_id)
        claim_id = deposit_claim_id(refund_id)
        try:
            claim = (
                await self._insurance.submit_claim(
                    ipb.SubmitClaimRequest(
                        idempotency_key=f"claim:{claim_id}",
                        claim_id=claim_id,
                        policy_id=policy.policy_id,
                        event_reference=refund_id,
                        amount=money_to_proto(amount),
                        beneficiary_id=trade.buyer_account_id,
                        evidence=[
                            ipb.Evidence(
                                kind=ipb.EVIDENCE_KIND_MERCHANT_REFUND_UNFUNDED,
                                reference=refund_id,
                                attested_by="payment",
                                note=refused.message,
                            )
                        ],
                    )
                )
            ).claim
        except DomainError as error:
            if error.reason != "CLAIM_EXCEEDS_COVER":
                raise
            raise refused from error
        if claim.state not in (ipb.CLAIM_STATE_APPROVED, ipb.CLAIM_STATE_PAID):
            raise FailedPrecondition(
                f"the deposit claim {claim.claim_id} was not approved: {claim.decision_reason}",
                metadata={"claim_id": claim.claim_id},
            )
        await self._payouts.pay(claim)
        return await self._insurance.get_claim(claim.claim_id)

    async def _active_policy(self, merchant_id: str) -> ipb.Policy | None:
        response = await self._insurance.list_policies(
            ipb.ListPoliciesRequest(
                holder_id=merchant_id, page=paging_pb2.PageRequest(page_size=POLICIES_PAGE_SIZE)
            )
        )
        for policy in response.policies:
            if (
                policy.kind == ipb.PRODUCT_KIND_MERCHANT_DEPOSIT
                and policy.state == ipb.POLICY_STATE_ACTIVE
                and policy.cover_remaining.amount_fen > 0
            ):
                return policy
        return None
