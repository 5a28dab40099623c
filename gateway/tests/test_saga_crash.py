"""Crash tests: SIGKILL a real gateway process at every point of a saga, restart it, and check.

Each case starts ``python -m gateway`` with COLONY_SAGA_FAILPOINT set (a test-only hook,
gateway.sagas.failpoints), sends a merchant payment, and the process kills itself at that
exact point. The gateway is then restarted without the failpoint; its recovery loop must
finish or compensate the saga on its own (the test only polls). After every case: the
saga is COMPLETED or COMPENSATED (never stuck), the payer's and the merchant's balances
are exactly what the outcome says, nothing is left held, and the payment ledger's audit
(every balance = its entries, all balances sum to zero, held = open holds) finds nothing.

The points, in order: the saga record written (before step 1); for each step, after its
"started" write, after its RPC answered, after its "done" write; and, for a payment whose
capture is refused (the merchant's account frozen while the gateway was down), after the
refusal came back and around the compensation that voids the hold. Leases last 1 s and
the recovery loop runs every 0.1 s, so a case takes about as long as two (or three)
gateway start-ups.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from chassis.errors import DomainError
from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from gateway.app import SAGAS_COLLECTION
from gateway.clients import PaymentClient, ServiceChannels
from gateway.payment.sagas.merchant_payment import (
    CAPTURE_TO_MERCHANT,
    MERCHANT_PAYMENT,
    RESERVE_FUNDS,
)
from gateway.sagas.definition import SagaState, StepStatus, derive_saga_id, step_key
from gateway.sagas.log import SagaLog
from gateway.tests.conftest import CARD, merchant_registration, personal_registration
from gateway.tests.saga_support import (
    FINISHED_WITHIN_SECONDS,
    REQUEST_TIMEOUT,
    GatewayProcess,
    GatewayRuns,
    Party,
    eventually,
    gateway_environment,
    new_key,
    register,
    setup_gateway,
)
from services.payment.ledger import AccountStatus
from services.payment.risk import DEFAULT_RULES_DATA
from services.payment.store import PaymentStore

pytestmark = pytest.mark.slow

PAYER_TOP_UP_FEN = 100_000
AMOUNT_FEN = 1_000
# More than the payer will ever have: refused by CreateHold (INSUFFICIENT_FUNDS).
# One yuan more than the payer has, yet under every risk limit (so the ledger refuses it).
UNAFFORDABLE_FEN = PAYER_TOP_UP_FEN + 100
FINAL_STATES = ("completed", "compensated")


def failpoint(step: str, phase: str) -> str:
    return f"kill-after:{MERCHANT_PAYMENT}:{step}:{phase}"


FORWARD_POINTS = [
    failpoint("saga", "created"),
    *(
        failpoint(step, phase)
        for step in (RESERVE_FUNDS, CAPTURE_TO_MERCHANT)
        for phase in ("started", "called", "done")
    ),
]
# Where each forward point leaves things when the process dies: the steps as the log has
# them, and the hold as the payment service has it (None: never created). "called" and
# "started" differ only in the payment service: the call took effect, the log does not know.
_PENDING, _STARTED, _DONE = StepStatus.PENDING, StepStatus.STARTED, StepStatus.DONE
LEFT_AT_KILL = {
    FORWARD_POINTS[0]: ((_PENDING, _PENDING), None),
    FORWARD_POINTS[1]: ((_STARTED, _PENDING), None),
    FORWARD_POINTS[2]: ((_STARTED, _PENDING), pb.HOLD_STATE_HELD),
    FORWARD_POINTS[3]: ((_DONE, _PENDING), pb.HOLD_STATE_HELD),
    FORWARD_POINTS[4]: ((_DONE, _STARTED), pb.HOLD_STATE_HELD),
    FORWARD_POINTS[5]: ((_DONE, _STARTED), pb.HOLD_STATE_CAPTURED),
    FORWARD_POINTS[6]: ((_DONE, _DONE), pb.HOLD_STATE_CAPTURED),
}
# A payment whose capture is refused (the merchant's account was frozen meanwhile): killed
# after the refusal came back unrecorded, then around the compensation that voids the hold.
REFUSED_CAPTURE = failpoint(CAPTURE_TO_MERCHANT, "called")
_COMPENSATING, _COMPENSATED, _REFUSED = (
    StepStatus.COMPENSATING,
    StepStatus.COMPENSATED,
    StepStatus.REFUSED,
)
COMPENSATION_POINTS = [
    REFUSED_CAPTURE,
    *(
        failpoint(RESERVE_FUNDS, phase)
        for phase in ("compensation-started", "compensation-called", "compensation-done")
    ),
]
LEFT_WHILE_COMPENSATING = {
    COMPENSATION_POINTS[0]: (SagaState.RUNNING, (_DONE, _STARTED), pb.HOLD_STATE_HELD),
    COMPENSATION_POINTS[1]: (SagaState.COMPENSATING, (_COMPENSATING, _REFUSED), pb.HOLD_STATE_HELD),
    COMPENSATION_POINTS[2]: (
        SagaState.COMPENSATING,
        (_COMPENSATING, _REFUSED),
        pb.HOLD_STATE_VOIDED,
    ),
    COMPENSATION_POINTS[3]: (
        SagaState.COMPENSATING,
        (_COMPENSATED, _REFUSED),
        pb.HOLD_STATE_VOIDED,
    ),
}


@dataclass(kw_only=True)
class CrashWorld(GatewayRuns):
    """What every case shares: the gateway's environment, the two parties, the ledger."""

    payment: PaymentClient
    store: PaymentStore
    saga_log: SagaLog
    payer: Party
    merchant: Party
    # What the payer and the merchant must hold after the cases run so far.
    payer_fen: int = PAYER_TOP_UP_FEN
    merchant_fen: int = 0


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[CrashWorld]:
    channels = ServiceChannels.open(service_addresses)
    # One payer pays a dozen times within a minute here: risk control's velocity rules would
    # rightly challenge that, and this module is about crashes, not risk. Every other
    # default rule stays in force.
    rules = [r for r in DEFAULT_RULES_DATA if not str(r["kind"]).startswith("velocity")]
    await payment_pb2_grpc.PaymentServiceStub(channels.payment).SetRiskRules(
        pb.SetRiskRulesRequest(rules_json=json.dumps(rules))
    )
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        environ = gateway_environment(mongo_url, database_name, service_addresses)
        log_dir = tmp_path_factory.mktemp("gateway-logs")
        async with setup_gateway(session, environ, log_dir) as setup:
            payer = await register(session, setup.url, personal_registration())
            merchant = await register(session, setup.url, merchant_registration())
            async with session.post(
                f"{setup.url}/v1/topups",
                json={"amount_fen": PAYER_TOP_UP_FEN, "bank_card_number": CARD},
                headers=payer.headers(new_key()),
            ) as response:
                assert response.status == 201, await response.text()
        world = CrashWorld(
            environ=environ,
            log_dir=log_dir,
            session=session,
            payment=PaymentClient(channels.payment, 5.0),
            store=PaymentStore(mongo_client[f"{database_name}_payment"]),
            saga_log=SagaLog(mongo_client[f"{database_name}_gateway"][SAGAS_COLLECTION]),
            payer=payer,
            merchant=merchant,
        )
        try:
            yield world
        finally:
            await world.close(channels)


async def _pay_and_die(
    world: CrashWorld, gateway: GatewayProcess, key: str, amount_fen: int
) -> str:
    """Send a payment the gateway dies serving; the id of the operation it started."""
    with pytest.raises(aiohttp.ClientError):
        async with world.session.post(
            f"{gateway.url}/v1/merchant-payments",
            json={"to_account_id": world.merchant.account_id, "amount_fen": amount_fen},
            headers=world.payer.headers(key),
        ) as response:
            raise AssertionError(f"answered {response.status}: {await response.text()}")
    await gateway.killed()
    return derive_saga_id(world.payer.user_id, key)


async def _hold_state(world: CrashWorld, operation_id: str) -> pb.HoldState.ValueType | None:
    try:
        hold = await world.payment.get_hold(step_key(operation_id, RESERVE_FUNDS))
    except DomainError as error:
        assert error.reason == "NOT_FOUND", error
        return None
    return hold.state


async def _finished(world: CrashWorld, gateway: GatewayProcess, operation_id: str) -> str:
    """The final state the restarted gateway's recovery loop brings the operation to."""

    async def final_state() -> str | None:
        async with world.session.get(
            f"{gateway.url}/v1/operations/{operation_id}", headers=world.payer.headers()
        ) as response:
            assert response.status == 200, await response.text()
            operation = await response.json()
        assert operation["state"] != "parked", operation
        return operation["state"] if operation["state"] in FINAL_STATES else None

    return await eventually(
        final_state, FINISHED_WITHIN_SECONDS, f"operation {operation_id} finishes"
    )


async def _check_money(world: CrashWorld, operation_id: str) -> None:
    payer = await world.payment.get_account(world.payer.account_id)
    merchant = await world.payment.get_account(world.merchant.account_id)
    assert payer.balance.amount_fen == world.payer_fen
    assert payer.available.amount_fen == world.payer_fen, "money left held"
    assert merchant.balance.amount_fen == world.merchant_fen
    assert payer.balance.amount_fen + merchant.balance.amount_fen == PAYER_TOP_UP_FEN
    assert await _hold_state(world, operation_id) != pb.HOLD_STATE_HELD
    assert await world.store.audit_ledger() == []


async def _answer_to_a_retry(
    world: CrashWorld, gateway: GatewayProcess, key: str, amount_fen: int
) -> tuple[int, dict[str, Any]]:
    """The client's retry of the request the gateway died serving: the same operation."""
    async with world.session.post(
        f"{gateway.url}/v1/merchant-payments",
        json={"to_account_id": world.merchant.account_id, "amount_fen": amount_fen},
        headers=world.payer.headers(key),
    ) as response:
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize("point", FORWARD_POINTS)
async def test_a_payment_killed_at_any_forward_point_completes_after_restart(
    world: CrashWorld, point: str
) -> None:
    key = new_key()
    crashing = await world.gateway(failpoint=point).start(world.session)
    operation_id = await _pay_and_die(world, crashing, key, AMOUNT_FEN)
    left = await world.saga_log.get(operation_id)
    assert left is not None and left.state is SagaState.RUNNING
    assert (left.statuses, await _hold_state(world, operation_id)) == LEFT_AT_KILL[point]

    restarted = await world.gateway().start(world.session)
    try:
        state = await _finished(world, restarted, operation_id)
        status, answer = await _answer_to_a_retry(world, restarted, key, AMOUNT_FEN)
    finally:
        await restarted.stop()

    assert state == "completed"
    assert (status, answer["operation_id"]) == (201, operation_id)
    world.payer_fen -= AMOUNT_FEN
    world.merchant_fen += AMOUNT_FEN
    await _check_money(world, operation_id)


async def test_a_refused_payment_killed_before_recording_the_refusal_is_compensated(
    world: CrashWorld,
) -> None:
    key = new_key()
    crashing = await world.gateway(failpoint(RESERVE_FUNDS, "called")).start(world.session)
    operation_id = await _pay_and_die(world, crashing, key, UNAFFORDABLE_FEN)

    restarted = await world.gateway().start(world.session)
    try:
        state = await _finished(world, restarted, operation_id)
        status, problem = await _answer_to_a_retry(world, restarted, key, UNAFFORDABLE_FEN)
    finally:
        await restarted.stop()

    assert state == "compensated"
    assert (status, problem["reason"]) == (422, "INSUFFICIENT_FUNDS")
    assert problem["metadata"]["operation_id"] == operation_id
    await _check_money(world, operation_id)


async def _set_merchant_status(world: CrashWorld, status: AccountStatus) -> None:
    """Freeze or thaw the merchant's account (no RPC does this yet: straight to its ledger)."""
    await world.store.accounts.update_one(
        {"_id": world.merchant.account_id}, {"$set": {"status": status.value}}
    )


@pytest.mark.parametrize("point", COMPENSATION_POINTS)
async def test_a_payment_killed_while_compensating_is_compensated_after_restart(
    world: CrashWorld, point: str
) -> None:
    crashing = await world.gateway(failpoint(RESERVE_FUNDS, "done")).start(world.session)
    operation_id = await _pay_and_die(world, crashing, new_key(), AMOUNT_FEN)
    assert await _hold_state(world, operation_id) == pb.HOLD_STATE_HELD
    # While no gateway runs, the merchant's account is frozen: the capture will be
    # refused, so the saga must void the hold it made.
    await _set_merchant_status(world, AccountStatus.FROZEN)
    try:
        # The first restart dies again in its recovery loop, at the point under test.
        compensating = await world.gateway(failpoint=point).spawn()
        await compensating.killed()
        left = await world.saga_log.get(operation_id)
        assert left is not None
        hold_state = await _hold_state(world, operation_id)
        assert (left.state, left.statuses, hold_state) == LEFT_WHILE_COMPENSATING[point]

        restarted = await world.gateway().start(world.session)
        try:
            state = await _finished(world, restarted, operation_id)
        finally:
            await restarted.stop()
    finally:
        await _set_merchant_status(world, AccountStatus.ACTIVE)

    assert state == "compensated"
    assert await _hold_state(world, operation_id) == pb.HOLD_STATE_VOIDED
    await _check_money(world, operation_id)
