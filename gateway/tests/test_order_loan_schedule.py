"""The order-loan job on a schedule (gateway.loans.merchant.schedule), with real payment and
loan services on the module's ManualClock.

A second gateway on the module's database with a short interval runs the job by itself: an
order loan's trade settles and, with nobody calling POST /v1/admin/jobs/order-loans, the
settlement's withholding is relayed to the loan. Two replicas racing for a round run it once;
the next round is due an interval later, on either of them; a failing round lets the round go
at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from chassis.errors import DomainError
from chassis.mongo import MongoClient
from chassis.settings import SERVICE_NAMES
from gateway.clients import PaymentClient, ServiceChannels
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.clients.withholding import WithholdingClient
from gateway.loans.merchant.ledger import MerchantLoanLedger
from gateway.loans.merchant.order_loans import OrderLoanJobs
from gateway.loans.merchant.schedule import ROUND_ID, OrderLoanJobsSchedule
from gateway.settings import GatewaySettings
from gateway.tests.conftest import (
    GatewayFactory,
    User,
    create_api_key,
    gateway_settings,
    top_up,
)
from gateway.tests.saga_support import eventually, new_key
from gateway.tests.test_order_loans import Shop, order_loan
from gateway.tests.wealth_support import completed, fen

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
INTERVAL_SECONDS = 60


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, unreachable_address: str, manual_loan_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return {**addresses, "payment": payment_address, "loan": manual_loan_address}


def jobs_over(channels: ServiceChannels) -> OrderLoanJobs:
    payment = PaymentClient(channels.payment, 5.0)
    return OrderLoanJobs(
        MerchantLendingClient(channels.loan, 5.0),
        WithholdingClient(channels.payment, 5.0),
        payment,
        MerchantLoanLedger(payment),
    )


async def lend_against_one_trade(
    gateway: Client, operator: User, new_user: NewUser, new_merchant: NewUser
) -> tuple[Shop, str, str]:
    """A merchant borrows 80 yuan against a 100-yuan trade in escrow: the shop, the trade,
    the loan."""
    funded = await gateway.post(
        "/v1/admin/loans/funding/capital",
        json={"amount_fen": 1_000_000 * YUAN},
        headers=operator.keyed(new_key()),
    )
    assert funded.status == 201, await funded.text()
    merchant, buyer = await new_merchant(), await new_user()
    await top_up(gateway, buyer, 100 * YUAN, new_key())
    shop = Shop(gateway, merchant, buyer, await create_api_key(gateway, merchant))
    trade_id = await shop.paid_trade(100 * YUAN)
    lent = await completed(
        await gateway.post(
            "/v1/merchant/loans/order-loans",
            json={"amount_fen": 80 * YUAN},
            headers=merchant.keyed(new_key()),
        )
    )
    return shop, trade_id, str(lent["loan_id"])


async def test_a_gateway_with_an_interval_relays_a_settlement_by_itself(
    gateway: Client,
    start_gateway: GatewayFactory,
    channels: ServiceChannels,
    clock: ManualClock,
    *,
    new_user: NewUser,
    new_merchant: NewUser,
    operator: User,
    database_name: str,
    service_addresses: dict[str, str],
    mongo_client: MongoClient,
) -> None:
    shop, trade_id, loan_id = await lend_against_one_trade(
        gateway, operator, new_user, new_merchant
    )
    scheduled: GatewaySettings = gateway_settings(
        database_name, service_addresses, COLONY_ORDER_LOAN_JOBS_INTERVAL_SECONDS="0.05"
    )
    runs = mongo_client[f"{database_name}_gateway"]["order_loan_job_runs"]
    await start_gateway(scheduled, channels)  # its first round runs at once: nothing settled
    first = await eventually(lambda: runs.find_one({"_id": ROUND_ID, "rounds": 1}), 10, "round")
    assert first["last_run"]["collections"] == 0

    # The 100-yuan trade settles (99.40 net): the loan is repaid inside the settlement, and
    # the next round -- due once the interval has passed -- relays it with nobody asking.
    await shop.settle(trade_id)
    assert fen((await order_loan(gateway, shop.merchant, loan_id))["collected"]) == 0
    clock.advance(timedelta(seconds=1))

    async def repaid() -> dict[str, Any] | None:
        loan = await order_loan(gateway, shop.merchant, loan_id)
        return loan if loan["state"] == "settled" else None

    loan = await eventually(repaid, 10, "the loan repaid by the scheduled job")
    assert fen(loan["principal"]) == 0 and fen(loan["collected"]) >= 80 * YUAN
    record = await eventually(
        lambda: runs.find_one({"_id": ROUND_ID, "last_run.collections": 1}), 10, "recorded"
    )
    assert record["rounds"] >= 2 and record["last_run"]["collected_fen"] == 80 * YUAN + 120
    # The operator route still runs a round by hand.
    by_hand = await gateway.post("/v1/admin/jobs/order-loans", headers=operator.headers)
    assert by_hand.status == 200, await by_hand.text()


async def test_two_replicas_run_one_round_and_the_next_is_due_an_interval_later(
    channels: ServiceChannels,
    clock: ManualClock,
    *,
    mongo_client: MongoClient,
    database_name: str,
) -> None:
    runs = mongo_client[f"{database_name}_gateway"]["order_loan_job_runs_raced"]
    first, second = (
        OrderLoanJobsSchedule(
            jobs_over(channels),
            runs,
            clock,
            instance_id=name,
            interval_seconds=INTERVAL_SECONDS,
        )
        for name in ("a", "b")
    )
    raced = await asyncio.gather(first.run_round(), second.run_round())
    assert sorted(run is None for run in raced) == [False, True]
    # Not due again on either replica until the interval has passed.
    assert await first.run_round() is None and await second.run_round() is None
    clock.advance(timedelta(seconds=INTERVAL_SECONDS - 1))
    assert await second.run_round() is None
    clock.advance(timedelta(seconds=1))
    raced = await asyncio.gather(second.run_round(), first.run_round())
    assert sorted(run is None for run in raced) == [False, True]
    record = await runs.find_one({"_id": ROUND_ID})
    assert record is not None and record["rounds"] == 2


async def test_a_failed_round_is_let_go_at_once(
    channels: ServiceChannels,
    clock: ManualClock,
    unreachable_address: str,
    *,
    mongo_client: MongoClient,
    database_name: str,
) -> None:
    runs = mongo_client[f"{database_name}_gateway"]["order_loan_job_runs_failing"]
    away = ServiceChannels.open({name: unreachable_address for name in SERVICE_NAMES})
    try:
        failing = OrderLoanJobsSchedule(
            jobs_over(away), runs, clock, instance_id="failing", interval_seconds=INTERVAL_SECONDS
        )
        with pytest.raises(DomainError) as failure:
            await failing.run_round()
        assert failure.value.reason == "UNAVAILABLE"
    finally:
        await away.close()
    record = await runs.find_one({"_id": ROUND_ID})
    assert record is not None and "completed_at" not in record
    # Let go, and still due: a healthy replica runs the round at once.
    healthy = OrderLoanJobsSchedule(
        jobs_over(channels), runs, clock, instance_id="healthy", interval_seconds=INTERVAL_SECONDS
    )
    assert await healthy.run_round() is not None
