"""The order-loan job on a schedule: a round every interval, on one replica.

gateway.loans.merchant.order_loans.OrderLoanJobs is the job (relay the settlements'
withholdings to order loans and overdue facilities, give back excess, finish refunded
trades, withhold an overdue loan from every later settlement). It is not tied to a business
date: it follows whatever is open now, so a *round* is simply "the job, once per interval".

Every interval each gateway replica tries to claim the round: one document
(``order_loan_job_runs``, _id ``order-loans``) holds the lease and the time the next round is
due. A replica claims it only when no lease is held and the next round is due (the claim is
one conditional upsert, so two replicas racing get one round between them); the runner renews
the lease while the job runs, lets it go at once if the job fails (the next round, on any
replica, retries), and on success records the round's figures and that the next round is due
an interval later. Every call the job makes is keyed, so a replica dying mid-round leaves
nothing worse than a lease that lapses and a round run again.

The interval is ``COLONY_ORDER_LOAN_JOBS_INTERVAL_SECONDS`` (0: never; the tests run the job
themselves). POST /v1/admin/jobs/order-loans still runs a round by hand at any time.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from aiohttp import web
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import Clock
from gateway.loans.merchant.order_loans import OrderLoanJobRun, OrderLoanJobs
from gateway.scheduling import Leases, Periodic

log = logging.getLogger("colony.gateway.loans.merchant")

ROUND_ID = "order-loans"


class OrderLoanJobsSchedule:
    """Runs OrderLoanJobs once per interval across the replicas, claiming each round."""

    def __init__(
        self,
        jobs: OrderLoanJobs,
        collection: AsyncCollection[dict[str, Any]],
        clock: Clock,
        *,
        instance_id: str,
        interval_seconds: float,
    ) -> None:
        self._jobs = jobs
        self._clock = clock
        self._instance_id = instance_id
        self._interval_seconds = interval_seconds
        self._leases = Leases(collection, clock, instance_id)
        self._periodic = Periodic(
            "scheduled order-loan jobs", self.run_round, interval_seconds, log
        )

    def install(self, app: web.Application) -> None:
        """Run the schedule for the app's lifetime (nothing when the interval is 0)."""
        self._periodic.install(app)

    async def run_round(self) -> OrderLoanJobRun | None:
        """Claim the round if it is due and free and run it; its figures, or None when another
        replica holds it or it is not due yet."""
        now = self._clock.now()
        token = await self._leases.claim(
            ROUND_ID, {"next_round_at": {"$lte": now}}, {"next_round_at": now}
        )
        if token is None:
            return None  # leased by another replica, or the next round is not due yet
        run = await self._leases.hold_while(ROUND_ID, token, self._jobs.run)
        done = self._clock.now()
        completed = await self._leases.complete(
            ROUND_ID,
            token,
            {
                "$set": {
                    "completed_at": done,
                    "completed_by": self._instance_id,
                    "lease_until": done,
                    "next_round_at": done + timedelta(seconds=self._interval_seconds),
                    "last_run": asdict(run),
                },
                "$inc": {"rounds": 1},
            },
        )
        if not completed:
            log.warning("order-loan jobs lease lost before completion")
            return None
        log.info("scheduled order-loan jobs completed", extra={"loans": run.loans})
        return run
