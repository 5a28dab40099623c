"""Yu'e Bao's daily income over real gRPC: three business dates against a hand-computed table.

The holders (this module's database holds no others):
  A 1,000,000 fen, B 12,345 fen, C 1 fen from Monday 3 March 2025; D 2,000,000 fen from the 4th.
The quote: the default portfolio gives 0.4756 yuan per 10,000 shares (test_yuebao.py); from
the 5th an all-bond portfolio at 3.65% gives 0.8273. Income = shares * quote / 10,000 fen,
rounded down; the fractions left are the residue.

  date   holder  shares      shares * quote / 10,000        income  residue
  03-03  A       1,000,000   47.56                          47      0.56
         B          12,345    0.5871282                      0      0.5871282
         C               1    0.00004756                     0      0.00004756
                                                  paid 47, residue added 1.14717576
  03-04  A       1,000,047   47.56223532                    47      0.56223532
         B          12,345    0.5871282                      0      0.5871282
         C               1    0.00004756                     0      0.00004756
         D       2,000,000   95.12                          95      0.12
                                                  paid 142, residue added 1.26941108
  03-05  A       1,000,094   82.73777662 (quote 0.8273)     82      0.73777662
         B          12,345    1.02130185                     1      0.02130185
         C               1    0.00008273                     0      0.00008273
         D       2,000,095  165.46785935                   165      0.46785935
                                                  paid 248, residue added 1.22702055
  residue carried after 03-05: 1.14717576 + 1.26941108 + 1.22702055 = 3.64360739
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import grpc
import pytest

from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.payouts import YUEBAO_INCOME_ACCOUNT_ID, YUEBAO_OMNIBUS_ACCOUNT_ID
from services.wealth.tests.support import (
    assert_audit_clean,
    error_info,
    new_key,
    omnibus,
    refused,
    subscribe_yuebao,
)
from services.wealth.yuebao import seven_day_annualised_yield

A, B, C, D = "2088000000000001", "2088000000000002", "2088000000000003", "2088000000000004"


async def run_income(stub, business_date: str, **options) -> pb.RunDailyIncomeResponse:
    return await stub.RunDailyIncome(
        pb.RunDailyIncomeRequest(business_date=business_date, **options)
    )


async def yuebao(stub, investor_id: str) -> pb.YuebaoAccount:
    return (
        await stub.GetYuebaoAccount(pb.GetYuebaoAccountRequest(investor_id=investor_id))
    ).account


@pytest.fixture(scope="module")
async def three_dates(wealth) -> dict[str, pb.RunDailyIncomeResponse]:
    """Subscribe the holders and run the income of 3, 4 and 5 March, as in the table."""
    stub, clock = wealth.stub, wealth.clock
    for investor, fen in ((A, 1_000_000), (B, 12_345), (C, 1)):
        await subscribe_yuebao(stub, investor, fen)
    runs = {}
    clock.advance(timedelta(days=1))  # Tuesday 4 March: Monday has ended
    runs["2025-03-03"] = await run_income(stub, "2025-03-03")
    await subscribe_yuebao(stub, D, 2_000_000)
    clock.advance(timedelta(days=1))
    runs["2025-03-04"] = await run_income(stub, "2025-03-04")
    await stub.SetYuebaoPortfolio(
        pb.SetYuebaoPortfolioRequest(
            idempotency_key=new_key(),
            allocations=[
                pb.PortfolioAllocation(asset_class="bonds", weight="1", annual_rate="0.0365")
            ],
        )
    )
    clock.advance(timedelta(days=1))  # Thursday 6 March
    runs["2025-03-05"] = await run_income(stub, "2025-03-05")
    return runs


async def test_each_date_pays_the_hand_computed_income(three_dates) -> None:
    expected = {
        # date: (quote, holders paid, credited fen, residue added)
        "2025-03-03": ("0.4756", 3, 47, "1.14717576"),
        "2025-03-04": ("0.4756", 4, 142, "1.26941108"),
        "2025-03-05": ("0.8273", 4, 248, "1.22702055"),
    }
    for business_date, (quote, holders, credited_fen, residue) in expected.items():
        response = three_dates[business_date]
        run = response.run
        assert not response.already_completed
        assert run.state == pb.INCOME_RUN_STATE_COMPLETED
        assert run.income_per_10k_shares == quote
        assert (run.holders_paid, response.holders_paid_now) == (holders, holders)
        assert run.credited.amount_fen == credited_fen
        assert Decimal(run.residue_added_fen) == Decimal(residue)
        # The new shares need cash behind them: the day's income is owed into the omnibus.
        payout = run.income_payout
        assert (payout.from_account_id, payout.to_account_id) == (
            YUEBAO_INCOME_ACCOUNT_ID,
            YUEBAO_OMNIBUS_ACCOUNT_ID,
        )
        assert (payout.amount.amount_fen, payout.due_on) == (credited_fen, business_date)
        assert payout.settlement == pb.PAYOUT_SETTLEMENT_SCHEDULED


async def test_holders_see_shares_yesterdays_and_cumulative_income(wealth, three_dates) -> None:
    stub = wealth.stub
    # Today is 6 March: "yesterday" is the 5th.
    expected = {
        A: (1_000_176, 82, 176),
        B: (12_346, 1, 1),
        C: (1, 0, 0),
        D: (2_000_260, 165, 260),
    }
    for investor, (shares_fen, yesterday_fen, cumulative_fen) in expected.items():
        account = await yuebao(stub, investor)
        assert account.shares.amount_fen == shares_fen
        assert account.yesterday_income.amount_fen == yesterday_fen
        assert account.cumulative_income.amount_fen == cumulative_fen
        assert account.last_income_date == "2025-03-05"
    history = await stub.ListYuebaoIncome(pb.ListYuebaoIncomeRequest(investor_id=A))
    assert [
        (i.business_date, i.income.amount_fen, i.shares_before.amount_fen) for i in history.income
    ] == [
        ("2025-03-05", 82, 1_000_094),
        ("2025-03-04", 47, 1_000_047),
        ("2025-03-03", 47, 1_000_000),
    ]
    assert [i.cumulative_income.amount_fen for i in history.income] == [176, 94, 47]


async def test_the_residue_is_carried_and_the_invariants_hold(wealth, three_dates) -> None:
    stub = wealth.stub
    fund = await stub.GetYuebaoFund(pb.GetYuebaoFundRequest())
    assert Decimal(fund.residue_fen) == Decimal("3.64360739")
    assert fund.shares_outstanding.amount_fen == 1_000_176 + 12_346 + 1 + 2_000_260
    assert [(q.business_date, q.income_per_10k_shares) for q in fund.recent_quotes] == [
        ("2025-03-05", "0.8273"),
        ("2025-03-04", "0.4756"),
        ("2025-03-03", "0.4756"),
    ]
    assert fund.seven_day_annualised_yield == ""  # three published days of the seven needed
    # The omnibus holds the subscriptions (3,012,346 fen) until the income is posted into it.
    audit = await assert_audit_clean(stub)
    figures = omnibus(audit, YUEBAO_OMNIBUS_ACCOUNT_ID)
    assert figures.liabilities.amount_fen == 3_012_783
    assert figures.receivable.amount_fen == 47 + 142 + 248
    assert figures.expected_balance.amount_fen == 3_012_346
    for business_date, response in three_dates.items():
        await stub.MarkPayoutPaid(
            pb.MarkPayoutPaidRequest(
                idempotency_key=new_key(),
                payout_id=response.run.income_payout.payout_id,
                payment_posting_id=f"income-posting-{business_date}",
            )
        )
    audit = await assert_audit_clean(stub)
    assert omnibus(audit, YUEBAO_OMNIBUS_ACCOUNT_ID).expected_balance.amount_fen == 3_012_783


async def test_running_a_date_twice_does_nothing(wealth, three_dates) -> None:
    stub = wealth.stub
    before = {investor: await yuebao(stub, investor) for investor in (A, B, C, D)}
    again = await run_income(stub, "2025-03-04")
    assert again.already_completed
    assert again.holders_paid_now == 0
    assert again.run.credited.amount_fen == 142
    assert {investor: await yuebao(stub, investor) for investor in (A, B, C, D)} == before


async def test_a_date_that_has_not_ended_is_refused(wealth, three_dates) -> None:
    for business_date in ("2025-03-06", "2025-03-07"):  # today, tomorrow
        error = await refused(run_income(wealth.stub, business_date))
        assert (error.code(), error_info(error).reason) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_BUSINESS_DATE",
        )
    error = await refused(run_income(wealth.stub, "6 March"))
    assert error_info(error).reason == "INVALID_BUSINESS_DATE"


async def test_seven_published_days_give_the_7_day_yield(wealth, three_dates) -> None:
    stub = wealth.stub
    wealth.clock.advance(timedelta(days=4))  # Monday 10 March
    # The periodic job catches up the four missed dates, oldest first.
    assert await wealth.service.run_job_now("yuebao-daily-income") == 4 * 4
    fund = await stub.GetYuebaoFund(pb.GetYuebaoFundRequest())
    quotes = [Decimal("0.4756")] * 2 + [Decimal("0.8273")] * 5
    assert fund.seven_day_annualised_yield == str(seven_day_annualised_yield(quotes))
    assert (await yuebao(stub, A)).seven_day_annualised_yield == fund.seven_day_annualised_yield
    assert await wealth.service.run_job_now("yuebao-daily-income") == 0
