"""Merchant API keys and who may use the merchant API (DESIGN.md "Security")."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from chassis.mongo import MongoClient
from gateway.app import MERCHANT_API_KEYS_COLLECTION
from gateway.settings import GatewaySettings
from gateway.tests.conftest import api_key_headers, create_api_key, problem_of

Client = TestClient[Any, Any]


def new_key() -> str:
    return str(uuid.uuid4())


async def test_a_merchant_creates_lists_uses_and_revokes_an_api_key(
    gateway: Client, new_merchant: Any
) -> None:
    merchant = await new_merchant()
    created = await gateway.post("/v1/merchant/api-keys", headers=merchant.headers)
    assert created.status == 201, await created.text()
    issued = await created.json()
    api_key = issued["api_key"]
    assert re.fullmatch(r"ck_live_[A-Za-z0-9_-]{32}", api_key)
    assert api_key.startswith(issued["prefix"])

    used = await gateway.get("/v1/merchant/trades", headers=api_key_headers(api_key))
    assert used.status == 200, await used.text()
    assert (await used.json())["trades"] == []

    listed = await gateway.get("/v1/merchant/api-keys", headers=merchant.headers)
    assert listed.status == 200
    listing_text = await listed.text()
    assert api_key not in listing_text
    [listed_key] = (await listed.json())["api_keys"]
    assert listed_key["key_id"] == issued["key_id"]
    assert listed_key["prefix"] == issued["prefix"]
    assert "last_used_at" in listed_key  # the request above used it

    revoked = await gateway.delete(
        f"/v1/merchant/api-keys/{issued['key_id']}", headers=merchant.headers
    )
    assert revoked.status == 204
    refused = await gateway.get("/v1/merchant/trades", headers=api_key_headers(api_key))
    await problem_of(refused, 401, "UNAUTHENTICATED")
    again = await gateway.delete(
        f"/v1/merchant/api-keys/{issued['key_id']}", headers=merchant.headers
    )
    await problem_of(again, 404, "NOT_FOUND")
    listed_after = await gateway.get("/v1/merchant/api-keys", headers=merchant.headers)
    assert (await listed_after.json())["api_keys"] == []


async def test_only_a_hash_of_the_key_is_stored(
    gateway: Client, new_merchant: Any, mongo_client: MongoClient, settings: GatewaySettings
) -> None:
    merchant = await new_merchant()
    api_key = await create_api_key(gateway, merchant)
    collection = mongo_client[settings.database_name][MERCHANT_API_KEYS_COLLECTION]
    [document] = await collection.find({"user_id": merchant.user_id}).to_list()
    assert api_key not in str(document)
    assert document["secret_sha256"] == hashlib.sha256(api_key.encode()).hexdigest()
    assert document["account_id"] == merchant.account_id


async def test_unknown_malformed_and_misplaced_keys_are_refused(
    gateway: Client, new_merchant: Any
) -> None:
    merchant = await new_merchant()
    api_key = await create_api_key(gateway, merchant)
    for bad in ("ck_live_" + "A" * 32, "not-a-key", ""):
        response = await gateway.get("/v1/merchant/trades", headers=api_key_headers(bad))
        await problem_of(response, 401, "UNAUTHENTICATED")
    # A key is for the merchant API only: not for managing keys, nor for the wallet.
    for path in ("/v1/merchant/api-keys", "/v1/wallet"):
        response = await gateway.get(path, headers=api_key_headers(api_key))
        await problem_of(response, 401, "UNAUTHENTICATED")
    # A key used as if it were an access token is just an invalid token.
    response = await gateway.get(
        "/v1/merchant/trades", headers={"Authorization": f"Bearer {api_key}"}
    )
    await problem_of(response, 401, "UNAUTHENTICATED")


async def test_a_personal_user_gets_403_on_every_merchant_endpoint(
    gateway: Client, new_user: Any
) -> None:
    buyer = await new_user()
    document = await (await gateway.get("/openapi.json")).json()
    merchant_operations = [
        (method, path)
        for path, item in document["paths"].items()
        if path.startswith("/v1/merchant/")
        for method in item
    ]
    assert len(merchant_operations) >= 11
    for method, path in merchant_operations:
        concrete = (
            path.replace("{trade_id}", "T0")
            .replace("{key_id}", "key_0")
            .replace("{person_id}", "P0")
            .replace("{facility_id}", "F0")
            .replace("{loan_id}", "L0")
        )
        response = await gateway.request(method, concrete, json={}, headers=buyer.keyed(new_key()))
        await problem_of(response, 403, "PERMISSION_DENIED")
        anonymous = await gateway.request(method, concrete, json={})
        await problem_of(anonymous, 401, "UNAUTHENTICATED")


async def test_a_merchant_cannot_revoke_another_merchants_key(
    gateway: Client, new_merchant: Any
) -> None:
    owner, other = await new_merchant(), await new_merchant()
    created = await gateway.post("/v1/merchant/api-keys", headers=owner.headers)
    issued = await created.json()
    response = await gateway.delete(
        f"/v1/merchant/api-keys/{issued['key_id']}", headers=other.headers
    )
    await problem_of(response, 404, "NOT_FOUND")
    still_works = await gateway.get(
        "/v1/merchant/trades", headers=api_key_headers(issued["api_key"])
    )
    assert still_works.status == 200
