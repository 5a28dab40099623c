"""The fund marketplace through the gateway: real payment and wealth services.

An operator lists a fund and publishes its NAVs; an investor answers the risk
questionnaire; buying a fund above their level is refused with SUITABILITY (the hold
voided, nothing moved) unless they acknowledge the risk; the order is priced at the NAV of
its trading day, the units show as a position and in the wallet, and selling them pays the
proceeds through the business-date job. Orders are their owner's only. The demo catalog
loads funds with a NAV history and recommendations rank them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from gateway.clients import ServiceChannels
from gateway.tests.conftest import User, balance_fen, problem_of
from gateway.tests.saga_support import funded_payer, new_key
from gateway.tests.wealth_support import Books, completed, fen, relog, run_wealth_jobs

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
CST_MORNING = time(1, 0, tzinfo=UTC)  # 09:00 in Beijing
# The module's clock starts on Saturday 1 March 2025: the next trading day is Monday.
FIRST_TRADING_DAY = date(2025, 3, 3)
CAUTIOUS_ANSWERS = [1] * 10


@pytest.fixture(scope="module")
def service_addresses(wealth_service_addresses: dict[str, str]) -> dict[str, str]:
    return wealth_service_addresses


@pytest.fixture(scope="module")
def books(channels: ServiceChannels, mongo_client: MongoClient, database_name: str) -> Books:
    return Books.of(channels, mongo_client, database_name)


async def answer_questionnaire(gateway: Client, user: User, scores: list[int]) -> dict[str, Any]:
    response = await gateway.post(
        "/v1/wealth/risk-profile",
        json={"answer_scores": scores},
        headers=user.keyed(new_key()),
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def buy(gateway: Client, user: User, fund_id: str, amount_fen: int, **options: Any) -> Any:
    return await gateway.post(
        f"/v1/wealth/funds/{fund_id}/purchases",
        json={"amount_fen": amount_fen, **options},
        headers=user.keyed(new_key()),
    )


async def test_suitability_refusal_acknowledgement_pricing_and_sale(
    gateway: Client,
    new_user: NewUser,
    operator: User,
    clock: ManualClock,
    books: Books,
) -> None:
    created = await gateway.post(
        "/v1/admin/wealth/funds",
        json={
            "fund_id": "fund-test-equity",
            "name": "沪深300 Index Equity",
            "category": "equity",
            "risk_level": "R4",
        },
        headers=operator.headers,
    )
    assert created.status == 201, await created.text()
    investor = await funded_payer(gateway, new_user, 1_000 * YUAN)
    unprofiled = await buy(gateway, investor, "fund-test-equity", 100 * YUAN)
    await problem_of(unprofiled, 422, "RISK_PROFILE_REQUIRED")
    profile = await answer_questionnaire(gateway, investor, CAUTIOUS_ANSWERS)
    assert profile["level"] == "C1"

    refused = await buy(gateway, investor, "fund-test-equity", 100 * YUAN)
    await problem_of(refused, 422, "SUITABILITY")
    account = await books.payment.get_account(investor.account_id)
    assert (account.balance.amount_fen, account.available.amount_fen) == (1_000 * YUAN,) * 2
    await books.check()

    result = await completed(
        await buy(gateway, investor, "fund-test-equity", 100 * YUAN, risk_acknowledged=True)
    )
    assert result["risk_acknowledged"] is True
    # Placed on a Saturday: priced at the NAV of the next trading day.
    assert (result["order_state"], result["nav_date"]) == ("pending_nav", "2025-03-03")
    assert await balance_fen(gateway, investor) == 900 * YUAN
    await books.check()

    stranger = await new_user()
    order_path = f"/v1/wealth/fund-orders/{result['order_id']}"
    await problem_of(await gateway.get(order_path, headers=stranger.headers), 404, "NOT_FOUND")

    clock.advance(datetime.combine(FIRST_TRADING_DAY, CST_MORNING) - clock.now())
    await relog(gateway, investor, operator)
    published = await gateway.post(
        "/v1/admin/wealth/funds/fund-test-equity/navs",
        json={"nav_date": "2025-03-03", "nav_per_unit": "1.2500"},
        headers=operator.headers,
    )
    assert published.status == 200, await published.text()
    assert (await published.json())["orders_priced"] == 1
    order = await (await gateway.get(order_path, headers=investor.headers)).json()
    # 100 yuan at 1.2500 a unit buys 80.00 units.
    assert (order["state"], order["units"]) == ("priced", "80.00")
    positions = await (
        await gateway.get("/v1/wealth/fund-positions", headers=investor.headers)
    ).json()
    assert [(p["fund_id"], p["units"], fen(p["value"])) for p in positions["positions"]] == [
        ("fund-test-equity", "80.00", 100 * YUAN)
    ]
    wallet = await (await gateway.get("/v1/wallet", headers=investor.headers)).json()
    assert fen(wallet["wealth"]["fund_positions_value"]) == 100 * YUAN

    sold = await gateway.post(
        "/v1/wealth/funds/fund-test-equity/sales",
        json={"units": "40.00"},
        headers=investor.keyed(new_key()),
    )
    assert sold.status == 201, await sold.text()
    sale = await sold.json()
    assert (sale["side"], sale["state"], fen(sale["amount"])) == ("sell", "priced", 50 * YUAN)
    await run_wealth_jobs(gateway, operator, FIRST_TRADING_DAY)
    assert await balance_fen(gateway, investor) == 950 * YUAN
    await books.check()


async def test_the_demo_catalog_has_funds_with_a_nav_history_and_recommendations(
    gateway: Client, new_user: NewUser, operator: User
) -> None:
    await relog(gateway, operator)
    loaded = await gateway.post("/v1/admin/wealth/demo-catalog", headers=operator.headers)
    assert loaded.status == 200, await loaded.text()
    again = await (
        await gateway.post("/v1/admin/wealth/demo-catalog", headers=operator.headers)
    ).json()
    assert (again["products_created"], again["funds_created"]) == (0, 0)
    investor = await new_user()
    funds = await (await gateway.get("/v1/wealth/funds", headers=investor.headers)).json()
    assert funds["funds"]
    fund_id = funds["funds"][0]["fund_id"]
    detail = await (
        await gateway.get(
            f"/v1/wealth/funds/{fund_id}", params={"page_size": "5"}, headers=investor.headers
        )
    ).json()
    assert len(detail["navs"]) == 5 and detail["next_page_token"]
    products = await (
        await gateway.get(
            "/v1/wealth/products", params={"on_sale_only": "true"}, headers=investor.headers
        )
    ).json()
    assert products["products"]
    await answer_questionnaire(gateway, investor, [3] * 10)
    ranked = await (
        await gateway.get("/v1/wealth/fund-recommendations", headers=investor.headers)
    ).json()
    assert ranked["recommendations"] and ranked["ranking_rule"]
    distances = [r["risk_distance"] for r in ranked["recommendations"]]
    assert all(distance >= 0 for distance in distances)


async def test_a_fund_sold_at_a_gain_is_paid_and_the_books_balance(
    gateway: Client,
    new_user: NewUser,
    operator: User,
    clock: ManualClock,
    books: Books,
) -> None:
    await relog(gateway, operator)
    created = await gateway.post(
        "/v1/admin/wealth/funds",
        json={"fund_id": "fund-test-bond", "name": "Bond", "category": "bond", "risk_level": "R1"},
        headers=operator.headers,
    )
    assert created.status == 201, await created.text()
    # More than all the cash the other tests' investors left in the omnibus account.
    investor = await funded_payer(gateway, new_user, 1_000 * YUAN)
    await answer_questionnaire(gateway, investor, CAUTIOUS_ANSWERS)
    trading_day = clock.now().date()
    result = await completed(await buy(gateway, investor, "fund-test-bond", 1_000 * YUAN))
    navs_path = "/v1/admin/wealth/funds/fund-test-bond/navs"
    published = await gateway.post(
        navs_path,
        json={"nav_date": result["nav_date"], "nav_per_unit": "1.0000"},
        headers=operator.headers,
    )
    assert published.status == 200, await published.text()
    # The next trading day the NAV is 10% up, and the investor sells everything.
    next_day = date.fromordinal(trading_day.toordinal() + 1)
    clock.advance(datetime.combine(next_day, CST_MORNING) - clock.now())
    await relog(gateway, investor, operator)
    sold = await gateway.post(
        "/v1/wealth/funds/fund-test-bond/sales",
        json={"units": "1000.00"},
        headers=investor.keyed(new_key()),
    )
    assert sold.status == 201, await sold.text()
    nav_date = (await sold.json())["nav_date"]
    published = await gateway.post(
        navs_path, json={"nav_date": nav_date, "nav_per_unit": "1.1000"}, headers=operator.headers
    )
    assert published.status == 200, await published.text()
    await run_wealth_jobs(gateway, operator, date.fromisoformat(nav_date))
    assert await balance_fen(gateway, investor) == 1_100 * YUAN
    await books.check()
