"""Yu'e Bao's daily income job: every holder paid exactly once per business date.

A run for business date D:
1. Start (one transaction): a run document keyed by D records the income per 10,000 shares
   quoted from the portfolio at that moment, and a progress cursor. Every later call for D
   uses that quote, whatever happens to the portfolio meanwhile.
2. Pages (one transaction each): the next holders after the cursor, in id order; their
   income by yuebao.distribute_daily_income (rounded down, residue carried in from the
   fund document and back to it); each holder's shares credited together with an
   (holder, D) marker document, the cursor and the totals moved on, the events appended.
   A page commits whole or not at all, and a marker cannot be written twice, so a run
   killed anywhere (or two runs racing) never pays a holder twice, and a re-run carries on
   from the last committed page.
3. Completion (the transaction that finds no holder left): the run is marked completed, the
   day's quote is published (the 7-day yield reads it), and the day's credited income is
   recorded as a payout from platform:wealth:yuebao_income into the omnibus account: the
   new shares need that cash behind them.

Each holder's income of D is paid on the shares held when D ended (subscriptions confirmed
and redemptions made since are taken out and put back, yuebao_accounts.income_base_fen).
An account remembers only its latest date's movements, so dates start in order: a date
earlier than one already started is refused.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from functools import partial

from pymongo.errors import DuplicateKeyError

from chassis.clock import parse_business_date
from chassis.errors import InvalidArgument
from chassis.grpc_server import Context
from chassis.mongo import Session, run_in_transaction
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.rpc_base import WealthRpcBase
from services.wealth.wire import income_credited_to_proto, income_run_to_proto
from services.wealth.yuebao import income_per_10k_shares
from services.wealth.yuebao_income import (
    IncomePage,
    IncomeRun,
    first_income_date_due,
    income_date_out_of_order,
    income_run_payouts,
    pay_income_page,
    require_ended_business_date,
)

log = logging.getLogger(__name__)

INCOME_PAGE_SIZE_DEFAULT = 200
INCOME_PAGE_SIZE_MAX = 1_000
# One call pays at most this many pages (200 million holders at the largest page).
INCOME_PAGES_MAX = 200_000
# The periodic job's round: a bounded slice of work, the next round continues.
INCOME_PAGES_PER_ROUND = 50


class IncomeRpc(WealthRpcBase):
    """The daily income distribution (万份收益 → each holder's new shares)."""

    async def RunDailyIncome(
        self, request: pb.RunDailyIncomeRequest, context: Context
    ) -> pb.RunDailyIncomeResponse:
        business_date = require_ended_business_date(
            parse_business_date(request.business_date), self._today()
        )
        page_size = request.page_size or INCOME_PAGE_SIZE_DEFAULT
        if not 1 <= page_size <= INCOME_PAGE_SIZE_MAX:
            raise InvalidArgument(f"page_size must be between 1 and {INCOME_PAGE_SIZE_MAX}")
        pages_max = request.pages_max or INCOME_PAGES_MAX
        if not 1 <= pages_max <= INCOME_PAGES_MAX:
            raise InvalidArgument(f"pages_max must be between 0 and {INCOME_PAGES_MAX}")
        return await self.run_daily_income(business_date, page_size, pages_max)

    async def run_daily_income(
        self, business_date: date, page_size: int, pages_max: int
    ) -> pb.RunDailyIncomeResponse:
        """Start or continue the run of business_date for at most pages_max pages."""
        run = await self._start_income_run(business_date)
        if run.completed:
            return await self._income_response(run, 0, already_completed=True)
        holders_paid_now = 0
        # pages_max pages of holders, then one more look that completes the run if nobody
        # is left (and pays nobody if somebody is: the bound holds).
        for page in range(pages_max + 1):
            may_pay = page < pages_max
            pay_page = partial(
                self._pay_income_page,
                business_date=business_date,
                page_size=page_size,
                may_pay=may_pay,
            )
            paid, completed = await run_in_transaction(self._client, pay_page)
            holders_paid_now += paid
            if completed or not may_pay:
                break
        finished = await self._store.get_income_run(business_date)
        assert finished is not None
        return await self._income_response(finished, holders_paid_now, already_completed=False)

    async def distribute_due_income(self) -> int:
        """The periodic job: complete the missed dates up to yesterday, a bounded slice a round."""
        yesterday = self._today() - timedelta(days=1)
        latest = await self._store.recent_quotes(1)
        day = first_income_date_due(latest[0][0] if latest else None, yesterday)
        paid = 0
        while day <= yesterday:
            response = await self.run_daily_income(
                day, INCOME_PAGE_SIZE_DEFAULT, INCOME_PAGES_PER_ROUND
            )
            paid += response.holders_paid_now
            if response.run.state != pb.INCOME_RUN_STATE_COMPLETED:
                break  # the next round carries on with this date, in date order
            day += timedelta(days=1)
        return paid

    async def _start_income_run(self, business_date: date) -> IncomeRun:
        """The run of business_date, started now (quote fixed from the portfolio) if new."""
        start = partial(self._start_income_run_in, business_date=business_date)
        try:
            return await run_in_transaction(self._client, start)
        except DuplicateKeyError:
            # Another replica started the same date first: continue its run.
            run = await self._store.get_income_run(business_date)
            assert run is not None
            return run

    async def _start_income_run_in(self, session: Session, *, business_date: date) -> IncomeRun:
        run = await self._store.get_income_run(business_date, session)
        if run is not None:
            return run
        if not await self._store.claim_income_date(session, business_date):
            raise income_date_out_of_order(business_date)
        portfolio, _ = await self._store.get_yuebao_fund(session)
        quote = income_per_10k_shares(portfolio)
        await self._store.insert_income_run(session, business_date, quote, self._clock.now())
        started = await self._store.get_income_run(business_date, session)
        assert started is not None
        await self._events.append(
            session,
            "wealth.yuebao.income_run_started",
            business_date.isoformat(),
            income_run_to_proto(started, None),
        )
        return started

    async def _pay_income_page(
        self, session: Session, *, business_date: date, page_size: int, may_pay: bool
    ) -> tuple[int, bool]:
        """Pay the next page of holders, or complete the run; returns (paid, completed)."""
        run = await self._store.get_income_run(business_date, session)
        assert run is not None, f"income run {business_date} was never started"
        if run.completed:
            return 0, True
        holders = await self._store.holders_after(business_date, run.cursor, page_size, session)
        if not holders:
            await self._complete_income_run(session, run)
            return 0, True
        if not may_pay:
            return 0, False
        _, carried_fen = await self._store.get_yuebao_fund(session)
        page = pay_income_page(holders, business_date, run.income_per_10k_yuan, carried_fen)
        await self._store_income_page(session, run, page, carried_fen)
        return len(holders), False

    async def _store_income_page(
        self, session: Session, run: IncomeRun, page: IncomePage, carried_fen: Decimal
    ) -> None:
        """Credit the page's holders, carry the residue, move the checkpoint, append events."""
        quote = run.income_per_10k_yuan
        await self._store.credit_income(
            session, page.credits, run.business_date, quote, self._clock.now()
        )
        await self._store.set_residue(session, carried_fen, page.distribution.residue_fen)
        await self._store.advance_income_run(
            session,
            run,
            cursor=page.cursor,
            holders_paid=len(page.credits),
            credited_fen=page.distribution.paid_fen,
            residue_added_fen=page.distribution.residue_added_fen,
        )
        for credit in page.credits:
            event = income_credited_to_proto(credit, run.business_date, quote)
            await self._events.append(
                session, "wealth.yuebao.income_credited", credit.before.investor_id, event
            )

    async def _complete_income_run(self, session: Session, run: IncomeRun) -> None:
        """Mark the run completed and owe its credited income into the omnibus account."""
        now = self._clock.now()
        payouts = income_run_payouts(run, now)
        await self._record_payouts(session, payouts)
        payout_id = payouts[0].payout_id if payouts else ""
        await self._store.complete_income_run(session, run, payout_id, now)
        completed = await self._store.get_income_run(run.business_date, session)
        assert completed is not None
        await self._events.append(
            session,
            "wealth.yuebao.income_distributed",
            run.business_date.isoformat(),
            income_run_to_proto(completed, payouts[0] if payouts else None),
        )

    async def _income_response(
        self, run: IncomeRun, holders_paid_now: int, *, already_completed: bool
    ) -> pb.RunDailyIncomeResponse:
        payout = await self._store.get_payout(run.payout_id) if run.payout_id else None
        return pb.RunDailyIncomeResponse(
            run=income_run_to_proto(run, payout),
            holders_paid_now=holders_paid_now,
            already_completed=already_completed,
        )
