"""Merchant payments as sagas through the REST API, and the operations endpoints.

The module's gateway runs its recovery loop every 50 ms; its clock is a ManualClock that
no test here moves, so a lease a test writes stays live until the test releases it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from chassis.clock import ManualClock
from chassis.money import Money
from chassis.mongo import MongoClient
from gateway.app import SAGAS_COLLECTION
from gateway.clients import ServiceChannels
from gateway.operations.answers import redacted
from gateway.payment.sagas.merchant_payment import merchant_payment_input
from gateway.sagas.catalogue import define_sagas
from gateway.sagas.definition import SagaState, derive_saga_id
from gateway.sagas.log import SagaLog, SagaRecord
from gateway.settings import GatewaySettings
from gateway.tests.conftest import (
    GatewayFactory,
    User,
    balance_fen,
    gateway_settings,
    problem_of,
)
from gateway.tests.saga_support import Client, eventually, funded_payer, new_key

SAGA_ENVIRONMENT = {
    "COLONY_SAGA_RECOVERY_INTERVAL_SECONDS": "0.05",
    "COLONY_SAGA_BACKOFF_SECONDS": "0.001",
    "COLONY_SAGA_ATTEMPTS_PER_PASS": "2",
    "COLONY_SAGA_ATTEMPTS_MAX": "4",
}
PAYMENTS = "/v1/merchant-payments"
Parties = Callable[[int], Awaitable[tuple[User, User]]]


@pytest.fixture(scope="module")
def settings(
    database_name: str, service_addresses: dict[str, str], operator_phone: str
) -> GatewaySettings:
    return gateway_settings(
        database_name,
        service_addresses,
        COLONY_OPERATOR_PHONES=operator_phone,
        **SAGA_ENVIRONMENT,
    )


@pytest.fixture(scope="module")
def parties(gateway: Client, new_user: Any, new_merchant: Any) -> Parties:
    """parties(balance_fen): a payer topped up with balance_fen, and a merchant."""

    async def register(balance_fen: int) -> tuple[User, User]:
        return await funded_payer(gateway, new_user, balance_fen), await new_merchant()

    return register


@pytest.fixture(scope="module")
def saga_log(mongo_client: MongoClient, settings: GatewaySettings) -> SagaLog:
    """The module gateway's own saga log, to plant sagas a dead or stuck replica left."""
    return SagaLog(mongo_client[settings.database_name][SAGAS_COLLECTION])


def payment_body(merchant: User, amount_fen: int, memo: str = "coffee") -> dict[str, Any]:
    return {"to_account_id": merchant.account_id, "amount_fen": amount_fen, "memo": memo}


async def plant_saga(
    saga_log: SagaLog,
    clock: ManualClock,
    payer: User,
    merchant: User,
    *,
    lease_owner: str,
    lease_seconds: float,
) -> SagaRecord:
    """A merchant payment saga as a replica left it right after creating it."""
    definition = define_sagas(
        _unused_payment_client(),
        _unused_payment_client(),
        _unused_payment_client(),
        hold_ttl_seconds=900,
        loan=_unused_payment_client(),
        loan_ledger=_unused_payment_client(),
        insurance=_unused_payment_client(),
        insurance_ledger=_unused_payment_client(),
    ).merchant_payment
    record = await saga_log.create(
        definition,
        saga_id=derive_saga_id(payer.user_id, new_key()),
        owner_user_id=payer.user_id,
        fingerprint="planted",
        saga_input=merchant_payment_input(
            payer_account_id=payer.account_id,
            merchant_account_id=merchant.account_id,
            amount=Money(1_200),
            memo="planted",
        ),
        lease_owner=lease_owner,
        lease_token=f"token-of-{lease_owner}",
        lease_until=clock.now() + timedelta(seconds=lease_seconds),
        now=clock.now(),
    )
    assert record is not None
    return record


def _unused_payment_client() -> Any:
    """Definitions need a client to close over; planting a record never calls it."""
    return object()


async def get_operation(gateway: Client, user: User, operation_id: str) -> dict[str, Any]:
    response = await gateway.get(f"/v1/operations/{operation_id}", headers=user.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def operation_in_state(
    gateway: Client, user: User, operation_id: str, state: str
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        operation = await get_operation(gateway, user, operation_id)
        return operation if operation["state"] == state else None

    return await eventually(probe, 10.0, f"operation {operation_id} {state}")


async def test_paying_a_merchant_answers_201_with_the_completed_operation(
    gateway: Client, parties: Parties
) -> None:
    payer, merchant = await parties(10_000)
    response = await gateway.post(
        PAYMENTS, json=payment_body(merchant, 2_500), headers=payer.keyed(new_key())
    )

    assert response.status == 201, await response.text()
    operation = await response.json()
    assert response.headers["Location"] == f"/v1/operations/{operation['operation_id']}"
    assert operation["kind"] == "merchant_payment"
    assert operation["state"] == "completed"
    assert [(step["name"], step["status"]) for step in operation["steps"]] == [
        ("reserve_funds", "done"),
        ("capture_to_merchant", "done"),
    ]
    result = operation["result"]
    assert result["amount"] == {"amount_fen": 2_500, "currency": "CNY", "yuan": "25.00"}
    assert result["merchant_account_id"] == merchant.account_id
    assert result["memo"] == "coffee"
    assert result["posting_id"]
    assert await balance_fen(gateway, payer) == 7_500
    assert await balance_fen(gateway, merchant) == 2_500

    shown = await gateway.get(response.headers["Location"], headers=payer.headers)
    assert await shown.json() == operation
    text = await shown.text()
    for internal in ("saga:", "lease", "token", "fingerprint", payer.user_id):
        assert internal not in text, internal


async def test_a_retried_request_finds_the_same_operation(
    gateway: Client, parties: Parties
) -> None:
    payer, merchant = await parties(10_000)
    key = new_key()
    first = await gateway.post(PAYMENTS, json=payment_body(merchant, 900), headers=payer.keyed(key))
    again = await gateway.post(PAYMENTS, json=payment_body(merchant, 900), headers=payer.keyed(key))

    assert first.status == again.status == 201
    assert await first.read() == await again.read()
    assert (await first.json())["operation_id"] == derive_saga_id(payer.user_id, key)
    assert await balance_fen(gateway, payer) == 9_100

    other_amount = await gateway.post(
        PAYMENTS, json=payment_body(merchant, 901), headers=payer.keyed(key)
    )
    await problem_of(other_amount, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await balance_fen(gateway, merchant) == 900


async def test_concurrent_requests_with_one_key_pay_once_and_answer_alike(
    gateway: Client, parties: Parties
) -> None:
    payer, merchant = await parties(10_000)
    key = new_key()

    async def pay() -> tuple[int, bytes]:
        response = await gateway.post(
            PAYMENTS, json=payment_body(merchant, 400), headers=payer.keyed(key)
        )
        return response.status, await response.read()

    answers = await asyncio.gather(*(pay() for _ in range(5)))

    assert {status for status, _ in answers} == {201}
    assert len({body for _, body in answers}) == 1
    assert await balance_fen(gateway, payer) == 9_600
    assert await balance_fen(gateway, merchant) == 400


async def test_a_refused_payment_is_undone_and_answers_the_refusal(
    gateway: Client, parties: Parties
) -> None:
    payer, merchant = await parties(1_000)
    key = new_key()
    response = await gateway.post(
        PAYMENTS, json=payment_body(merchant, 1_001), headers=payer.keyed(key)
    )

    problem = await problem_of(response, 422, "INSUFFICIENT_FUNDS")
    operation_id = derive_saga_id(payer.user_id, key)
    assert problem["metadata"]["operation_id"] == operation_id
    operation = await get_operation(gateway, payer, operation_id)
    assert operation["state"] == "compensated"
    assert operation["error"]["reason"] == "INSUFFICIENT_FUNDS"
    assert [step["status"] for step in operation["steps"]] == ["refused", "pending"]
    again = await gateway.post(
        PAYMENTS, json=payment_body(merchant, 1_001), headers=payer.keyed(key)
    )
    # The same refusal, read back from the operation; its trace_id names the request that
    # answered (the replay's own trace), everything else is the first answer.
    replayed = await problem_of(again, 422, "INSUFFICIENT_FUNDS")
    assert replayed.pop("trace_id") == again.headers["X-Trace-Id"]
    problem.pop("trace_id")
    assert replayed == problem
    assert await balance_fen(gateway, payer) == 1_000


async def test_paying_a_person_oneself_or_nobody_is_refused_before_any_saga(
    gateway: Client, parties: Parties, new_user: Any
) -> None:
    payer, _ = await parties(1_000)
    person = await new_user()
    cases = (
        (person.account_id, 422, "ACCOUNT_KIND_NOT_ALLOWED"),
        (payer.account_id, 400, "SAME_ACCOUNT"),
        ("2188000000000000", 404, "NOT_FOUND"),
    )
    for to_account_id, status, reason in cases:
        key = new_key()
        response = await gateway.post(
            PAYMENTS,
            json={"to_account_id": to_account_id, "amount_fen": 100},
            headers=payer.keyed(key),
        )
        await problem_of(response, status, reason)
        unknown = await gateway.get(
            f"/v1/operations/{derive_saga_id(payer.user_id, key)}", headers=payer.headers
        )
        await problem_of(unknown, 404, "NOT_FOUND")
    assert await balance_fen(gateway, payer) == 1_000


async def test_an_operation_is_visible_to_its_owner_only(
    gateway: Client, parties: Parties, new_user: Any
) -> None:
    payer, merchant = await parties(1_000)
    response = await gateway.post(
        PAYMENTS, json=payment_body(merchant, 100), headers=payer.keyed(new_key())
    )
    location = response.headers["Location"]
    stranger = await new_user()

    theirs = await gateway.get(location, headers=stranger.headers)
    nobodys = await gateway.get("/v1/operations/0123456789abcdef", headers=stranger.headers)

    assert (await problem_of(theirs, 404, "NOT_FOUND"))["detail"].startswith("there is no")
    await problem_of(nobodys, 404, "NOT_FOUND")
    await problem_of(await gateway.get(location), 401, "UNAUTHENTICATED")


async def test_a_payment_not_finished_in_time_answers_202_and_finishes_in_the_background(
    start_gateway: GatewayFactory,
    database_name: str,
    service_addresses: dict[str, str],
    channels: ServiceChannels,
    parties: Parties,
) -> None:
    impatient = await start_gateway(
        gateway_settings(
            database_name,
            service_addresses,
            **{**SAGA_ENVIRONMENT, "COLONY_SAGA_INLINE_WAIT_SECONDS": "0.001"},
        ),
        channels,
    )
    payer, merchant = await parties(5_000)

    response = await impatient.post(
        PAYMENTS, json=payment_body(merchant, 1_500), headers=payer.keyed(new_key())
    )

    assert response.status == 202, await response.text()
    accepted = await response.json()
    assert accepted["state"] == "running"
    assert response.headers["Location"] == f"/v1/operations/{accepted['operation_id']}"
    await operation_in_state(impatient, payer, accepted["operation_id"], "completed")
    assert await balance_fen(impatient, merchant) == 1_500


async def test_the_recovery_loop_finishes_a_saga_a_dead_replica_left(
    gateway: Client, parties: Parties, saga_log: SagaLog, clock: ManualClock
) -> None:
    payer, merchant = await parties(5_000)
    # Its lease ran out a second ago: the replica that created it is gone.
    planted = await plant_saga(
        saga_log, clock, payer, merchant, lease_owner="dead-replica", lease_seconds=-1
    )

    operation = await operation_in_state(gateway, payer, planted.saga_id, "completed")

    assert operation["result"]["amount"]["amount_fen"] == 1_200
    assert await balance_fen(gateway, merchant) == 1_200
    assert await balance_fen(gateway, payer) == 3_800


async def test_operators_list_unfinished_operations(
    gateway: Client,
    parties: Parties,
    operator: User,
    saga_log: SagaLog,
    clock: ManualClock,
) -> None:
    payer, merchant = await parties(5_000)
    running = await plant_saga(
        saga_log, clock, payer, merchant, lease_owner="replica-x", lease_seconds=30
    )
    parked = await plant_saga(
        saga_log, clock, payer, merchant, lease_owner="replica-y", lease_seconds=30
    )
    await saga_log.park(
        parked.saga_id,
        "token-of-replica-y",
        parked_from=SagaState.RUNNING,
        reason="planted for the test",
        error=None,
        now=clock.now(),
    )

    async def listed(**query: str) -> dict[str, dict[str, Any]]:
        response = await gateway.get("/v1/admin/operations", params=query, headers=operator.headers)
        assert response.status == 200, await response.text()
        return {item["operation_id"]: item for item in (await response.json())["operations"]}

    stuck_running = await listed(state="RUNNING", stuck_for_seconds="0")
    assert running.saga_id in stuck_running and parked.saga_id not in stuck_running
    shown = stuck_running[running.saga_id]
    assert shown["owner_user_id"] == payer.user_id
    assert shown["lease_owner"] == "replica-x"
    assert shown["steps"][0]["key"] == f"saga:{running.saga_id}:reserve_funds"
    assert shown["input"]["amount_fen"] == 1_200
    assert running.saga_id not in await listed(state="running", stuck_for_seconds="60")
    parked_list = await listed(state="parked")
    assert parked_list[parked.saga_id]["parked_reason"] == "planted for the test"
    assert {running.saga_id, parked.saga_id} <= set(await listed())

    bad = await gateway.get(
        "/v1/admin/operations", params={"state": "completed"}, headers=operator.headers
    )
    await problem_of(bad, 400, "INVALID_ARGUMENT")
    await problem_of(
        await gateway.get("/v1/admin/operations", headers=payer.headers), 403, "PERMISSION_DENIED"
    )
    # Let the running one go, as its replica would have at the end of its pass.
    await saga_log.release(running.saga_id, "token-of-replica-x", clock.now())
    await operation_in_state(gateway, payer, running.saga_id, "completed")


async def test_an_operator_retry_unparks_an_operation_which_then_completes(
    gateway: Client,
    parties: Parties,
    operator: User,
    saga_log: SagaLog,
    clock: ManualClock,
) -> None:
    payer, merchant = await parties(5_000)
    planted = await plant_saga(
        saga_log, clock, payer, merchant, lease_owner="replica-z", lease_seconds=30
    )
    await saga_log.park(
        planted.saga_id,
        "token-of-replica-z",
        parked_from=SagaState.RUNNING,
        reason="planted for the test",
        error=None,
        now=clock.now(),
    )
    retry_path = f"/v1/admin/operations/{planted.saga_id}/retry"
    parked = await get_operation(gateway, payer, planted.saga_id)
    assert parked["state"] == "parked"

    await problem_of(
        await gateway.post(retry_path, headers=payer.headers), 403, "PERMISSION_DENIED"
    )
    retried = await gateway.post(retry_path, headers=operator.headers)

    assert retried.status == 200, await retried.text()
    assert (await retried.json())["state"] == "running"
    await operation_in_state(gateway, payer, planted.saga_id, "completed")
    assert await balance_fen(gateway, merchant) == 1_200
    again = await gateway.post(retry_path, headers=operator.headers)
    await problem_of(again, 422, "ILLEGAL_TRANSITION")
    unknown = await gateway.post("/v1/admin/operations/nope/retry", headers=operator.headers)
    await problem_of(unknown, 404, "NOT_FOUND")


async def test_the_payment_route_documents_its_201_and_202(gateway: Client) -> None:
    document = await (await gateway.get("/openapi.json")).json()
    operation = document["paths"][PAYMENTS]["post"]
    assert {"201", "202", "400", "404", "409", "422", "503"} <= set(operation["responses"])
    accepted = operation["responses"]["202"]["content"]["application/json"]["schema"]
    assert accepted == {"$ref": "#/components/schemas/Operation"}
    assert {"Operation", "OperatorOperation", "MerchantPaymentRequest"} <= set(
        document["components"]["schemas"]
    )


def test_an_operators_view_of_a_saga_input_hides_live_secrets_at_any_depth() -> None:
    saga_input = {
        "payer_account_id": "2088000000000001",
        "payment_authorization": "tok-abc",
        "target": {"kind": "payment_code", "code": "281234567890123456", "memo": "tea"},
        "funding": [["yuebao", 100]],
    }
    shown = redacted(saga_input)
    assert shown == {
        "payer_account_id": "2088000000000001",
        "payment_authorization": "[redacted]",
        "target": {"kind": "payment_code", "code": "[redacted]", "memo": "tea"},
        "funding": [["yuebao", 100]],
    }
    # An absent secret stays visibly absent.
    assert redacted({"payment_authorization": ""}) == {"payment_authorization": ""}
