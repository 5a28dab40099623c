"""No user can read or move another user's money (DESIGN.md "Security")."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests.conftest import CARD, balance_fen, problem_of, statement, top_up

Client = TestClient[Any, Any]

# Request fields that would name whose money to act on; the caller's identity decides that.
SOURCE_ACCOUNT_FIELDS = {
    "account_id",
    "from_account_id",
    "from_phone",
    "user_id",
    "owner_ref",
    "merchant_account_id",
}


async def test_each_user_sees_only_their_own_wallet_and_statement(
    gateway: Client, new_user: Any
) -> None:
    alice, bob = await new_user(), await new_user()
    await top_up(gateway, alice, 1_100, str(uuid.uuid4()))
    await top_up(gateway, bob, 2_200, str(uuid.uuid4()))

    # Naming the other user's account in the query changes nothing: it is not an input.
    wallet = await gateway.get(
        "/v1/wallet", params={"account_id": bob.account_id}, headers=alice.headers
    )
    assert (await wallet.json())["account_id"] == alice.account_id
    lines = await gateway.get(
        "/v1/statement", params={"account_id": bob.account_id}, headers=alice.headers
    )
    assert [entry["amount"]["amount_fen"] for entry in (await lines.json())["entries"]] == [1_100]
    assert [entry["amount"]["amount_fen"] for entry in await statement(gateway, bob)] == [2_200]


async def test_nobody_can_move_money_out_of_another_users_account(
    gateway: Client, new_user: Any
) -> None:
    alice, bob = await new_user(), await new_user()
    await top_up(gateway, bob, 5_000, str(uuid.uuid4()))

    attempts = [
        (
            "/v1/transfers",
            {
                "amount_fen": 1_000,
                "from_account_id": bob.account_id,
                "to_account_id": alice.account_id,
            },
        ),
        (
            "/v1/transfers",
            {"amount_fen": 1_000, "from_phone": bob.phone, "to_account_id": alice.account_id},
        ),
        (
            "/v1/withdrawals",
            {"amount_fen": 1_000, "account_id": bob.account_id, "bank_card_number": CARD},
        ),
    ]
    for path, body in attempts:
        response = await gateway.post(path, json=body, headers=alice.keyed(str(uuid.uuid4())))
        await problem_of(response, 400, "INVALID_ARGUMENT")

    # Alice's own transfer "to Bob" can only ever debit Alice, who has nothing.
    own = await gateway.post(
        "/v1/transfers",
        json={"amount_fen": 1_000, "to_account_id": bob.account_id},
        headers=alice.keyed(str(uuid.uuid4())),
    )
    await problem_of(own, 422, "INSUFFICIENT_FUNDS")
    assert await balance_fen(gateway, bob) == 5_000
    assert await balance_fen(gateway, alice) == 0


async def test_no_route_takes_the_account_to_act_on_as_input(gateway: Client) -> None:
    document = await (await gateway.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        if path.startswith("/v1/admin/"):
            continue  # operators act on the platform's accounts, not on their own money
        assert "account" not in path, path
        for operation in item.values():
            names = {parameter.get("name") for parameter in operation.get("parameters", [])}
            assert not names & SOURCE_ACCOUNT_FIELDS, (path, names)
            body = operation.get("requestBody")
            if body is None:
                continue
            reference = body["content"]["application/json"]["schema"]["$ref"]
            for schema in _alternatives(schemas, reference):
                assert schema.get("additionalProperties") is False, (path, schema)
                assert not set(schema["properties"]) & SOURCE_ACCOUNT_FIELDS, path


def _alternatives(schemas: dict[str, Any], reference: str) -> list[dict[str, Any]]:
    """The object schemas a body may be: itself, or each member of its oneOf."""
    schema = schemas[reference.rsplit("/", 1)[-1]]
    if "oneOf" not in schema:
        return [schema]
    return [
        alternative
        for member in schema["oneOf"]
        for alternative in _alternatives(schemas, member["$ref"])
    ]
