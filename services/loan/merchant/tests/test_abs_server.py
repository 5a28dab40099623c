"""ABS pools served by MerchantLendingService, over real gRPC and a real mongod.

Three merchants' facilities (principal 50,000, 80,000 and 50,000 yuan, in id order); a pool
with 150,000 yuan of units and no borrower above 50% of them buys the first and the third
at par (the second is 80,000 > 75,000: BORROWER_SHARE_HIGH), and its report balances
(units sold = cash + purchases); what it holds leaves the capacity's used; a second pool
buys only what no pool holds; a part repaid on a pooled loan shrinks what counts as sold;
after the revolving period the pool buys nothing (POOL_NOT_REVOLVING). Bad terms, a pool id
taken and the same sale recorded twice are refused or answered once.

Order loans are pooled too (a merchant-lending ABS holds merchant loans only: facilities and
order loans): an 800-yuan order loan is bought at par (order_loan_spent, kind "order_loan"),
leaves the capacity's used, and its settlement's 596.40 yuan withheld five days later is the
pool's collection from platform:loan:order (order_loan_collected), the lender keeping 0.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta

import grpc
import pytest

from chassis.clock import ManualClock
from colony.loan.v1 import merchant_lending_pb2 as pb
from colony.loan.v1 import merchant_lending_pb2_grpc
from services.loan.merchant.tests.test_merchant_server import (
    GOOD,
    capacity,
    draw,
    pledged,
    repay,
)
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


@pytest.fixture(scope="module")
async def merchant(loan: RunningLoan) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{loan.service.port}") as channel:
        yield merchant_lending_pb2_grpc.MerchantLendingServiceStub(channel)


async def facility(stub: Stub, facility_id: str, amount_fen: int, fixed_fen: int) -> None:
    merchant_id = f"2188{uuid.uuid4().int % 10**12:012d}"
    await stub.ApplyFacility(
        pb.ApplyFacilityRequest(
            idempotency_key=new_key(),
            facility_id=facility_id,
            merchant_id=merchant_id,
            amount=cny(amount_fen),
            fixed_amount=cny(fixed_fen),
            figures=GOOD,
        )
    )
    await stub.ConfirmFacilityDisbursement(
        pb.ConfirmFacilityDisbursementRequest(
            idempotency_key=new_key(),
            facility_id=facility_id,
            payment_posting_id="p-" + facility_id,
        )
    )


def pool_request(pool_id: str, clock: ManualClock, **terms: str) -> pb.CreateAbsPoolRequest:
    return pb.CreateAbsPoolRequest(
        idempotency_key=new_key(),
        pool_id=pool_id,
        coupon_rate=terms.get("coupon_rate", "0.045"),
        revolving_until=terms.get(
            "revolving_until", (today(clock) + timedelta(days=90)).isoformat()
        ),
        eligibility=pb.AbsEligibility(
            require_current=True,
            min_remaining_days=30,
            max_borrower_share=terms.get("max_borrower_share", "0.5"),
        ),
    )


async def sold(
    stub: Stub, pool_id: str, fen: int, posting_id: str, investor_id: str = "investor-1"
) -> pb.AbsPool:
    response = await stub.RecordAbsUnitsSold(
        pb.RecordAbsUnitsSoldRequest(
            idempotency_key=new_key(),
            pool_id=pool_id,
            amount=cny(fen),
            payment_posting_id=posting_id,
            investor_id=investor_id,
        )
    )
    return response.pool


async def buy(stub: Stub, pool_id: str) -> pb.BuyAbsLoansResponse:
    return await stub.BuyAbsLoans(pb.BuyAbsLoansRequest(idempotency_key=new_key(), pool_id=pool_id))


async def test_a_pool_buys_eligible_facilities_and_capacity_returns(
    merchant: Stub, clock: ManualClock
) -> None:
    await merchant.PayInCapital(
        pb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(10_000_000 * YUAN))
    )
    a, b, c = (f"{RUN}-{letter}" for letter in "abc")
    await facility(merchant, a, 100_000 * YUAN, 50_000 * YUAN)
    await facility(merchant, b, 200_000 * YUAN, 50_000 * YUAN)
    await draw(merchant, b, 30_000 * YUAN)
    await facility(merchant, c, 100_000 * YUAN, 50_000 * YUAN)
    before = await capacity(merchant)
    assert before.merchant_used.amount_fen == 180_000 * YUAN
    assert before.sold_to_pools.amount_fen == 0

    # Bad terms change nothing; the pool, then the same id again under another key.
    for bad in ({"max_borrower_share": "1.5"}, {"revolving_until": "next spring"}):
        error = await refused(merchant.CreateAbsPool(pool_request(f"{RUN}-bad", clock, **bad)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    request = pool_request(f"{RUN}-pool", clock)
    created = await merchant.CreateAbsPool(request)
    assert created == await merchant.CreateAbsPool(request)  # the same key: the same answer
    taken = await refused(merchant.CreateAbsPool(pool_request(f"{RUN}-pool", clock)))
    assert error_info(taken).reason == "POOL_EXISTS"

    # 150,000 yuan of units, the same sale recorded once.
    pool = await sold(merchant, f"{RUN}-pool", 150_000 * YUAN, f"p-sale-{RUN}")
    again = await sold(merchant, f"{RUN}-pool", 150_000 * YUAN, f"p-sale-{RUN}")
    assert pool.units.amount_fen == again.units.amount_fen == 150_000 * YUAN

    bought = await buy(merchant, f"{RUN}-pool")
    assert [(loan.loan_id, loan.principal.amount_fen) for loan in bought.bought] == [
        (a, 50_000 * YUAN),
        (c, 50_000 * YUAN),
    ]
    pool = bought.pool
    assert (pool.cash.amount_fen, pool.principal.amount_fen, pool.purchases.amount_fen) == (
        50_000 * YUAN,
        100_000 * YUAN,
        100_000 * YUAN,
    )
    assert pool.units_sold.amount_fen == pool.cash.amount_fen + pool.purchases.amount_fen
    after = await capacity(merchant)
    assert after.sold_to_pools.amount_fen == 100_000 * YUAN
    assert after.used.amount_fen == before.used.amount_fen - 100_000 * YUAN
    assert after.available.amount_fen == before.available.amount_fen + 100_000 * YUAN
    assert (await buy(merchant, f"{RUN}-pool")).bought == []  # nothing more it may buy

    # A second pool buys only what no pool holds.
    second = pool_request(f"{RUN}-second", clock, max_borrower_share="1")
    await merchant.CreateAbsPool(second)
    await sold(merchant, f"{RUN}-second", 1_000_000 * YUAN, f"p-sale-2-{RUN}")
    assert [loan.loan_id for loan in (await buy(merchant, f"{RUN}-second")).bought] == [b]
    assert (await capacity(merchant)).sold_to_pools.amount_fen == 180_000 * YUAN

    # 10,000 yuan of a pooled loan's principal repaid: that much less counts as sold.
    repaid = await repay(merchant, a, pb.FACILITY_PART_FIXED, 10_000 * YUAN)
    principal_a = repaid.facility.fixed.principal.amount_fen
    assert principal_a < 50_000 * YUAN
    held = await capacity(merchant)
    assert held.sold_to_pools.amount_fen == principal_a + 130_000 * YUAN

    # The report; an unknown pool.
    report = (await merchant.GetAbsPool(pb.GetAbsPoolRequest(pool_id=f"{RUN}-pool"))).pool
    assert [loan.loan_id for loan in report.loans] == [a, c]
    assert report.sale_posting_ids == [f"p-sale-{RUN}"]
    missing = await refused(merchant.GetAbsPool(pb.GetAbsPoolRequest(pool_id="no-such-pool")))
    assert missing.code() == grpc.StatusCode.NOT_FOUND

    # After the revolving period the pool buys nothing.
    move_to(clock, date_after(report.revolving_until))
    late = await refused(buy(merchant, f"{RUN}-pool"))
    assert error_info(late).reason == "POOL_NOT_REVOLVING"


def date_after(text: str) -> date:
    return date.fromisoformat(text) + timedelta(days=1)


async def test_a_pool_buys_an_order_loan_and_collects_what_its_settlement_repays(
    merchant: Stub, clock: ManualClock
) -> None:
    await merchant.PayInCapital(
        pb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(1_000_000 * YUAN))
    )
    seller = f"2188{uuid.uuid4().int % 10**12:012d}"
    loan_id = f"ol_{RUN}"
    await merchant.ApplyOrderLoan(
        pb.ApplyOrderLoanRequest(
            idempotency_key=new_key(),
            loan_id=loan_id,
            merchant_id=seller,
            amount=cny(800 * YUAN),
            trades=[pledged(f"t-{RUN}", 1_000 * YUAN)],
        )
    )
    await merchant.ConfirmOrderLoanDisbursement(
        pb.ConfirmOrderLoanDisbursementRequest(
            idempotency_key=new_key(), loan_id=loan_id, payment_posting_id="p-" + loan_id
        )
    )
    before = await capacity(merchant)
    pool_id = f"{RUN}-orders"
    request = pool_request(pool_id, clock, max_borrower_share="1")
    request.eligibility.min_remaining_days = 10  # an order loan runs 30 days
    created = (await merchant.CreateAbsPool(request)).pool
    assert list(created.eligibility.loan_kinds) == ["facility", "order_loan"]
    await sold(merchant, pool_id, 1_000 * YUAN, f"p-sale-orders-{RUN}")
    bought = await buy(merchant, pool_id)
    assert [(loan.loan_id, loan.kind, loan.principal.amount_fen) for loan in bought.bought] == [
        (loan_id, "order_loan", 800 * YUAN)
    ]
    assert bought.spent.amount_fen == bought.order_loan_spent.amount_fen == 800 * YUAN
    assert (await capacity(merchant)).used.amount_fen == before.used.amount_fen - 800 * YUAN

    # Five days on, the trade settles: 596.40 withheld → 2.00 interest, 594.40 principal.
    move_to(clock, today(clock) + timedelta(days=5))
    collected = await merchant.ApplyOrderLoanCollection(
        pb.ApplyOrderLoanCollectionRequest(
            idempotency_key=new_key(),
            loan_id=loan_id,
            application_id=f"w-{RUN}:p1",
            amount=cny(59_640),
        )
    )
    assert collected.principal_applied.amount_fen == 59_440
    passed = await merchant.PassThroughAbsPool(
        pb.PassThroughAbsPoolRequest(idempotency_key=new_key(), pool_id=pool_id)
    )
    period = passed.period
    assert (period.interest_collected.amount_fen, period.principal_collected.amount_fen) == (
        200,
        59_440,
    )
    assert period.order_loan_collected.amount_fen == 59_640  # from platform:loan:order
    assert (period.lender_kept_interest.amount_fen, period.lender_kept_principal.amount_fen) == (
        0,
        0,
    )
    # coupon 100,000 x 0.045 x 5 / 365 = 61.64 → 61; the rest is the lender's excess spread
    assert (period.investor_interest.amount_fen, period.excess_spread.amount_fen) == (61, 139)
    assert period.excess_spread_account_id == "platform:loan:capital"
    assert period.carried_out.amount_fen == 20_000 + 59_440  # nothing else to buy
    held = (await capacity(merchant)).sold_to_pools.amount_fen
    assert held == 80_000 - 59_440 + (before.sold_to_pools.amount_fen)
