"""The ABS pools' monthly pass-through, run by the order-loan job (its schedule,
gateway.loans.merchant.schedule, or POST /v1/admin/jobs/order-loans).

Each round, for every pool: PassThroughAbsPool with ``monthly`` (the loan service refuses
POOL_PERIOD_NOT_OVER until a whole month after the last period's end), keyed by the pool and
that end, so a round run twice, or by two replicas, passes one period through; then every
period not yet posted has its legs posted (gateway.loans.merchant.abs_sagas.post_legs, each
keyed by the period, so legs already posted post nothing new) and is confirmed
(ConfirmAbsPeriodPosted). A round, or an operator's abs_pass_through saga, that dies after
the period was recorded leaves it unposted: the next round posts it.
"""

from __future__ import annotations

from chassis.errors import DomainError
from colony.loan.v1 import merchant_lending_pb2 as mpb
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.loans.merchant.abs_sagas import period_result, post_legs
from gateway.loans.merchant.ledger import MerchantLoanLedger

MONTHLY_KEY_PREFIX = "abs-month:"
POSTED_KEY_PREFIX = "abs-posted:"


class AbsMonthlyJobs:
    def __init__(self, lending: MerchantLendingClient, ledger: MerchantLoanLedger) -> None:
        self._lending = lending
        self._ledger = ledger

    async def run(self) -> int:
        """One round over every pool; how many periods it passed through."""
        passed = 0
        pools = (await self._lending.list_abs_pools(mpb.ListAbsPoolsRequest())).pools
        for pool in pools:
            last_end = pool.periods[-1].period_end if pool.periods else pool.created_on
            try:
                response = await self._lending.pass_through_abs_pool(
                    mpb.PassThroughAbsPoolRequest(
                        idempotency_key=f"{MONTHLY_KEY_PREFIX}{pool.pool_id}:{last_end}",
                        pool_id=pool.pool_id,
                        monthly=True,
                    )
                )
            except DomainError as error:
                if error.reason != "POOL_PERIOD_NOT_OVER":
                    raise
                current = pool
            else:
                passed += 1
                current = response.pool
            for period in current.periods:
                if not period.posted:
                    await self._post(current.pool_id, period)
        return passed

    async def _post(self, pool_id: str, period: mpb.AbsPeriod) -> None:
        await post_legs(self._ledger, pool_id, period_result(period))
        await self._lending.confirm_abs_period_posted(
            mpb.ConfirmAbsPeriodPostedRequest(
                idempotency_key=POSTED_KEY_PREFIX + period.period_id,
                pool_id=pool_id,
                period_id=period.period_id,
            )
        )
