"""Top-ups, withdrawals, transfers and the statement, end to end through the gateway."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.tests.conftest import (
    CARD,
    DECLINED_CARD,
    balance_fen,
    bind_card,
    problem_of,
    statement,
    top_up,
)

Client = TestClient[Any, Any]


def new_key() -> str:
    return str(uuid.uuid4())


def money(amount_fen: int) -> dict[str, Any]:
    """The JSON of a non-negative amount."""
    return {
        "amount_fen": amount_fen,
        "currency": "CNY",
        "yuan": f"{amount_fen // 100}.{amount_fen % 100:02d}",
    }


async def test_top_up_then_transfer_by_phone_and_by_account_shows_in_both_statements(
    gateway: Client, new_user: Any
) -> None:
    alice, bob = await new_user(), await new_user()

    topped_up = await gateway.post(
        "/v1/topups",
        json={"amount_fen": 10_000, "bank_card_number": CARD},
        headers=alice.keyed(new_key()),
    )
    assert topped_up.status == 201, await topped_up.text()
    movement = await topped_up.json()
    assert movement["kind"] == "top_up"
    assert movement["amount"] == money(10_000)
    assert movement["balance"] == money(10_000)
    assert movement["available"] == money(10_000)

    by_phone = await gateway.post(
        "/v1/transfers",
        json={"amount_fen": 1_234, "to_phone": bob.phone, "payee_name": "张三", "memo": "lunch"},
        headers=alice.keyed(new_key()),
    )
    assert by_phone.status == 201, await by_phone.text()
    first = await by_phone.json()
    assert first["kind"] == "transfer"
    assert first["counterpart_account_id"] == bob.account_id
    assert first["balance"] == money(8_766)  # 10000 - 1234

    by_account = await gateway.post(
        "/v1/transfers",
        json={"amount_fen": 766, "to_account_id": bob.account_id},
        headers=alice.keyed(new_key()),
    )
    assert by_account.status == 201, await by_account.text()
    assert (await by_account.json())["balance"] == money(8_000)  # 8766 - 766

    alice_lines = await statement(gateway, alice)
    assert [
        (line["kind"], line["amount"]["amount_fen"], line["balance_after"]["amount_fen"])
        for line in alice_lines
    ] == [
        ("transfer", -766, 8_000),
        ("transfer", -1_234, 8_766),
        ("top_up", 10_000, 10_000),
    ]
    assert alice_lines[1]["memo"] == "lunch"
    assert alice_lines[1]["counterpart_account_id"] == bob.account_id

    bob_lines = await statement(gateway, bob)
    assert [
        (line["amount"]["amount_fen"], line["balance_after"]["amount_fen"]) for line in bob_lines
    ] == [(766, 2_000), (1_234, 1_234)]
    assert all(line["counterpart_account_id"] == alice.account_id for line in bob_lines)

    wallet = await (await gateway.get("/v1/wallet", headers=bob.headers)).json()
    assert wallet == {
        "account_id": bob.account_id,
        "balance": money(2_000),
        "available": money(2_000),
        "in_escrow": money(0),
        "kyc_level": 2,  # real-name; no bank card bound yet (bob never topped up)
        "payment_password_set": False,
    }


async def test_withdrawal_moves_money_out_to_the_card(gateway: Client, new_user: Any) -> None:
    user = await new_user()
    await top_up(gateway, user, 5_000, new_key())
    await bind_card(gateway, user)
    response = await gateway.post(
        "/v1/withdrawals",
        json={"amount_fen": 1_500, "bank_card_number": CARD},
        headers=user.keyed(new_key()),
    )
    assert response.status == 201, await response.text()
    assert (await response.json())["kind"] == "withdrawal"
    assert await balance_fen(gateway, user) == 3_500


async def test_insufficient_funds_is_a_422_problem_and_moves_nothing(
    gateway: Client, new_user: Any
) -> None:
    payer, payee = await new_user(), await new_user()
    await top_up(gateway, payer, 1_000, new_key())
    await bind_card(gateway, payer)

    transfer = await gateway.post(
        "/v1/transfers",
        json={"amount_fen": 1_001, "to_account_id": payee.account_id},
        headers=payer.keyed(new_key()),
    )
    problem = await problem_of(transfer, 422, "INSUFFICIENT_FUNDS")
    assert problem["instance"] == "/v1/transfers"
    assert problem["metadata"]["available_fen"] == "1000"
    withdrawal = await gateway.post(
        "/v1/withdrawals",
        json={"amount_fen": 5_000, "bank_card_number": CARD},
        headers=payer.keyed(new_key()),
    )
    await problem_of(withdrawal, 422, "INSUFFICIENT_FUNDS")

    assert await balance_fen(gateway, payer) == 1_000
    assert await balance_fen(gateway, payee) == 0
    assert len(await statement(gateway, payer)) == 1


async def test_a_card_the_bank_declines_is_a_422_problem(gateway: Client, new_user: Any) -> None:
    user = await new_user()
    response = await gateway.post(
        "/v1/topups",
        json={"amount_fen": 100, "bank_card_number": DECLINED_CARD},
        headers=user.keyed(new_key()),
    )
    await problem_of(response, 422, "BANK_DECLINED")
    assert await balance_fen(gateway, user) == 0


BAD_TRANSFERS = [
    ({"amount_fen": 12.5, "to_phone": "PAYEE"}, "INVALID_AMOUNT"),
    ({"amount_fen": 100.01, "to_phone": "PAYEE"}, "INVALID_AMOUNT"),
    ({"amount_fen": "100", "to_phone": "PAYEE"}, "INVALID_AMOUNT"),
    ({"amount_fen": True, "to_phone": "PAYEE"}, "INVALID_AMOUNT"),
    ({"amount_fen": None, "to_phone": "PAYEE"}, "INVALID_AMOUNT"),
    ({"to_phone": "PAYEE"}, "INVALID_AMOUNT"),
    ({"amount_fen": -100, "to_phone": "PAYEE"}, "INVALID_AMOUNT"),
    ({"amount_fen": 0, "to_phone": "PAYEE"}, "INVALID_AMOUNT"),
    ({"amount_fen": 10**30, "to_phone": "PAYEE"}, "INVALID_AMOUNT"),
    ({"amount_fen": 100, "currency": "USD", "to_phone": "PAYEE"}, "UNSUPPORTED_CURRENCY"),
    ({"amount_fen": 100}, "INVALID_ARGUMENT"),
    (
        {"amount_fen": 100, "to_phone": "PAYEE", "to_account_id": "PAYEE_ACCOUNT"},
        "INVALID_ARGUMENT",
    ),
    ({"amount_fen": 100, "to_phone": "PAYEE", "memo": "m" * 65}, "INVALID_ARGUMENT"),
    ({"amount_fen": 100, "to_phone": "PAYEE", "memo": 7}, "INVALID_ARGUMENT"),
    ({"amount_fen": 100, "to_phone": 13900000000}, "INVALID_ARGUMENT"),
    ({"amount_fen": 100, "to_phone": "PAYEE", "from_account_id": "x"}, "INVALID_ARGUMENT"),
    ({"amount_fen": 100, "to_phone": "12345"}, "INVALID_PHONE"),
    ({"amount_fen": 100, "to_account_id": "PAYER_ACCOUNT"}, "SAME_ACCOUNT"),
]


@pytest.fixture(scope="module")
async def payer_and_payee(gateway: Client, new_user: Any) -> tuple[Any, Any]:
    """Two users shared by the bad-input tests: the payer holds 1,000 fen, the payee none."""
    payer, payee = await new_user(), await new_user()
    await top_up(gateway, payer, 1_000, new_key())
    return payer, payee


@pytest.mark.parametrize(("template", "reason"), BAD_TRANSFERS)
async def test_bad_transfer_input_is_a_400_problem_and_moves_nothing(
    gateway: Client, payer_and_payee: tuple[Any, Any], template: dict[str, Any], reason: str
) -> None:
    payer, payee = payer_and_payee
    stand_ins = {
        "PAYEE": payee.phone,
        "PAYEE_ACCOUNT": payee.account_id,
        "PAYER_ACCOUNT": payer.account_id,
    }
    body = {
        field: stand_ins.get(value, value) if isinstance(value, str) else value
        for field, value in template.items()
    }
    response = await gateway.post("/v1/transfers", json=body, headers=payer.keyed(new_key()))
    await problem_of(response, 400, reason)
    assert await balance_fen(gateway, payer) == 1_000
    assert await balance_fen(gateway, payee) == 0


@pytest.mark.parametrize(
    ("raw_body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"a string"', "application/json"),
        (b'{"amount_fen": NaN, "bank_card_number": "x"}', "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_a_400_problem(
    gateway: Client, payer_and_payee: tuple[Any, Any], raw_body: bytes, content_type: str
) -> None:
    user, _ = payer_and_payee
    response = await gateway.post(
        "/v1/topups",
        data=raw_body,
        headers={**user.keyed(new_key()), "Content-Type": content_type},
    )
    await problem_of(response, 400, "INVALID_ARGUMENT")
    assert await balance_fen(gateway, user) == 1_000


async def test_bad_bank_movements_are_400_problems(gateway: Client, new_user: Any) -> None:
    user = await new_user()
    await top_up(gateway, user, 1_000, new_key())
    cases = [
        ("/v1/topups", {"amount_fen": 100}, "INVALID_ARGUMENT"),
        ("/v1/topups", {"amount_fen": 100, "bank_card_number": ""}, "INVALID_ARGUMENT"),
        ("/v1/topups", {"amount_fen": 100, "bank_card_number": "1234"}, "INVALID_ARGUMENT"),
        ("/v1/topups", {"amount_fen": 1.5, "bank_card_number": CARD}, "INVALID_AMOUNT"),
        ("/v1/withdrawals", {"amount_fen": -1, "bank_card_number": CARD}, "INVALID_AMOUNT"),
        ("/v1/withdrawals", {"amount_fen": 100, "bank_card_number": "4111"}, "INVALID_ARGUMENT"),
    ]
    for path, body, reason in cases:
        response = await gateway.post(path, json=body, headers=user.keyed(new_key()))
        await problem_of(response, 400, reason)
    assert await balance_fen(gateway, user) == 1_000


async def test_statement_pages_through_every_entry_once(gateway: Client, new_user: Any) -> None:
    user = await new_user()
    for amount_fen in range(1, 6):
        await top_up(gateway, user, amount_fen, new_key())
    seen: list[int] = []
    page_token = ""
    for _ in range(10):  # 5 entries at 2 per page take 3 pages; more would be a bug
        params = {"page_size": "2", **({"page_token": page_token} if page_token else {})}
        response = await gateway.get("/v1/statement", params=params, headers=user.headers)
        page = await response.json()
        assert len(page["entries"]) <= 2
        seen += [entry["amount"]["amount_fen"] for entry in page["entries"]]
        page_token = page["next_page_token"]
        if not page_token:
            break
    assert seen == [5, 4, 3, 2, 1]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"page_size": "0"}, "INVALID_ARGUMENT"),
        ({"page_size": "101"}, "INVALID_ARGUMENT"),
        ({"page_size": "-1"}, "INVALID_ARGUMENT"),
        ({"page_size": "ten"}, "INVALID_ARGUMENT"),
        ({"page_size": "2.5"}, "INVALID_ARGUMENT"),
        ({"page_token": "not-a-token"}, "INVALID_PAGE_TOKEN"),
        ({"page_token": "x" * 600}, "INVALID_PAGE_TOKEN"),
    ],
)
async def test_bad_statement_paging_is_a_400_problem(
    gateway: Client, payer_and_payee: tuple[Any, Any], params: dict[str, str], reason: str
) -> None:
    user, _ = payer_and_payee
    response = await gateway.get("/v1/statement", params=params, headers=user.headers)
    await problem_of(response, 400, reason)
