"""Crash tests of the loan business's funding (the loan_funding saga): SIGKILL a real
gateway inside it, as test_order_loan_crash does for an order loan.

Real payment and loan services. Each case: the operator pays 1,000 yuan of capital in (or
borrows 400 from the bank) through a gateway that kills itself once the saga was written,
and before every step's call, after it answered (unrecorded) and after it was recorded. A
restarted gateway's recovery loop must finish it: completed, the funding book changed once,
the money moved once, and `colony audit` clean (platform:loan:capital = capital +
borrowing, the shareholders and the fake bank lender minus what they gave). Last, a book
changed without its money (a direct PayInCapital, bypassing the saga) is a breach the
audit names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from chassis.mongo import MongoClient
from chassis.settings import SERVICE_NAMES
from colony.common.v1 import money_pb2
from colony.loan.v1 import merchant_lending_pb2 as mpb
from conftest import service_settings
from gateway.app import SAGAS_COLLECTION
from gateway.clients import PaymentClient, ServiceChannels
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.loans.merchant.funding import (
    BANK_LENDER_ACCOUNT_ID,
    CAPITAL_ACCOUNT_ID,
    SHAREHOLDERS_ACCOUNT_ID,
    funding_saga,
)
from gateway.sagas.definition import SagaState, StepStatus, derive_saga_id
from gateway.sagas.failpoints import SAGA_POINT, Failpoint, Phase
from gateway.sagas.log import SagaLog
from gateway.tests.conftest import personal_registration
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
from infra.cli import audit
from services.payment.ledger import PostingKind
from services.payment.store import PaymentStore

pytestmark = pytest.mark.slow

CAPITAL_FEN = 100_000
BORROWED_FEN = 40_000
_NOT_CALLED: Any = None
SAGA = funding_saga(_NOT_CALLED, _NOT_CALLED, _NOT_CALLED)
STEPS = SAGA.step_names
_PENDING, _STARTED, _DONE = StepStatus.PENDING, StepStatus.STARTED, StepStatus.DONE


def _statuses_after(step_name: str, phase: Phase) -> tuple[StepStatus, ...]:
    index = SAGA.index_of(step_name)
    at_kill = _DONE if phase is Phase.DONE else _STARTED
    return (_DONE,) * index + (at_kill,) + (_PENDING,) * (len(STEPS) - index - 1)


FORWARD_POINTS = {
    str(Failpoint(SAGA.name, SAGA_POINT, Phase.CREATED)): (_PENDING,) * len(STEPS),
    **{
        str(Failpoint(SAGA.name, name, phase)): _statuses_after(name, phase)
        for name in STEPS
        for phase in (Phase.STARTED, Phase.CALLED, Phase.DONE)
    },
}


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, unreachable_address: str, manual_loan_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return {**addresses, "payment": payment_address, "loan": manual_loan_address}


@dataclass(kw_only=True)
class World(GatewayRuns):
    payment: PaymentClient
    lending: MerchantLendingClient
    store: PaymentStore
    operator: Party
    mongo_url: str
    database_name: str
    capital_fen: int = 0
    borrowed_fen: int = 0

    async def audit(self) -> list[str]:
        return await audit(
            service_settings("payment", self.mongo_url, f"{self.database_name}_payment"),
            loan_settings=service_settings("loan", self.mongo_url, f"{self.database_name}_loan"),
        )


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    channels = ServiceChannels.open(service_addresses)
    operator_body = personal_registration()
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        environ = {
            **gateway_environment(mongo_url, database_name, service_addresses),
            "COLONY_OPERATOR_PHONES": operator_body["phone"],
        }
        log_dir = tmp_path_factory.mktemp("gateway-logs")
        async with setup_gateway(session, environ, log_dir) as setup:
            operator = await register(session, setup.url, operator_body)
        world = World(
            environ=environ,
            log_dir=log_dir,
            session=session,
            payment=PaymentClient(channels.payment, 5.0),
            lending=MerchantLendingClient(channels.loan, 5.0),
            store=PaymentStore(mongo_client[f"{database_name}_payment"]),
            operator=operator,
            mongo_url=mongo_url,
            database_name=database_name,
        )
        try:
            yield world
        finally:
            await world.close(channels)


@pytest.fixture(scope="module")
def saga_log(mongo_client: MongoClient, database_name: str) -> SagaLog:
    return SagaLog(mongo_client[f"{database_name}_gateway"][SAGAS_COLLECTION])


async def _fund_and_die(world: World, gateway: GatewayProcess, path: str, fen: int) -> str:
    key = new_key()
    with pytest.raises(aiohttp.ClientError):
        async with world.session.post(
            f"{gateway.url}{path}",
            json={"amount_fen": fen},
            headers=world.operator.headers(key),
        ) as response:
            raise AssertionError(f"answered {response.status}: {await response.text()}")
    await gateway.killed()
    return derive_saga_id(world.operator.user_id, key)


async def _recovered(world: World, saga_log: SagaLog, operation_id: str) -> str:
    restarted = await world.gateway().start(world.session)

    async def final() -> str | None:
        record = await saga_log.get(operation_id)
        assert record is not None
        assert record.state is not SagaState.PARKED, record
        return record.state.value if record.state.is_final else None

    try:
        return await eventually(final, FINISHED_WITHIN_SECONDS, f"{operation_id} finishes")
    finally:
        await restarted.stop()


async def _balance(world: World, account_id: str) -> int:
    return (await world.payment.get_account(account_id)).balance.amount_fen


async def _check(world: World, operation_id: str) -> None:
    capacity = (await world.lending.get_lending_capacity(mpb.GetLendingCapacityRequest())).capacity
    assert (capacity.capital.amount_fen, capacity.bank_borrowing.amount_fen) == (
        world.capital_fen,
        world.borrowed_fen,
    ), "the book changed once"
    moved = await world.store.postings.count_documents(
        {"reference": operation_id, "kind": PostingKind.PLATFORM_TRANSFER.value}
    )
    assert moved == 1, "the money moved once"
    assert await _balance(world, CAPITAL_ACCOUNT_ID) == world.capital_fen + world.borrowed_fen
    assert await _balance(world, SHAREHOLDERS_ACCOUNT_ID) == -world.capital_fen
    assert await world.audit() == []


@pytest.mark.parametrize("point", FORWARD_POINTS)
async def test_capital_paid_in_killed_at_any_step_completes_after_restart(
    world: World, saga_log: SagaLog, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    operation_id = await _fund_and_die(
        world, crashing, "/v1/admin/loans/funding/capital", CAPITAL_FEN
    )
    left = await saga_log.get(operation_id)
    assert left is not None
    assert (left.state, left.statuses) == (SagaState.RUNNING, FORWARD_POINTS[point])

    assert await _recovered(world, saga_log, operation_id) == "completed"
    world.capital_fen += CAPITAL_FEN
    await _check(world, operation_id)


@pytest.mark.parametrize("step", STEPS)
async def test_bank_borrowing_killed_mid_step_completes_after_restart(
    world: World, saga_log: SagaLog, step: str
) -> None:
    point = str(Failpoint(SAGA.name, step, Phase.CALLED))
    crashing = await world.gateway(failpoint=point).start(world.session)
    operation_id = await _fund_and_die(
        world, crashing, "/v1/admin/loans/funding/borrowings", BORROWED_FEN
    )
    assert await _recovered(world, saga_log, operation_id) == "completed"
    world.borrowed_fen += BORROWED_FEN
    await _check(world, operation_id)
    assert await _balance(world, BANK_LENDER_ACCOUNT_ID) == -world.borrowed_fen


async def test_a_book_changed_without_its_money_is_a_breach(world: World) -> None:
    await world.lending.pay_in_capital(
        mpb.PayInCapitalRequest(
            idempotency_key=new_key(), amount=money_pb2.Money(amount_fen=1, currency="CNY")
        )
    )
    breaches = await world.audit()
    assert any(breach.startswith(f"{CAPITAL_ACCOUNT_ID}: ledger balance") for breach in breaches)
    assert any(breach.startswith(f"{SHAREHOLDERS_ACCOUNT_ID}:") for breach in breaches)
