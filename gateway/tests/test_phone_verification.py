"""A phone is proven by an SMS code before it is registered (issue 21 item 5)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from gateway.app import USERS_COLLECTION
from gateway.edge.phone_verification import FAILED_ATTEMPTS_MAX, RESEND_AFTER, load_sms_channel
from gateway.settings import GatewaySettings
from gateway.tests.conftest import (
    SMS,
    User,
    next_phone,
    personal_registration,
    problem_of,
    verified,
)

Client = TestClient[Any, Any]


@pytest.fixture(scope="module")
def users(mongo_client: MongoClient, settings: GatewaySettings) -> AsyncCollection[Any]:
    return mongo_client[settings.database_name][USERS_COLLECTION]


async def ask_code(gateway: Client, phone: str) -> Any:
    return await gateway.post("/v1/auth/phone-verifications", json={"phone": phone})


async def test_registration_needs_the_code_the_phone_received(
    gateway: Client, users: AsyncCollection[Any]
) -> None:
    phone = next_phone()
    asked = await ask_code(gateway, phone)
    assert asked.status == 202
    verification = await asked.json()
    assert verification["expires_in"] == 600 and verification["resend_after"] == 60
    code = SMS.last_code(phone)
    wrong = "000000" if code != "000000" else "111111"
    body = {**personal_registration(phone), "verification_id": verification["verification_id"]}

    refused = await gateway.post("/v1/auth/register", json={**body, "verification_code": wrong})
    problem = await problem_of(refused, 400, "PHONE_NOT_VERIFIED")
    assert problem["metadata"] == {"field": "verification_code"}
    assert await users.count_documents({"phone": phone}) == 0

    accepted = await gateway.post("/v1/auth/register", json={**body, "verification_code": code})
    assert accepted.status == 201, await accepted.text()


async def test_a_code_is_for_its_phone_only(gateway: Client) -> None:
    mine, theirs = next_phone(), next_phone()
    verification = await (await ask_code(gateway, mine)).json()
    body = {
        **personal_registration(theirs),
        "verification_id": verification["verification_id"],
        "verification_code": SMS.last_code(mine),
    }
    await problem_of(await gateway.post("/v1/auth/register", json=body), 400, "PHONE_NOT_VERIFIED")


async def test_the_answer_is_the_same_for_a_registered_phone_and_only_its_sms_differs(
    gateway: Client, new_user: Any, clock: ManualClock
) -> None:
    registered: User = await new_user()
    clock.advance(RESEND_AFTER)  # registering asked for the phone's code a moment ago
    fresh = next_phone()
    answers = [await ask_code(gateway, phone) for phone in (registered.phone, fresh)]
    assert [answer.status for answer in answers] == [202, 202]
    bodies = [await answer.json() for answer in answers]
    assert [sorted(body) for body in bodies] == [sorted(bodies[1])] * 2
    assert "already has a Colony account" in SMS.messages(registered.phone)[-1]
    assert "already" not in SMS.messages(fresh)[-1]


async def test_one_code_a_minute_per_phone(gateway: Client) -> None:
    phone = next_phone()
    assert (await ask_code(gateway, phone)).status == 202
    again = await ask_code(gateway, phone)
    await problem_of(again, 429, "RATE_LIMITED")
    assert 1 <= int(again.headers["Retry-After"]) <= 60


async def test_concurrent_guesses_spend_the_attempts_and_no_more(gateway: Client) -> None:
    phone = next_phone()
    verification = await (await ask_code(gateway, phone)).json()
    code = SMS.last_code(phone)
    guesses = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 21)]
    body = {**personal_registration(phone), "verification_id": verification["verification_id"]}
    answers = await asyncio.gather(
        *(gateway.post("/v1/auth/register", json={**body, "verification_code": g}) for g in guesses)
    )
    assert {answer.status for answer in answers} == {400}
    # The attempts are spent: now even the right code is refused; a new code is needed.
    late = await gateway.post("/v1/auth/register", json={**body, "verification_code": code})
    problem = await problem_of(late, 400, "PHONE_NOT_VERIFIED")
    assert "ask for a new code" in problem["detail"]
    assert len(guesses) > FAILED_ATTEMPTS_MAX


async def test_the_owner_may_present_a_right_code_again(gateway: Client) -> None:
    body = await verified(gateway, personal_registration())
    for _ in range(FAILED_ATTEMPTS_MAX + 1):
        # A right code gives its attempt back: retries never lock the owner out.
        again = await gateway.post(
            "/v1/auth/register", json={**body, "password": "another password"}
        )
        assert again.status in (201, 409)


@pytest.mark.parametrize(
    ("spec", "environment", "message"),
    [
        ("fake", "prod", "only with COLONY_ENV=dev"),
        ("", "prod", "required outside dev"),
        ("no.such.module:factory", "prod", "cannot be loaded"),
    ],
)
def test_outside_dev_a_real_sms_adapter_is_required(
    spec: str, environment: str, message: str
) -> None:
    with pytest.raises(SystemExit, match=message):
        load_sms_channel(spec, environment)


def test_dev_uses_the_fake_by_default() -> None:
    settings = GatewaySettings.from_env({"COLONY_ENV": "dev"})
    assert settings.sms_channel == "fake"
    assert type(load_sms_channel(settings.sms_channel, "dev")).__name__ == "FakeSmsChannel"
