"""The trades' daily job over real gRPC against a real mongod, on a manual clock: trades
auto-confirm ten days after shipping (time in a refund request does not count), expired
unpaid trades close, one trade that cannot settle does not stop the rest, a hot merchant's
settlement lands across its sub-accounts, and a business date that has not begun is refused.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest

from chassis.clock import ManualClock, business_date_of
from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from services.payment.tests.support import Stub
from services.payment.tests.trade_support import (
    assert_books_balance,
    balance_fen,
    confirm,
    create_trade,
    database_for,
    decide_refund,
    fee_income_fen,
    get_trade,
    manual_clock,
    pay_trade,
    refusal_of,
    request_refund,
    running_payment,
    ship,
    trade_in_state,
    trade_parties,
)

CREATED = pb.TRADE_STATE_CREATED
CLOSED = pb.TRADE_STATE_CLOSED
PAID = pb.TRADE_STATE_PAID
SHIPPED = pb.TRADE_STATE_SHIPPED
REFUND_REQUESTED = pb.TRADE_STATE_REFUND_REQUESTED
SETTLED = pb.TRADE_STATE_SETTLED
REFUNDED = pb.TRADE_STATE_REFUNDED

# 10,750 fen * 0.6% = 64.5 fen, rounded half-even to 64: the merchant gets 10,686.
TRADE_FEN = 10_750
TRADE_FEE_FEN = 64


# --- the daily job -------------------------------------------------------------------------


async def run_trade_jobs(stub: Stub, clock: ManualClock) -> pb.RunTradeJobsResponse:
    """Run the job for the business date the clock is in."""
    business_date = business_date_of(clock.now()).isoformat()
    return await stub.RunTradeJobs(pb.RunTradeJobsRequest(business_date=business_date))


async def test_the_trade_job_auto_confirms_after_ten_days_and_closes_expired_unpaid_trades(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> None:
    clock = manual_clock()
    database = database_for(database_name, "jobs")
    async with running_payment(mongo_url, mongo_client, database, clock) as payment:
        stub, store = payment.stub, payment.store
        shipped_ten_days_ago = await trade_in_state(stub, SHIPPED)
        unpaid = await trade_in_state(stub, CREATED)  # one day to pay
        clock.advance(timedelta(days=1))
        shipped_nine_days_ago = await trade_in_state(stub, SHIPPED)
        parties = await trade_parties(stub, buyer_fen=0)
        unpaid_long_window = await create_trade(
            stub, parties, 500, payment_window_seconds=15 * 24 * 3600
        )
        clock.advance(timedelta(days=9))
        fee_before = await fee_income_fen(store)

        first = await run_trade_jobs(stub, clock)
        assert (first.auto_confirmed, first.expired, first.already_run) == (1, 1, False)
        settled = await get_trade(stub, shipped_ten_days_ago.trade_id)
        assert (settled.state, settled.settled_by) == (SETTLED, "auto_confirm")
        assert await balance_fen(stub, settled.merchant_account_id) == TRADE_FEN - TRADE_FEE_FEN
        assert await fee_income_fen(store) == fee_before + TRADE_FEE_FEN
        assert (await get_trade(stub, shipped_nine_days_ago.trade_id)).state == SHIPPED
        assert (await get_trade(stub, unpaid.trade_id)).state == CLOSED
        assert (await get_trade(stub, unpaid_long_window.trade_id)).state == CREATED
        await assert_books_balance(store)

        again = await run_trade_jobs(stub, clock)
        assert (again.auto_confirmed, again.expired, again.already_run) == (0, 0, True)
        assert await balance_fen(stub, settled.merchant_account_id) == TRADE_FEN - TRADE_FEE_FEN
        assert (await get_trade(stub, shipped_nine_days_ago.trade_id)).state == SHIPPED

        clock.advance(timedelta(days=1))
        next_day = await run_trade_jobs(stub, clock)
        assert (next_day.auto_confirmed, next_day.expired, next_day.already_run) == (1, 0, False)
        assert (await get_trade(stub, shipped_nine_days_ago.trade_id)).state == SETTLED
        await assert_books_balance(store)


async def test_time_spent_in_a_refund_request_does_not_count_towards_auto_confirm(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> None:
    clock = manual_clock()
    database = database_for(database_name, "paused")
    async with running_payment(mongo_url, mongo_client, database, clock) as payment:
        stub, store = payment.stub, payment.store
        trade = await trade_in_state(stub, SHIPPED)
        shipped_at = trade.shipped_at.ToDatetime()
        clock.advance(timedelta(days=2))
        await request_refund(stub, trade, fen=1_000)
        clock.advance(timedelta(days=3))
        rejected = (await decide_refund(stub, trade, approve=False)).trade
        # Ten days after shipping, plus the three days the request was open.
        assert rejected.auto_confirm_at.ToDatetime() - shipped_at == timedelta(days=13)

        clock.advance(timedelta(days=7))  # day 12 after shipping
        assert (await run_trade_jobs(stub, clock)).auto_confirmed == 0
        assert (await get_trade(stub, trade.trade_id)).state == SHIPPED
        clock.advance(timedelta(days=1))  # day 13
        assert (await run_trade_jobs(stub, clock)).auto_confirmed == 1
        assert (await get_trade(stub, trade.trade_id)).state == SETTLED
        await assert_books_balance(store)


async def test_a_trade_that_cannot_settle_does_not_stop_the_job_for_the_others(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> None:
    clock = manual_clock()
    database = database_for(database_name, "stuck")
    async with running_payment(mongo_url, mongo_client, database, clock) as payment:
        stub, store = payment.stub, payment.store
        stuck = await trade_in_state(stub, SHIPPED)
        clock.advance(timedelta(seconds=1))
        due = await trade_in_state(stub, SHIPPED)
        unpaid = await trade_in_state(stub, CREATED)
        # An operator froze the first merchant (no RPC does this yet; the status exists).
        await store.accounts.update_one(
            {"_id": stuck.merchant_account_id}, {"$set": {"status": "frozen"}}
        )
        clock.advance(timedelta(days=10, seconds=1))

        outcome = await run_trade_jobs(stub, clock)
        assert (outcome.auto_confirmed, outcome.expired) == (1, 1)
        assert (await get_trade(stub, stuck.trade_id)).state == SHIPPED
        assert (await get_trade(stub, due.trade_id)).state == SETTLED
        assert (await get_trade(stub, unpaid.trade_id)).state == CLOSED
        await assert_books_balance(store)


async def test_settlement_to_a_hot_merchant_lands_across_its_sub_accounts(stub, store) -> None:
    parties = await trade_parties(stub, buyer_fen=3 * TRADE_FEN)
    await stub.SetAccountHot(pb.SetAccountHotRequest(account_id=parties.merchant, hot_shards=4))
    trades = [await create_trade(stub, parties, TRADE_FEN) for _ in range(3)]
    for trade in trades:
        await pay_trade(stub, trade)
        await ship(stub, trade)
    await asyncio.gather(*(confirm(stub, trade) for trade in trades))
    assert await balance_fen(stub, parties.merchant) == 3 * (TRADE_FEN - TRADE_FEE_FEN)
    await assert_books_balance(store)


@pytest.mark.parametrize("business_date", ["tomorrow", "2025-13-01", "03/03/2025", ""])
async def test_the_trade_job_refuses_a_business_date_that_has_not_begun_or_is_malformed(
    stub, clock: ManualClock, business_date: str
) -> None:
    if business_date == "tomorrow":
        business_date = (business_date_of(clock.now()) + timedelta(days=1)).isoformat()
    attempt = stub.RunTradeJobs(pb.RunTradeJobsRequest(business_date=business_date))
    assert await refusal_of(attempt) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_BUSINESS_DATE",
    )
