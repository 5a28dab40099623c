"""Demo data: valid identities, and loading twice through a stand-in gateway changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from infra.demo_data import (
    DEMO_BANK_CARD_NUMBER,
    DEMO_PASSWORD,
    DEMO_USERS,
    DemoDataError,
    format_logins,
    format_yuan,
    load_demo_data,
)
from services.payment.bank_channel import FAKE_BANK_DECLINED_CARDS, luhn_valid
from services.payment.identity import validate_phone, validate_resident_id

# GB 32100-2015 unified social credit code: 17 characters, then a weighted check character.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first_17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first_17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def test_demo_identities_pass_the_payment_service_checks() -> None:
    for user in DEMO_USERS:
        assert validate_phone(user.phone) == user.phone
        if user.account_type == "personal":
            assert validate_resident_id(user.resident_id) == user.resident_id
    assert len({user.phone for user in DEMO_USERS}) == len(DEMO_USERS)


def test_the_merchant_licence_carries_its_check_character() -> None:
    merchants = [user for user in DEMO_USERS if user.account_type == "merchant"]
    assert len(merchants) == 1
    licence = merchants[0].business_licence
    assert uscc_check_char(licence[:17]) == licence[17]


def test_the_demo_card_is_valid_and_not_declined_by_the_fake_bank() -> None:
    assert luhn_valid(DEMO_BANK_CARD_NUMBER)
    assert DEMO_BANK_CARD_NUMBER not in FAKE_BANK_DECLINED_CARDS


@pytest.mark.parametrize(
    ("amount_fen", "shown"),
    [(0, "¥0.00"), (5, "¥0.05"), (88_88, "¥88.88"), (1_000_000_00, "¥1,000,000.00")],
)
def test_yuan_are_shown_from_whole_fen(amount_fen: int, shown: str) -> None:
    assert format_yuan(amount_fen) == shown


@dataclass
class StandInGateway:
    """Just enough of the gateway's REST contract to watch what the loader sends."""

    users: dict[str, dict[str, str]] = field(default_factory=dict)
    balances_fen: dict[str, int] = field(default_factory=dict)
    topup_keys: dict[str, str] = field(default_factory=dict)
    topups: list[tuple[str, int]] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/auth/phone-verifications", self.verify_phone)
        app.router.add_get("/v1/dev/sms", self.sms)
        app.router.add_post("/v1/auth/register", self.register)
        app.router.add_post("/v1/auth/login", self.login)
        app.router.add_get("/v1/wallet", self.wallet)
        app.router.add_post("/v1/topups", self.top_up)
        return app

    async def verify_phone(self, request: web.Request) -> web.Response:
        phone = (await request.json())["phone"]
        self.codes[phone] = f"{len(self.codes) + 100000}"
        return web.json_response({"verification_id": f"pv-{phone}"}, status=202)

    async def sms(self, request: web.Request) -> web.Response:
        code = self.codes[request.query["phone"]]
        return web.json_response({"messages": [f"Colony: your code is {code}, valid 10 minutes."]})

    async def register(self, request: web.Request) -> web.Response:
        body = dict(await request.json())
        # As the gateway does: the phone proven by the code its SMS carried.
        proof = (body.pop("verification_id", None), body.pop("verification_code", None))
        if proof != (f"pv-{body['phone']}", self.codes.get(body["phone"])):
            return problem(400, "PHONE_NOT_VERIFIED")
        # As the gateway does: a merchant has a licence, a person a resident id, never both.
        kind_fields = {
            "personal": {"real_name", "resident_id"},
            "merchant": {"merchant_name", "business_licence"},
        }[body["account_type"]]
        if set(body) != {"phone", "password", "account_type"} | kind_fields:
            return problem(400, "INVALID_ARGUMENT")
        if body["phone"] in self.users:
            return problem(409, "ALREADY_REGISTERED")
        self.users[body["phone"]] = body
        self.balances_fen[body["phone"]] = 0
        account = {"user_id": body["phone"], "account_id": f"acct-{body['phone']}"}
        return web.json_response({**account, "phone": body["phone"]}, status=201)

    async def login(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self.users.get(body["phone"])
        if user is None or user["password"] != body["password"]:
            return problem(401, "BAD_CREDENTIALS")
        return web.json_response({"access_token": body["phone"], "token_type": "Bearer"})

    def caller(self, request: web.Request) -> str:
        return request.headers["Authorization"].removeprefix("Bearer ")

    async def wallet(self, request: web.Request) -> web.Response:
        phone = self.caller(request)
        balance = {"amount_fen": self.balances_fen[phone], "currency": "CNY"}
        return web.json_response({"account_id": f"acct-{phone}", "balance": balance})

    async def top_up(self, request: web.Request) -> web.Response:
        phone, body = self.caller(request), await request.json()
        key = request.headers["Idempotency-Key"]
        if self.topup_keys.get(key) != phone:
            self.topup_keys[key] = phone
            self.balances_fen[phone] += body["amount_fen"]
            self.topups.append((phone, body["amount_fen"]))
        return web.json_response({"status": "SUCCEEDED"}, status=201)


def problem(status: int, reason: str) -> web.Response:
    return web.json_response(
        {"title": reason.lower(), "status": status, "reason": reason},
        status=status,
        content_type="application/problem+json",
    )


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[StandInGateway, str]]:
    stand_in = StandInGateway()
    async with TestServer(stand_in.app(), host="127.0.0.1") as server:
        yield stand_in, str(server.make_url("")).rstrip("/")


async def test_loading_twice_registers_and_funds_each_user_once(
    gateway: tuple[StandInGateway, str],
) -> None:
    stand_in, url = gateway
    first = await load_demo_data(url)
    second = await load_demo_data(url)
    assert first == second
    assert sorted(stand_in.users) == sorted(user.phone for user in DEMO_USERS)
    assert sorted(stand_in.topups) == sorted(
        (user.phone, user.topup_fen) for user in DEMO_USERS if user.topup_fen
    )
    assert [login.balance_fen for login in second] == [user.topup_fen for user in DEMO_USERS]
    assert all(user["password"] == DEMO_PASSWORD for user in stand_in.users.values())
    table = format_logins(second)
    assert DEMO_PASSWORD in table
    assert all(user.phone in table for user in DEMO_USERS)


async def test_a_refused_login_is_reported_with_its_reason(
    gateway: tuple[StandInGateway, str],
) -> None:
    stand_in, url = gateway
    first_user = DEMO_USERS[0]
    stand_in.users[first_user.phone] = {"password": "changed-by-someone"}
    with pytest.raises(DemoDataError, match=r"logging in 13800138001: HTTP 401 BAD_CREDENTIALS"):
        await load_demo_data(url)
