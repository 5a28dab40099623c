"""Bound bank cards through the gateway (issue 21 items 3 and 4): the bank confirms the name,
binding raises KYC to 3 (a top-up does not), withdrawals go only to a bound card, cards are
listed and removed by their owner only, and every refusal is problem+json."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests.conftest import CARD, bind_card, problem_of, top_up
from services.payment.bank_channel import fake_bank_card_for

Client = TestClient[Any, Any]


def new_key() -> str:
    return uuid.uuid4().hex


async def kyc_level(gateway: Client, user: Any) -> int:
    response = await gateway.get("/v1/wallet", headers=user.headers)
    return int((await response.json())["kyc_level"])


async def cards_of(gateway: Client, user: Any) -> list[dict[str, Any]]:
    response = await gateway.get("/v1/wallet/cards", headers=user.headers)
    assert response.status == 200
    return list((await response.json())["cards"])


async def test_a_card_in_the_users_name_binds_and_raises_kyc(gateway: Client, new_user) -> None:
    user = await new_user()
    await top_up(gateway, user, 1_000, new_key())
    assert await kyc_level(gateway, user) == 2  # a top-up from any card proves no name
    response = await gateway.post(
        "/v1/wallet/cards", json={"bank_card_number": CARD}, headers=user.headers
    )
    assert response.status == 201, await response.text()
    bound = await response.json()
    assert bound["card"]["card_last4"] == CARD[-4:]
    assert bound["wallet"]["kyc_level"] == 3
    assert await kyc_level(gateway, user) == 3
    assert [card["card_id"] for card in await cards_of(gateway, user)] == [bound["card"]["card_id"]]


async def test_a_card_in_another_name_is_refused_and_changes_nothing(
    gateway: Client, new_user
) -> None:
    user = await new_user()
    for card in (fake_bank_card_for("李四"), "6222021234567890123"[:-1] + "0"):
        response = await gateway.post(
            "/v1/wallet/cards", json={"bank_card_number": card}, headers=user.headers
        )
        assert response.status in (400, 422)
        assert response.content_type == "application/problem+json"
    refused = await gateway.post(
        "/v1/wallet/cards",
        json={"bank_card_number": fake_bank_card_for("李四")},
        headers=user.headers,
    )
    await problem_of(refused, 422, "CARD_HOLDER_NOT_CONFIRMED")
    assert await cards_of(gateway, user) == []
    assert await kyc_level(gateway, user) == 2


async def test_withdrawals_go_only_to_a_bound_card(gateway: Client, new_user) -> None:
    user = await new_user()
    await top_up(gateway, user, 5_000, new_key())
    unbound = await gateway.post(
        "/v1/withdrawals",
        json={"amount_fen": 1_000, "bank_card_number": CARD},
        headers=user.keyed(new_key()),
    )
    await problem_of(unbound, 422, "CARD_NOT_BOUND")
    await bind_card(gateway, user)
    paid = await gateway.post(
        "/v1/withdrawals",
        json={"amount_fen": 1_000, "bank_card_number": CARD},
        headers=user.keyed(new_key()),
    )
    assert paid.status == 201, await paid.text()


async def test_only_the_owner_unbinds_a_card(gateway: Client, new_user) -> None:
    owner, other = await new_user(), await new_user()
    await bind_card(gateway, owner)
    card_id = (await cards_of(gateway, owner))[0]["card_id"]
    others = await gateway.delete(f"/v1/wallet/cards/{card_id}", headers=other.headers)
    await problem_of(others, 404, "NOT_FOUND")
    assert len(await cards_of(gateway, owner)) == 1
    removed = await gateway.delete(f"/v1/wallet/cards/{card_id}", headers=owner.headers)
    assert removed.status == 204
    assert await cards_of(gateway, owner) == []
    missing = await gateway.delete(f"/v1/wallet/cards/{card_id}", headers=owner.headers)
    await problem_of(missing, 404, "NOT_FOUND")


async def test_a_top_up_above_the_kyc_levels_maximum_is_refused(gateway: Client, new_user) -> None:
    user = await new_user()
    refused = await gateway.post(
        "/v1/topups",
        json={"amount_fen": 50_000 * 100 + 1, "bank_card_number": CARD},
        headers=user.keyed(new_key()),
    )
    problem = await problem_of(refused, 422, "TOP_UP_LIMIT_EXCEEDED")
    assert problem["metadata"]["limit_fen"] == str(50_000 * 100)
    await bind_card(gateway, user)  # level 3: up to 200,000 yuan a top-up
    await top_up(gateway, user, 50_000 * 100 + 1, new_key())
