"""The insurance job, as the gateway runs it (on a schedule or by an operator).

1. RunPolicyExpiry(business date): ACTIVE policies whose cover ended before the date become
   EXPIRED; idempotent by date in the insurance service (a date run again does nothing).
2. Every claim the insurance service lists as APPROVED is paid (gateway.insurance.claims):
   claims approved inside the insurance service (a refunded trade's return-shipping claim,
   which it takes from the payment feed), and any a crash left unpaid.

``insurance_jobs_schedule`` runs it every interval for today's business date (China Standard
Time, from the gateway's clock); both parts are idempotent, so replicas need no lease.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from chassis.clock import Clock, business_date_of
from colony.insurance.v1 import insurance_pb2 as ipb
from gateway.clients import InsuranceClient
from gateway.insurance.claims import ClaimPayouts
from gateway.scheduling import Periodic

log = logging.getLogger("colony.gateway.insurance")


@dataclass(frozen=True, slots=True)
class InsuranceJobsReport:
    business_date: str
    policies_expired: int
    expiry_already_completed: bool
    claim_payouts_started: int


class InsuranceJobs:
    def __init__(self, insurance: InsuranceClient, payouts: ClaimPayouts) -> None:
        self._insurance = insurance
        self._payouts = payouts

    async def run(self, business_date: date) -> InsuranceJobsReport:
        expiry = await self._insurance.run_policy_expiry(
            ipb.RunPolicyExpiryRequest(
                idempotency_key=f"insurance-expiry:{business_date.isoformat()}",
                business_date=business_date.isoformat(),
            )
        )
        started = await self._payouts.pay_approved()
        return InsuranceJobsReport(
            business_date=business_date.isoformat(),
            policies_expired=expiry.expired,
            expiry_already_completed=expiry.already_completed,
            claim_payouts_started=started,
        )


def insurance_jobs_schedule(
    jobs: InsuranceJobs, clock: Clock, *, interval_seconds: float
) -> Periodic:
    """InsuranceJobs for today's business date, every interval (nothing when it is 0)."""
    return Periodic(
        "insurance jobs schedule",
        lambda: jobs.run(business_date_of(clock.now())),
        interval_seconds,
        log,
    )
