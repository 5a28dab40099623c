"""The wealth line's business-date job, run by an operator: the wealth jobs and their money.

For business date D (it must have begun), in this order:
1. Yu'e Bao's daily income of D-1, the date that ended (RunDailyIncome): each holder's
   income becomes new shares; on completion the day's credited income is owed as a
   payout from platform:wealth:yuebao_income into the omnibus account.
2. Zhaocaibao's jobs of D (RunFixedTermJobs): holdings maturing on D owe principal and
   interest as payouts; reservations past their 30 days expire.
3. Every SCHEDULED payout due on or before D (ListDuePayouts): posted in the payment
   ledger under its key (gateway.wealth.ledger) and marked paid. Normal Yu'e Bao
   redemptions of D-1, maturities, transfer proceeds and fees, fund sale proceeds, and the
   income of step 1, which puts the cash behind the new shares, so that afterwards the
   omnibus balance equals the shares outstanding again.

Every part is idempotent (the wealth jobs by date and holding, each payout by its key), so
running D again, or after a crash halfway, pays nothing twice and finishes what was left.
One payout that fails is reported and does not stop the others.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from chassis.errors import DomainError, ErrorKind
from chassis.money import Money
from colony.common.v1 import paging_pb2
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import ServiceFault, WealthClient
from gateway.wealth.ledger import WealthLedger, payout_key

log = logging.getLogger("colony.gateway.wealth")

# A crashed income run's open transaction answers ABORTED: the call is retried this often.
INCOME_ATTEMPTS_MAX = 5
INCOME_RETRY_SECONDS = 0.2
# RunFixedTermJobs matures a bounded batch per call and says whether more remain.
FIXED_TERM_CALLS_MAX = 10_000
PAYOUT_PAGE_SIZE = 100
PAYOUT_PAGES_MAX = 10_000
PAYOUTS_IN_FLIGHT = 8
# The report lists at most this many failed payouts (the count is always complete).
FAILURES_REPORTED_MAX = 100


@dataclass(frozen=True, slots=True)
class PayoutFailure:
    payout_id: str
    reason: str
    detail: str


@dataclass
class WealthJobsReport:
    """What one run did, for the operator."""

    business_date: date
    income: wpb.RunDailyIncomeResponse | None = None
    # Why the income of D-1 was not run (a later date already started), if it was not.
    income_refusal: str = ""
    holdings_matured: int = 0
    reservations_expired: int = 0
    payouts_paid: int = 0
    payouts_paid_fen: int = 0
    payouts_failed: int = 0
    failures: list[PayoutFailure] = field(default_factory=list)


class WealthJobs:
    """Runs the business-date job over the wealth service and the payment ledger."""

    def __init__(self, wealth: WealthClient, ledger: WealthLedger) -> None:
        self._wealth = wealth
        self._ledger = ledger

    async def run(self, business_date: date) -> WealthJobsReport:
        await self._ledger.ensure_accounts()
        report = WealthJobsReport(business_date)
        await self._distribute_income(business_date - timedelta(days=1), report)
        await self._run_fixed_term_jobs(business_date, report)
        await self._pay_due_payouts(business_date, report)
        log.info(
            "wealth jobs ran",
            extra={
                "business_date": business_date.isoformat(),
                "payouts_paid": report.payouts_paid,
                "payouts_failed": report.payouts_failed,
            },
        )
        return report

    async def _distribute_income(self, income_date: date, report: WealthJobsReport) -> None:
        request = wpb.RunDailyIncomeRequest(business_date=income_date.isoformat())
        for attempt in range(1, INCOME_ATTEMPTS_MAX + 1):
            try:
                report.income = await self._wealth.run_daily_income(request)
                return
            except DomainError as error:
                if error.reason == "INCOME_DATE_OUT_OF_ORDER":
                    # Re-running an earlier date for its payouts: its income is long paid.
                    report.income_refusal = error.message
                    return
                if error.kind is not ErrorKind.ABORTED or attempt == INCOME_ATTEMPTS_MAX:
                    raise
            await asyncio.sleep(INCOME_RETRY_SECONDS * attempt)

    async def _run_fixed_term_jobs(self, business_date: date, report: WealthJobsReport) -> None:
        request = wpb.RunFixedTermJobsRequest(business_date=business_date.isoformat())
        for _ in range(FIXED_TERM_CALLS_MAX):
            response = await self._wealth.run_fixed_term_jobs(request)
            report.holdings_matured += response.holdings_matured
            report.reservations_expired += response.reservations_expired
            if not response.more:
                return
        raise AssertionError(f"fixed-term jobs of {business_date} still had more after the bound")

    async def _pay_due_payouts(self, business_date: date, report: WealthJobsReport) -> None:
        gate = asyncio.Semaphore(PAYOUTS_IN_FLIGHT)

        async def pay(payout: wpb.Payout) -> None:
            async with gate:
                await self._pay_one(payout, report)

        page_token = ""
        for _ in range(PAYOUT_PAGES_MAX):
            response = await self._wealth.list_due_payouts(
                wpb.ListDuePayoutsRequest(
                    business_date=business_date.isoformat(),
                    page=paging_pb2.PageRequest(page_size=PAYOUT_PAGE_SIZE, page_token=page_token),
                )
            )
            await asyncio.gather(*(pay(payout) for payout in response.payouts))
            page_token = response.page.next_page_token
            if not page_token:
                return
        raise AssertionError(f"payouts due by {business_date} still had more after the bound")

    async def _pay_one(self, payout: wpb.Payout, report: WealthJobsReport) -> None:
        """Post one payout and mark it paid; a failure is reported, not raised."""
        try:
            posting_id = await self._ledger.post_payout(
                payout.payout_id,
                payout.from_account_id,
                payout.to_account_id,
                Money(payout.amount.amount_fen, payout.amount.currency or "CNY"),
            )
            await self._wealth.mark_payout_paid(
                wpb.MarkPayoutPaidRequest(
                    idempotency_key=payout_key(payout.payout_id),
                    payout_id=payout.payout_id,
                    payment_posting_id=posting_id,
                )
            )
        except (DomainError, ServiceFault) as error:
            reason, detail = (
                (error.reason, error.message)
                if isinstance(error, DomainError)
                else ("INTERNAL", "a service answered in a way the gateway cannot act on")
            )
            log.error(
                "wealth payout failed: %s",
                error,
                extra={"payout_id": payout.payout_id, "reason": reason},
            )
            report.payouts_failed += 1
            if len(report.failures) < FAILURES_REPORTED_MAX:
                report.failures.append(PayoutFailure(payout.payout_id, reason, detail))
            return
        report.payouts_paid += 1
        report.payouts_paid_fen += payout.amount.amount_fen
