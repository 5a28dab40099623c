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

import asyncio
import contextlib
import logging
import uuid
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from aiohttp import web
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chassis.clock import Clock
from gateway.loans.merchant.order_loans import OrderLoanJobRun, OrderLoanJobs

log = logging.getLogger("colony.gateway.loans.merchant")

ROUND_ID = "order-loans"
LEASE_SECONDS = 5 * 60
RENEWALS_PER_LEASE = 3


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
        self._collection = collection
        self._clock = clock
        self._instance_id = instance_id
        self._interval_seconds = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def install(self, app: web.Application) -> None:
        """Run the schedule for the app's lifetime (nothing when the interval is 0)."""
        if self._interval_seconds > 0:
            app.on_startup.append(self._start)
            app.on_cleanup.append(self._stop)

    async def run_round(self) -> OrderLoanJobRun | None:
        """Claim the round if it is due and free and run it; its figures, or None when another
        replica holds it or it is not due yet."""
        token = await self._claim()
        if token is None:
            return None
        renewer = asyncio.create_task(self._keep_lease(token))
        try:
            run = await self._jobs.run()
        except BaseException:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            # Let the round go at once, for the next round (or another replica) to retry.
            await asyncio.shield(self._release(token))
            raise
        renewer.cancel()
        await asyncio.gather(renewer, return_exceptions=True)
        if not await self._complete(token, run):
            log.warning("order-loan jobs lease lost before completion")
            return None
        return run

    async def _claim(self) -> str | None:
        now = self._clock.now()
        token = uuid.uuid4().hex
        try:
            claimed = await self._collection.find_one_and_update(
                {"_id": ROUND_ID, "lease_until": {"$lte": now}, "next_round_at": {"$lte": now}},
                {
                    "$set": {
                        "lease_owner": self._instance_id,
                        "lease_token": token,
                        "lease_until": now + timedelta(seconds=LEASE_SECONDS),
                        "next_round_at": now,
                        "started_at": now,
                    }
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None  # leased by another replica, or the next round is not due yet
        return token if claimed is not None else None

    async def _keep_lease(self, token: str) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / RENEWALS_PER_LEASE)
            result = await self._collection.update_one(
                {"_id": ROUND_ID, "lease_token": token},
                {"$set": {"lease_until": self._clock.now() + timedelta(seconds=LEASE_SECONDS)}},
            )
            if not result.matched_count:
                return  # taken over: completing will say so

    async def _release(self, token: str) -> None:
        await self._collection.update_one(
            {"_id": ROUND_ID, "lease_token": token},
            {"$set": {"lease_until": self._clock.now()}},
        )

    async def _complete(self, token: str, run: OrderLoanJobRun) -> bool:
        now = self._clock.now()
        result = await self._collection.update_one(
            {"_id": ROUND_ID, "lease_token": token},
            {
                "$set": {
                    "completed_at": now,
                    "completed_by": self._instance_id,
                    "lease_until": now,
                    "next_round_at": now + timedelta(seconds=self._interval_seconds),
                    "last_run": asdict(run),
                },
                "$inc": {"rounds": 1},
            },
        )
        if not result.matched_count:
            return False
        log.info("scheduled order-loan jobs completed", extra={"loans": run.loans})
        return True

    async def _start(self, app: web.Application) -> None:
        self._task = asyncio.create_task(self._run(), name="order-loan jobs schedule")

    async def _stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.run_round()
            except Exception:
                # A service or the database away: log it; the next round tries again.
                log.exception("scheduled order-loan jobs failed")
            await asyncio.sleep(self._interval_seconds)
