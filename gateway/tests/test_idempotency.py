"""Idempotency-Key: one movement per key, the same answer to every repeat, crash-safe."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from colony.common.v1 import money_pb2
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from gateway.app import HTTP_IDEMPOTENCY_COLLECTION
from gateway.clients import ServiceChannels
from gateway.edge.idempotency import derive_grpc_idempotency_key, fingerprint_request
from gateway.payment.routes.money_movement import OPERATION_TOP_UP
from gateway.settings import GatewaySettings
from gateway.tests.conftest import (
    CARD,
    GatewayFactory,
    balance_fen,
    gateway_settings,
    problem_of,
    statement,
    top_up,
)

Client = TestClient[Any, Any]
Records = AsyncCollection[dict[str, Any]]


def new_key() -> str:
    return str(uuid.uuid4())


async def test_every_money_moving_route_requires_an_idempotency_key(
    gateway: Client, new_user: Any, new_merchant: Any, operator: Any
) -> None:
    user = await new_user()
    merchant = await new_merchant()
    document = await (await gateway.get("/openapi.json")).json()
    keyed_operations = [
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if {"$ref": "#/components/parameters/IdempotencyKey"} in operation.get("parameters", [])
    ]
    assert {path for _, path in keyed_operations} == {
        "/v1/topups",
        "/v1/withdrawals",
        "/v1/transfers",
        "/v1/trades/{trade_id}/pay",
        "/v1/bill-payments",
        "/v1/merchant/trades",
        "/v1/merchant/payment-code-charges",
        "/v1/merchant-payments",
        "/v1/wallet/payments",
        "/v1/wealth/yuebao/subscriptions",
        "/v1/wealth/yuebao/redemptions",
        "/v1/wealth/products/{product_id}/subscriptions",
        "/v1/wealth/holdings/{holding_id}/listing",
        "/v1/wealth/holdings/{holding_id}/listing/withdraw",
        "/v1/wealth/listings/{holding_id}/purchases",
        "/v1/wealth/reservations",
        "/v1/wealth/reservations/{reservation_id}/cancel",
        "/v1/wealth/risk-profile",
        "/v1/wealth/funds/{fund_id}/purchases",
        "/v1/wealth/funds/{fund_id}/sales",
        "/v1/credit/declarations",
        "/v1/credit/consents",
        "/v1/admin/credit/blacklist",
        "/v1/admin/credit/blacklist/removals",
        "/v1/admin/credit/scorecards",
        "/v1/loans/huabei/bills/{bill_id}/installments",
        "/v1/loans/huabei/purchases/{purchase_id}/installments",
        "/v1/insurance/policies",
        "/v1/insurance/policies/{policy_id}/cancellation",
        "/v1/insurance/claims",
        "/v1/admin/trades/{trade_id}/after-sales-refund",
        "/v1/loans/cash-loans",
        "/v1/loans/repayments",
        "/v1/merchant/loans/facilities",
        "/v1/merchant/loans/facilities/{facility_id}/draws",
        "/v1/merchant/loans/facilities/{facility_id}/repayments",
        "/v1/merchant/loans/order-loans",
        "/v1/admin/loans/funding/capital",
        "/v1/admin/loans/funding/borrowings",
        "/v1/admin/loans/funding/borrowing-repayments",
        "/v1/admin/loans/merchant-credit-policy",
        "/v1/admin/loans/abs-pools",
        "/v1/admin/loans/abs-pools/{pool_id}/purchases",
        "/v1/admin/loans/abs-pools/{pool_id}/pass-through",
        "/v1/abs-pools/{pool_id}/units",
        "/v1/admin/merchants/{merchant_id}/store-freeze",
    }
    for method, path in keyed_operations:
        caller = merchant if path.startswith("/v1/merchant/") else user
        if path.startswith("/v1/admin/"):
            caller = operator
        response = await gateway.request(
            method,
            re.sub(r"{\w+}", "any-id", path),
            json={"amount_fen": 100, "bank_card_number": CARD},
            headers=caller.headers,
        )
        await problem_of(response, 400, "IDEMPOTENCY_KEY_MISSING")
    for unusable in ("k" * 129, "naïve-key"):
        response = await gateway.post(
            "/v1/topups",
            json={"amount_fen": 100, "bank_card_number": CARD},
            headers={**user.headers, "Idempotency-Key": unusable},
        )
        await problem_of(response, 400, "INVALID_ARGUMENT")
    assert await balance_fen(gateway, user) == 0


async def test_same_key_and_body_replays_the_first_answer_byte_for_byte(
    gateway: Client, new_user: Any
) -> None:
    user = await new_user()
    key = new_key()
    body = {"amount_fen": 2_500, "bank_card_number": CARD}
    first = await gateway.post("/v1/topups", json=body, headers=user.keyed(key))
    # The same JSON object, written with other spacing and key order.
    rewritten = json.dumps(dict(reversed(body.items())), indent=2)
    second = await gateway.post(
        "/v1/topups",
        data=rewritten,
        headers={**user.keyed(key), "Content-Type": "application/json"},
    )
    assert first.status == second.status == 201
    assert await first.read() == await second.read()
    assert await balance_fen(gateway, user) == 2_500
    assert len(await statement(gateway, user)) == 1


async def test_same_key_with_another_body_or_route_is_refused(
    gateway: Client, new_user: Any
) -> None:
    user = await new_user()
    key = new_key()
    await top_up(gateway, user, 1_000, key)
    other_amount = await gateway.post(
        "/v1/topups", json={"amount_fen": 1_001, "bank_card_number": CARD}, headers=user.keyed(key)
    )
    await problem_of(other_amount, 422, "IDEMPOTENCY_KEY_REUSED")
    other_route = await gateway.post(
        "/v1/withdrawals",
        json={"amount_fen": 1_000, "bank_card_number": CARD},
        headers=user.keyed(key),
    )
    await problem_of(other_route, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await balance_fen(gateway, user) == 1_000


async def test_keys_belong_to_their_user(gateway: Client, new_user: Any) -> None:
    alice, bob = await new_user(), await new_user()
    key = new_key()
    await top_up(gateway, alice, 300, key)
    await top_up(gateway, bob, 700, key)
    assert await balance_fen(gateway, alice) == 300
    assert await balance_fen(gateway, bob) == 700


async def test_twenty_concurrent_requests_with_one_key_move_money_once(
    gateway: Client, new_user: Any
) -> None:
    payer, payee = await new_user(), await new_user()
    await top_up(gateway, payer, 10_000, new_key())
    key = new_key()

    async def send() -> tuple[int, bytes]:
        response = await gateway.post(
            "/v1/transfers",
            json={"amount_fen": 700, "to_account_id": payee.account_id},
            headers=payer.keyed(key),
        )
        return response.status, await response.read()

    answers = await asyncio.gather(*(send() for _ in range(20)))
    assert len(set(answers)) == 1, answers
    status, body = answers[0]
    assert status == 201
    assert json.loads(body)["balance"]["amount_fen"] == 9_300
    assert await balance_fen(gateway, payer) == 9_300
    assert await balance_fen(gateway, payee) == 700
    assert len(await statement(gateway, payee)) == 1


async def test_a_refusal_is_replayed_too(gateway: Client, new_user: Any) -> None:
    payer, payee = await new_user(), await new_user()
    key = new_key()
    body = {"amount_fen": 500, "to_account_id": payee.account_id}
    refused = await gateway.post("/v1/transfers", json=body, headers=payer.keyed(key))
    await problem_of(refused, 422, "INSUFFICIENT_FUNDS")
    await top_up(gateway, payer, 1_000, new_key())
    # The key stands for that refused attempt; a new attempt needs a new key.
    replayed = await gateway.post("/v1/transfers", json=body, headers=payer.keyed(key))
    assert replayed.status == 422
    assert await replayed.read() == await refused.read()
    assert await balance_fen(gateway, payer) == 1_000


async def test_a_request_that_failed_for_want_of_the_service_can_be_retried(
    gateway: Client, cut_off_gateway: Client, new_user: Any
) -> None:
    user = await new_user()
    key = new_key()
    body = {"amount_fen": 800, "bank_card_number": CARD}
    failed = await cut_off_gateway.post("/v1/topups", json=body, headers=user.keyed(key))
    await problem_of(failed, 503, "UNAVAILABLE")
    retried = await gateway.post("/v1/topups", json=body, headers=user.keyed(key))
    assert retried.status == 201, await retried.text()
    assert await balance_fen(gateway, user) == 800


@pytest.fixture(scope="module")
async def impatient_gateway(
    start_gateway: GatewayFactory,
    database_name: str,
    service_addresses: dict[str, str],
    channels: ServiceChannels,
) -> AsyncIterator[Client]:
    """The module's gateway database and services, but waiting only briefly for a duplicate."""
    settings = gateway_settings(
        database_name, service_addresses, COLONY_IDEMPOTENCY_WAIT_SECONDS="0.2"
    )
    yield await start_gateway(settings, channels)


@pytest.fixture(scope="module")
def records(mongo_client: MongoClient, settings: GatewaySettings) -> Records:
    """The gateway's HTTP idempotency records."""
    return mongo_client[settings.database_name][HTTP_IDEMPOTENCY_COLLECTION]


async def test_a_key_left_in_progress_by_a_crashed_gateway_is_taken_over_after_its_lease(
    impatient_gateway: Client,
    new_user: Any,
    records: Records,
    clock: ManualClock,
    payment_address: str,
) -> None:
    user = await new_user()
    key = new_key()
    body = {"amount_fen": 4_200, "bank_card_number": CARD}
    # A gateway claimed the key, had the ledger post the top-up, and died before answering.
    async with grpc.aio.insecure_channel(payment_address) as channel:
        posted = await payment_pb2_grpc.PaymentServiceStub(channel).TopUp(
            pb.TopUpRequest(
                idempotency_key=derive_grpc_idempotency_key(user.user_id, key),
                account_id=user.account_id,
                amount=money_pb2.Money(amount_fen=4_200, currency="CNY"),
                bank_card_number=CARD,
            )
        )
    await records.insert_one(
        {
            "_id": f"{user.user_id}:{key}",
            "fingerprint": fingerprint_request(OPERATION_TOP_UP, body),
            "state": "in_progress",
            "lease_owner": "the-crashed-gateway",
            "lease_expires_at": clock.now() + timedelta(seconds=30),
            "created_at": clock.now(),
        }
    )

    while_leased = await impatient_gateway.post("/v1/topups", json=body, headers=user.keyed(key))
    await problem_of(while_leased, 409, "REQUEST_IN_PROGRESS")

    clock.advance(timedelta(seconds=30))
    taken_over = await impatient_gateway.post("/v1/topups", json=body, headers=user.keyed(key))
    assert taken_over.status == 201, await taken_over.text()
    assert (await taken_over.json())["posting_id"] == posted.posting.posting_id
    assert await balance_fen(impatient_gateway, user) == 4_200
    record = await records.find_one({"_id": f"{user.user_id}:{key}"})
    assert record is not None and record["state"] == "completed"


def test_secrets_are_no_part_of_the_fingerprint() -> None:
    body = {"amount_fen": 100, "to_account_id": "A1"}
    assert fingerprint_request("createTransfer", body) == fingerprint_request(
        "createTransfer", {**body, "payment_password": "385912"}
    )
    assert fingerprint_request("createTransfer", body) != fingerprint_request(
        "createTransfer", {**body, "amount_fen": 101}
    )


def test_a_password_retry_goes_to_the_service_under_a_fresh_key() -> None:
    first = derive_grpc_idempotency_key("u1", "k1")
    assert derive_grpc_idempotency_key("u1", "k1", 0) == first
    retries = {derive_grpc_idempotency_key("u1", "k1", attempt) for attempt in (1, 2)}
    assert first not in retries and len(retries) == 2
