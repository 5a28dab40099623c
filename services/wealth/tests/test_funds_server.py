"""The fund marketplace over real gRPC: risk profiles, suitability, NAV cut-off pricing,
sales, recommendations and the demo catalog.

The clock starts on Monday 3 March 2025 at 09:00 in Beijing (01:00 UTC).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import grpc
import pytest

from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.payouts import FUNDS_OMNIBUS_ACCOUNT_ID
from services.wealth.tests.support import (
    YUAN,
    assert_audit_clean,
    cny,
    error_info,
    new_investor,
    new_key,
    omnibus,
    refused,
)

C3_ANSWERS = [3] * 10  # a total of 30: C3 (26-33)


async def profile(stub, investor_id: str, answers: list[int]) -> pb.RiskProfile:
    response = await stub.SubmitRiskProfile(
        pb.SubmitRiskProfileRequest(
            idempotency_key=new_key(), investor_id=investor_id, answer_scores=answers
        )
    )
    return response.profile


def buy_request(
    investor_id: str, fund_id: str, fen: int, *, acknowledged: bool = False
) -> pb.BuyFundRequest:
    purchase_id = f"saga-{uuid.uuid4().hex}:buy"
    return pb.BuyFundRequest(
        idempotency_key=purchase_id,
        purchase_id=purchase_id,
        investor_id=investor_id,
        fund_id=fund_id,
        amount=cny(fen),
        risk_acknowledged=acknowledged,
    )


async def confirm(stub, purchase_id: str) -> pb.ConfirmPurchaseResponse:
    return await stub.ConfirmPurchase(
        pb.ConfirmPurchaseRequest(idempotency_key=new_key(), purchase_id=purchase_id)
    )


async def publish(stub, fund_id: str, nav_date: str, nav: str) -> pb.PublishNavResponse:
    return await stub.PublishNav(
        pb.PublishNavRequest(
            idempotency_key=new_key(), fund_id=fund_id, nav_date=nav_date, nav_per_unit=nav
        )
    )


@pytest.fixture(scope="module")
async def funds(wealth) -> dict[str, pb.Fund]:
    created = {}
    for fund_id, category, risk_level in (
        ("t-bond-r2", pb.FUND_CATEGORY_BOND, 2),
        ("t-equity-r4", pb.FUND_CATEGORY_EQUITY, 4),
    ):
        response = await wealth.stub.CreateFund(
            pb.CreateFundRequest(
                idempotency_key=new_key(),
                fund_id=fund_id,
                name=f"Test {fund_id}",
                category=category,
                risk_level=risk_level,
            )
        )
        created[fund_id] = response.fund
    return created


async def test_the_questionnaire_scores_c1_to_c5(wealth) -> None:
    stub = wealth.stub
    investor = new_investor()
    assessed = await profile(stub, investor, C3_ANSWERS)
    assert (assessed.score, assessed.level) == (30, 3)
    stored = await stub.GetRiskProfile(pb.GetRiskProfileRequest(investor_id=investor))
    assert stored.valid and stored.profile == assessed
    assert (await profile(stub, investor, [5] * 10)).level == 5  # answered again: C5
    bad = await refused(profile(stub, investor, [3] * 9))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    unknown = await refused(
        stub.GetRiskProfile(pb.GetRiskProfileRequest(investor_id=new_investor()))
    )
    assert error_info(unknown).reason == "RISK_PROFILE_REQUIRED"


async def test_a_fund_above_the_investors_level_needs_an_acknowledgement(wealth, funds) -> None:
    stub = wealth.stub
    investor = new_investor()
    nobody = await refused(stub.BuyFund(buy_request(investor, "t-equity-r4", 1_000 * YUAN)))
    assert error_info(nobody).reason == "RISK_PROFILE_REQUIRED"
    await profile(stub, investor, C3_ANSWERS)
    refusal = await refused(stub.BuyFund(buy_request(investor, "t-equity-r4", 1_000 * YUAN)))
    assert (refusal.code(), error_info(refusal).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "SUITABILITY",
    )
    assert dict(error_info(refusal).metadata) == {
        "fund_id": "t-equity-r4",
        "risk_level": "R4",
        "investor_level": "C3",
    }
    acknowledged = await stub.BuyFund(
        buy_request(investor, "t-equity-r4", 1_000 * YUAN, acknowledged=True)
    )
    assert acknowledged.order.state == pb.FUND_ORDER_STATE_AWAITING_FUNDS
    assert acknowledged.purchase.credit_account_id == FUNDS_OMNIBUS_ACCOUNT_ID
    within = await stub.BuyFund(buy_request(investor, "t-bond-r2", 1_000 * YUAN))
    assert within.order.risk_acknowledged is False


async def test_orders_before_15_00_take_that_days_nav_and_after_it_the_next(wealth, funds) -> None:
    stub, clock = wealth.stub, wealth.clock
    investor = new_investor()
    await profile(stub, investor, C3_ANSWERS)
    clock.advance(timedelta(hours=5, minutes=59, seconds=59))  # Monday 14:59:59 in Beijing
    before = await stub.BuyFund(buy_request(investor, "t-bond-r2", 1_000 * YUAN))
    clock.advance(timedelta(seconds=1))  # 15:00:00 is after the cut-off
    after = await stub.BuyFund(buy_request(investor, "t-bond-r2", 1_000 * YUAN))
    assert (before.order.nav_date, after.order.nav_date) == ("2025-03-03", "2025-03-04")
    for tried in (before, after):
        funded = (await confirm(stub, tried.purchase.purchase_id)).fund_order
        assert funded.state == pb.FUND_ORDER_STATE_PENDING_NAV

    published = await publish(stub, "t-bond-r2", "2025-03-03", "1.2345")
    assert published.orders_priced == 1
    priced = (await stub.GetFundOrder(pb.GetFundOrderRequest(order_id=before.order.order_id))).order
    # 100,000 fen at 1.2345 yuan: 100,000 // 123.45 = 810.04 units (0.562 fen stays in the fund).
    assert (priced.state, priced.units, priced.nav_per_unit) == (
        pb.FUND_ORDER_STATE_PRICED,
        "810.04",
        "1.2345",
    )
    waiting = (await stub.GetFundOrder(pb.GetFundOrderRequest(order_id=after.order.order_id))).order
    assert waiting.state == pb.FUND_ORDER_STATE_PENDING_NAV

    clock.advance(timedelta(days=1))  # Tuesday 15:00
    early = await refused(publish(stub, "t-bond-r2", "2025-03-05", "1.2500"))
    assert error_info(early).reason == "INVALID_BUSINESS_DATE"  # not begun
    await publish(stub, "t-bond-r2", "2025-03-04", "1.2500")
    priced = (await stub.GetFundOrder(pb.GetFundOrderRequest(order_id=after.order.order_id))).order
    assert (priced.units, priced.nav_per_unit) == ("800.00", "1.2500")  # 1,000 / 1.25
    positions = await stub.ListFundPositions(pb.ListFundPositionsRequest(investor_id=investor))
    assert [(p.fund_id, p.units) for p in positions.positions] == [("t-bond-r2", "1610.04")]


async def test_a_weekend_order_takes_mondays_nav(wealth, funds) -> None:
    stub, clock = wealth.stub, wealth.clock
    investor = new_investor()
    await profile(stub, investor, C3_ANSWERS)
    clock.advance(timedelta(days=4))  # Saturday 8 March, 15:00 in Beijing
    order = (await stub.BuyFund(buy_request(investor, "t-bond-r2", 500 * YUAN))).order
    assert order.nav_date == "2025-03-10"
    weekend = await refused(publish(stub, "t-bond-r2", "2025-03-08", "1.2600"))
    assert error_info(weekend).reason == "INVALID_BUSINESS_DATE"


async def test_a_nav_is_published_once(wealth, funds) -> None:
    stub = wealth.stub
    again = await publish(stub, "t-bond-r2", "2025-03-03", "1.2345")
    assert again.nav.nav_per_unit == "1.2345"
    changed = await refused(publish(stub, "t-bond-r2", "2025-03-03", "1.2346"))
    assert error_info(changed).reason == "NAV_ALREADY_PUBLISHED"
    history = await stub.ListNavHistory(pb.ListNavHistoryRequest(fund_id="t-bond-r2"))
    assert [(n.nav_date, n.nav_per_unit) for n in history.navs] == [
        ("2025-03-04", "1.2500"),
        ("2025-03-03", "1.2345"),
    ]


async def test_a_sale_takes_units_now_and_owes_proceeds_at_its_nav(wealth, funds) -> None:
    stub, clock = wealth.stub, wealth.clock
    investor = new_investor()
    await profile(stub, investor, C3_ANSWERS)
    clock.advance(timedelta(days=2))  # Monday 10 March, 15:00: orders take Tuesday's NAV
    bought = await stub.BuyFund(buy_request(investor, "t-bond-r2", 2_000 * YUAN))
    await confirm(stub, bought.purchase.purchase_id)
    clock.advance(timedelta(days=1))  # Tuesday 11 March, 15:00
    await publish(stub, "t-bond-r2", "2025-03-11", "1.3000")  # 2,000 / 1.3 = 1538.46 units
    too_many = await refused(
        stub.SellFund(
            pb.SellFundRequest(
                idempotency_key=new_key(),
                investor_id=investor,
                fund_id="t-bond-r2",
                units="1538.47",
            )
        )
    )
    assert error_info(too_many).reason == "INSUFFICIENT_UNITS"
    sale = (
        await stub.SellFund(
            pb.SellFundRequest(
                idempotency_key=new_key(),
                investor_id=investor,
                fund_id="t-bond-r2",
                units="1000.01",
            )
        )
    ).order
    assert (sale.state, sale.nav_date) == (pb.FUND_ORDER_STATE_PENDING_NAV, "2025-03-12")
    positions = await stub.ListFundPositions(pb.ListFundPositionsRequest(investor_id=investor))
    assert [p.units for p in positions.positions] == ["538.45"]
    before = omnibus(await assert_audit_clean(stub), FUNDS_OMNIBUS_ACCOUNT_ID)

    clock.advance(timedelta(days=1))
    await publish(stub, "t-bond-r2", "2025-03-12", "1.3333")
    sold = (await stub.GetFundOrder(pb.GetFundOrderRequest(order_id=sale.order_id))).order
    # 1000.01 units * 1.3333 yuan = 1333.313333 yuan: 133,331 fen (0.3333 fen stays in the fund).
    assert (sold.state, sold.amount.amount_fen) == (pb.FUND_ORDER_STATE_PRICED, 133_331)
    payout = (await stub.GetPayout(pb.GetPayoutRequest(payout_id=sold.payout_id))).payout
    assert (payout.kind, payout.from_account_id, payout.to_account_id) == (
        pb.PAYOUT_KIND_FUND_SALE,
        FUNDS_OMNIBUS_ACCOUNT_ID,
        investor,
    )
    assert payout.amount.amount_fen == 133_331
    after = omnibus(await assert_audit_clean(stub), FUNDS_OMNIBUS_ACCOUNT_ID)
    assert after.expected_balance == before.expected_balance  # owed, not yet paid out


async def test_the_pricer_job_prices_orders_whose_nav_arrived_behind_its_back(
    wealth, funds
) -> None:
    stub, store = wealth.stub, wealth.store
    investor = new_investor()
    await profile(stub, investor, C3_ANSWERS)
    order = (await stub.BuyFund(buy_request(investor, "t-bond-r2", 1_000 * YUAN))).order
    await confirm(stub, order.order_id)
    # A PublishNav that committed its NAV and crashed before pricing leaves this behind.
    wealth.clock.advance(timedelta(days=1))
    await store.insert_nav(None, "t-bond-r2", date.fromisoformat(order.nav_date), Decimal("1.2000"))
    assert await wealth.service.run_job_now("fund-order-pricer") == 1
    priced = (await stub.GetFundOrder(pb.GetFundOrderRequest(order_id=order.order_id))).order
    assert (priced.state, priced.units) == (pb.FUND_ORDER_STATE_PRICED, "833.33")
    assert await wealth.service.run_job_now("fund-order-pricer") == 0


async def test_a_cancelled_buy_cancels_its_order(wealth, funds) -> None:
    stub = wealth.stub
    investor = new_investor()
    await profile(stub, investor, C3_ANSWERS)
    tried = await stub.BuyFund(buy_request(investor, "t-bond-r2", 1_000 * YUAN))
    await stub.CancelPurchase(
        pb.CancelPurchaseRequest(idempotency_key=new_key(), purchase_id=tried.purchase.purchase_id)
    )
    order = (await stub.GetFundOrder(pb.GetFundOrderRequest(order_id=tried.order.order_id))).order
    assert order.state == pb.FUND_ORDER_STATE_CANCELLED


async def test_recommendations_fit_the_profile_and_rank_by_return(wealth, funds) -> None:
    stub = wealth.stub
    seeded = await stub.SeedDemoCatalog(pb.SeedDemoCatalogRequest(idempotency_key=new_key()))
    assert (seeded.products_created, seeded.funds_created) == (3, 6)
    assert seeded.navs_published > 6 * 250
    again = await stub.SeedDemoCatalog(pb.SeedDemoCatalogRequest(idempotency_key=new_key()))
    assert (again.products_created, again.funds_created, again.navs_published) == (0, 0, 0)

    investor = new_investor()
    await profile(stub, investor, C3_ANSWERS)
    recommended = await stub.RecommendFunds(pb.RecommendFundsRequest(investor_id=investor))
    ranked = [
        (r.fund.fund_id, r.fund.risk_level, r.risk_distance) for r in recommended.recommendations
    ]
    # R3 first, then R2 (the demo bond fund with a year of history before the test's without),
    # then R1; nothing above C3.
    assert ranked == [
        ("cf-mixed-003", 3, 0),
        ("cf-bond-002", 2, 1),
        ("t-bond-r2", 2, 1),
        ("cf-money-001", 1, 2),
    ]
    assert recommended.recommendations[0].fund.one_year_return != ""
    assert recommended.recommendations[2].fund.one_year_return == ""
    assert "closest level" in recommended.ranking_rule


async def test_an_expired_profile_must_be_renewed(wealth, funds) -> None:
    stub = wealth.stub
    investor = new_investor()
    await profile(stub, investor, C3_ANSWERS)
    wealth.clock.advance(timedelta(days=366))
    stored = await stub.GetRiskProfile(pb.GetRiskProfileRequest(investor_id=investor))
    assert not stored.valid
    error = await refused(stub.BuyFund(buy_request(investor, "t-bond-r2", 1_000 * YUAN)))
    assert error_info(error).reason == "RISK_PROFILE_EXPIRED"
