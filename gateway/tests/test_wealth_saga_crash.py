"""Crash tests of the Yu'e Bao subscription: SIGKILL a real gateway at its key points.

The same method as test_saga_crash (a ``python -m gateway`` process with a test-only
failpoint kills itself at an exact point, a restart's recovery loop must finish the saga
alone), over the real payment and wealth services. The points: after the hold, after
IssueShares answered (unrecorded) and after it was recorded, before the capture, after the
capture answered (unrecorded), after ConfirmPurchase answered (unrecorded); and, for a
subscription whose capture is refused (the omnibus account frozen while the gateway was
down), in the middle of undoing IssueShares. After every case the operation is completed or
compensated, the investor's money is where the outcome says, nothing is left held, the
payment ledger's audit is clean and the omnibus balance equals the shares outstanding.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from chassis.errors import DomainError
from chassis.mongo import MongoClient
from chassis.settings import SERVICE_NAMES
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, ServiceChannels, WealthClient
from gateway.sagas.definition import derive_saga_id, step_key
from gateway.tests.conftest import CARD, personal_registration
from gateway.tests.saga_support import (
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
from gateway.tests.wealth_support import Books
from gateway.wealth.ledger import YUEBAO_OMNIBUS_ACCOUNT_ID
from gateway.wealth.sagas.purchase import CAPTURE_TO_OMNIBUS, CONFIRM_PURCHASE, RESERVE_FUNDS
from gateway.wealth.sagas.yuebao_subscription import ISSUE_SHARES, YUEBAO_SUBSCRIPTION
from services.payment.ledger import AccountStatus
from services.payment.store import PaymentStore

pytestmark = pytest.mark.slow

TOP_UP_FEN = 100_000
AMOUNT_FEN = 1_000
FINISHED_WITHIN_SECONDS = 20.0
FINAL_STATES = ("completed", "compensated")


def failpoint(step: str, phase: str) -> str:
    return f"kill-after:{YUEBAO_SUBSCRIPTION}:{step}:{phase}"


FORWARD_POINTS = [
    failpoint(RESERVE_FUNDS, "done"),
    failpoint(ISSUE_SHARES, "called"),
    failpoint(ISSUE_SHARES, "done"),
    failpoint(CAPTURE_TO_OMNIBUS, "started"),
    failpoint(CAPTURE_TO_OMNIBUS, "called"),
    failpoint(CONFIRM_PURCHASE, "called"),
]


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, wealth_address: str, unreachable_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    addresses |= {"payment": payment_address, "wealth": wealth_address}
    return addresses


@dataclass(kw_only=True)
class CrashWorld(GatewayRuns):
    books: Books
    investor: Party
    # What the investor must have after the cases run so far.
    balance_fen: int = TOP_UP_FEN
    shares_fen: int = 0


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[CrashWorld]:
    channels = ServiceChannels.open(service_addresses)
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        environ = gateway_environment(mongo_url, database_name, service_addresses)
        log_dir = tmp_path_factory.mktemp("gateway-logs")
        async with setup_gateway(session, environ, log_dir) as setup:
            investor = await register(session, setup.url, personal_registration())
            async with session.post(
                f"{setup.url}/v1/topups",
                json={"amount_fen": TOP_UP_FEN, "bank_card_number": CARD},
                headers=investor.headers(new_key()),
            ) as response:
                assert response.status == 201, await response.text()
        world = CrashWorld(
            environ=environ,
            log_dir=log_dir,
            session=session,
            books=Books(
                payment=PaymentClient(channels.payment, 5.0),
                wealth=WealthClient(channels.wealth, 5.0),
                store=PaymentStore(mongo_client[f"{database_name}_payment"]),
            ),
            investor=investor,
        )
        try:
            yield world
        finally:
            await world.close(channels)


async def _subscribe_and_die(world: CrashWorld, gateway: GatewayProcess, key: str) -> str:
    with pytest.raises(aiohttp.ClientError):
        async with world.session.post(
            f"{gateway.url}/v1/wealth/yuebao/subscriptions",
            json={"amount_fen": AMOUNT_FEN},
            headers=world.investor.headers(key),
        ) as response:
            raise AssertionError(f"answered {response.status}: {await response.text()}")
    await gateway.killed()
    return derive_saga_id(world.investor.user_id, key)


async def _finished(world: CrashWorld, gateway: GatewayProcess, operation_id: str) -> str:
    async def final_state() -> str | None:
        async with world.session.get(
            f"{gateway.url}/v1/operations/{operation_id}", headers=world.investor.headers()
        ) as response:
            assert response.status == 200, await response.text()
            operation: dict[str, Any] = await response.json()
        assert operation["state"] != "parked", operation
        return str(operation["state"]) if operation["state"] in FINAL_STATES else None

    return await eventually(
        final_state, FINISHED_WITHIN_SECONDS, f"operation {operation_id} finishes"
    )


async def _check(world: CrashWorld, operation_id: str) -> None:
    """Money conserved, nothing held, the books balanced, the omnibus = the shares."""
    books = world.books
    account = await books.payment.get_account(world.investor.account_id)
    assert account.balance.amount_fen == world.balance_fen
    assert account.available.amount_fen == world.balance_fen, "money left held"
    holding = await books.wealth.get_yuebao_account(
        wpb.GetYuebaoAccountRequest(investor_id=world.investor.account_id)
    )
    assert holding.account.shares.amount_fen == world.shares_fen
    assert holding.account.pending_subscriptions.amount_fen == 0
    omnibus = await books.payment.get_account(YUEBAO_OMNIBUS_ACCOUNT_ID)
    # Only this investor holds Yu'e Bao in this module's databases: every fen is accounted.
    assert omnibus.balance.amount_fen == world.shares_fen
    assert account.balance.amount_fen + omnibus.balance.amount_fen == TOP_UP_FEN
    try:
        hold = await books.payment.get_hold(step_key(operation_id, RESERVE_FUNDS))
        assert hold.state != pb.HOLD_STATE_HELD
    except DomainError as error:
        assert error.reason == "NOT_FOUND", error
    await books.check(settled=True)


@pytest.mark.parametrize("point", FORWARD_POINTS)
async def test_a_subscription_killed_at_a_key_point_completes_after_restart(
    world: CrashWorld, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    operation_id = await _subscribe_and_die(world, crashing, new_key())
    restarted = await world.gateway().start(world.session)
    try:
        state = await _finished(world, restarted, operation_id)
    finally:
        await restarted.stop()
    assert state == "completed"
    world.balance_fen -= AMOUNT_FEN
    world.shares_fen += AMOUNT_FEN
    await _check(world, operation_id)


async def _set_omnibus_status(world: CrashWorld, status: AccountStatus) -> None:
    """Freeze or thaw the omnibus account (no RPC does this: straight to its ledger)."""
    await world.books.store.accounts.update_one(
        {"_id": YUEBAO_OMNIBUS_ACCOUNT_ID}, {"$set": {"status": status.value}}
    )


async def test_a_subscription_killed_while_undoing_its_shares_is_compensated_after_restart(
    world: CrashWorld,
) -> None:
    crashing = await world.gateway(failpoint(ISSUE_SHARES, "done")).start(world.session)
    operation_id = await _subscribe_and_die(world, crashing, new_key())
    # While no gateway runs the omnibus account is frozen: the capture will be refused, so
    # the saga must cancel the purchase and void the hold; it dies in the middle of that.
    await _set_omnibus_status(world, AccountStatus.FROZEN)
    try:
        compensating = await world.gateway(
            failpoint=failpoint(ISSUE_SHARES, "compensation-called")
        ).spawn()
        await compensating.killed()
        restarted = await world.gateway().start(world.session)
        try:
            state = await _finished(world, restarted, operation_id)
        finally:
            await restarted.stop()
    finally:
        await _set_omnibus_status(world, AccountStatus.ACTIVE)
    assert state == "compensated"
    purchase = await world.books.wealth.get_purchase(
        wpb.GetPurchaseRequest(purchase_id=operation_id)
    )
    assert purchase.purchase.state == wpb.PURCHASE_STATE_CANCELLED
    hold = await world.books.payment.get_hold(step_key(operation_id, RESERVE_FUNDS))
    assert hold.state == pb.HOLD_STATE_VOIDED
    await _check(world, operation_id)
