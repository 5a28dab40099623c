"""Fixtures for the gateway tests: the real app over real mongod and a real payment service.

Each test module gets its own gateway database (beside the payment database of the root
conftest's ``payment_address``), a ManualClock the tests move, and helpers that register
users through the REST API itself.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from chassis.settings import SERVICE_NAMES
from conftest import service_settings
from gateway.app import create_app
from gateway.clients import ServiceChannels
from gateway.edge.phone_verification import FakeSmsChannel
from gateway.settings import GatewaySettings
from services.insurance.server import build_insurance_service
from services.loan.server import build_loan_service
from services.payment.bank_channel import fake_bank_card_for
from services.payment.identity import resident_id_check_char
from services.wealth.server import build_wealth_service

TEST_JWT_SECRET = "gateway-tests-secret-of-at-least-32-bytes"
CLOCK_START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
DECLINED_CARD = "4000000000000002"  # the fake bank's documented declined test card
# Longer than any test module runs: the wealth service's own periodic jobs never fire.
WEALTH_JOB_INTERVAL_SECONDS = 3600.0


# The card the fake bank issued to the tests' users' real name (personal_registration's
# 张三): any Luhn-valid card tops up; a withdrawal needs it bound (bind_card).
CARD = fake_bank_card_for("张三")
_numbers = itertools.count(1)


def next_phone() -> str:
    """A fresh mainland mobile number (unique within the session)."""
    return f"139{next(_numbers):08d}"


def next_resident_id() -> str:
    """A fresh 18-character resident id with a valid GB 11643 check character."""
    first_17 = f"11010119900101{next(_numbers) % 1000:03d}"
    return first_17 + resident_id_check_char(first_17)


@pytest.fixture(scope="session")
def unreachable_address() -> Iterator[str]:
    """A loopback port that refuses connections: bound but never listening.

    Holding the socket for the session keeps any service started later off the port, so
    "unreachable" stays true (a merely free port could be handed to the next server).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as reserved:
        reserved.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{reserved.getsockname()[1]}"


def gateway_settings(
    database_name: str, addresses: dict[str, str], **environ_overrides: str
) -> GatewaySettings:
    environ = {
        "COLONY_JWT_SECRET": TEST_JWT_SECRET,
        "COLONY_GATEWAY_DB": f"{database_name}_gateway",
        "COLONY_RPC_DEADLINE_SECONDS": "5",
        # Business dates are run by the tests themselves (test_wealth_schedule runs its own).
        "COLONY_WEALTH_JOBS_INTERVAL_SECONDS": "0",
        "COLONY_LOAN_JOBS_INTERVAL_SECONDS": "0",
        "COLONY_ORDER_LOAN_JOBS_INTERVAL_SECONDS": "0",
        "COLONY_INSURANCE_JOBS_INTERVAL_SECONDS": "0",
        # The whole contract, operator routes included, and /docs: tests read both
        # (outside dev a deployment turns them on explicitly; test_edge_security).
        "COLONY_API_DOCS": "on",
        "COLONY_OPENAPI_ADMIN": "on",
        **{f"COLONY_{name.upper()}_ADDRESS": address for name, address in addresses.items()},
        **environ_overrides,
    }
    return GatewaySettings.from_env(environ)


@dataclass
class User:
    """A registered, logged-in user as the tests drive them."""

    phone: str
    password: str
    user_id: str
    account_id: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def keyed(self, idempotency_key: str) -> dict[str, str]:
        return {**self.headers, "Idempotency-Key": idempotency_key}


def api_key_headers(api_key: str, idempotency_key: str | None = None) -> dict[str, str]:
    """Headers of a merchant request made with an API key."""
    headers = {"Authorization": f"ApiKey {api_key}"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(CLOCK_START)


@pytest.fixture(scope="module")
def service_addresses(payment_address: str, unreachable_address: str) -> dict[str, str]:
    """The real payment service; the other business lines are not running."""
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    addresses["payment"] = payment_address
    return addresses


@pytest.fixture(scope="module")
async def manual_wealth_address(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[str]:
    """A real wealth service on the module's ManualClock, for modules that override
    service_addresses with it. Its periodic jobs never fire on their own: the tests run
    the business-date job through the gateway (POST /v1/admin/jobs/wealth).
    """
    service = await build_wealth_service(
        service_settings("wealth", mongo_url, f"{database_name}_wealth"),
        mongo_client,
        clock,
        job_interval_seconds=WEALTH_JOB_INTERVAL_SECONDS,
    )
    await service.start()
    try:
        yield f"127.0.0.1:{service.port}"
    finally:
        await service.stop()


@pytest.fixture(scope="module")
def wealth_service_addresses(
    payment_address: str, manual_wealth_address: str, unreachable_address: str
) -> dict[str, str]:
    """The real payment and wealth services; a wealth test module returns this as its
    service_addresses."""
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    addresses |= {"payment": payment_address, "wealth": manual_wealth_address}
    return addresses


@pytest.fixture(scope="module")
def credit_upstream_addresses(payment_address: str, manual_wealth_address: str) -> dict[str, str]:
    """In gateway tests the credit service follows the module's one wealth service, the one
    on the module's ManualClock (the root conftest's would be a second on the same database)."""
    return {"payment": payment_address, "wealth": manual_wealth_address}


@pytest.fixture(scope="module")
async def manual_loan_address(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[str]:
    """A real loan service on the module's ManualClock: its business date moves with the
    tests' clock, and its daily job runs only when the tests run it (POST
    /v1/admin/jobs/loans)."""
    service = await build_loan_service(
        service_settings("loan", mongo_url, f"{database_name}_loan"), mongo_client, clock
    )
    await service.start()
    try:
        yield f"127.0.0.1:{service.port}"
    finally:
        await service.stop()


@pytest.fixture(scope="module")
def loan_service_addresses(
    credit_service_addresses: dict[str, str], manual_loan_address: str
) -> dict[str, str]:
    """The real payment, wealth, credit and loan services; a loan test module returns this as
    its service_addresses."""
    return {**credit_service_addresses, "loan": manual_loan_address}


@pytest.fixture(scope="module")
async def manual_insurance_address(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[str]:
    """A real insurance service on the module's ManualClock (cooling-off and cover dates
    move with the tests' clock)."""
    service = await build_insurance_service(
        service_settings("insurance", mongo_url, f"{database_name}_insurance"), mongo_client, clock
    )
    await service.start()
    try:
        yield f"127.0.0.1:{service.port}"
    finally:
        await service.stop()


@pytest.fixture(scope="module")
def insurance_service_addresses(
    loan_service_addresses: dict[str, str], manual_insurance_address: str
) -> dict[str, str]:
    """Every business line: payment, wealth, credit, loan and insurance; an insurance test
    module returns this as its service_addresses."""
    return {**loan_service_addresses, "insurance": manual_insurance_address}


@pytest.fixture(scope="module")
def credit_service_addresses(
    wealth_service_addresses: dict[str, str], credit_address: str
) -> dict[str, str]:
    """The real payment, wealth and credit services; a credit test module returns this as
    its service_addresses."""
    return {**wealth_service_addresses, "credit": credit_address}


@pytest.fixture(scope="module")
async def channels(service_addresses: dict[str, str]) -> AsyncIterator[ServiceChannels]:
    opened = ServiceChannels.open(service_addresses)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(scope="module")
def operator_phone() -> str:
    """The phone this module's gateway treats as a platform operator's."""
    return next_phone()


@pytest.fixture(scope="module")
def settings(
    database_name: str, service_addresses: dict[str, str], operator_phone: str
) -> GatewaySettings:
    return gateway_settings(database_name, service_addresses, COLONY_OPERATOR_PHONES=operator_phone)


GatewayFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(scope="module")
async def start_gateway(
    mongo_client: MongoClient, clock: ManualClock, channels: ServiceChannels
) -> AsyncIterator[GatewayFactory]:
    """Start a gateway app on a loopback port: start_gateway(settings, channels).

    It depends on the module's channels so that its gateways are closed (their feed
    followers stopped) before those channels are; a test or fixture that starts a gateway on
    channels of its own closes that gateway before closing them.
    """
    started: list[TestClient[Any, Any]] = []

    async def start(settings: GatewaySettings, channels: ServiceChannels) -> TestClient[Any, Any]:
        client = TestClient(
            TestServer(create_app(settings, mongo_client, clock, channels, sms=SMS))
        )
        await client.start_server()
        started.append(client)
        return client

    try:
        yield start
    finally:
        for client in started:
            await client.close()


@pytest.fixture(scope="module")
async def gateway(
    start_gateway: GatewayFactory, settings: GatewaySettings, channels: ServiceChannels
) -> TestClient[Any, Any]:
    """The module's gateway, talking to the real payment service."""
    return await start_gateway(settings, channels)


@pytest.fixture(scope="module")
async def cut_off_gateway(
    start_gateway: GatewayFactory,
    settings: GatewaySettings,
    service_addresses: dict[str, str],
    unreachable_address: str,
) -> AsyncIterator[TestClient[Any, Any]]:
    """A second gateway on the module's database whose payment service cannot be reached."""
    cut_off = ServiceChannels.open({**service_addresses, "payment": unreachable_address})
    try:
        gateway = await start_gateway(settings, cut_off)
        yield gateway
        await gateway.close()
    finally:
        await cut_off.close()


def personal_registration(phone: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "phone": phone or next_phone(),
        "password": PASSWORD,
        "real_name": "张三",
        "resident_id": next_resident_id(),
        **fields,
    }


# The tests' SMS gateway: a fake that keeps the codes (gateway.edge.phone_verification).
SMS = FakeSmsChannel()
_verified: dict[tuple[int, str], dict[str, str]] = {}


async def verification_of(gateway: TestClient[Any, Any], phone: str) -> dict[str, str]:
    """verification_id and verification_code for phone on this gateway, as its owner reads them.

    One per phone and gateway (a code may be presented again until it expires), so a test
    that registers the same phone twice does not hit the one-code-a-minute limit.
    """
    key = (id(gateway), phone)
    if key not in _verified:
        response = await gateway.post("/v1/auth/phone-verifications", json={"phone": phone})
        assert response.status == 202, await response.text()
        _verified[key] = {
            "verification_id": (await response.json())["verification_id"],
            "verification_code": SMS.last_code(phone),
        }
    return _verified[key]


async def verified(gateway: TestClient[Any, Any], body: dict[str, Any]) -> dict[str, Any]:
    """A registration body with its phone's verification (unless the body brings its own)."""
    if "verification_id" in body:
        return body
    return {**body, **await verification_of(gateway, body["phone"])}


async def log_in(gateway: TestClient[Any, Any], phone: str, password: str = PASSWORD) -> str:
    response = await gateway.post("/v1/auth/login", json={"phone": phone, "password": password})
    assert response.status == 200, await response.text()
    return str((await response.json())["access_token"])


@pytest.fixture(scope="module")
def new_user(gateway: TestClient[Any, Any]) -> Callable[..., Awaitable[User]]:
    """Register a fresh personal user through the API and log them in."""

    async def register(**fields: Any) -> User:
        body = personal_registration(**fields)
        response = await gateway.post("/v1/auth/register", json=await verified(gateway, body))
        assert response.status == 201, await response.text()
        registered = await response.json()
        return User(
            phone=body["phone"],
            password=body["password"],
            user_id=registered["user_id"],
            account_id=registered["account_id"],
            access_token=await log_in(gateway, body["phone"], body["password"]),
        )

    return register


def merchant_registration(phone: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "phone": phone or next_phone(),
        "password": PASSWORD,
        "account_type": "merchant",
        "merchant_name": "好邻居便利店",
        "business_licence": f"91110000{next(_numbers):010d}",
        **fields,
    }


async def _register_and_log_in(gateway: TestClient[Any, Any], body: dict[str, Any]) -> User:
    response = await gateway.post("/v1/auth/register", json=await verified(gateway, body))
    assert response.status == 201, await response.text()
    registered = await response.json()
    return User(
        phone=body["phone"],
        password=body["password"],
        user_id=registered["user_id"],
        account_id=registered["account_id"],
        access_token=await log_in(gateway, body["phone"], body["password"]),
    )


@pytest.fixture(scope="module")
def new_merchant(gateway: TestClient[Any, Any]) -> Callable[..., Awaitable[User]]:
    """Register a fresh merchant user through the API and log them in."""

    async def register(**fields: Any) -> User:
        return await _register_and_log_in(gateway, merchant_registration(**fields))

    return register


@pytest.fixture(scope="module")
async def operator(gateway: TestClient[Any, Any], operator_phone: str) -> User:
    """The module's platform operator: a personal user whose phone is in the setting."""
    return await _register_and_log_in(gateway, personal_registration(phone=operator_phone))


async def create_api_key(gateway: TestClient[Any, Any], merchant: User) -> str:
    response = await gateway.post("/v1/merchant/api-keys", headers=merchant.headers)
    assert response.status == 201, await response.text()
    return str((await response.json())["api_key"])


async def bind_card(gateway: TestClient[Any, Any], user: User, card: str = CARD) -> None:
    """Bind the card (the fake bank confirms CARD for 张三) to the user's wallet."""
    response = await gateway.post(
        "/v1/wallet/cards", json={"bank_card_number": card}, headers=user.headers
    )
    assert response.status == 201, await response.text()


async def top_up(gateway: TestClient[Any, Any], user: User, amount_fen: int, key: str) -> None:
    response = await gateway.post(
        "/v1/topups",
        json={"amount_fen": amount_fen, "bank_card_number": CARD},
        headers=user.keyed(key),
    )
    assert response.status == 201, await response.text()


async def balance_fen(gateway: TestClient[Any, Any], user: User) -> int:
    response = await gateway.get("/v1/wallet", headers=user.headers)
    assert response.status == 200, await response.text()
    return int((await response.json())["balance"]["amount_fen"])


async def statement(gateway: TestClient[Any, Any], user: User) -> list[dict[str, Any]]:
    response = await gateway.get("/v1/statement", params={"page_size": "100"}, headers=user.headers)
    assert response.status == 200, await response.text()
    return list((await response.json())["entries"])


async def problem_of(response: Any, status: int, reason: str) -> dict[str, Any]:
    """The problem+json body of response, after checking its status and reason."""
    body_text = await response.text()
    assert response.status == status, body_text
    assert response.content_type == "application/problem+json"
    problem = await response.json(content_type="application/problem+json")
    assert problem["reason"] == reason, problem
    assert problem["status"] == status
    assert set(problem) >= {"type", "title", "status", "detail", "reason", "instance"}
    return dict(problem)
