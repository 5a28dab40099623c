"""The daily income survives being stopped halfway: every holder is paid exactly once.

Stopping is simulated three ways: a run bounded to its first pages (what a crash after those
commits leaves), a call cancelled while it pages, and two runs of the same date racing (two
replicas). test_yuebao_income_kill.py kills a whole process with SIGKILL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.tests.support import assert_audit_clean, subscribe_yuebao
from services.wealth.yuebao import distribute_daily_income

DEADLINE_SECONDS = 20.0


async def new_holders(stub, prefix: str, count: int) -> dict[str, int]:
    """count holders with different holdings (so each rounds differently)."""
    holdings = {f"{prefix}{n:04d}": 10_000 + 1_237 * n for n in range(count)}
    await asyncio.gather(*(subscribe_yuebao(stub, i, fen) for i, fen in holdings.items()))
    return holdings


async def income_paid(store, business_date: date) -> Counter[str]:
    """How many income markers each holder has for the date (exactly once means 1 each)."""
    cursor = store.yuebao_income.find({"business_date": business_date.isoformat()})
    return Counter([document["investor_id"] async for document in cursor])


async def shares_of(store, investors) -> dict[str, int]:
    return {i: (await store.get_yuebao_account(i)).shares_fen for i in investors}


def expected_income(holdings: dict[str, int], quote: str) -> dict[str, int]:
    """What one uninterrupted distribution pays (per-holder rounding: paging changes nothing)."""
    return dict(distribute_daily_income(holdings, Decimal(quote), Decimal(0)).income_fen_by_holder)


async def test_a_run_stopped_after_its_first_pages_is_finished_by_the_next(wealth) -> None:
    stub, store, clock = wealth.stub, wealth.store, wealth.clock
    holdings = await new_holders(stub, "2088100", 7)
    clock.advance(timedelta(days=1))
    day = (clock.now() - timedelta(days=1)).date()  # 09:00 CST: the same date in UTC
    partial = await stub.RunDailyIncome(
        pb.RunDailyIncomeRequest(business_date=day.isoformat(), page_size=1, pages_max=2)
    )
    assert partial.run.state == pb.INCOME_RUN_STATE_RUNNING
    assert partial.holders_paid_now == 2
    assert sum((await income_paid(store, day)).values()) == 2

    finished = await stub.RunDailyIncome(
        pb.RunDailyIncomeRequest(business_date=day.isoformat(), page_size=3)
    )
    assert finished.run.state == pb.INCOME_RUN_STATE_COMPLETED
    assert (finished.holders_paid_now, finished.run.holders_paid) == (5, 7)
    assert await income_paid(store, day) == Counter(dict.fromkeys(holdings, 1))
    income = expected_income(holdings, "0.4756")
    assert finished.run.credited.amount_fen == sum(income.values())
    assert await shares_of(store, holdings) == {i: holdings[i] + income[i] for i in holdings}
    await assert_audit_clean(stub)


async def test_a_run_cancelled_while_paging_is_finished_exactly_once(wealth) -> None:
    stub, store, clock = wealth.stub, wealth.store, wealth.clock
    await new_holders(stub, "2088200", 40)
    clock.advance(timedelta(days=1))
    day = (clock.now() - timedelta(days=1)).date()
    holders = {
        document["_id"]: document["shares_fen"]
        async for document in store.yuebao_accounts.find({"shares_fen": {"$gt": 0}})
    }
    call = stub.RunDailyIncome(pb.RunDailyIncomeRequest(business_date=day.isoformat(), page_size=1))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while sum((await income_paid(store, day)).values()) < 3:
        assert loop.time() < deadline, "the run never got going"
        await asyncio.sleep(0.01)
    call.cancel()
    paid_at_cancel = sum((await income_paid(store, day)).values())
    assert paid_at_cancel < len(holders), "cancelled halfway, not after the end"

    finished = await stub.RunDailyIncome(pb.RunDailyIncomeRequest(business_date=day.isoformat()))
    assert finished.run.state == pb.INCOME_RUN_STATE_COMPLETED
    assert finished.run.holders_paid == len(holders)
    assert await income_paid(store, day) == Counter(dict.fromkeys(holders, 1))
    income = expected_income(holders, "0.4756")
    assert finished.run.credited.amount_fen == sum(income.values())
    assert await shares_of(store, holders) == {i: holders[i] + income[i] for i in holders}
    await assert_audit_clean(stub)


async def test_two_runs_of_one_date_racing_pay_each_holder_once(wealth) -> None:
    stub, store, clock = wealth.stub, wealth.store, wealth.clock
    clock.advance(timedelta(days=1))
    day = (clock.now() - timedelta(days=1)).date()
    holders = {
        document["_id"]: document["shares_fen"]
        async for document in store.yuebao_accounts.find({"shares_fen": {"$gt": 0}})
    }
    request = pb.RunDailyIncomeRequest(business_date=day.isoformat(), page_size=2)
    first, second = await asyncio.gather(stub.RunDailyIncome(request), stub.RunDailyIncome(request))
    assert first.holders_paid_now + second.holders_paid_now == len(holders)
    assert await income_paid(store, day) == Counter(dict.fromkeys(holders, 1))
    income = expected_income(holders, "0.4756")
    assert first.run.credited.amount_fen == second.run.credited.amount_fen == sum(income.values())
    await assert_audit_clean(stub)
