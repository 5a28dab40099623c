"""Crash tests of an investor buying ABS units (the abs_units saga): SIGKILL a real gateway
inside it, as test_loan_funding_crash does for the loan business's funding.

Real payment and loan services. The operator creates a pool; an investor with 2,000 yuan
buys 100 yuan of units per case through a gateway that kills itself once the saga was
written, and before every step's call, after it answered (unrecorded) and after it was
recorded. A restarted gateway's recovery loop must finish it: completed, the investor's
money moved once into platform:loan:abs:<pool>, the units recorded once (the pool's and the
investor's), and `colony audit` clean. Last, units recorded without their money (a direct
RecordAbsUnitsSold, bypassing the saga) are a breach the audit names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chassis.mongo import MongoClient
from chassis.settings import SERVICE_NAMES
from colony.common.v1 import money_pb2
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.payment.v1 import payment_pb2 as pb
from conftest import service_settings
from gateway.app import SAGAS_COLLECTION
from gateway.clients import PaymentClient, ServiceChannels
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.loans.merchant.abs_sagas import pool_account_id, units_saga
from gateway.sagas.definition import SagaState, derive_saga_id
from gateway.sagas.log import SagaLog
from gateway.tests.abs_crash_support import forward_points, recovered
from gateway.tests.conftest import personal_registration
from gateway.tests.saga_support import (
    REQUEST_TIMEOUT,
    GatewayProcess,
    Party,
    gateway_environment,
    new_key,
    register,
)
from infra.cli import audit

pytestmark = pytest.mark.slow

POOL = "abs-crash"
FUNDED_FEN = 200_000
UNITS_FEN = 10_000
FUNDER = "platform:test:abs-crash-funder"
_NOT_CALLED: Any = None
SAGA = units_saga(_NOT_CALLED, _NOT_CALLED)
FORWARD_POINTS = forward_points(SAGA)


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, unreachable_address: str, manual_loan_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return {**addresses, "payment": payment_address, "loan": manual_loan_address}


@dataclass
class World:
    environ: dict[str, str]
    log_dir: Path
    session: aiohttp.ClientSession
    payment: PaymentClient
    lending: MerchantLendingClient
    investor: Party
    mongo_url: str
    database_name: str
    bought_fen: int = 0
    runs: int = 0
    processes: list[GatewayProcess] = field(default_factory=list)

    def gateway(self, failpoint: str | None = None) -> GatewayProcess:
        self.runs += 1
        environ = dict(self.environ)
        if failpoint is not None:
            environ["COLONY_SAGA_FAILPOINT"] = failpoint
        process = GatewayProcess(environ, self.log_dir / f"gateway-{self.runs:02d}.log")
        self.processes.append(process)
        return process

    async def audit(self) -> list[str]:
        return await audit(
            service_settings("payment", self.mongo_url, f"{self.database_name}_payment"),
            loan_settings=service_settings("loan", self.mongo_url, f"{self.database_name}_loan"),
        )


def _money(fen: int) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=fen, currency="CNY")


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    channels = ServiceChannels.open(service_addresses)
    payment = PaymentClient(channels.payment, 5.0)
    lending = MerchantLendingClient(channels.loan, 5.0)
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        environ = gateway_environment(mongo_url, database_name, service_addresses)
        log_dir = tmp_path_factory.mktemp("gateway-logs")
        setup = GatewayProcess(environ, log_dir / "gateway-setup.log")
        await setup.start(session)
        try:
            investor = await register(session, setup.url, personal_registration())
        finally:
            await setup.stop()
        # The investor's wallet money, from an outside party (no card needed here).
        await payment.ensure_platform_account(
            pb.EnsurePlatformAccountRequest(
                account_id=FUNDER, display_name="ABS crash test funder", external_party=True
            )
        )
        await payment.platform_transfer(
            pb.PlatformTransferRequest(
                idempotency_key=new_key(),
                from_account_id=FUNDER,
                to_account_id=investor.account_id,
                amount=_money(FUNDED_FEN),
                memo="test funds",
                reference="abs-crash",
            )
        )
        await lending.create_abs_pool(
            mpb.CreateAbsPoolRequest(
                idempotency_key=new_key(),
                pool_id=POOL,
                coupon_rate="0.05",
                revolving_until="2099-12-31",
                eligibility=mpb.AbsEligibility(
                    require_current=True, min_remaining_days=30, max_borrower_share="0.5"
                ),
            )
        )
        world = World(
            environ=environ,
            log_dir=log_dir,
            session=session,
            payment=payment,
            lending=lending,
            investor=investor,
            mongo_url=mongo_url,
            database_name=database_name,
        )
        try:
            yield world
        finally:
            for process in world.processes:
                await process.stop()
            await channels.close()


@pytest.fixture(scope="module")
def saga_log(mongo_client: MongoClient, database_name: str) -> SagaLog:
    return SagaLog(mongo_client[f"{database_name}_gateway"][SAGAS_COLLECTION])


async def _buy_and_die(world: World, gateway: GatewayProcess) -> str:
    key = new_key()
    with pytest.raises(aiohttp.ClientError):
        async with world.session.post(
            f"{gateway.url}/v1/abs-pools/{POOL}/units",
            json={"amount_fen": UNITS_FEN},
            headers=world.investor.headers(key),
        ) as response:
            raise AssertionError(f"answered {response.status}: {await response.text()}")
    await gateway.killed()
    return derive_saga_id(world.investor.user_id, key)


async def _recovered(world: World, saga_log: SagaLog, operation_id: str) -> str:
    return await recovered(world.gateway(), world.session, saga_log, operation_id)


async def _balance(world: World, account_id: str) -> int:
    return int((await world.payment.get_account(account_id)).balance.amount_fen)


async def _check(world: World) -> None:
    pool = (await world.lending.get_abs_pool(mpb.GetAbsPoolRequest(pool_id=POOL))).pool
    assert pool.units.amount_fen == pool.cash.amount_fen == world.bought_fen, "recorded once"
    (holding,) = pool.holdings
    assert (holding.investor_id, holding.units.amount_fen) == (
        world.investor.account_id,
        world.bought_fen,
    )
    assert await _balance(world, pool_account_id(POOL)) == world.bought_fen, "moved once"
    assert await _balance(world, world.investor.account_id) == FUNDED_FEN - world.bought_fen
    account = await world.payment.get_account(world.investor.account_id)
    assert account.available.amount_fen == account.balance.amount_fen, "no hold left open"
    assert await world.audit() == []


@pytest.mark.parametrize("point", FORWARD_POINTS)
async def test_units_bought_killed_at_any_step_complete_after_restart(
    world: World, saga_log: SagaLog, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    operation_id = await _buy_and_die(world, crashing)
    left = await saga_log.get(operation_id)
    assert left is not None
    assert (left.state, left.statuses) == (SagaState.RUNNING, FORWARD_POINTS[point])

    assert await _recovered(world, saga_log, operation_id) == "completed"
    world.bought_fen += UNITS_FEN
    await _check(world)


async def test_units_recorded_without_their_money_are_a_breach(world: World) -> None:
    await world.lending.record_abs_units_sold(
        mpb.RecordAbsUnitsSoldRequest(
            idempotency_key=new_key(),
            pool_id=POOL,
            amount=_money(1),
            payment_posting_id="no-such-posting",
            investor_id=world.investor.account_id,
        )
    )
    breaches = await world.audit()
    assert any(breach.startswith(f"{pool_account_id(POOL)}: ledger balance") for breach in breaches)
