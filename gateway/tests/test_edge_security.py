"""The edge's own defences: throttled log-ins, per-user budgets, security headers, dev-only docs.

Issue 21 items 3 (log-ins), 12 (budgets, headers, docs). The gateway's clock here is the real
time of day (not the suite's 2025 start), so the log-in counters' TTL index never sweeps a
counter while a test still counts on it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from gateway.clients import ServiceChannels
from gateway.edge.login_throttle import PHONE_POLICY, WINDOW, ThrottlePolicy
from gateway.edge.passwords import HASHING_CONCURRENCY_DEFAULT, HASHING_WAITERS_PER_SLOT
from gateway.edge.rate_limits import Budget, TokenBuckets
from gateway.edge.security_headers import SECURITY_HEADERS
from gateway.settings import GatewaySettings
from gateway.tests.conftest import (
    CARD,
    GatewayFactory,
    User,
    api_key_headers,
    gateway_settings,
    personal_registration,
    problem_of,
)


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    now = datetime.now(UTC)
    return ManualClock(now.replace(microsecond=now.microsecond // 1000 * 1000))


def new_key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def fresh_counters(clock: ManualClock) -> None:
    """Every test here logs in from the same address: start each past the last one's window."""
    clock.advance(WINDOW + timedelta(seconds=1))


async def log_in_as(gateway: TestClient[Any, Any], phone: str, password: str) -> Any:
    return await gateway.post("/v1/auth/login", json={"phone": phone, "password": password})


# --- pure policies ---------------------------------------------------------------------


def test_the_wait_doubles_after_the_free_failures_up_to_its_cap() -> None:
    policy = ThrottlePolicy(free_failures=4, lock_after=10, lock=timedelta(minutes=15))
    waits = [policy.wait_after(failures).total_seconds() for failures in range(1, 10)]
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16]
    assert policy.wait_after(40) == policy.delay_max
    assert not policy.locks_at(9) and policy.locks_at(10)


def test_a_token_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(Budget(per_minute=60, burst=3), monotonic=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(1.0)  # one token a second
    assert buckets.take("b") == 0.0  # another caller has its own bucket
    now[0] += 2.0
    assert buckets.take("a") == 0.0


def test_an_unlimited_budget_never_refuses() -> None:
    buckets = TokenBuckets(Budget(per_minute=0, burst=0))
    assert all(buckets.take("a") == 0.0 for _ in range(1000))


def test_forgotten_callers_are_bounded() -> None:
    buckets = TokenBuckets(Budget(per_minute=60, burst=1), buckets_max=2)
    for caller in ("a", "b", "c"):
        buckets.take(caller)
    # "a" was forgotten first: it starts again with a full bucket; "c" is remembered.
    assert buckets.take("a") == 0.0
    assert buckets.take("c") > 0


# --- log-in throttling -----------------------------------------------------------------


@pytest.mark.usefixtures("fresh_counters")
async def test_25_wrong_passwords_lock_the_phone_so_the_right_one_is_refused_too(
    gateway: TestClient[Any, Any], new_user: Callable[..., Awaitable[User]], clock: ManualClock
) -> None:
    victim = await new_user()
    statuses = []
    for attempt in range(25):
        response = await log_in_as(gateway, victim.phone, f"wrong password {attempt}")
        statuses.append(response.status)
        # A patient attacker waits out each growing delay, but not a lock.
        wait = int(response.headers.get("Retry-After", "0"))
        if wait <= 60:
            clock.advance(timedelta(seconds=wait))
    assert statuses.count(401) >= PHONE_POLICY.lock_after
    right = await log_in_as(gateway, victim.phone, victim.password)
    problem = await problem_of(right, 429, "RATE_LIMITED")
    assert "locked" in problem["detail"]
    retry_after = int(right.headers["Retry-After"])
    assert 0 < retry_after <= PHONE_POLICY.lock.total_seconds()
    # The lock ends; the owner gets in, and that clears the phone's count.
    clock.advance(timedelta(seconds=retry_after))
    assert (await log_in_as(gateway, victim.phone, victim.password)).status == 200
    assert (await log_in_as(gateway, victim.phone, "one more typo")).status == 401
    assert (await log_in_as(gateway, victim.phone, victim.password)).status == 200


@pytest.mark.usefixtures("fresh_counters")
async def test_after_the_free_failures_an_immediate_retry_must_wait(
    gateway: TestClient[Any, Any], new_user: Callable[..., Awaitable[User]], clock: ManualClock
) -> None:
    person = await new_user()
    for attempt in range(PHONE_POLICY.free_failures):
        assert (await log_in_as(gateway, person.phone, f"typo {attempt}")).status == 401
    # The free failures cost nothing: the next try is judged on its password.
    assert (await log_in_as(gateway, person.phone, "typo again")).status == 401
    too_soon = await log_in_as(gateway, person.phone, person.password)
    await problem_of(too_soon, 429, "RATE_LIMITED")
    assert too_soon.headers["Retry-After"] == "1"
    clock.advance(timedelta(seconds=1))
    assert (await log_in_as(gateway, person.phone, person.password)).status == 200


@pytest.mark.usefixtures("fresh_counters")
async def test_an_unknown_phone_is_throttled_like_a_known_one(
    gateway: TestClient[Any, Any], new_user: Callable[..., Awaitable[User]], clock: ManualClock
) -> None:
    known = await new_user()
    unknown_phone = "139" + known.phone[3:][::-1]
    answers = []
    for phone in (known.phone, unknown_phone):
        clock.advance(WINDOW + timedelta(seconds=1))
        statuses = [
            (await log_in_as(gateway, phone, f"guess {n}")).status
            for n in range(PHONE_POLICY.free_failures + 2)
        ]
        answers.append(statuses)
    assert answers[0] == answers[1]
    assert answers[0][-1] == 429


# --- per-user budgets ------------------------------------------------------------------


@pytest.fixture(scope="module")
async def tight_gateway(
    start_gateway: GatewayFactory,
    database_name: str,
    service_addresses: dict[str, str],
    channels: ServiceChannels,
) -> TestClient[Any, Any]:
    """A gateway on the module's database whose money budget is 3 at once, 6 a minute."""
    settings = gateway_settings(
        database_name,
        service_addresses,
        COLONY_RATE_LIMIT_MONEY_PER_MINUTE="6",
        COLONY_RATE_LIMIT_MONEY_BURST="3",
        COLONY_RATE_LIMIT_READ_PER_MINUTE="60",
        COLONY_RATE_LIMIT_READ_BURST="5",
    )
    return await start_gateway(settings, channels)


async def test_money_requests_over_budget_get_429_and_move_nothing(
    tight_gateway: TestClient[Any, Any], new_user: Callable[..., Awaitable[User]]
) -> None:
    spender, other = await new_user(), await new_user()
    answers = []
    for _ in range(4):
        response = await tight_gateway.post(
            "/v1/topups",
            json={"amount_fen": 1_000, "bank_card_number": CARD},
            headers=spender.keyed(new_key()),
        )
        answers.append(response)
    assert [response.status for response in answers] == [201, 201, 201, 429]
    problem = await problem_of(answers[-1], 429, "RATE_LIMITED")
    assert problem["metadata"]["retry_after_seconds"] == answers[-1].headers["Retry-After"]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    # Reads have their own budget, and the refused top-up moved nothing.
    wallet = await tight_gateway.get("/v1/wallet", headers=spender.headers)
    assert (await wallet.json())["balance"]["amount_fen"] == 3_000
    # Another user's budget is untouched.
    response = await tight_gateway.post(
        "/v1/topups",
        json={"amount_fen": 1_000, "bank_card_number": CARD},
        headers=other.keyed(new_key()),
    )
    assert response.status == 201


async def test_reads_over_budget_get_429(
    tight_gateway: TestClient[Any, Any], new_user: Callable[..., Awaitable[User]]
) -> None:
    reader = await new_user()
    statuses = [
        (await tight_gateway.get("/v1/me", headers=reader.headers)).status for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]


# --- headers and documentation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/healthz", 200), ("GET", "/v1/wallet", 401), ("GET", "/nowhere", 404)],
)
async def test_every_answer_carries_the_security_headers(
    gateway: TestClient[Any, Any], method: str, path: str, status: int
) -> None:
    response = await gateway.request(method, path)
    assert response.status == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name


@pytest.fixture(scope="module")
async def production_like_gateway(
    start_gateway: GatewayFactory,
    database_name: str,
    service_addresses: dict[str, str],
    channels: ServiceChannels,
) -> TestClient[Any, Any]:
    settings = gateway_settings(
        database_name, service_addresses, COLONY_API_DOCS="off", COLONY_OPENAPI_ADMIN="off"
    )
    return await start_gateway(settings, channels)


async def test_outside_dev_docs_and_the_operator_routes_are_not_published(
    production_like_gateway: TestClient[Any, Any],
) -> None:
    assert (await production_like_gateway.get("/docs")).status == 404
    document = await (await production_like_gateway.get("/openapi.json")).json()
    assert "/v1/wallet" in document["paths"]
    assert not [path for path in document["paths"] if path.startswith("/v1/admin")]


def test_docs_and_operator_routes_are_published_by_default_in_dev_only() -> None:
    for environment, published in (("dev", True), ("", False), ("prod", False)):
        settings = GatewaySettings.from_env(
            {"COLONY_ENV": environment, "COLONY_JWT_SECRET": "x" * 32}
        )
        assert settings.api_docs_published is published
        assert settings.openapi_includes_admin is published


async def test_where_configured_the_docs_page_runs_under_its_own_policy(
    gateway: TestClient[Any, Any],
) -> None:
    documented = gateway
    page = await documented.get("/docs")
    assert page.status == 200
    policy = page.headers["Content-Security-Policy"]
    assert "script-src" not in policy and "'unsafe-inline'" not in policy.split("style-src")[0]
    script = await documented.get("/docs/assets/colony-docs.js")
    assert script.status == 200 and "SwaggerUIBundle" in await script.text()
    document = await (await documented.get("/openapi.json")).json()
    assert "/v1/admin/risk-rules" in document["paths"]


# --- validate before hashing -----------------------------------------------------------


async def test_malformed_registrations_are_refused_before_any_password_is_hashed(
    gateway: TestClient[Any, Any],
) -> None:
    # More at once than the hashing waiting room holds: had any been hashed, the overflow
    # would have been answered 503 (test_passwords); every one is a 400 instead.
    flood = HASHING_CONCURRENCY_DEFAULT * HASHING_WAITERS_PER_SLOT + 20
    # Well-formed verification fields: the refusals are the phone's and the resident id's own.
    proof = {"verification_id": "pv_" + "0" * 32, "verification_code": "123456"}
    bodies = [
        {**personal_registration(resident_id="110101199003074514"[:17] + "0"), **proof},
        {**personal_registration(phone="23800138000"), **proof},
    ]
    responses = await asyncio.gather(
        *(gateway.post("/v1/auth/register", json=bodies[n % 2]) for n in range(flood))
    )
    reasons = {(await response.json())["reason"] for response in responses}
    assert {response.status for response in responses} == {400}
    assert reasons == {"INVALID_RESIDENT_ID", "INVALID_PHONE"}


# --- API keys: scopes and expiry -------------------------------------------------------


async def _key(gateway: TestClient[Any, Any], merchant: User, **body: Any) -> dict[str, Any]:
    response = await gateway.post("/v1/merchant/api-keys", json=body, headers=merchant.headers)
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def test_a_read_only_key_reads_but_cannot_create_a_trade(
    gateway: TestClient[Any, Any],
    new_merchant: Callable[..., Awaitable[User]],
    new_user: Callable[..., Awaitable[User]],
) -> None:
    shop, buyer = await new_merchant(), await new_user()
    issued = await _key(gateway, shop, scopes=["read"])
    assert issued["scopes"] == ["read"]
    reading = await gateway.get("/v1/merchant/trades", headers=api_key_headers(issued["api_key"]))
    assert reading.status == 200
    creating = await gateway.post(
        "/v1/merchant/trades",
        json={"amount_fen": 1_000, "description": "tea", "buyer_phone": buyer.phone},
        headers=api_key_headers(issued["api_key"], new_key()),
    )
    problem = await problem_of(creating, 403, "PERMISSION_DENIED")
    assert problem["metadata"] == {"scope": "money"}
    # Nothing was created; a key with the money scope may.
    listed = await gateway.get("/v1/merchant/trades", headers=shop.headers)
    assert (await listed.json())["trades"] == []
    checkout = await _key(gateway, shop, scopes=["read", "money"])
    created = await gateway.post(
        "/v1/merchant/trades",
        json={"amount_fen": 1_000, "description": "tea", "buyer_phone": buyer.phone},
        headers=api_key_headers(checkout["api_key"], new_key()),
    )
    assert created.status == 201, await created.text()


async def test_a_key_expires_after_its_lifetime(
    gateway: TestClient[Any, Any], new_merchant: Callable[..., Awaitable[User]], clock: ManualClock
) -> None:
    shop = await new_merchant()
    issued = await _key(gateway, shop, expires_in_days=1)
    default = await _key(gateway, shop)
    created_at = datetime.fromisoformat(issued["created_at"])
    assert datetime.fromisoformat(issued["expires_at"]) == created_at + timedelta(days=1)
    assert datetime.fromisoformat(default["expires_at"]) == datetime.fromisoformat(
        default["created_at"]
    ) + timedelta(days=90)
    headers = api_key_headers(issued["api_key"])
    assert (await gateway.get("/v1/merchant/trades", headers=headers)).status == 200
    clock.advance(timedelta(days=1))
    expired = await gateway.get("/v1/merchant/trades", headers=headers)
    await problem_of(expired, 401, "UNAUTHENTICATED")
    still = await gateway.get("/v1/merchant/trades", headers=api_key_headers(default["api_key"]))
    assert still.status == 200


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": []},
        {"scopes": ["admin"]},
        {"scopes": "read"},
        {"expires_in_days": 0},
        {"expires_in_days": 366},
        {"expires_in_days": True},
        {"expires_in_days": 30.5},
    ],
)
async def test_a_key_request_out_of_bounds_is_refused(
    gateway: TestClient[Any, Any], new_merchant: Callable[..., Awaitable[User]], body: Any
) -> None:
    shop = await new_merchant()
    response = await gateway.post("/v1/merchant/api-keys", json=body, headers=shop.headers)
    await problem_of(response, 400, "INVALID_ARGUMENT")
    listed = await gateway.get("/v1/merchant/api-keys", headers=shop.headers)
    assert (await listed.json())["api_keys"] == []
