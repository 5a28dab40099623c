"""The wealth business-date job on a schedule (gateway.wealth.schedule).

Pure: which dates a round runs. With real payment and wealth services on the module's
ManualClock: the first round runs today's date; a round on the same date runs nothing; after
the clock jumps three days the next round catches up the three dates in order (income of
each date before credited as shares, its cash brought into the omnibus); two replicas
racing for a date run it once; every round leaves the books settled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, timedelta
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock, business_date_of
from chassis.errors import DomainError
from chassis.mongo import MongoClient
from gateway.clients import ServiceChannels, WealthClient
from gateway.tests.conftest import User, problem_of
from gateway.tests.saga_support import funded_payer
from gateway.tests.wealth_support import (
    Books,
    completed,
    fen,
    relog,
    subscribe_yuebao,
    yuebao_holding,
)
from gateway.wealth.jobs import WealthJobs
from gateway.wealth.ledger import WealthLedger
from gateway.wealth.schedule import CATCH_UP_DAYS, WealthJobsSchedule, dates_due

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
D = date(2026, 3, 10)


def test_the_first_round_runs_today_only() -> None:
    assert dates_due(D, None) == [D]


def test_a_completed_today_runs_nothing() -> None:
    assert dates_due(D, D) == []
    assert dates_due(D, D + timedelta(days=1)) == []


def test_after_downtime_the_missed_dates_run_oldest_first() -> None:
    assert dates_due(D, D - timedelta(days=3)) == [D - timedelta(days=2), D - timedelta(days=1), D]


def test_the_catch_up_is_bounded_to_the_most_recent_dates() -> None:
    due = dates_due(D, D - timedelta(days=400))
    assert len(due) == CATCH_UP_DAYS
    assert due[-1] == D
    assert due == sorted(due)


@pytest.fixture(scope="module")
def service_addresses(wealth_service_addresses: dict[str, str]) -> dict[str, str]:
    return wealth_service_addresses


@pytest.fixture(scope="module")
def books(channels: ServiceChannels, mongo_client: MongoClient, database_name: str) -> Books:
    return Books.of(channels, mongo_client, database_name)


def schedule_for(
    books: Books, mongo_client: MongoClient, database_name: str, clock: ManualClock, name: str
) -> WealthJobsSchedule:
    """A replica's schedule over the module's services (what create_app installs)."""
    return WealthJobsSchedule(
        WealthJobs(books.wealth, WealthLedger(books.payment)),
        mongo_client[f"{database_name}_gateway"]["wealth_job_runs"],
        clock,
        instance_id=name,
        interval_seconds=60,
    )


async def test_the_schedule_runs_each_business_date_once_and_catches_up(
    gateway: Client,
    clock: ManualClock,
    new_user: NewUser,
    books: Books,
    *,
    mongo_client: MongoClient,
    database_name: str,
) -> None:
    investor = await funded_payer(gateway, new_user, 20_000 * YUAN)
    await completed(await subscribe_yuebao(gateway, investor, 20_000 * YUAN))
    first, second = (
        schedule_for(books, mongo_client, database_name, clock, name) for name in ("a", "b")
    )
    today = business_date_of(clock.now())

    reports = await first.run_due()
    assert [report.business_date for report in reports] == [today]
    assert await first.run_due() == [] and await second.run_due() == []
    await books.check(settled=True)

    # Three days without a round: the next one runs the three dates, oldest first, each
    # paying the income of the day before it.
    clock.advance(timedelta(days=3))
    reports = await second.run_due()
    assert [report.business_date for report in reports] == [
        today + timedelta(days=offset) for offset in (1, 2, 3)
    ]
    assert all(report.income is not None for report in reports)
    assert all(report.payouts_failed == 0 for report in reports)
    await books.check(settled=True)
    await relog(gateway, investor)
    holding = await yuebao_holding(gateway, investor)
    assert fen(holding["cumulative_income"]) > 0
    assert fen(holding["shares"]) == 20_000 * YUAN + fen(holding["cumulative_income"])

    # Two replicas racing for the next date: it runs once.
    clock.advance(timedelta(days=1))
    raced = await asyncio.gather(first.run_due(), second.run_due())
    assert sorted(len(reports) for reports in raced) == [0, 1]
    runs = mongo_client[f"{database_name}_gateway"]["wealth_job_runs"]
    record = await runs.find_one({"_id": (today + timedelta(days=4)).isoformat()})
    assert record is not None and record["completed_at"] is not None
    await books.check(settled=True)


async def test_a_failed_run_lets_its_date_go_at_once_for_the_next_round(
    clock: ManualClock,
    books: Books,
    unreachable_address: str,
    *,
    mongo_client: MongoClient,
    database_name: str,
) -> None:
    runs = mongo_client[f"{database_name}_gateway"]["wealth_job_runs_failing"]
    channel = grpc.aio.insecure_channel(unreachable_address)
    try:
        away = WealthClient(channel, 1.0)
        failing = WealthJobsSchedule(
            WealthJobs(away, WealthLedger(books.payment)),
            runs,
            clock,
            instance_id="failing",
            interval_seconds=60,
        )
        with pytest.raises(DomainError) as failure:
            await failing.run_due()
        assert failure.value.reason == "UNAVAILABLE"
    finally:
        await channel.close()
    today = business_date_of(clock.now())
    record = await runs.find_one({"_id": today.isoformat()})
    assert record is not None and record["completed_at"] is None
    assert record["lease_until"].replace(tzinfo=UTC) <= clock.now()  # let go, not held

    healthy = WealthJobsSchedule(
        WealthJobs(books.wealth, WealthLedger(books.payment)),
        runs,
        clock,
        instance_id="healthy",
        interval_seconds=60,
    )
    assert [report.business_date for report in await healthy.run_due()] == [today]
    await books.check(settled=True)


async def test_an_operator_cannot_run_a_business_date_that_has_not_begun(
    gateway: Client, clock: ManualClock, operator: User
) -> None:
    await relog(gateway, operator)
    tomorrow = business_date_of(clock.now()) + timedelta(days=1)
    response = await gateway.post(
        "/v1/admin/jobs/wealth",
        json={"business_date": tomorrow.isoformat()},
        headers=operator.headers,
    )
    problem = await problem_of(response, 400, "INVALID_BUSINESS_DATE")
    assert problem["metadata"]["business_date"] == tomorrow.isoformat()
