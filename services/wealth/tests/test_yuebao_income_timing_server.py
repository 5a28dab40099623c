"""Whose shares earn a date's income: those held when the date ended, whenever the job runs.

The job for Monday 3 March runs on Tuesday, after some holders have moved (quote 0.4756):
  P  1,000,000 fen from Monday, subscribes 1,000,000 more on Tuesday
       Monday: 1,000,000 * 0.4756 / 10,000 = 47.56 -> 47 (not on the 2,000,000 held now)
       Tuesday: 2,000,047 * 0.4756 / 10,000 = 95.122... -> 95
  Q  subscribes 1,000,000 on Tuesday
       Monday: nothing held -> 0;  Tuesday: 47.56 -> 47
  R  1,000,000 from Monday, redeems all of it on Tuesday morning
       Monday: it held 1,000,000 when Monday ended -> 47 (credited as shares after the redemption)
       Tuesday: 47 * 0.4756 / 10,000 -> 0
"""

from __future__ import annotations

from datetime import timedelta

from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.tests.support import (
    assert_audit_clean,
    cny,
    error_info,
    new_key,
    refused,
    subscribe_yuebao,
)

P, Q, R = "2088600000000001", "2088600000000002", "2088600000000003"


async def income_of(stub, investor_id: str) -> dict[str, int]:
    history = await stub.ListYuebaoIncome(pb.ListYuebaoIncomeRequest(investor_id=investor_id))
    return {i.business_date: i.income.amount_fen for i in history.income}


async def test_income_is_paid_on_the_shares_held_when_the_date_ended(wealth) -> None:
    stub, clock = wealth.stub, wealth.clock
    await subscribe_yuebao(stub, P, 1_000_000)
    await subscribe_yuebao(stub, R, 1_000_000)
    clock.advance(timedelta(days=1))  # Tuesday 09:00, before Monday's job
    await subscribe_yuebao(stub, P, 1_000_000)
    await subscribe_yuebao(stub, Q, 1_000_000)
    await stub.RedeemShares(
        pb.RedeemSharesRequest(
            idempotency_key=new_key(),
            redemption_id=new_key(),
            investor_id=R,
            amount=cny(1_000_000),
            mode=pb.REDEMPTION_MODE_FAST_ONLY,
        )
    )
    monday = await stub.RunDailyIncome(pb.RunDailyIncomeRequest(business_date="2025-03-03"))
    assert (monday.run.holders_paid, monday.run.credited.amount_fen) == (3, 47 + 0 + 47)
    clock.advance(timedelta(days=1))
    tuesday = await stub.RunDailyIncome(pb.RunDailyIncomeRequest(business_date="2025-03-04"))
    assert tuesday.run.credited.amount_fen == 95 + 47 + 0
    assert await income_of(stub, P) == {"2025-03-03": 47, "2025-03-04": 95}
    assert await income_of(stub, Q) == {"2025-03-03": 0, "2025-03-04": 47}
    assert await income_of(stub, R) == {"2025-03-03": 47, "2025-03-04": 0}
    shares = {
        i: (await stub.GetYuebaoAccount(pb.GetYuebaoAccountRequest(investor_id=i))).account
        for i in (P, Q, R)
    }
    assert {i: a.shares.amount_fen for i, a in shares.items()} == {
        P: 2_000_142,
        Q: 1_000_047,
        R: 47,
    }
    await assert_audit_clean(stub)


async def test_dates_are_distributed_in_order(wealth) -> None:
    error = await refused(
        wealth.stub.RunDailyIncome(pb.RunDailyIncomeRequest(business_date="2025-03-02"))
    )
    assert error_info(error).reason == "INCOME_DATE_OUT_OF_ORDER"
