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

import logging
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import Clock, business_date_of
from gateway.scheduling import Leases, Periodic
from gateway.wealth.jobs import WealthJobs, WealthJobsReport

log = logging.getLogger("colony.gateway.wealth")

CATCH_UP_DAYS = 31
# A date's lease holds while it is not completed.
NOT_COMPLETED = {"completed_at": None}


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
        self._leases = Leases(collection, clock, instance_id)
        self._periodic = Periodic("scheduled wealth jobs", self.run_due, interval_seconds, log)

    def install(self, app: web.Application) -> None:
        """Run the schedule for the app's lifetime (nothing when the interval is 0)."""
        self._periodic.install(app)

    async def run_due(self) -> list[WealthJobsReport]:
        """One round: run every date due that this replica can claim; their reports."""
        today = business_date_of(self._clock.now())
        reports: list[WealthJobsReport] = []
        for business_date in dates_due(today, await self._last_completed()):
            # The date exists (completed, or leased by another replica): None.
            token = await self._leases.claim(business_date.isoformat(), NOT_COMPLETED)
            if token is None:
                break  # another replica is running it; it will go on from there
            report = await self._run_claimed(business_date, token)
            if report is None:
                break  # the lease was lost: the date is someone else's now
            reports.append(report)
        return reports

    async def _run_claimed(self, business_date: date, token: str) -> WealthJobsReport | None:
        """Run a claimed date, renewing its lease; None if the lease was lost meanwhile."""
        date_id = business_date.isoformat()

        async def run() -> WealthJobsReport:
            return await self._jobs.run(business_date)

        report = await self._leases.hold_while(date_id, token, run, NOT_COMPLETED)
        completed = await self._leases.complete(
            date_id,
            token,
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
        if not completed:
            log.warning(
                "wealth jobs lease lost before completion", extra={"business_date": date_id}
            )
            return None
        log.info(
            "scheduled wealth jobs completed",
            extra={"business_date": date_id, "payouts": report.payouts_paid},
        )
        return report

    async def _last_completed(self) -> date | None:
        document = await self._collection.find_one(
            {"completed_at": {"$ne": None}}, sort=[("_id", DESCENDING)]
        )
        return None if document is None else date.fromisoformat(document["_id"])
