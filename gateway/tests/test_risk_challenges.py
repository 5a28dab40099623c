"""Real-time risk control through the gateway: challenges answered with the payment password.

The default rules (services/payment/risk.py) ask a real-name payer for the payment password
above 2,000 yuan, and for any payment from a device not seen before. The client answers a
challenge by repeating the request with the same Idempotency-Key and the password.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from chassis.mongo import MongoClient
from gateway.app import HTTP_IDEMPOTENCY_COLLECTION
from gateway.settings import GatewaySettings
from gateway.tests.conftest import User, balance_fen, problem_of, statement, top_up

Client = TestClient[Any, Any]
PAYMENT_PASSWORD = "385912"
YUAN = 100


def new_key() -> str:
    return str(uuid.uuid4())


async def set_payment_password(gateway: Client, user: User) -> None:
    response = await gateway.put(
        "/v1/payment-password",
        json={"login_password": user.password, "new_password": PAYMENT_PASSWORD},
        headers=user.headers,
    )
    assert response.status == 204, await response.text()


async def test_a_large_transfer_is_challenged_and_goes_through_once_with_the_password(
    gateway: Client,
    new_user: Any,
    mongo_client: MongoClient,
    settings: GatewaySettings,
) -> None:
    alice, bob = await new_user(), await new_user()
    await top_up(gateway, alice, 3_000 * YUAN, new_key())
    key = new_key()
    transfer = {"amount_fen": 2_500 * YUAN, "to_account_id": bob.account_id, "memo": "rent"}

    challenged = await gateway.post("/v1/transfers", json=transfer, headers=alice.keyed(key))
    problem = await problem_of(challenged, 422, "RISK_CHALLENGE_REQUIRED")
    assert "large-payment-password" in problem["metadata"]["rule_ids"].split(",")
    assert await balance_fen(gateway, alice) == 3_000 * YUAN
    assert await balance_fen(gateway, bob) == 0

    # Answering before a password exists is refused, and the key stays usable.
    no_password_yet = await gateway.post(
        "/v1/transfers",
        json={**transfer, "payment_password": PAYMENT_PASSWORD},
        headers=alice.keyed(key),
    )
    await problem_of(no_password_yet, 422, "PAYMENT_PASSWORD_NOT_SET")

    await set_payment_password(gateway, alice)
    wrong = await gateway.post(
        "/v1/transfers",
        json={**transfer, "payment_password": "740263"},
        headers=alice.keyed(key),
    )
    wrong_problem = await problem_of(wrong, 422, "PAYMENT_PASSWORD_WRONG")
    assert wrong_problem["metadata"]["attempts_remaining"] == "4"
    assert await balance_fen(gateway, alice) == 3_000 * YUAN

    confirmed = await gateway.post(
        "/v1/transfers",
        json={**transfer, "payment_password": PAYMENT_PASSWORD},
        headers=alice.keyed(key),
    )
    assert confirmed.status == 201, await confirmed.text()
    assert (await confirmed.json())["balance"]["amount_fen"] == 500 * YUAN

    # Every repeat of the key now gets the stored answer; the money moved exactly once.
    for repeat in (transfer, {**transfer, "payment_password": PAYMENT_PASSWORD}):
        replay = await gateway.post("/v1/transfers", json=repeat, headers=alice.keyed(key))
        assert replay.status == 201
        assert await replay.read() == await confirmed.read()
    assert await balance_fen(gateway, alice) == 500 * YUAN
    assert await balance_fen(gateway, bob) == 2_500 * YUAN
    assert [line["kind"] for line in await statement(gateway, bob)] == ["transfer"]

    # The password is never stored with the key, not even in the fingerprint's place.
    records = mongo_client[settings.database_name][HTTP_IDEMPOTENCY_COLLECTION]
    async for record in records.find({"_id": {"$regex": f"^{alice.user_id}:"}}):
        assert PAYMENT_PASSWORD not in str(record)
        assert "740263" not in str(record)


async def test_the_same_key_with_a_different_request_is_still_refused(
    gateway: Client, new_user: Any
) -> None:
    alice, bob = await new_user(), await new_user()
    await top_up(gateway, alice, 3_000 * YUAN, new_key())
    key = new_key()
    transfer = {"amount_fen": 2_500 * YUAN, "to_account_id": bob.account_id}
    challenged = await gateway.post("/v1/transfers", json=transfer, headers=alice.keyed(key))
    await problem_of(challenged, 422, "RISK_CHALLENGE_REQUIRED")
    other = await gateway.post(
        "/v1/transfers",
        json={**transfer, "amount_fen": 2_400 * YUAN, "payment_password": PAYMENT_PASSWORD},
        headers=alice.keyed(key),
    )
    await problem_of(other, 422, "IDEMPOTENCY_KEY_REUSED")


async def test_a_payment_from_a_new_device_is_challenged(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    alice, merchant = await new_user(), await new_merchant()
    await top_up(gateway, alice, 10_000, new_key())
    await set_payment_password(gateway, alice)
    body = {"amount_fen": 100, "to_account_id": merchant.account_id}

    # The device of an account's first payment is trusted; a different one is challenged.
    first = await gateway.post(
        "/v1/transfers",
        json=body,
        headers={**alice.keyed(new_key()), "X-Device-Id": "phone-a"},
    )
    assert first.status == 201, await first.text()
    key = new_key()
    from_new_phone = {**alice.keyed(key), "X-Device-Id": "phone-b"}
    challenged = await gateway.post("/v1/transfers", json=body, headers=from_new_phone)
    problem = await problem_of(challenged, 422, "RISK_CHALLENGE_REQUIRED")
    assert problem["metadata"]["rule_ids"] == "unknown-device"
    answered = await gateway.post(
        "/v1/transfers",
        json={**body, "payment_password": PAYMENT_PASSWORD},
        headers=from_new_phone,
    )
    assert answered.status == 201, await answered.text()
    assert await balance_fen(gateway, alice) == 9_800

    too_long = await gateway.post(
        "/v1/transfers", json=body, headers={**alice.keyed(new_key()), "X-Device-Id": "d" * 129}
    )
    await problem_of(too_long, 400, "INVALID_ARGUMENT")


async def test_a_trade_payment_and_a_bill_payment_are_challenged_too(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    buyer, merchant = await new_user(), await new_merchant()
    await top_up(gateway, buyer, 5_000 * YUAN, new_key())
    created = await gateway.post(
        "/v1/merchant/trades",
        json={
            "buyer_account_id": buyer.account_id,
            "amount_fen": 2_100 * YUAN,
            "description": "a bicycle",
        },
        headers=merchant.keyed(new_key()),
    )
    assert created.status == 201, await created.text()
    trade_id = (await created.json())["trade_id"]
    key = new_key()
    challenged = await gateway.post(f"/v1/trades/{trade_id}/pay", headers=buyer.keyed(key))
    await problem_of(challenged, 422, "RISK_CHALLENGE_REQUIRED")
    await set_payment_password(gateway, buyer)
    paid = await gateway.post(
        f"/v1/trades/{trade_id}/pay",
        json={"payment_password": PAYMENT_PASSWORD},
        headers=buyer.keyed(key),
    )
    assert paid.status == 200, await paid.text()
    assert (await paid.json())["state"] == "paid"
    assert await balance_fen(gateway, buyer) == 2_900 * YUAN

    bill = {"biller_id": "huaxia-mobile", "reference": "13912345678", "amount_fen": 2_001 * YUAN}
    bill_key = new_key()
    refused = await gateway.post("/v1/bill-payments", json=bill, headers=buyer.keyed(bill_key))
    await problem_of(refused, 422, "RISK_CHALLENGE_REQUIRED")
    bill_paid = await gateway.post(
        "/v1/bill-payments",
        json={**bill, "payment_password": PAYMENT_PASSWORD},
        headers=buyer.keyed(bill_key),
    )
    assert bill_paid.status == 201, await bill_paid.text()
    assert await balance_fen(gateway, buyer) == 899 * YUAN  # 2900 - 2001


async def test_a_challenged_merchant_payment_saga_is_undone_then_answered_with_the_password(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    payer, merchant = await new_user(), await new_merchant()
    await top_up(gateway, payer, 3_000 * YUAN, new_key())
    await set_payment_password(gateway, payer)
    key = new_key()
    body = {"to_account_id": merchant.account_id, "amount_fen": 2_500 * YUAN}
    challenged = await gateway.post("/v1/merchant-payments", json=body, headers=payer.keyed(key))
    problem = await problem_of(challenged, 422, "RISK_CHALLENGE_REQUIRED")
    assert await balance_fen(gateway, payer) == 3_000 * YUAN
    # Only the same request answers the challenge: another one under the key is refused.
    changed = await gateway.post(
        "/v1/merchant-payments",
        json={**body, "amount_fen": 2_400 * YUAN, "payment_password": PAYMENT_PASSWORD},
        headers=payer.keyed(key),
    )
    await problem_of(changed, 422, "IDEMPOTENCY_KEY_REUSED")
    answered = await gateway.post(
        "/v1/merchant-payments",
        json={**body, "payment_password": PAYMENT_PASSWORD},
        headers=payer.keyed(key),
    )
    assert answered.status == 201, await answered.text()
    operation = await answered.json()
    assert operation["state"] == "completed"
    assert operation["operation_id"] != problem["metadata"]["operation_id"]
    replay = await gateway.post(
        "/v1/merchant-payments",
        json={**body, "payment_password": PAYMENT_PASSWORD},
        headers=payer.keyed(key),
    )
    assert (await replay.json())["result"] == operation["result"]
    # A different request under the key is still refused, password or not.
    other = await gateway.post(
        "/v1/merchant-payments",
        json={**body, "amount_fen": 2_400 * YUAN, "payment_password": PAYMENT_PASSWORD},
        headers=payer.keyed(key),
    )
    assert other.status == 422, await other.text()
    assert await balance_fen(gateway, payer) == 500 * YUAN
    assert await balance_fen(gateway, merchant) == 2_500 * YUAN


async def test_a_deny_is_final_for_its_key(gateway: Client, new_user: Any, operator: User) -> None:
    alice, mallory = await new_user(), await new_user()
    await top_up(gateway, alice, 1_000, new_key())
    listed = await gateway.put(
        f"/v1/admin/blacklist/{mallory.account_id}",
        json={"blacklisted": True, "reason": "fraud reports"},
        headers=operator.headers,
    )
    assert listed.status == 200, await listed.text()
    key = new_key()
    body = {"amount_fen": 500, "to_account_id": mallory.account_id}
    denied = await gateway.post("/v1/transfers", json=body, headers=alice.keyed(key))
    problem = await problem_of(denied, 422, "RISK_DENIED")
    assert problem["metadata"]["rule_ids"] == "blacklisted-party"

    cleared = await gateway.put(
        f"/v1/admin/blacklist/{mallory.account_id}",
        json={"blacklisted": False},
        headers=operator.headers,
    )
    assert cleared.status == 200, await cleared.text()
    # The refusal was stored: the same key replays it; a new key is a new decision.
    replay = await gateway.post(
        "/v1/transfers", json={**body, "payment_password": "385912"}, headers=alice.keyed(key)
    )
    await problem_of(replay, 422, "RISK_DENIED")
    fresh = await gateway.post("/v1/transfers", json=body, headers=alice.keyed(new_key()))
    assert fresh.status == 201, await fresh.text()
    assert await balance_fen(gateway, mallory) == 500
