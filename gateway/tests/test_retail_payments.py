"""Face-to-face payment codes, utility bills and the payment password, through the gateway."""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests.conftest import (
    User,
    api_key_headers,
    balance_fen,
    create_api_key,
    problem_of,
    statement,
    top_up,
)
from services.payment.bank_channel import luhn_valid

Client = TestClient[Any, Any]
WATER_BILLER = "westlake-water"


def new_key() -> str:
    return str(uuid.uuid4())


def water_reference() -> str:
    """A 10-digit customer number whose last digit is its Luhn check digit."""
    stem = "330106123"
    return next(stem + digit for digit in "0123456789" if luhn_valid(stem + digit))


async def issue_code(gateway: Client, payer: User) -> str:
    response = await gateway.post("/v1/payment-codes", headers=payer.headers)
    assert response.status == 201, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    issued = await response.json()
    assert issued["expires_at"]
    return str(issued["code"])


async def test_a_merchant_charges_a_payment_code_once(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    payer, merchant = await new_user(), await new_merchant()
    api_key = await create_api_key(gateway, merchant)
    await top_up(gateway, payer, 10_000, new_key())
    code = await issue_code(gateway, payer)
    assert re.fullmatch(r"28[0-9]{16}", code)

    charge_key = new_key()
    body = {"code": code, "amount_fen": 2_350, "memo": "two coffees"}
    charged = await gateway.post(
        "/v1/merchant/payment-code-charges", json=body, headers=api_key_headers(api_key, charge_key)
    )
    assert charged.status == 201, await charged.text()
    charge = await charged.json()
    assert charge["amount"]["amount_fen"] == 2_350
    assert charge["memo"] == "two coffees"
    assert charge["payer_name"] and charge["payer_name"] != "张三"  # masked
    assert await balance_fen(gateway, payer) == 7_650
    assert await balance_fen(gateway, merchant) == 2_350

    replay = await gateway.post(
        "/v1/merchant/payment-code-charges", json=body, headers=api_key_headers(api_key, charge_key)
    )
    assert await replay.read() == await charged.read()
    second = await gateway.post(
        "/v1/merchant/payment-code-charges",
        json={"code": code, "amount_fen": 100},
        headers=api_key_headers(api_key, new_key()),
    )
    await problem_of(second, 422, "PAYMENT_CODE_USED")
    assert await balance_fen(gateway, payer) == 7_650
    assert await balance_fen(gateway, merchant) == 2_350


async def test_a_malformed_or_unknown_code_charges_nothing(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    merchant = await new_merchant()
    bad = await gateway.post(
        "/v1/merchant/payment-code-charges",
        json={"code": "12345", "amount_fen": 100},
        headers=merchant.keyed(new_key()),
    )
    await problem_of(bad, 400, "INVALID_PAYMENT_CODE")
    unknown = await gateway.post(
        "/v1/merchant/payment-code-charges",
        json={"code": "28" + "0" * 16, "amount_fen": 100},
        headers=merchant.keyed(new_key()),
    )
    await problem_of(unknown, 404, "INVALID_PAYMENT_CODE")
    assert await balance_fen(gateway, merchant) == 0


async def test_a_bill_with_a_bad_reference_moves_nothing(gateway: Client, new_user: Any) -> None:
    payer = await new_user()
    await top_up(gateway, payer, 5_000, new_key())
    billers = await (await gateway.get("/v1/billers", headers=payer.headers)).json()
    water = next(b for b in billers["billers"] if b["biller_id"] == WATER_BILLER)
    assert water["category"] == "water"
    assert "merchant_account_id" not in water
    lines_before = await statement(gateway, payer)

    good = water_reference()
    typo = good[:-1] + str((int(good[-1]) + 1) % 10)  # a wrong check digit
    for reference in (typo, "12345"):
        response = await gateway.post(
            "/v1/bill-payments",
            json={"biller_id": WATER_BILLER, "reference": reference, "amount_fen": 1_234},
            headers=payer.keyed(new_key()),
        )
        await problem_of(response, 400, "INVALID_BILL_REFERENCE")
    assert await balance_fen(gateway, payer) == 5_000
    assert await statement(gateway, payer) == lines_before

    paid = await gateway.post(
        "/v1/bill-payments",
        json={"biller_id": WATER_BILLER, "reference": good, "amount_fen": 1_234},
        headers=payer.keyed(new_key()),
    )
    assert paid.status == 201, await paid.text()
    movement = await paid.json()
    assert movement["amount"]["amount_fen"] == 1_234
    assert movement["balance"]["amount_fen"] == 3_766  # 5000 - 1234
    unknown = await gateway.post(
        "/v1/bill-payments",
        json={"biller_id": "no-such-biller", "reference": good, "amount_fen": 1},
        headers=payer.keyed(new_key()),
    )
    await problem_of(unknown, 404, "NOT_FOUND")


async def test_setting_and_changing_the_payment_password(gateway: Client, new_user: Any) -> None:
    user = await new_user()
    wallet = await (await gateway.get("/v1/wallet", headers=user.headers)).json()
    assert wallet["payment_password_set"] is False

    weak = await gateway.put(
        "/v1/payment-password",
        json={"login_password": user.password, "new_password": "123456"},
        headers=user.headers,
    )
    await problem_of(weak, 400, "WEAK_PAYMENT_PASSWORD")
    malformed = await gateway.put(
        "/v1/payment-password",
        json={"login_password": user.password, "new_password": "12ab"},
        headers=user.headers,
    )
    await problem_of(malformed, 400, "INVALID_PAYMENT_PASSWORD")

    first = await gateway.put(
        "/v1/payment-password",
        json={"login_password": user.password, "new_password": "385912"},
        headers=user.headers,
    )
    assert first.status == 204, await first.text()
    assert await first.read() == b""
    wallet = await (await gateway.get("/v1/wallet", headers=user.headers)).json()
    assert wallet["payment_password_set"] is True

    without_current = await gateway.put(
        "/v1/payment-password",
        json={"login_password": user.password, "new_password": "604817"},
        headers=user.headers,
    )
    await problem_of(without_current, 422, "PAYMENT_PASSWORD_WRONG")
    changed = await gateway.put(
        "/v1/payment-password",
        json={
            "login_password": user.password,
            "new_password": "604817",
            "current_password": "385912",
        },
        headers=user.headers,
    )
    assert changed.status == 204, await changed.text()


async def test_the_token_alone_cannot_set_the_payment_password(
    gateway: Client, new_user: Any
) -> None:
    user = await new_user()
    tokens_only = await gateway.put(
        "/v1/payment-password", json={"new_password": "385912"}, headers=user.headers
    )
    problem = await problem_of(tokens_only, 400, "INVALID_ARGUMENT")
    assert problem["metadata"] == {"field": "login_password"}
    wrong = await gateway.put(
        "/v1/payment-password",
        json={"login_password": "not my password", "new_password": "385912"},
        headers=user.headers,
    )
    await problem_of(wrong, 403, "LOGIN_PASSWORD_WRONG")
    wallet = await (await gateway.get("/v1/wallet", headers=user.headers)).json()
    assert wallet["payment_password_set"] is False
    # Wrong log-in passwords here count like failed log-ins: no side door for guessing.
    statuses = []
    for attempt in range(6):
        response = await gateway.put(
            "/v1/payment-password",
            json={"login_password": f"guess {attempt}", "new_password": "385912"},
            headers=user.headers,
        )
        statuses.append(response.status)
    assert statuses[-1] == 429
    login = await gateway.post(
        "/v1/auth/login", json={"phone": user.phone, "password": user.password}
    )
    await problem_of(login, 429, "RATE_LIMITED")
