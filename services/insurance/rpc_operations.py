"""Operators and reconciliation: the expiry job by business date, the report, the audit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from chassis.clock import parse_business_date
from chassis.errors import FailedPrecondition
from chassis.grpc_server import Context
from chassis.idempotency import require_idempotency_key
from chassis.mongo import Session, run_in_transaction
from colony.insurance.v1 import insurance_pb2 as pb
from services.insurance.policies import expire_policy
from services.insurance.rpc_base import InsuranceRpcBase
from services.insurance.store.collections import JOB_PAGE_SIZE, JOB_POLICIES_MAX
from services.insurance.store.reports import read_insurance_audit, read_product_figures
from services.insurance.wire import account_figures_to_proto, product_figures_to_proto


class OperationsRpc(InsuranceRpcBase):
    """RunPolicyExpiry, GetInsuranceReport, GetInsuranceAudit."""

    async def RunPolicyExpiry(
        self, request: pb.RunPolicyExpiryRequest, context: Context
    ) -> pb.RunPolicyExpiryResponse:
        require_idempotency_key(request.idempotency_key)
        day = parse_business_date(request.business_date)
        if day > self._today():
            raise FailedPrecondition(
                f"business date {day} has not begun", reason="BUSINESS_DATE_IN_FUTURE"
            )
        if await self._store.find_job_run(day) is not None:
            return pb.RunPolicyExpiryResponse(business_date=day.isoformat(), already_completed=True)
        expired, after_id = 0, ""
        # Each policy expires in its own transaction (expire_policy leaves others unchanged),
        # so a run killed halfway and run again expires each policy exactly once.
        for _ in range(JOB_POLICIES_MAX // JOB_PAGE_SIZE):
            page = await self._store.ended_policy_ids(day, after_id, JOB_PAGE_SIZE)
            for policy_id in page:
                expired += await run_in_transaction(self._client, self._expirer(policy_id, day))
            if len(page) < JOB_PAGE_SIZE:
                await self._store.record_job_run(day, expired, self._clock.now())
                break
            after_id = page[-1]
        return pb.RunPolicyExpiryResponse(business_date=day.isoformat(), expired=expired)

    def _expirer(self, policy_id: str, day: date) -> Callable[[Session], Awaitable[int]]:
        """The transaction that expires one policy (1 if it expired, else 0)."""

        async def expire(session: Session) -> int:
            policy = await self._store.get_policy(policy_id, session)
            expired = expire_policy(policy, day)
            await self._save_policy(session, policy, expired, "insurance.policy.expired")
            return int(expired is not policy)

        return expire

    async def GetInsuranceReport(
        self, request: pb.GetInsuranceReportRequest, context: Context
    ) -> pb.GetInsuranceReportResponse:
        figures = await read_product_figures(self._store)
        return pb.GetInsuranceReportResponse(
            products=[product_figures_to_proto(row) for row in figures]
        )

    async def GetInsuranceAudit(
        self, request: pb.GetInsuranceAuditRequest, context: Context
    ) -> pb.GetInsuranceAuditResponse:
        accounts, breaches = await read_insurance_audit(self._store)
        return pb.GetInsuranceAuditResponse(
            accounts=[account_figures_to_proto(account) for account in accounts],
            breaches=breaches,
        )
