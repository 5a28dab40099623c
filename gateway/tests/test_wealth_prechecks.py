"""A wealth purchase refused for a business reason changes nothing (issue 21 item 13).

What the wealth service would refuse and can be known beforehand — the product, fund or
listing does not exist; the product is off sale, the amount below its minimum or above the
quota left; no risk profile, or a fund above it without the acknowledgement; a fund buy
below 1 yuan — is refused before the purchase saga starts: the same status and reason as
before, but no operation is written and nothing is held. The operation a request would
have started is found at its id (derived from the user and the Idempotency-Key, as a
completed purchase shows), so its absence is observable through GET /v1/operations/{id}.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from gateway.clients import ServiceChannels
from gateway.sagas.definition import derive_saga_id
from gateway.tests.conftest import User, problem_of, statement
from gateway.tests.saga_support import funded_payer, new_key
from gateway.tests.wealth_support import Books, completed, relog
from gateway.wealth import prechecks
from services.wealth import marketplace

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


async def _wallet(gateway: Client, user: User) -> tuple[int, int]:
    response = await gateway.get("/v1/wallet", headers=user.headers)
    assert response.status == 200, await response.text()
    wallet = await response.json()
    return wallet["balance"]["amount_fen"], wallet["available"]["amount_fen"]


async def _product(gateway: Client, operator: User, clock: ManualClock, quota_fen: int) -> str:
    now = clock.now()
    product_id = f"ztb-precheck-{new_key()[:8]}"
    response = await gateway.post(
        "/v1/admin/wealth/products",
        json={
            "product_id": product_id,
            "issuer": "浙商小贷 Zheshang Microcredit",
            "insurer": "国泰财险 Guotai Property Insurance",
            "term_days": 91,
            "expected_annual_yield": "0.0420",
            "amount_min_fen": UNIT_FEN,
            "quota_fen": quota_fen,
            "sale_starts_at": (now - timedelta(hours=1)).isoformat(),
            "sale_ends_at": (now + timedelta(days=30)).isoformat(),
        },
        headers=operator.headers,
    )
    assert response.status == 201, await response.text()
    return product_id


async def _refused_and_nothing_written(
    gateway: Client,
    investor: User,
    path: str,
    body: dict[str, Any],
    refusal: tuple[int, str],
) -> None:
    status, reason = refusal
    before = (await _wallet(gateway, investor), await statement(gateway, investor))
    key = new_key()
    response = await gateway.post(path, json=body, headers=investor.keyed(key))
    problem = await problem_of(response, status, reason)
    # An undone operation's refusal names it; a refusal before any saga names none.
    assert "operation_id" not in problem.get("metadata", {}), problem
    operation = await gateway.get(
        f"/v1/operations/{derive_saga_id(investor.user_id, key)}", headers=investor.headers
    )
    await problem_of(operation, 404, "NOT_FOUND")
    assert (await _wallet(gateway, investor), await statement(gateway, investor)) == before


async def test_refused_purchases_hold_nothing_and_write_no_operation(
    gateway: Client, new_user: NewUser, operator: User, clock: ManualClock, books: Books
) -> None:
    created = await gateway.post(
        "/v1/admin/wealth/funds",
        json={
            "fund_id": "fund-precheck-equity",
            "name": "Precheck Equity",
            "category": "equity",
            "risk_level": "R4",
        },
        headers=operator.headers,
    )
    assert created.status == 201, await created.text()
    product_id = await _product(gateway, operator, clock, quota_fen=5 * UNIT_FEN)
    closed_id = await _product(gateway, operator, clock, quota_fen=5 * UNIT_FEN)
    closing = await gateway.post(
        f"/v1/admin/wealth/products/{closed_id}/close", headers=operator.headers
    )
    assert closing.status == 200, await closing.text()
    investor = await funded_payer(gateway, new_user, 10 * UNIT_FEN)
    fund = "/v1/wealth/funds/fund-precheck-equity/purchases"

    refusals: list[tuple[str, dict[str, Any], int, str]] = [
        ("/v1/wealth/funds/no-such-fund/purchases", {"amount_fen": 100 * YUAN}, 404, "NOT_FOUND"),
        (fund, {"amount_fen": 100 * YUAN}, 422, "RISK_PROFILE_REQUIRED"),
        (fund, {"amount_fen": 99}, 422, "BELOW_MINIMUM"),
        (
            "/v1/wealth/products/no-such-product/subscriptions",
            {"amount_fen": UNIT_FEN},
            404,
            "NOT_FOUND",
        ),
        (
            f"/v1/wealth/products/{product_id}/subscriptions",
            {"amount_fen": UNIT_FEN - 1},
            422,
            "BELOW_MINIMUM",
        ),
        (
            f"/v1/wealth/products/{product_id}/subscriptions",
            {"amount_fen": 6 * UNIT_FEN},
            422,
            "QUOTA_EXCEEDED",
        ),
        (
            f"/v1/wealth/products/{closed_id}/subscriptions",
            {"amount_fen": UNIT_FEN},
            422,
            "PRODUCT_NOT_ON_SALE",
        ),
        (
            "/v1/wealth/listings/no-such-holding/purchases",
            {"price_fen": UNIT_FEN},
            404,
            "NOT_FOUND",
        ),
    ]
    for path, body, status, reason in refusals:
        await _refused_and_nothing_written(gateway, investor, path, body, (status, reason))

    profile = await gateway.post(
        "/v1/wealth/risk-profile",
        json={"answer_scores": [1] * 10},
        headers=investor.keyed(new_key()),
    )
    assert profile.status == 201, await profile.text()
    await _refused_and_nothing_written(
        gateway, investor, fund, {"amount_fen": 100 * YUAN}, (422, "SUITABILITY")
    )
    await books.check()

    # The same requests that pass the checks start their operation at the derived id.
    for path, body in (
        (fund, {"amount_fen": 100 * YUAN, "risk_acknowledged": True}),
        (f"/v1/wealth/products/{product_id}/subscriptions", {"amount_fen": UNIT_FEN}),
    ):
        key = new_key()
        done = await completed(await gateway.post(path, json=body, headers=investor.keyed(key)))
        operation_id = derive_saga_id(investor.user_id, key)
        found = await gateway.get(f"/v1/operations/{operation_id}", headers=investor.headers)
        assert found.status == 200, await found.text()
        assert done, done
    assert await _wallet(gateway, investor) == (9 * UNIT_FEN - 100 * YUAN,) * 2
    await books.check()

    # A year on, the profile has expired: refused before the hold, acknowledged or not.
    clock.advance(timedelta(days=366))
    await relog(gateway, investor, operator)
    await _refused_and_nothing_written(
        gateway,
        investor,
        fund,
        {"amount_fen": 100 * YUAN, "risk_acknowledged": True},
        (422, "RISK_PROFILE_EXPIRED"),
    )
    await books.check()


async def test_a_listing_is_checked_before_the_buyer_is_held(
    gateway: Client, new_user: NewUser, operator: User, clock: ManualClock, books: Books
) -> None:
    product_id = await _product(gateway, operator, clock, quota_fen=5 * UNIT_FEN)
    seller = await funded_payer(gateway, new_user, UNIT_FEN)
    subscribed = await completed(
        await gateway.post(
            f"/v1/wealth/products/{product_id}/subscriptions",
            json={"amount_fen": UNIT_FEN},
            headers=seller.keyed(new_key()),
        )
    )
    holding_id = subscribed["holding"]["holding_id"]
    buyer = await funded_payer(gateway, new_user, 2 * UNIT_FEN)
    listing_path = f"/v1/wealth/listings/{holding_id}/purchases"
    # Not listed yet: the seller's holding is held, not for sale.
    await _refused_and_nothing_written(
        gateway, buyer, listing_path, {"price_fen": UNIT_FEN}, (422, "ILLEGAL_TRANSITION")
    )
    value_date = date.fromisoformat(subscribed["holding"]["value_date"])
    clock.advance(datetime.combine(value_date, CST_MORNING) - clock.now())
    await relog(gateway, seller, buyer)
    listed = await gateway.post(
        f"/v1/wealth/holdings/{holding_id}/listing",
        json={"price_fen": UNIT_FEN},
        headers=seller.keyed(new_key()),
    )
    assert listed.status == 200, await listed.text()
    await _refused_and_nothing_written(
        gateway, buyer, listing_path, {"price_fen": UNIT_FEN + 1}, (422, "LISTING_CHANGED")
    )
    await _refused_and_nothing_written(
        gateway, seller, listing_path, {"price_fen": UNIT_FEN}, (400, "SAME_ACCOUNT")
    )
    await books.check()


def test_the_least_fund_purchase_is_the_wealth_services() -> None:
    assert prechecks.FUND_PURCHASE_FEN_MIN == marketplace.FUND_PURCHASE_FEN_MIN
