"""Fixtures of the loan service's server tests: one service per test module on a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from services.loan.tests.support import CLOCK_START, RunningLoan, running_loan


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(CLOCK_START)


@pytest.fixture(scope="module")
async def loan(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[RunningLoan]:
    """A real loan service over gRPC on loopback, backed by this module's database."""
    async with running_loan(mongo_url, mongo_client, f"{database_name}_loan", clock) as running:
        yield running
