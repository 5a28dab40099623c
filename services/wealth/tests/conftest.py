"""Fixtures of the wealth service's server tests: one service per test module on a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from services.wealth.tests.support import CLOCK_START, RunningWealth, running_wealth


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(CLOCK_START)


@pytest.fixture(scope="module")
async def wealth(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[RunningWealth]:
    """A real wealth service over gRPC on loopback, backed by this module's database."""
    async with running_wealth(mongo_url, mongo_client, f"{database_name}_wealth", clock) as running:
        yield running
