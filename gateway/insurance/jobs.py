"""The insurance job, as the gateway runs it (on a schedule or by an operator).

1. RunPolicyExpiry(business date): ACTIVE policies whose cover ended before the date become
   EXPIRED; idempotent by date in the insurance service (a date run again does nothing).
2. Every claim the insurance service lists as APPROVED is paid (gateway.insurance.claims):
   claims approved inside the insurance service (a refunded trade's return-shipping claim,
   which it takes from the payment feed), and any a crash left unpaid.

``InsuranceJobsSchedule`` runs it every interval for today's business date (China Standard
Time, from the gateway's clock); both parts are idempotent, so replicas need no lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import date

from aiohttp import web

from chassis.clock import Clock, business_date_of
from colony.insurance.v1 import insurance_pb2 as ipb
from gateway.clients import InsuranceClient
from gateway.insurance.claims import ClaimPayouts

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


class InsuranceJobsSchedule:
    """Runs InsuranceJobs for today every interval (nothing when the interval is 0)."""

    def __init__(self, jobs: InsuranceJobs, clock: Clock, *, interval_seconds: float) -> None:
        self._jobs = jobs
        self._clock = clock
        self._interval_seconds = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def install(self, app: web.Application) -> None:
        if self._interval_seconds > 0:
            app.on_startup.append(self._start)
            app.on_cleanup.append(self._stop)

    async def _start(self, app: web.Application) -> None:
        self._task = asyncio.create_task(self._run(), name="insurance jobs schedule")

    async def _stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._jobs.run(business_date_of(self._clock.now()))
            except Exception:
                # The insurance service or the database away: the next round tries again.
                log.exception("scheduled insurance jobs failed")
            await asyncio.sleep(self._interval_seconds)
