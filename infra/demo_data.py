"""Demo data for `make run`: three customers and a merchant with money in their wallets,
and the wealth catalog (fixed-term products, funds with a year of NAV history).

Loaded the way any client would, through the gateway's public REST API (register, log in,
top up from a bank card; the demo operator loads the wealth catalog with
POST /v1/admin/wealth/demo-catalog), so it never writes to a database behind a service's
back. Running it again changes nothing: a phone already registered logs in instead, a
wallet is topped up only while it is empty, under a fixed Idempotency-Key per user, and
the catalog is created by fixed ids. A gateway without the wealth line (the route answers
404) is left without a catalog.

Demo users, with their public password, exist only in development: `make run` loads them
only with COLONY_ENV=dev, and ``python -m infra.demo_data`` refuses without it. The demo
operator is made one by an explicit grant, as `colony operator grant` makes (recorded as
make run's), after it has registered: no phone is an operator before anyone registers it.

``python -m infra.demo_data [--url http://127.0.0.1:8080]`` loads it into a running gateway
(with COLONY_ENV=dev; it grants the demo operator in the gateway database that MONGO_URL /
COLONY_GATEWAY_MONGO_URL and COLONY_GATEWAY_DB name).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from infra.cli import change_operator, gateway_database

DEMO_PASSWORD = "colony-demo-1"
# Passes the Luhn check and is not one of the cards the fake bank declines.
DEMO_BANK_CARD_NUMBER = "6222020200112233446"
# Registration hashes a password with argon2 on a busy 2-core machine: allow for it.
REQUEST_TIMEOUT_SECONDS = 15.0
# The catalog writes a year of NAV history for each demo fund: allow it longer.
CATALOG_TIMEOUT_SECONDS = 120.0
GATEWAY_URL_DEFAULT = "http://127.0.0.1:8080"
WEALTH_CATALOG_PATH = "/v1/admin/wealth/demo-catalog"
LOAN_FUNDING_PATH = "/v1/admin/loans/funding"
# The loan business's capital, paid in by the demo operator: loans (cash loans, merchant
# facilities, order loans) are lent within capital + allowed bank borrowing.
DEMO_LOAN_CAPITAL_FEN = 10_000_000_00
# The verification code in a (fake) SMS: its one run of six digits.
SMS_CODE = re.compile(r"\b\d{6}\b")


class DemoDataError(RuntimeError):
    """The gateway refused or failed a demo-data request."""


@dataclass(frozen=True, slots=True)
class DemoUser:
    """One demo identity: a person (real name, resident id) or a merchant (licence)."""

    phone: str
    topup_fen: int
    account_type: str = "personal"
    real_name: str = ""
    resident_id: str = ""  # with its GB 11643 check character
    merchant_name: str = ""
    business_licence: str = ""  # a unified social credit code, with its check character

    @property
    def display_name(self) -> str:
        return self.merchant_name if self.account_type == "merchant" else self.real_name

    def registration(self) -> dict[str, str]:
        """The POST /v1/auth/register body for this user."""
        body = {"phone": self.phone, "password": DEMO_PASSWORD, "account_type": self.account_type}
        if self.account_type == "merchant":
            body |= {"merchant_name": self.merchant_name, "business_licence": self.business_licence}
        else:
            body |= {"real_name": self.real_name, "resident_id": self.resident_id}
        return body


# A personal user who is also a platform operator (granted by make run once registered),
# for the admin endpoints.
DEMO_OPERATOR_PHONE = "13800138009"

DEMO_USERS = (
    DemoUser("13800138001", 2_000_00, real_name="李雷", resident_id="110101199003071233"),
    DemoUser("13800138002", 500_00, real_name="韩梅梅", resident_id="310104198805122348"),
    DemoUser("13800138003", 88_88, real_name="王芳", resident_id="44030519950820345X"),
    DemoUser(DEMO_OPERATOR_PHONE, 0, real_name="欧阳 Ops", resident_id="330106198704151234"),
    DemoUser(
        "13900139000",
        10_000_00,
        account_type="merchant",
        merchant_name="春风茶馆 Spring Breeze Tea House",
        business_licence="91310104MA1FL0TE0P",
    ),
)


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """What a person needs to try the demo as this user."""

    phone: str
    display_name: str
    account_type: str
    account_id: str
    balance_fen: int


async def load_demo_data(
    gateway_url: str,
    users: Sequence[DemoUser] = DEMO_USERS,
    grant_operator: Callable[[str], Awaitable[None]] | None = None,
) -> list[DemoLogin]:
    """Register (or log in) every demo user and fund empty wallets; return their logins.

    grant_operator(phone) makes the registered demo operator an operator before it loads
    the wealth catalog (None: it already is one).
    """
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(gateway_url, timeout=timeout) as session:
        # One at a time: each registration is an argon2 hash, and there are two cores.
        logins = [await _load_user(session, user) for user in users]
        operators = [user for user in users if user.phone == DEMO_OPERATOR_PHONE]
        if operators:
            if grant_operator is not None:
                await grant_operator(operators[0].phone)
            await _load_wealth_catalog(session, operators[0])
            await _fund_loan_business(session, operators[0])
        return logins


async def _fund_loan_business(session: aiohttp.ClientSession, operator: DemoUser) -> None:
    """Capital for the loan business, once (a fixed key; skipped when some is paid in)."""
    try:
        token = await _log_in(session, operator)
        async with session.get(
            LOAN_FUNDING_PATH, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            if response.status == 404:
                return  # a gateway without the loan line
            if response.status != 200:
                problem = await _problem(response)
                raise DemoDataError(f"GET {LOAN_FUNDING_PATH}: {_describe(response, problem)}")
            if (await response.json())["capital"]["amount_fen"] > 0:
                return
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "demo-loan-capital"}
        async with session.post(
            f"{LOAN_FUNDING_PATH}/capital",
            json={"amount_fen": DEMO_LOAN_CAPITAL_FEN},
            headers=headers,
        ) as response:
            if response.status not in (201, 202):
                problem = await _problem(response)
                raise DemoDataError(f"paying in loan capital: {_describe(response, problem)}")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise DemoDataError(f"loan capital: {type(error).__name__}: {error}") from error


async def _load_wealth_catalog(session: aiohttp.ClientSession, operator: DemoUser) -> None:
    """Products, funds and NAV history, loaded by the demo operator (idempotent by their ids)."""
    try:
        token = await _log_in(session, operator)
        headers = {"Authorization": f"Bearer {token}"}
        catalog_timeout = aiohttp.ClientTimeout(total=CATALOG_TIMEOUT_SECONDS)
        async with session.post(
            WEALTH_CATALOG_PATH, headers=headers, timeout=catalog_timeout
        ) as response:
            if response.status == 404:
                return  # a gateway without the wealth line: nothing to load
            if response.status != 200:
                problem = await _problem(response)
                raise DemoDataError(f"loading the wealth catalog: {_describe(response, problem)}")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise DemoDataError(f"wealth catalog: {type(error).__name__}: {error}") from error


async def _load_user(session: aiohttp.ClientSession, user: DemoUser) -> DemoLogin:
    try:
        return await _register_and_fund(session, user)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise DemoDataError(f"{user.phone}: {type(error).__name__}: {error}") from error
    except (KeyError, TypeError, ValueError) as error:
        # The gateway answered 2xx with a body unlike the documented contract.
        raise DemoDataError(f"{user.phone}: unexpected response: {error!r}") from error


async def _register_and_fund(session: aiohttp.ClientSession, user: DemoUser) -> DemoLogin:
    token = await _try_log_in(session, user)  # loaded by an earlier run
    if token is None:
        await _register(session, user)
        token = await _log_in(session, user)
    wallet = await _get_json(session, "/v1/wallet", token)
    if wallet["balance"]["amount_fen"] == 0 and user.topup_fen > 0:
        await _top_up(session, token, user)
        wallet = await _get_json(session, "/v1/wallet", token)
    return DemoLogin(
        phone=user.phone,
        display_name=user.display_name,
        account_type=user.account_type,
        account_id=str(wallet["account_id"]),
        balance_fen=int(wallet["balance"]["amount_fen"]),
    )


async def _verify_phone(session: aiohttp.ClientSession, phone: str) -> dict[str, str]:
    """The phone's verification as its owner would complete it: under make run the SMS
    gateway is the dev fake, whose outbox the gateway serves at /v1/dev/sms (dev only)."""
    for _ in range(2):
        async with session.post("/v1/auth/phone-verifications", json={"phone": phone}) as response:
            if response.status == 429:  # a code went out a moment ago (an interrupted run)
                await asyncio.sleep(int(response.headers.get("Retry-After", "60")))
                continue
            if response.status != 202:
                problem = await _problem(response)
                raise DemoDataError(f"verifying {phone}: {_describe(response, problem)}")
            verification_id = str((await response.json())["verification_id"])
        async with session.get("/v1/dev/sms", params={"phone": phone}) as response:
            if response.status != 200:
                raise DemoDataError(
                    f"verifying {phone}: no dev SMS outbox (demo data is for COLONY_ENV=dev)"
                )
            code = SMS_CODE.search((await response.json())["messages"][-1])
        if code is None:
            raise DemoDataError(f"verifying {phone}: the SMS carried no code")
        return {"verification_id": verification_id, "verification_code": code[0]}
    raise DemoDataError(f"verifying {phone}: codes are being refused (429)")


async def _register(session: aiohttp.ClientSession, user: DemoUser) -> None:
    body = {**user.registration(), **await _verify_phone(session, user.phone)}
    async with session.post("/v1/auth/register", json=body) as response:
        if response.status == 201:
            return
        problem = await _problem(response)
        if response.status == 409 and problem.get("reason") == "ALREADY_REGISTERED":
            return  # loaded by an earlier run
        raise DemoDataError(f"registering {user.phone}: {_describe(response, problem)}")


async def _try_log_in(session: aiohttp.ClientSession, user: DemoUser) -> str | None:
    """A token if the demo user exists already, else None (not registered yet)."""
    credentials = {"phone": user.phone, "password": DEMO_PASSWORD}
    async with session.post("/v1/auth/login", json=credentials) as response:
        if response.status == 401:
            return None
        if response.status != 200:
            problem = await _problem(response)
            raise DemoDataError(f"logging in {user.phone}: {_describe(response, problem)}")
        return str((await response.json())["access_token"])


async def _log_in(session: aiohttp.ClientSession, user: DemoUser) -> str:
    credentials = {"phone": user.phone, "password": DEMO_PASSWORD}
    async with session.post("/v1/auth/login", json=credentials) as response:
        if response.status != 200:
            problem = await _problem(response)
            raise DemoDataError(f"logging in {user.phone}: {_describe(response, problem)}")
        return str((await response.json())["access_token"])


async def _top_up(session: aiohttp.ClientSession, token: str, user: DemoUser) -> None:
    # The key is fixed per user, so two runs racing, or a retried request, top up once.
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"demo-topup-{user.phone}"}
    body = {"amount_fen": user.topup_fen, "bank_card_number": DEMO_BANK_CARD_NUMBER}
    async with session.post("/v1/topups", json=body, headers=headers) as response:
        if response.status not in (200, 201):
            problem = await _problem(response)
            raise DemoDataError(f"topping up {user.phone}: {_describe(response, problem)}")


async def _get_json(session: aiohttp.ClientSession, path: str, token: str) -> dict[str, Any]:
    async with session.get(path, headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status != 200:
            problem = await _problem(response)
            raise DemoDataError(f"GET {path}: {_describe(response, problem)}")
        answer: dict[str, Any] = await response.json()
        return answer


async def _problem(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The problem+json body of a refusal, or {} when the body is something else."""
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {}
    return body if isinstance(body, dict) else {}


def _describe(response: aiohttp.ClientResponse, problem: dict[str, Any]) -> str:
    reason = problem.get("reason", "no reason given")
    detail = problem.get("detail") or problem.get("title") or ""
    return f"HTTP {response.status} {reason} {detail}".rstrip()


def format_yuan(amount_fen: int) -> str:
    """12345 -> '¥123.45' (whole fen only, never a float)."""
    return f"¥{amount_fen // 100:,}.{amount_fen % 100:02d}"


def format_logins(logins: Sequence[DemoLogin]) -> str:
    """The demo credentials as a small table for the terminal."""
    lines = [f"  demo logins (password {DEMO_PASSWORD}):"]
    lines += [
        f"    {login.phone}  {login.account_type:<8}  {format_yuan(login.balance_fen):>12}"
        f"  {login.display_name}"
        for login in logins
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load Colony's demo data into a running gateway.")
    parser.add_argument("--url", default=GATEWAY_URL_DEFAULT, help="the gateway's base URL")
    options = parser.parse_args(argv)
    if os.environ.get("COLONY_ENV") != "dev":
        sys.stderr.write("demo data (public passwords) is for COLONY_ENV=dev only\n")
        return 2
    url, database_name = gateway_database(os.environ)

    async def grant(phone: str) -> None:
        await change_operator(url, database_name, phone, "infra.demo_data", "demo", grant=True)

    try:
        logins = asyncio.run(load_demo_data(options.url, grant_operator=grant))
    except DemoDataError as error:
        sys.stderr.write(f"demo data not loaded: {error}\n")
        return 1
    sys.stdout.write(format_logins(logins) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
