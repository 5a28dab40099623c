"""Fixtures of the insurance service's server tests: one service per test module on a manual
clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from services.insurance.tests.support import CLOCK_START, RunningInsurance, running_insurance


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(CLOCK_START)


@pytest.fixture(scope="module")
async def insurance(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[RunningInsurance]:
    """A real insurance service over gRPC on loopback, backed by this module's database."""
    async with running_insurance(
        mongo_url, mongo_client, f"{database_name}_insurance", clock
    ) as running:
        yield running
