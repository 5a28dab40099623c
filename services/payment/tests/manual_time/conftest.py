"""Fixtures of the payment tests that move time: each module runs its own payment service
on a ManualClock (trade deadlines, auto-confirm, code expiry, password lockout)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from services.payment.store import PaymentStore
from services.payment.tests.support import Stub
from services.payment.tests.trade_support import RunningPayment, manual_clock, running_payment


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return manual_clock()


@pytest.fixture(scope="module")
async def payment(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[RunningPayment]:
    async with running_payment(
        mongo_url, mongo_client, f"{database_name}_payment", clock
    ) as running:
        yield running


@pytest.fixture(scope="module")
def stub(payment: RunningPayment) -> Stub:
    return payment.stub


@pytest.fixture(scope="module")
def store(payment: RunningPayment) -> PaymentStore:
    return payment.store
