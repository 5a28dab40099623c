"""Operator endpoints of the loan line: the portfolio report and the business-date job.

- GET /v1/admin/loans/portfolio: principal outstanding by product and delinquency bucket,
  and the NPL ratio (90+ ÷ total).
- POST /v1/admin/jobs/loans runs the loan job of a business date (bills of the statement
  day, accrual, delinquency; gateway.loans.jobs), then the auto-debits due; idempotent.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.clock import Clock, business_date_of, parse_business_date
from chassis.errors import InvalidArgument
from colony.loan.v1 import loan_pb2 as lpb
from gateway.clients import LoanClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import body_schemas, read_body
from gateway.edge.identities import Role
from gateway.edge.representations import json_response
from gateway.edge.routing import AuthScheme, Route, route_factory
from gateway.loans.bodies import LoanJobsRequest
from gateway.loans.jobs import LoanJobs
from gateway.loans.representations import job_run_json, portfolio_json

log = logging.getLogger("colony.gateway.admin")

SCHEMAS: dict[str, dict[str, Any]] = {**body_schemas(LoanJobsRequest)}


class LoanAdminRoutes:
    """GET /v1/admin/loans/portfolio, POST /v1/admin/jobs/loans."""

    def __init__(self, loan: LoanClient, jobs: LoanJobs, *, clock: Clock) -> None:
        self._loan = loan
        self._jobs = jobs
        self._clock = clock

    def routes(self) -> list[Route]:
        route = route_factory("admin", (AuthScheme.BEARER,), Role.OPERATOR)
        return [
            route(
                "GET",
                "/v1/admin/loans/portfolio",
                self.portfolio,
                "getLoanPortfolio",
                "Principal outstanding by product and delinquency bucket, and the NPL ratio",
                response_schema="LoanPortfolio",
                problems={HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)},
            ),
            route(
                "POST",
                "/v1/admin/jobs/loans",
                self.run_jobs,
                "runLoanJobs",
                "Run the loan job of a business date (bills, accrual, delinquency) and the "
                "auto-debits due, idempotently",
                request_schema="LoanJobsRequest",
                response_schema="LoanJobRun",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_BUSINESS_DATE",),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            ),
        ]

    async def portfolio(self, request: web.Request) -> web.Response:
        report = await self._loan.get_portfolio_report(lpb.GetPortfolioReportRequest())
        return json_response(portfolio_json(report))

    async def run_jobs(self, request: web.Request) -> web.Response:
        body = await read_body(request, LoanJobsRequest)
        business_date = parse_business_date(body.business_date)
        if business_date > business_date_of(self._clock.now()):
            raise InvalidArgument(
                f"business date {business_date} has not begun",
                reason="INVALID_BUSINESS_DATE",
                metadata={"business_date": business_date.isoformat()},
            )
        run = await self._jobs.run(business_date)
        log.info(
            "loan jobs run by an operator",
            extra={
                "operator_user_id": request[CALLER].user_id,
                "business_date": business_date.isoformat(),
            },
        )
        return json_response(
            {
                **job_run_json(run.run),
                "auto_debits": {
                    "completed": run.auto_debits_completed,
                    "failed": run.auto_debits_failed,
                },
            }
        )
