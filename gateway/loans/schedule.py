"""The loan business-date job on a schedule, like the wealth job (gateway.wealth.schedule).

Every interval each gateway replica looks at today's business date (China Standard Time,
from the gateway's clock) and at the dates completed (``loan_job_runs`` in the gateway
database), and runs every date not completed yet -- today, and after downtime the dates
missed since the last completed one, oldest first, at most CATCH_UP_DAYS -- with its
auto-debits (gateway.loans.jobs), then records it completed. No lease is needed:
RunLoanJobs is idempotent by date in the loan service (a date two replicas both run is
done once; the second answer is ``already_completed``) and each auto-debit's saga id
derives from its repayment id, so the record only spares the next round a call. The
first date the schedule ever sees is simply today. POST /v1/admin/jobs/loans still runs
any date by hand.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from aiohttp import web
from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import Clock, business_date_of
from gateway.loans.jobs import LoanJobs, LoanJobsReport
from gateway.scheduling import Periodic
from gateway.wealth.schedule import dates_due

log = logging.getLogger("colony.gateway.loans")


class LoanJobsSchedule:
    """Runs LoanJobs for every business date due."""

    def __init__(
        self,
        jobs: LoanJobs,
        collection: AsyncCollection[dict[str, Any]],
        clock: Clock,
        *,
        interval_seconds: float,
    ) -> None:
        self._jobs = jobs
        self._collection = collection
        self._clock = clock
        self._periodic = Periodic("scheduled loan jobs", self.run_due, interval_seconds, log)

    def install(self, app: web.Application) -> None:
        """Run the schedule for the app's lifetime (nothing when the interval is 0)."""
        self._periodic.install(app)

    async def run_due(self) -> list[LoanJobsReport]:
        """One round: run every date due; the runs."""
        today = business_date_of(self._clock.now())
        runs: list[LoanJobsReport] = []
        for business_date in dates_due(today, await self._last_completed()):
            report = await self._jobs.run(business_date)
            run = report.run
            await self._collection.update_one(
                {"_id": business_date.isoformat()},
                {
                    "$set": {
                        "completed_at": self._clock.now(),
                        "bills_issued": run.bills_issued,
                        "accounts_accrued": run.accounts_accrued,
                        "bucket_changes": run.bucket_changes,
                        "auto_debits_completed": report.auto_debits_completed,
                        "auto_debits_failed": report.auto_debits_failed,
                    }
                },
                upsert=True,
            )
            log.info(
                "scheduled loan jobs completed",
                extra={"business_date": business_date.isoformat(), "bills": run.bills_issued},
            )
            runs.append(report)
        return runs

    async def _last_completed(self) -> date | None:
        document = await self._collection.find_one({}, sort=[("_id", DESCENDING)])
        return None if document is None else date.fromisoformat(document["_id"])
