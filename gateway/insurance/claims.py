"""Approved claims are paid: one claim_payout saga per claim, whoever finds it approved.

A claim becomes APPROVED on submission (the product's automatic rule met), by evidence
arriving later (risk control or an operator confirming an unauthorised debit; a refunded
trade, which the insurance service follows on the payment feed), or by an operator's
review. Whoever sees it approved calls ``pay``: the route that submitted or reviewed it at
once, and the insurance job (``pay_approved``, on the gateway's schedule) for every claim
the insurance service lists as APPROVED, so a claim approved inside the insurance service
or left by a crash is paid without anyone asking. The saga id derives from the claim id,
so a claim is paid once however often it is found.
"""

from __future__ import annotations

import logging

from chassis.errors import DomainError
from colony.common.v1 import paging_pb2
from colony.insurance.v1 import insurance_pb2 as ipb
from gateway.clients import InsuranceClient, PaymentClient
from gateway.insurance.sagas.payout import payout_input
from gateway.sagas.definition import SagaDefinition, derive_saga_id
from gateway.sagas.engine import SagaEngine
from gateway.sagas.log import SagaRecord

log = logging.getLogger("colony.gateway.insurance")

PAGE_SIZE = 100
PAGES_MAX = 100


def payout_key(claim_id: str) -> str:
    """What the payout saga's id derives from (with the beneficiary's owner)."""
    return f"insurance-claim-payout:{claim_id}"


class ClaimPayouts:
    """Starts (or finds) the payout saga of approved claims."""

    def __init__(
        self,
        insurance: InsuranceClient,
        payment: PaymentClient,
        engine: SagaEngine,
        payout: SagaDefinition,
        *,
        wait_seconds: float,
    ) -> None:
        self._insurance = insurance
        self._payment = payment
        self._engine = engine
        self._payout = payout
        self._wait_seconds = wait_seconds

    async def pay(self, claim: ipb.Claim) -> SagaRecord | None:
        """The claim's payout saga as it stands after the inline wait (None: not approved)."""
        if claim.state != ipb.CLAIM_STATE_APPROVED:
            return None
        beneficiary = await self._payment.get_account(claim.beneficiary_id)
        return await self._engine.start(
            self._payout,
            saga_id=derive_saga_id(beneficiary.owner_ref, payout_key(claim.claim_id)),
            owner_user_id=beneficiary.owner_ref,
            saga_input=payout_input(claim),
            fingerprint=payout_key(claim.claim_id),
            wait_seconds=self._wait_seconds,
        )

    async def pay_approved(self) -> int:
        """Start the payout of every claim the insurance service lists as APPROVED; how many."""
        started = 0
        page_token = ""
        for _ in range(PAGES_MAX):
            page = await self._insurance.list_claims(
                ipb.ListClaimsRequest(
                    state=ipb.CLAIM_STATE_APPROVED,
                    page=paging_pb2.PageRequest(page_size=PAGE_SIZE, page_token=page_token),
                )
            )
            for claim in page.claims:
                try:
                    await self.pay(claim)
                except DomainError as error:
                    log.warning(
                        "claim payout not started: %s",
                        error.message,
                        extra={"claim_id": claim.claim_id, "reason": error.reason},
                    )
                    continue
                started += 1
            page_token = page.page.next_page_token
            if not page_token:
                break
        return started
