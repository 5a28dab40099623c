"""Register, log in, who am I: through the real gateway, payment service and mongod."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import grpc
import jwt
import pytest
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from gateway.app import USERS_COLLECTION
from gateway.edge.registration import payment_idempotency_key
from gateway.settings import GatewaySettings
from gateway.tests.conftest import (
    PASSWORD,
    TEST_JWT_SECRET,
    log_in,
    next_phone,
    personal_registration,
    problem_of,
    verification_of,
    verified,
)

Client = TestClient[Any, Any]
Users = AsyncCollection[dict[str, Any]]


@pytest.fixture(scope="module")
def users(mongo_client: MongoClient, settings: GatewaySettings) -> Users:
    """The gateway's identity collection, to check what registration left behind."""
    return mongo_client[settings.database_name][USERS_COLLECTION]


async def test_register_log_in_and_me(gateway: Client) -> None:
    body = await verified(gateway, personal_registration())
    registered = await gateway.post("/v1/auth/register", json=body)
    assert registered.status == 201
    identity = await registered.json()
    assert identity["phone"] == body["phone"]
    assert identity["account_type"] == "personal"
    assert identity["user_id"] and identity["account_id"]

    token = await log_in(gateway, body["phone"])
    me = await gateway.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200
    assert await me.json() == {**identity, "roles": ["customer"]}


async def test_login_answers_token_type_and_lifetime(gateway: Client) -> None:
    body = await verified(gateway, personal_registration())
    assert (await gateway.post("/v1/auth/register", json=body)).status == 201
    response = await gateway.post(
        "/v1/auth/login", json={"phone": body["phone"], "password": PASSWORD}
    )
    token = await response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 900
    claims = jwt.decode(
        token["access_token"], TEST_JWT_SECRET, algorithms=["HS256"], options={"verify_exp": False}
    )
    assert claims["roles"] == ["customer"]


async def test_merchant_registration_opens_a_merchant_account(gateway: Client) -> None:
    body = {
        "phone": next_phone(),
        "password": PASSWORD,
        "account_type": "merchant",
        "merchant_name": "Hangzhou Tea House",
        "business_licence": "91330100MA27XYZ12K",
    }
    response = await gateway.post("/v1/auth/register", json=await verified(gateway, body))
    assert response.status == 201, await response.text()
    assert (await response.json())["account_type"] == "merchant"
    token = await log_in(gateway, body["phone"])
    me = await (await gateway.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["roles"] == ["merchant"]


async def test_wrong_password_and_unknown_phone_get_the_same_answer(
    gateway: Client, new_user: Any
) -> None:
    user = await new_user()
    wrong = await gateway.post(
        "/v1/auth/login", json={"phone": user.phone, "password": "not the password"}
    )
    unknown = await gateway.post(
        "/v1/auth/login", json={"phone": next_phone(), "password": "not the password"}
    )
    wrong_problem = await problem_of(wrong, 401, "UNAUTHENTICATED")
    unknown_problem = await problem_of(unknown, 401, "UNAUTHENTICATED")
    # Each answer names its own request's trace; everything else is the same.
    assert wrong_problem.pop("trace_id") != unknown_problem.pop("trace_id")
    assert wrong_problem == unknown_problem


async def test_protected_routes_refuse_missing_and_malformed_tokens(gateway: Client) -> None:
    await problem_of(await gateway.get("/v1/me"), 401, "UNAUTHENTICATED")
    for header in ("Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Token abc"):
        response = await gateway.get("/v1/me", headers={"Authorization": header})
        await problem_of(response, 401, "UNAUTHENTICATED")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_token_signed_with_another_secret_is_refused(gateway: Client, new_user: Any) -> None:
    user = await new_user()
    claims = jwt.decode(
        user.access_token, TEST_JWT_SECRET, algorithms=["HS256"], options={"verify_exp": False}
    )
    forged = jwt.encode(claims, "another-secret-that-is-also-32-bytes-long", algorithm="HS256")
    response = await gateway.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
    await problem_of(response, 401, "UNAUTHENTICATED")


async def test_unsigned_token_is_refused(gateway: Client, new_user: Any) -> None:
    user = await new_user()
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    response = await gateway.get("/v1/me", headers={"Authorization": f"Bearer {unsigned}"})
    await problem_of(response, 401, "UNAUTHENTICATED")


async def test_token_expires_after_its_lifetime(
    gateway: Client, new_user: Any, clock: ManualClock
) -> None:
    user = await new_user()
    clock.advance(timedelta(seconds=899))
    assert (await gateway.get("/v1/me", headers=user.headers)).status == 200
    clock.advance(timedelta(seconds=1))
    expired = await gateway.get("/v1/me", headers=user.headers)
    problem = await problem_of(expired, 401, "UNAUTHENTICATED")
    assert "expired" in problem["detail"]


async def test_registering_an_active_phone_again_is_a_conflict(
    gateway: Client, new_user: Any
) -> None:
    user = await new_user()
    again = await gateway.post(
        "/v1/auth/register", json=await verified(gateway, personal_registration(user.phone))
    )
    await problem_of(again, 409, "ALREADY_REGISTERED")


async def test_bad_registrations_are_refused_and_leave_the_phone_free(
    gateway: Client, users: Users
) -> None:
    phone = next_phone()
    refusals = [
        (personal_registration(phone, password="short"), 400, "INVALID_ARGUMENT"),
        (personal_registration(phone, password="x" * 129), 400, "INVALID_ARGUMENT"),
        (personal_registration(phone, account_type="bank"), 400, "INVALID_ARGUMENT"),
        (personal_registration(phone, merchant_name="Shop"), 400, "INVALID_ARGUMENT"),
        (personal_registration(phone, is_admin=True), 400, "INVALID_ARGUMENT"),
        ({"phone": phone, "password": PASSWORD}, 400, "INVALID_ARGUMENT"),
        # The ledger's own rules, refused by the payment service: the identity is discarded.
        (
            personal_registration(phone, resident_id="110101199001011234"),
            400,
            "INVALID_RESIDENT_ID",
        ),
        (personal_registration("12345"), 400, "INVALID_PHONE"),
    ]
    proof = await verification_of(gateway, phone)
    for body, status, reason in refusals:
        response = await gateway.post("/v1/auth/register", json={**body, **proof})
        await problem_of(response, status, reason)
    assert await users.count_documents({"phone": {"$in": [phone, "12345"]}}) == 0
    accepted = await gateway.post(
        "/v1/auth/register", json={**personal_registration(phone), **proof}
    )
    assert accepted.status == 201


async def test_registration_that_failed_halfway_completes_on_retry(
    gateway: Client, cut_off_gateway: Client, users: Users, payment_address: str
) -> None:
    body = await verified(gateway, personal_registration())
    first = await cut_off_gateway.post("/v1/auth/register", json=body)
    await problem_of(first, 503, "UNAVAILABLE")
    assert "127.0.0.1" not in (await first.text())

    pending = await users.find_one({"phone": body["phone"]})
    assert pending is not None and pending["state"] == "pending"
    # Cannot log in to a half-made registration.
    login = await gateway.post(
        "/v1/auth/login", json={"phone": body["phone"], "password": PASSWORD}
    )
    await problem_of(login, 401, "UNAUTHENTICATED")
    # Someone else cannot take over the pending phone with another password.
    squatter = await gateway.post(
        "/v1/auth/register", json={**body, "password": "another password"}
    )
    await problem_of(squatter, 409, "ALREADY_REGISTERED")

    retried = await gateway.post("/v1/auth/register", json=body)
    assert retried.status == 201, await retried.text()
    identity = await retried.json()
    assert identity["user_id"] == pending["_id"]
    assert await users.count_documents({"phone": body["phone"]}) == 1

    async with grpc.aio.insecure_channel(payment_address) as channel:
        stub = payment_pb2_grpc.PaymentServiceStub(channel)
        found = await stub.FindAccountByPhone(pb.FindAccountByPhoneRequest(phone=body["phone"]))
    account = found.account
    assert account.account_id == identity["account_id"]
    assert account.owner_ref == identity["user_id"]


async def test_registration_whose_account_opened_but_answer_was_lost_finds_that_account(
    gateway: Client, cut_off_gateway: Client, users: Users, payment_address: str
) -> None:
    body = await verified(gateway, personal_registration())
    first = await cut_off_gateway.post("/v1/auth/register", json=body)
    await problem_of(first, 503, "UNAVAILABLE")
    pending = await users.find_one({"phone": body["phone"]})
    assert pending is not None

    # The gateway's call reached the ledger after all (say its answer was lost on the way back).
    async with grpc.aio.insecure_channel(payment_address) as channel:
        opened = await payment_pb2_grpc.PaymentServiceStub(channel).OpenPersonalAccount(
            pb.OpenPersonalAccountRequest(
                idempotency_key=payment_idempotency_key(pending["_id"]),
                owner_ref=pending["_id"],
                real_name=body["real_name"],
                resident_id=body["resident_id"],
                phone=body["phone"],
            )
        )

    retried = await gateway.post("/v1/auth/register", json=body)
    assert retried.status == 201, await retried.text()
    assert (await retried.json())["account_id"] == opened.account.account_id


async def test_concurrent_registrations_of_one_phone_make_one_identity(
    gateway: Client, users: Users
) -> None:
    body = await verified(gateway, personal_registration())
    responses = await asyncio.gather(
        *(gateway.post("/v1/auth/register", json=body) for _ in range(5))
    )
    statuses = sorted(response.status for response in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [await r.json() for r in responses if r.status == 201]
    assert created and len({c["account_id"] for c in created}) == 1
    assert await users.count_documents({"phone": body["phone"]}) == 1
