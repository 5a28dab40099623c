"""The loan business-date job, as the gateway runs it (on a schedule or by an operator).

RunLoanJobs does the loan service's part of a date (bills of the statement day, accrual,
delinquency buckets and their events) and is idempotent by date in the service: a date run
again answers ``already_completed`` and changes nothing.
"""

from __future__ import annotations

from datetime import date

from colony.loan.v1 import loan_pb2 as lpb
from gateway.clients import LoanClient


class LoanJobs:
    """Runs the loan job of a business date."""

    def __init__(self, loan: LoanClient) -> None:
        self._loan = loan

    async def run(self, business_date: date) -> lpb.LoanJobRun:
        response = await self._loan.run_loan_jobs(
            lpb.RunLoanJobsRequest(
                idempotency_key=f"loan-jobs:{business_date.isoformat()}",
                business_date=business_date.isoformat(),
            )
        )
        return response.run
