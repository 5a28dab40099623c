"""An ABS pool's months served by MerchantLendingService (real gRPC, real mongod).

Investors a and b buy 30,000 and 20,000 yuan of units of a 6% pool revolving for 20 days;
it buys a 50,000-yuan fixed part. Ten days later the merchant repays 250 yuan of interest
and 10,000 of principal: the period pays the investors 50,000 x 6% x 10 / 365 = 82.19 yuan
(49.31 and 32.88, the odd fen to the larger remainder), 167.81 of excess spread, and the
principal waits for a loan to buy. On day 31 (after the revolving period) 420 yuan of
interest and 10,000 of principal: 172.60 to investors, 247.40 excess, and 20,000 yuan
returned 3:2. Each period balances to the fen; a second pass-through the same day is
POOL_PERIOD_NOT_OVER, a replay answers the same period; the investors' holdings add up.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest

from chassis.clock import ManualClock
from colony.loan.v1 import merchant_lending_pb2 as pb
from colony.loan.v1 import merchant_lending_pb2_grpc
from services.loan.merchant.tests.test_abs_server import buy, facility, pool_request, sold
from services.loan.merchant.tests.test_merchant_server import draw, repay
from services.loan.statements import add_months
from services.loan.tests.support import (
    RunningLoan,
    cny,
    error_info,
    move_to,
    new_key,
    refused,
    today,
)

Stub = merchant_lending_pb2_grpc.MerchantLendingServiceStub
YUAN = 100
RUN = uuid.uuid4().hex[:8]
POOL = f"{RUN}-pool"


@pytest.fixture(scope="module")
async def merchant(loan: RunningLoan) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{loan.service.port}") as channel:
        yield merchant_lending_pb2_grpc.MerchantLendingServiceStub(channel)


def balanced(period: pb.AbsPeriod) -> bool:
    def fen(name: str) -> int:
        return int(getattr(period, name).amount_fen)

    return fen("carried_in") + fen("interest_collected") + fen("principal_collected") == sum(
        fen(name)
        for name in (
            "investor_interest",
            "excess_spread",
            "purchases",
            "principal_returned",
            "carried_out",
        )
    )


def shares(period: pb.AbsPeriod) -> dict[str, tuple[int, int]]:
    return {
        s.investor_id: (s.interest.amount_fen, s.principal_returned.amount_fen)
        for s in period.shares
    }


async def test_two_periods_pass_through_to_investors_and_lender(
    merchant: Stub, clock: ManualClock
) -> None:
    start = today(clock)
    await merchant.PayInCapital(
        pb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(1_000_000 * YUAN))
    )
    loan_id = f"{RUN}-f"
    await facility(merchant, loan_id, 100_000 * YUAN, 50_000 * YUAN)
    terms = {
        "coupon_rate": "0.06",
        "revolving_until": (start + timedelta(days=20)).isoformat(),
        "max_borrower_share": "1",
    }
    await merchant.CreateAbsPool(pool_request(POOL, clock, **terms))
    await sold(merchant, POOL, 30_000 * YUAN, f"p-a-{RUN}", investor_id="a")
    await sold(merchant, POOL, 20_000 * YUAN, f"p-b-{RUN}", investor_id="b")
    bought = await buy(merchant, POOL)
    assert [loan.loan_id for loan in bought.bought] == [loan_id]
    assert bought.spent.amount_fen == 50_000 * YUAN

    move_to(clock, start + timedelta(days=10))
    await repay(merchant, loan_id, pb.FACILITY_PART_FIXED, 10_250 * YUAN)
    request = pb.PassThroughAbsPoolRequest(idempotency_key=new_key(), pool_id=POOL)
    first = await merchant.PassThroughAbsPool(request)
    period = first.period
    assert period.days == 10 and balanced(period)
    assert (period.interest_collected.amount_fen, period.principal_collected.amount_fen) == (
        25_000,
        1_000_000,
    )
    assert (period.investor_interest.amount_fen, period.excess_spread.amount_fen) == (
        8_219,
        16_781,
    )
    assert (period.purchases.amount_fen, period.carried_out.amount_fen) == (0, 1_000_000)
    assert shares(period) == {"a": (4_931, 0), "b": (3_288, 0)}
    assert await merchant.PassThroughAbsPool(request) == first  # a replay: the same period
    again = pb.PassThroughAbsPoolRequest(idempotency_key=new_key(), pool_id=POOL)
    same_day = await refused(merchant.PassThroughAbsPool(again))
    assert error_info(same_day).reason == "POOL_PERIOD_NOT_OVER"

    move_to(clock, start + timedelta(days=31))
    await repay(merchant, loan_id, pb.FACILITY_PART_FIXED, 10_420 * YUAN)
    # The scheduled job's pass-through waits a whole month after the last period's end.
    monthly = pb.PassThroughAbsPoolRequest(idempotency_key=new_key(), pool_id=POOL, monthly=True)
    info = error_info(await refused(merchant.PassThroughAbsPool(monthly)))
    assert info.reason == "POOL_PERIOD_NOT_OVER"
    assert info.metadata["due"] == add_months(start + timedelta(days=10), 1).isoformat()
    second = await merchant.PassThroughAbsPool(
        pb.PassThroughAbsPoolRequest(idempotency_key=new_key(), pool_id=POOL)
    )
    period = second.period
    assert period.days == 21 and balanced(period)
    assert (period.investor_interest.amount_fen, period.excess_spread.amount_fen) == (
        17_260,
        24_740,
    )
    assert period.principal_returned.amount_fen == 2_000_000
    assert period.carried_out.amount_fen == 0
    assert shares(period) == {"a": (10_356, 1_200_000), "b": (6_904, 800_000)}
    pool = second.pool
    assert (pool.units.amount_fen, pool.cash.amount_fen, pool.principal.amount_fen) == (
        3_000_000,
        0,
        3_000_000,
    )
    assert [p.period_id for p in pool.periods] == [
        f"{POOL}:{(start + timedelta(days=days)).isoformat()}" for days in (10, 31)
    ]

    held = (await merchant.ListAbsHoldings(pb.ListAbsHoldingsRequest(investor_id="a"))).holdings
    assert [(h.pool_id, h.units.amount_fen) for h in held] == [(POOL, 1_800_000)]
    assert (held[0].interest_received.amount_fen, held[0].principal_returned.amount_fen) == (
        4_931 + 10_356,
        1_200_000,
    )
    assert held[0].bought.amount_fen == 3_000_000


async def test_units_bought_mid_period_earn_the_coupon_from_their_day(
    merchant: Stub, clock: ManualClock
) -> None:
    """a holds 50,000 yuan of a 6% pool for the whole 30 days, b buys 20,000 on day 10.
    Unit-days: a 5,000,000 x 30 = 150,000,000, b 2,000,000 x 20 = 40,000,000; coupon
    190,000,000 x 0.06 / 365 = 31,232.88 -> 31,232 (on units at the end it would be
    7,000,000 x 0.06 x 30 / 365 -> 34,520); a 31,232 x 15/19 = 24,656.84 -> 24,657 (the odd
    fen: the larger remainder), b 31,232 x 4/19 = 6,575.16 -> 6,575; excess 75,000 - 31,232."""
    start = today(clock)
    pool_id = f"{RUN}-mid"
    await merchant.PayInCapital(
        pb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(1_000_000 * YUAN))
    )
    loan_id = f"{RUN}-mid-f"
    await facility(merchant, loan_id, 100_000 * YUAN, 50_000 * YUAN)
    terms = {
        "coupon_rate": "0.06",
        "revolving_until": (start + timedelta(days=60)).isoformat(),
        "max_borrower_share": "1",
    }
    await merchant.CreateAbsPool(pool_request(pool_id, clock, **terms))
    await sold(merchant, pool_id, 50_000 * YUAN, f"p-mid-a-{RUN}", investor_id="a")
    assert [loan.loan_id for loan in (await buy(merchant, pool_id)).bought] == [loan_id]
    move_to(clock, start + timedelta(days=10))
    await sold(merchant, pool_id, 20_000 * YUAN, f"p-mid-b-{RUN}", investor_id="b")
    move_to(clock, start + timedelta(days=30))
    await repay(merchant, loan_id, pb.FACILITY_PART_FIXED, 750 * YUAN)  # 30 days of interest
    passed = await merchant.PassThroughAbsPool(
        pb.PassThroughAbsPoolRequest(idempotency_key=new_key(), pool_id=pool_id)
    )
    period = passed.period
    assert period.days == 30 and balanced(period)
    assert period.interest_collected.amount_fen == 75_000
    assert (period.investor_interest.amount_fen, period.excess_spread.amount_fen) == (
        31_232,
        43_768,
    )
    assert shares(period) == {"a": (24_657, 0), "b": (6_575, 0)}
    assert period.purchases.amount_fen + period.carried_out.amount_fen == 2_000_000


async def test_draws_after_the_sale_are_the_lenders(merchant: Stub, clock: ManualClock) -> None:
    """A 200,000-yuan facility: the 50,000 fixed part and a 50,000 draw are sold to a 6% pool
    (100,000 yuan of units, investor a); the merchant then draws another 50,000 (the lender's).
    Ten days later it pays 250 yuan of fixed interest, and on the revolving part 600 of
    interest (100,000 x 0.06% x 10) and 20,000 of principal. The fixed part is all the
    pool's: 25,000 fen. The revolving part is shared by principal: the pool holds 5,000,000
    of 8,000,000 outstanding + 2,000,000 repaid = 1/2: 30,000 interest and 1,000,000
    principal; the lender keeps as much. Coupon 10,000,000 x 0.06 x 10 / 365 = 16,438.36 ->
    16,438; excess 55,000 - 16,438 = 38,562; the pool holds 9,000,000 of principal after."""
    start = today(clock)
    pool_id = f"{RUN}-draws"
    await merchant.PayInCapital(
        pb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(1_000_000 * YUAN))
    )
    loan_id = f"{RUN}-draws-f"
    await facility(merchant, loan_id, 200_000 * YUAN, 50_000 * YUAN)
    await draw(merchant, loan_id, 50_000 * YUAN)
    terms = {
        "coupon_rate": "0.06",
        "revolving_until": (start + timedelta(days=60)).isoformat(),
        "max_borrower_share": "1",
    }
    await merchant.CreateAbsPool(pool_request(pool_id, clock, **terms))
    await sold(merchant, pool_id, 100_000 * YUAN, f"p-draws-a-{RUN}", investor_id="a")
    bought = await buy(merchant, pool_id)
    assert [loan.loan_id for loan in bought.bought] == [loan_id]
    assert bought.spent.amount_fen == 100_000 * YUAN
    await draw(merchant, loan_id, 50_000 * YUAN)  # after the sale: the lender's
    move_to(clock, start + timedelta(days=10))
    await repay(merchant, loan_id, pb.FACILITY_PART_FIXED, 250 * YUAN)
    await repay(merchant, loan_id, pb.FACILITY_PART_REVOLVING, 20_600 * YUAN)
    passed = await merchant.PassThroughAbsPool(
        pb.PassThroughAbsPoolRequest(idempotency_key=new_key(), pool_id=pool_id)
    )
    period = passed.period
    assert balanced(period)
    assert (period.interest_collected.amount_fen, period.principal_collected.amount_fen) == (
        25_000 + 30_000,
        1_000_000,
    )
    assert (period.investor_interest.amount_fen, period.excess_spread.amount_fen) == (
        16_438,
        38_562,
    )
    assert shares(period) == {"a": (16_438, 0)}
    assert passed.pool.principal.amount_fen == 9_000_000
