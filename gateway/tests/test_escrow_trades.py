"""Escrow trades (担保交易) end to end through the gateway: merchant, buyer and platform.

Amounts are chosen so the arithmetic is visible: the acquiring fee is 0.6% of what is
settled, rounded half-even to the fen (DOMAIN.md §1).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests.conftest import (
    User,
    api_key_headers,
    balance_fen,
    create_api_key,
    problem_of,
    top_up,
)

Client = TestClient[Any, Any]


def new_key() -> str:
    return str(uuid.uuid4())


async def wallet(gateway: Client, user: User) -> dict[str, Any]:
    response = await gateway.get("/v1/wallet", headers=user.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def create_trade(
    gateway: Client, api_key: str, buyer: User, amount_fen: int, description: str = "tea set"
) -> dict[str, Any]:
    response = await gateway.post(
        "/v1/merchant/trades",
        json={"buyer_phone": buyer.phone, "amount_fen": amount_fen, "description": description},
        headers=api_key_headers(api_key, new_key()),
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def pay(gateway: Client, buyer: User, trade_id: str) -> dict[str, Any]:
    response = await gateway.post(f"/v1/trades/{trade_id}/pay", headers=buyer.keyed(new_key()))
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def merchant_post(
    gateway: Client, api_key: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await gateway.post(path, json=body, headers=api_key_headers(api_key))
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def buyer_post(
    gateway: Client, buyer: User, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await gateway.post(path, json=body, headers=buyer.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def test_pay_ship_confirm_settles_to_the_merchant_less_the_acquiring_fee(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    merchant, buyer = await new_merchant(), await new_user()
    api_key = await create_api_key(gateway, merchant)
    await top_up(gateway, buyer, 50_000, new_key())

    trade = await create_trade(gateway, api_key, buyer, 10_750)
    assert trade["state"] == "created"
    assert trade["merchant_account_id"] == merchant.account_id
    assert trade["buyer_account_id"] == buyer.account_id
    assert trade["amount"]["amount_fen"] == 10_750
    trade_id = trade["trade_id"]

    listed = await (await gateway.get("/v1/trades", headers=buyer.headers)).json()
    assert [t["trade_id"] for t in listed["trades"]] == [trade_id]
    assert "acquiring_fee" not in listed["trades"][0]  # the merchant's side stays theirs

    pay_key = new_key()
    paid = await gateway.post(f"/v1/trades/{trade_id}/pay", headers=buyer.keyed(pay_key))
    assert paid.status == 200, await paid.text()
    paid_body = await paid.read()
    paid_trade = await paid.json()
    assert paid_trade["state"] == "paid"
    assert paid_trade["in_escrow"]["amount_fen"] == 10_750
    replay = await gateway.post(f"/v1/trades/{trade_id}/pay", headers=buyer.keyed(pay_key))
    assert replay.status == 200
    assert await replay.read() == paid_body

    buyer_wallet = await wallet(gateway, buyer)
    assert buyer_wallet["balance"]["amount_fen"] == 39_250  # 50000 - 10750, paid once
    assert buyer_wallet["in_escrow"]["amount_fen"] == 10_750
    assert await balance_fen(gateway, merchant) == 0  # escrow, not the merchant, holds it

    early = await gateway.post(f"/v1/trades/{trade_id}/confirm-receipt", headers=buyer.headers)
    problem = await problem_of(early, 422, "ILLEGAL_TRANSITION")
    assert problem["metadata"]["state"] == "paid"

    shipped = await merchant_post(gateway, api_key, f"/v1/merchant/trades/{trade_id}/ship")
    assert shipped["state"] == "shipped"
    assert "auto_confirm_at" in shipped

    settled = await buyer_post(gateway, buyer, f"/v1/trades/{trade_id}/confirm-receipt")
    assert settled["state"] == "settled"
    assert settled["settled_by"] == "buyer"
    assert settled["in_escrow"]["amount_fen"] == 0

    # Fee: 10750 x 0.6% = 64.5 fen -> 64 (half-even; half-up would say 65). 10750 - 64 = 10686.
    assert await balance_fen(gateway, merchant) == 10_686
    assert (await wallet(gateway, buyer))["in_escrow"]["amount_fen"] == 0

    settlements = await gateway.get("/v1/merchant/settlements", headers=api_key_headers(api_key))
    assert settlements.status == 200, await settlements.text()
    [line] = (await settlements.json())["settlements"]
    assert line["trade_id"] == trade_id
    assert line["amount"]["amount_fen"] == 10_750
    assert line["refunded"]["amount_fen"] == 0
    assert line["merchant_settled"]["amount_fen"] == 10_686
    assert line["acquiring_fee"]["amount_fen"] == 64
    assert line["settled_by"] == "buyer"
    assert line["finished_at"]

    as_merchant = await gateway.get(f"/v1/trades/{trade_id}", headers=merchant.headers)
    assert (await as_merchant.json())["acquiring_fee"]["amount_fen"] == 64


async def test_partial_refund_goes_back_at_once_and_the_rest_settles_on_confirmation(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    merchant, buyer = await new_merchant(), await new_user()
    api_key = await create_api_key(gateway, merchant)
    await top_up(gateway, buyer, 20_000, new_key())
    trade_id = (await create_trade(gateway, api_key, buyer, 20_000))["trade_id"]
    await pay(gateway, buyer, trade_id)
    assert await balance_fen(gateway, buyer) == 0

    requested = await buyer_post(
        gateway,
        buyer,
        f"/v1/trades/{trade_id}/refund-request",
        {"amount_fen": 5_000, "reason": "one cup arrived broken"},
    )
    assert requested["state"] == "refund_requested"
    assert requested["refund_requested"]["amount_fen"] == 5_000

    approved = await merchant_post(
        gateway, api_key, f"/v1/merchant/trades/{trade_id}/refund-decision", {"approve": True}
    )
    assert approved["state"] == "paid"  # back where it was, carrying the refund
    assert approved["refunded"]["amount_fen"] == 5_000
    assert approved["in_escrow"]["amount_fen"] == 15_000
    assert await balance_fen(gateway, buyer) == 5_000
    assert (await wallet(gateway, buyer))["in_escrow"]["amount_fen"] == 15_000

    await merchant_post(gateway, api_key, f"/v1/merchant/trades/{trade_id}/ship")
    settled = await buyer_post(gateway, buyer, f"/v1/trades/{trade_id}/confirm-receipt")
    assert settled["state"] == "settled"
    # The fee is on what settles: 15000 x 0.6% = 90 fen; the merchant gets 15000 - 90.
    assert await balance_fen(gateway, merchant) == 14_910
    [line] = (
        await (
            await gateway.get("/v1/merchant/settlements", headers=api_key_headers(api_key))
        ).json()
    )["settlements"]
    assert (line["refunded"]["amount_fen"], line["merchant_settled"]["amount_fen"]) == (
        5_000,
        14_910,
    )
    assert line["acquiring_fee"]["amount_fen"] == 90


async def test_a_merchant_rejects_a_refund_with_its_own_access_token(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    merchant, buyer = await new_merchant(), await new_user()
    api_key = await create_api_key(gateway, merchant)
    await top_up(gateway, buyer, 3_000, new_key())
    trade_id = (await create_trade(gateway, api_key, buyer, 3_000))["trade_id"]
    await pay(gateway, buyer, trade_id)
    await buyer_post(gateway, buyer, f"/v1/trades/{trade_id}/refund-request", {"reason": "late"})
    rejected = await gateway.post(
        f"/v1/merchant/trades/{trade_id}/refund-decision",
        json={"approve": False},
        headers=merchant.headers,
    )
    assert rejected.status == 200, await rejected.text()
    assert (await rejected.json())["state"] == "paid"
    assert await balance_fen(gateway, buyer) == 0
    not_a_bool = await gateway.post(
        f"/v1/merchant/trades/{trade_id}/refund-decision",
        json={"approve": "yes"},
        headers=merchant.headers,
    )
    await problem_of(not_a_bool, 400, "INVALID_ARGUMENT")


async def test_the_platform_decides_a_full_refund_the_merchant_left_open(
    gateway: Client, new_user: Any, new_merchant: Any, operator: User
) -> None:
    merchant, buyer = await new_merchant(), await new_user()
    api_key = await create_api_key(gateway, merchant)
    await top_up(gateway, buyer, 8_800, new_key())
    trade_id = (await create_trade(gateway, api_key, buyer, 8_800))["trade_id"]
    await pay(gateway, buyer, trade_id)
    await merchant_post(gateway, api_key, f"/v1/merchant/trades/{trade_id}/ship")
    requested = await buyer_post(
        gateway, buyer, f"/v1/trades/{trade_id}/refund-request", {"reason": "never arrived"}
    )
    assert requested["refund_requested"]["amount_fen"] == 8_800  # absent: all in escrow

    for outsider in (buyer, merchant):
        refused = await gateway.post(
            f"/v1/admin/trades/{trade_id}/refund-decision",
            json={"approve": True},
            headers=outsider.headers,
        )
        await problem_of(refused, 403, "PERMISSION_DENIED")

    decided = await gateway.post(
        f"/v1/admin/trades/{trade_id}/refund-decision",
        json={"approve": True},
        headers=operator.headers,
    )
    assert decided.status == 200, await decided.text()
    trade = await decided.json()
    assert trade["state"] == "refunded"
    assert trade["refunded"]["amount_fen"] == 8_800
    assert await balance_fen(gateway, buyer) == 8_800
    assert await balance_fen(gateway, merchant) == 0
    assert (await wallet(gateway, buyer))["in_escrow"]["amount_fen"] == 0


async def test_nobody_sees_or_acts_on_a_trade_that_is_not_theirs(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    merchant, rival, buyer, stranger = (
        await new_merchant(),
        await new_merchant(),
        await new_user(),
        await new_user(),
    )
    api_key = await create_api_key(gateway, merchant)
    rival_key = await create_api_key(gateway, rival)
    await top_up(gateway, stranger, 10_000, new_key())
    trade_id = (await create_trade(gateway, api_key, buyer, 1_000))["trade_id"]

    # Another user is told what they would be told of a trade that does not exist.
    unknown = await gateway.get("/v1/trades/T000000000000000000000000", headers=stranger.headers)
    unknown_problem = await problem_of(unknown, 404, "NOT_FOUND")
    for method, suffix, body in (
        ("GET", "", None),
        ("POST", "/pay", None),
        ("POST", "/confirm-receipt", None),
        ("POST", "/refund-request", {"reason": "mine now"}),
        ("POST", "/cancel", None),
    ):
        response = await gateway.request(
            method,
            f"/v1/trades/{trade_id}{suffix}",
            json=body,
            headers=stranger.keyed(new_key()),
        )
        problem = await problem_of(response, 404, "NOT_FOUND")
        assert problem["title"] == unknown_problem["title"]
    assert await balance_fen(gateway, stranger) == 10_000
    assert (await (await gateway.get("/v1/trades", headers=stranger.headers)).json())[
        "trades"
    ] == []

    # A merchant cannot see, ship, cancel or decide another merchant's trade.
    for method, suffix, body in (
        ("GET", "", None),
        ("POST", "/ship", None),
        ("POST", "/cancel", None),
        ("POST", "/refund-decision", {"approve": True}),
    ):
        response = await gateway.request(
            method,
            f"/v1/merchant/trades/{trade_id}{suffix}",
            json=body,
            headers=api_key_headers(rival_key),
        )
        await problem_of(response, 404, "NOT_FOUND")
    rival_trades = await gateway.get("/v1/merchant/trades", headers=api_key_headers(rival_key))
    assert (await rival_trades.json())["trades"] == []

    # Its merchant still sees it, unshipped and unpaid.
    own = await gateway.get(f"/v1/merchant/trades/{trade_id}", headers=api_key_headers(api_key))
    assert (await own.json())["state"] == "created"


async def test_either_party_cancels_an_unpaid_trade_and_it_cannot_be_paid_after(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    merchant, buyer = await new_merchant(), await new_user()
    api_key = await create_api_key(gateway, merchant)
    await top_up(gateway, buyer, 5_000, new_key())
    by_merchant = (await create_trade(gateway, api_key, buyer, 1_000))["trade_id"]
    by_buyer = (await create_trade(gateway, api_key, buyer, 2_000))["trade_id"]

    closed = await merchant_post(gateway, api_key, f"/v1/merchant/trades/{by_merchant}/cancel")
    assert closed["state"] == "closed"
    assert (await buyer_post(gateway, buyer, f"/v1/trades/{by_buyer}/cancel"))["state"] == "closed"

    late = await gateway.post(f"/v1/trades/{by_buyer}/pay", headers=buyer.keyed(new_key()))
    await problem_of(late, 422, "ILLEGAL_TRANSITION")
    assert await balance_fen(gateway, buyer) == 5_000

    closed_only = await gateway.get(
        "/v1/merchant/trades", params={"state": "closed"}, headers=api_key_headers(api_key)
    )
    assert {t["trade_id"] for t in (await closed_only.json())["trades"]} == {
        by_merchant,
        by_buyer,
    }
    bad_state = await gateway.get(
        "/v1/merchant/trades", params={"state": "lost"}, headers=api_key_headers(api_key)
    )
    await problem_of(bad_state, 400, "INVALID_ARGUMENT")


async def test_trade_creation_names_exactly_one_buyer_and_is_idempotent(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    merchant, buyer = await new_merchant(), await new_user()
    for body in (
        {"amount_fen": 100, "description": "x"},
        {
            "amount_fen": 100,
            "description": "x",
            "buyer_phone": buyer.phone,
            "buyer_account_id": buyer.account_id,
        },
        {
            "amount_fen": 100,
            "description": "x",
            "buyer_account_id": buyer.account_id,
            "merchant_account_id": merchant.account_id,
        },
        {"amount_fen": 1.5, "description": "x", "buyer_account_id": buyer.account_id},
    ):
        response = await gateway.post(
            "/v1/merchant/trades", json=body, headers=merchant.keyed(new_key())
        )
        assert response.status == 400, body

    key = new_key()
    body = {"buyer_account_id": buyer.account_id, "amount_fen": 4_200, "description": "kettle"}
    first = await gateway.post("/v1/merchant/trades", json=body, headers=merchant.keyed(key))
    assert first.status == 201, await first.text()
    second = await gateway.post("/v1/merchant/trades", json=body, headers=merchant.keyed(key))
    assert await second.read() == await first.read()
    listed = await gateway.get("/v1/merchant/trades", headers=merchant.headers)
    assert len((await listed.json())["trades"]) == 1
    changed = await gateway.post(
        "/v1/merchant/trades", json={**body, "amount_fen": 4_201}, headers=merchant.keyed(key)
    )
    await problem_of(changed, 422, "IDEMPOTENCY_KEY_REUSED")
