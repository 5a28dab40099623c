"""The wealth business-date job on a schedule: once per business date, on one replica.

gateway.wealth.jobs is the job; this runs it without an operator. Every interval each
gateway replica looks at today's business date (China Standard Time, from the gateway's
clock) and at the dates it has completed (``wealth_job_runs`` in the gateway database).
Every date not completed yet -- today, and after downtime the dates missed since the last
completed one, oldest first, at most CATCH_UP_DAYS of them -- is claimed with a lease
(the first replica to claim a date runs it, the others skip it while the lease lasts; the
runner renews it while it runs and lets it go at once if the run fails) and run, then
recorded as completed with its figures. The job is idempotent by date and each
payout by its key, so a replica dying mid-run leaves nothing worse than a lease that
lapses and a date run again. A payout that fails is left due: the next date's run pays it
(ListDuePayouts takes everything due on or before the date). The first date the schedule
ever sees is simply today: it does not invent a history.

POST /v1/admin/jobs/wealth still runs any date by hand (the same idempotent job).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chassis.clock import Clock, business_date_of
from gateway.wealth.jobs import WealthJobs, WealthJobsReport

log = logging.getLogger("colony.gateway.wealth")

CATCH_UP_DAYS = 31
LEASE_SECONDS = 5 * 60
RENEWALS_PER_LEASE = 3


def dates_due(today: date, last_completed: date | None) -> list[date]:
    """The dates to run, oldest first: those after last_completed up to today (bounded)."""
    if last_completed is None:
        return [today]
    if last_completed >= today:
        return []
    first = max(last_completed + timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS - 1))
    return [first + timedelta(days=offset) for offset in range((today - first).days + 1)]


class WealthJobsSchedule:
    """Runs WealthJobs for every business date due, claiming each date with a lease."""

    def __init__(
        self,
        jobs: WealthJobs,
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

    async def run_due(self) -> list[WealthJobsReport]:
        """One round: run every date due that this replica can claim; their reports."""
        today = business_date_of(self._clock.now())
        reports: list[WealthJobsReport] = []
        for business_date in dates_due(today, await self._last_completed()):
            token = await self._claim(business_date)
            if token is None:
                break  # another replica is running it; it will go on from there
            report = await self._run_claimed(business_date, token)
            if report is None:
                break  # the lease was lost: the date is someone else's now
            reports.append(report)
        return reports

    async def _run_claimed(self, business_date: date, token: str) -> WealthJobsReport | None:
        """Run a claimed date, renewing its lease; None if the lease was lost meanwhile."""
        renewer = asyncio.create_task(self._keep_lease(business_date, token))
        try:
            report = await self._jobs.run(business_date)
        except BaseException:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            # Let the date go at once, for the next round (or another replica) to retry.
            await asyncio.shield(self._release(business_date, token))
            raise
        renewer.cancel()
        await asyncio.gather(renewer, return_exceptions=True)
        if not await self._complete(business_date, token, report):
            log.warning(
                "wealth jobs lease lost before completion",
                extra={"business_date": business_date.isoformat()},
            )
            return None
        return report

    async def _last_completed(self) -> date | None:
        document = await self._collection.find_one(
            {"completed_at": {"$ne": None}}, sort=[("_id", DESCENDING)]
        )
        return None if document is None else date.fromisoformat(document["_id"])

    async def _claim(self, business_date: date) -> str | None:
        """Lease the date if it is not completed nor leased; the lease's token, or None."""
        now = self._clock.now()
        token = uuid.uuid4().hex
        try:
            claimed = await self._collection.find_one_and_update(
                {
                    "_id": business_date.isoformat(),
                    "completed_at": None,
                    "lease_until": {"$lte": now},
                },
                {
                    "$set": {
                        "lease_owner": self._instance_id,
                        "lease_token": token,
                        "lease_until": now + timedelta(seconds=LEASE_SECONDS),
                        "started_at": now,
                    }
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None  # the date exists: completed, or leased by another replica
        return token if claimed is not None else None

    async def _keep_lease(self, business_date: date, token: str) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / RENEWALS_PER_LEASE)
            result = await self._collection.update_one(
                {"_id": business_date.isoformat(), "lease_token": token, "completed_at": None},
                {"$set": {"lease_until": self._clock.now() + timedelta(seconds=LEASE_SECONDS)}},
            )
            if not result.matched_count:
                return  # taken over: completing will say so

    async def _release(self, business_date: date, token: str) -> None:
        await self._collection.update_one(
            {"_id": business_date.isoformat(), "lease_token": token, "completed_at": None},
            {"$set": {"lease_until": self._clock.now()}},
        )

    async def _complete(self, business_date: date, token: str, report: WealthJobsReport) -> bool:
        result = await self._collection.update_one(
            {"_id": business_date.isoformat(), "lease_token": token},
            {
                "$set": {
                    "completed_at": self._clock.now(),
                    "lease_until": None,
                    "payouts_paid": report.payouts_paid,
                    "payouts_paid_fen": report.payouts_paid_fen,
                    "payouts_failed": report.payouts_failed,
                    "holdings_matured": report.holdings_matured,
                }
            },
        )
        if not result.matched_count:
            return False
        log.info(
            "scheduled wealth jobs completed",
            extra={"business_date": business_date.isoformat(), "payouts": report.payouts_paid},
        )
        return True

    async def _start(self, app: web.Application) -> None:
        self._task = asyncio.create_task(self._run(), name="wealth jobs schedule")

    async def _stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:
                # A service or the database away: log it; the next round tries again.
                log.exception("scheduled wealth jobs failed")
            await asyncio.sleep(self._interval_seconds)
