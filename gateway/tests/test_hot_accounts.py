"""An operator splits a big merchant's account into sub-accounts (Double 11's hot merchant)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests.conftest import User, problem_of

Client = TestClient[Any, Any]


async def test_an_operator_makes_a_merchant_hot_and_bad_counts_are_refused(
    gateway: Client, operator: User, new_merchant: Any
) -> None:
    merchant = await new_merchant()
    path = f"/v1/admin/accounts/{merchant.account_id}/hot"
    made_hot = await gateway.put(path, json={"hot_shards": 16}, headers=operator.headers)
    assert made_hot.status == 200, await made_hot.text()
    assert await made_hot.json() == {"account_id": merchant.account_id, "hot_shards": 16}
    for bad in ({"hot_shards": 65}, {"hot_shards": "16"}, {"hot_shards": True}, {}):
        refused = await gateway.put(path, json=bad, headers=operator.headers)
        assert refused.status == 400, (bad, await refused.text())
    unknown = await gateway.put(
        "/v1/admin/accounts/2188000000000000/hot", json={"hot_shards": 4}, headers=operator.headers
    )
    await problem_of(unknown, 404, "NOT_FOUND")
    not_operator = await gateway.put(path, json={"hot_shards": 4}, headers=merchant.headers)
    assert not_operator.status == 403
