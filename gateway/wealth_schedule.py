"""The wealth business-date job on a schedule: once per business date, on one replica.

gateway.wealth_jobs is the job; this runs it without an operator. Every interval each
gateway replica looks at today's business date (China Standard Time, from the gateway's
clock) and at the dates it has completed (``wealth_job_runs`` in the gateway database).
Every date not completed yet -- today, and after downtime the dates missed since the last
completed one, oldest first, at most CATCH_UP_DAYS of them -- is claimed with a lease
(the first replica to claim a date runs it, the others skip it while the lease lasts) and
run, then recorded as completed with its figures. The job is idempotent by date and each
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
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chassis.clock import Clock
from gateway.wealth_jobs import WealthJobs, WealthJobsReport

log = logging.getLogger("colony.gateway.wealth")

BUSINESS_TIMEZONE = ZoneInfo("Asia/Shanghai")
CATCH_UP_DAYS = 31
LEASE_SECONDS = 15 * 60


def business_date_of(moment: datetime) -> date:
    """The business date of an instant: the calendar date in China Standard Time."""
    return moment.astimezone(BUSINESS_TIMEZONE).date()


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
            if not await self._claim(business_date):
                break  # another replica is running it; it will go on from there
            report = await self._jobs.run(business_date)
            await self._complete(business_date, report)
            reports.append(report)
        return reports

    async def _last_completed(self) -> date | None:
        document = await self._collection.find_one(
            {"completed_at": {"$ne": None}}, sort=[("_id", DESCENDING)]
        )
        return None if document is None else date.fromisoformat(document["_id"])

    async def _claim(self, business_date: date) -> bool:
        now = self._clock.now()
        try:
            claimed = await self._collection.find_one_and_update(
                {
                    "_id": business_date.isoformat(),
                    "completed_at": None,
                    "lease_until": {"$lt": now},
                },
                {
                    "$set": {
                        "lease_owner": self._instance_id,
                        "lease_until": now + timedelta(seconds=LEASE_SECONDS),
                        "started_at": now,
                    },
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # the date exists: completed, or leased by another replica
        return claimed is not None

    async def _complete(self, business_date: date, report: WealthJobsReport) -> None:
        await self._collection.update_one(
            {"_id": business_date.isoformat(), "lease_owner": self._instance_id},
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
        log.info(
            "scheduled wealth jobs completed",
            extra={"business_date": business_date.isoformat(), "payouts": report.payouts_paid},
        )

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
