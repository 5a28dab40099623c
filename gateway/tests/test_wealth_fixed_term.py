"""Zhaocaibao (招财宝) fixed-term products through the gateway: real payment and wealth services.

A product's quota is never oversold however many subscribe at once; a holding is its
owner's only; a holder liquidates early by listing and another investor buys (the seller's
proceeds and the platform's fee paid by the business-date job); at maturity the job pays
principal and interest (Actual/365) to the balance. The books balance after every step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from gateway.clients import ServiceChannels
from gateway.tests.conftest import User, balance_fen, problem_of
from gateway.tests.saga_support import funded_payer, new_key
from gateway.tests.wealth_support import Books, completed, fen, relog, run_wealth_jobs
from gateway.wealth.ledger import FIXED_TERM_OMNIBUS_ACCOUNT_ID

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
UNIT_FEN = 1_000 * YUAN
CST_MORNING = time(1, 0, tzinfo=UTC)  # 09:00 in Beijing


@pytest.fixture(scope="module")
def service_addresses(wealth_service_addresses: dict[str, str]) -> dict[str, str]:
    return wealth_service_addresses


@pytest.fixture(scope="module")
def books(channels: ServiceChannels, mongo_client: MongoClient, database_name: str) -> Books:
    return Books.of(channels, mongo_client, database_name)


async def create_product(
    gateway: Client,
    operator: User,
    clock: ManualClock,
    *,
    quota_fen: int,
    term_days: int = 91,
    annual_yield: str = "0.0420",
) -> dict[str, Any]:
    now = clock.now()
    response = await gateway.post(
        "/v1/admin/wealth/products",
        json={
            "product_id": f"ztb-test-{new_key()[:8]}",
            "issuer": "浙商小贷 Zheshang Microcredit",
            "insurer": "国泰财险 Guotai Property Insurance",
            "term_days": term_days,
            "expected_annual_yield": annual_yield,
            "amount_min_fen": UNIT_FEN,
            "quota_fen": quota_fen,
            "sale_starts_at": (now - timedelta(hours=1)).isoformat(),
            "sale_ends_at": (now + timedelta(days=30)).isoformat(),
        },
        headers=operator.headers,
    )
    assert response.status == 201, await response.text()
    return dict((await response.json())["product"])


async def subscribe(gateway: Client, user: User, product_id: str, amount_fen: int) -> Any:
    return await gateway.post(
        f"/v1/wealth/products/{product_id}/subscriptions",
        json={"amount_fen": amount_fen},
        headers=user.keyed(new_key()),
    )


async def test_a_product_is_never_oversold_however_many_subscribe_at_once(
    gateway: Client, new_user: NewUser, operator: User, clock: ManualClock, books: Books
) -> None:
    product = await create_product(gateway, operator, clock, quota_fen=10 * UNIT_FEN)
    buyers = [await funded_payer(gateway, new_user, UNIT_FEN) for _ in range(16)]
    responses = await asyncio.gather(
        *(subscribe(gateway, buyer, product["product_id"], UNIT_FEN) for buyer in buyers)
    )
    statuses = [response.status for response in responses]
    assert statuses.count(201) == 10, [await r.text() for r in responses]
    for response in responses:
        if response.status != 201:
            await problem_of(response, 422, "QUOTA_EXCEEDED")
    balances = [await balance_fen(gateway, buyer) for buyer in buyers]
    assert sorted(balances) == [0] * 10 + [UNIT_FEN] * 6
    sold = await (
        await gateway.get(f"/v1/wealth/products/{product['product_id']}", headers=buyers[0].headers)
    ).json()
    assert (fen(sold["sold"]), fen(sold["remaining_quota"])) == (10 * UNIT_FEN, 0)
    await books.check()


async def test_a_holding_is_its_owners_only_and_can_be_liquidated_early(
    gateway: Client, new_user: NewUser, operator: User, clock: ManualClock, books: Books
) -> None:
    product = await create_product(gateway, operator, clock, quota_fen=5 * UNIT_FEN)
    seller = await funded_payer(gateway, new_user, 2 * UNIT_FEN)
    buyer = await funded_payer(gateway, new_user, 2 * UNIT_FEN)
    result = await completed(await subscribe(gateway, seller, product["product_id"], 2 * UNIT_FEN))
    holding_id = result["holding"]["holding_id"]
    mine = await gateway.get(f"/v1/wealth/holdings/{holding_id}", headers=seller.headers)
    assert (await mine.json())["state"] == "held"
    theirs = await gateway.get(f"/v1/wealth/holdings/{holding_id}", headers=buyer.headers)
    await problem_of(theirs, 404, "NOT_FOUND")
    not_theirs = await gateway.post(
        f"/v1/wealth/holdings/{holding_id}/listing",
        json={"price_fen": 2 * UNIT_FEN},
        headers=buyer.keyed(new_key()),
    )
    await problem_of(not_theirs, 404, "NOT_FOUND")

    # A holding changes hands from its value date (the day after the subscription).
    value_date = date.fromisoformat(result["holding"]["value_date"])
    clock.advance(datetime.combine(value_date, CST_MORNING) - clock.now())
    await relog(gateway, seller, buyer, operator)
    listed = await gateway.post(
        f"/v1/wealth/holdings/{holding_id}/listing",
        json={"price_fen": 2 * UNIT_FEN},
        headers=seller.keyed(new_key()),
    )
    assert listed.status == 200, await listed.text()
    terms = (await listed.json())["terms"]
    # 0.2% of the principal, charged to the seller.
    assert fen(terms["fee"]) == 2 * UNIT_FEN * 2 // 1000
    listings = await (await gateway.get("/v1/wealth/listings", headers=buyer.headers)).json()
    assert holding_id in [listing["holding_id"] for listing in listings["listings"]]

    bought = await gateway.post(
        f"/v1/wealth/listings/{holding_id}/purchases",
        json={"price_fen": 2 * UNIT_FEN},
        headers=buyer.keyed(new_key()),
    )
    result = await completed(bought)
    assert result["holding"]["maturity_date"] == terms["maturity_date"]
    assert await balance_fen(gateway, buyer) == 0
    await books.check()

    # The business-date job pays the seller's proceeds (and the fee to the platform).
    report = await run_wealth_jobs(gateway, operator, clock.now().date())
    assert report["payouts"]["paid"] >= 2
    assert await balance_fen(gateway, seller) == fen(terms["seller_proceeds"])
    await books.check()


async def test_the_business_date_job_pays_principal_and_interest_at_maturity(
    gateway: Client, new_user: NewUser, operator: User, clock: ManualClock, books: Books
) -> None:
    product = await create_product(gateway, operator, clock, quota_fen=UNIT_FEN, term_days=30)
    investor = await funded_payer(gateway, new_user, UNIT_FEN)
    result = await completed(await subscribe(gateway, investor, product["product_id"], UNIT_FEN))
    holding = result["holding"]
    # Actual/365: 1,000 yuan at 4.20% for 30 days is 3.45 yuan (345.2 fen, rounded down).
    assert fen(holding["maturity_payout"]) == UNIT_FEN + 345
    before = (await books.payment.get_account(FIXED_TERM_OMNIBUS_ACCOUNT_ID)).balance.amount_fen

    maturity = date.fromisoformat(holding["maturity_date"])
    clock.advance(datetime.combine(maturity, CST_MORNING) - clock.now())
    await relog(gateway, investor, operator)
    report = await run_wealth_jobs(gateway, operator, maturity)
    assert report["fixed_term"]["holdings_matured"] >= 1
    assert await balance_fen(gateway, investor) == UNIT_FEN + 345
    after = (await books.payment.get_account(FIXED_TERM_OMNIBUS_ACCOUNT_ID)).balance.amount_fen
    assert before - after == UNIT_FEN  # the principal left; the interest came from the issuer
    matured = await gateway.get(
        f"/v1/wealth/holdings/{holding['holding_id']}", headers=investor.headers
    )
    assert (await matured.json())["state"] == "matured"
    await books.check()


async def test_reservations_are_created_listed_and_cancelled_by_their_owner_only(
    gateway: Client, new_user: NewUser
) -> None:
    investor = await new_user()
    stranger = await new_user()
    created = await gateway.post(
        "/v1/wealth/reservations",
        json={"amount_fen": 5 * UNIT_FEN, "annual_yield_min": "0.0400", "term_days_max": 180},
        headers=investor.keyed(new_key()),
    )
    assert created.status == 201, await created.text()
    reservation = await created.json()
    assert reservation["state"] == "active"
    listed = await (await gateway.get("/v1/wealth/reservations", headers=investor.headers)).json()
    assert [r["reservation_id"] for r in listed["reservations"]] == [reservation["reservation_id"]]
    path = f"/v1/wealth/reservations/{reservation['reservation_id']}/cancel"
    refused = await gateway.post(path, headers=stranger.keyed(new_key()))
    await problem_of(refused, 404, "NOT_FOUND")
    cancelled = await gateway.post(path, headers=investor.keyed(new_key()))
    assert cancelled.status == 200, await cancelled.text()
    assert (await cancelled.json())["state"] == "cancelled"


async def reserve(gateway: Client, user: User, amount_fen: int, yield_min: str) -> str:
    response = await gateway.post(
        "/v1/wealth/reservations",
        json={"amount_fen": amount_fen, "annual_yield_min": yield_min, "term_days_max": 180},
        headers=user.keyed(new_key()),
    )
    assert response.status == 201, await response.text()
    return str((await response.json())["reservation_id"])


async def test_a_newly_listed_product_is_bought_by_matching_reservations_funds_permitting(
    gateway: Client, new_user: NewUser, operator: User, clock: ManualClock, books: Books
) -> None:
    await relog(gateway, operator)
    early = await funded_payer(gateway, new_user, 3 * UNIT_FEN)
    short_of_money = await funded_payer(gateway, new_user, UNIT_FEN)
    demanding = await funded_payer(gateway, new_user, 5 * UNIT_FEN)
    # Reservation order is the order they were made in (the clock moves between them).
    early_reservation = await reserve(gateway, early, 2 * UNIT_FEN, "0.0400")
    clock.advance(timedelta(seconds=1))
    await reserve(gateway, short_of_money, 2 * UNIT_FEN, "0.0400")
    clock.advance(timedelta(seconds=1))
    await reserve(gateway, demanding, 2 * UNIT_FEN, "0.0500")  # 4.20% is too little

    response = await gateway.post(
        "/v1/admin/wealth/products",
        json={
            "product_id": f"ztb-reserved-{new_key()[:8]}",
            "issuer": "浙商小贷 Zheshang Microcredit",
            "insurer": "国泰财险 Guotai Property Insurance",
            "term_days": 91,
            "expected_annual_yield": "0.0420",
            "amount_min_fen": UNIT_FEN,
            "quota_fen": 3 * UNIT_FEN,
            "sale_starts_at": (clock.now() - timedelta(hours=1)).isoformat(),
            "sale_ends_at": (clock.now() + timedelta(days=30)).isoformat(),
        },
        headers=operator.headers,
    )
    assert response.status == 201, await response.text()
    listed = await response.json()
    bought = [
        (p["investor_account_id"], fen(p["amount"]), p["state"])
        for p in listed["reservation_purchases"]
    ]
    # In reservation order, each within what the investor has available.
    assert bought == [
        (early.account_id, 2 * UNIT_FEN, "completed"),
        (short_of_money.account_id, UNIT_FEN, "completed"),
    ]
    assert fen(listed["product"]["remaining_quota"]) == 0
    assert await balance_fen(gateway, early) == UNIT_FEN
    assert await balance_fen(gateway, short_of_money) == 0
    assert await balance_fen(gateway, demanding) == 5 * UNIT_FEN
    reservations = await (
        await gateway.get("/v1/wealth/reservations", headers=early.headers)
    ).json()
    [reservation] = reservations["reservations"]
    assert reservation["reservation_id"] == early_reservation
    assert fen(reservation["filled"]) == 2 * UNIT_FEN
    assert [p["product_id"] for p in reservation["purchases"]] == [listed["product"]["product_id"]]
    holdings = await (await gateway.get("/v1/wealth/holdings", headers=early.headers)).json()
    assert [fen(h["principal"]) for h in holdings["holdings"]] == [2 * UNIT_FEN]
    await books.check()
