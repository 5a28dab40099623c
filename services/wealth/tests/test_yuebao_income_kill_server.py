"""The daily income survives SIGKILL of the whole service halfway through a date.

The service runs as a real process (``python -m services.wealth``, the system clock), is
killed while it pages through the holders, then started again on the same database: the
re-run pays the rest, and every holder has been paid exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from pymongo.read_concern import ReadConcern

from chassis.clock import business_date_of
from colony.wealth.v1 import wealth_pb2 as pb
from colony.wealth.v1 import wealth_pb2_grpc
from services.wealth.store import WealthStore
from services.wealth.tests.support import subscribe_yuebao
from services.wealth.yuebao import distribute_daily_income
from tests.service_process import ServiceProcess

pytestmark = pytest.mark.slow
DEADLINE_SECONDS = 30.0
HOLDERS = 120
ORPHAN_TRANSACTION_DEADLINE_SECONDS = 90.0


@pytest.fixture
def wealth_process(mongo_url: str, database_name: str) -> Iterator[ServiceProcess]:
    process = ServiceProcess("wealth", mongo_url, f"{database_name}_{uuid.uuid4().hex[:6]}")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def process_stub(
    wealth_process: ServiceProcess,
) -> AsyncIterator[wealth_pb2_grpc.WealthServiceStub]:
    async with grpc.aio.insecure_channel(wealth_process.address) as channel:
        yield wealth_pb2_grpc.WealthServiceStub(channel)


async def abort_orphaned_transactions(client) -> None:
    """End the transactions of sessions left idle by a killed client (an operator's step).

    Without it mongod aborts them only after transactionLifetimeLimitSeconds; the re-run
    below would then retry on ABORTED until that happens, which is correct but slow.
    """
    admin = client.get_database("admin", read_concern=ReadConcern("local"))
    cursor = await admin.aggregate(
        [
            {"$currentOp": {"idleSessions": True, "allUsers": True}},
            {"$match": {"type": "idleSession", "transaction": {"$exists": True}}},
        ]
    )
    sessions = [operation["lsid"] async for operation in cursor]
    if sessions:
        await client.admin.command("killSessions", sessions)


async def run_until_not_aborted(
    stub, request: pb.RunDailyIncomeRequest
) -> pb.RunDailyIncomeResponse:
    """Retry while the dead process's open transaction still holds its page's documents.

    A transaction whose client was killed is aborted by mongod only when it outlives
    transactionLifetimeLimitSeconds (30 s for the embedded mongod); until then every write
    to its documents conflicts, and the service answers ABORTED: retry. The gateway's job
    (and the periodic job in the service) retries the same way.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ORPHAN_TRANSACTION_DEADLINE_SECONDS
    while True:
        try:
            return await stub.RunDailyIncome(request)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ABORTED or loop.time() > deadline:
                raise
        await asyncio.sleep(0.5)


async def test_income_killed_halfway_pays_every_holder_exactly_once(
    wealth_process, process_stub, mongo_client
) -> None:
    store = WealthStore(mongo_client[wealth_process.environment["COLONY_WEALTH_DB"]])
    await wealth_process.start()
    holdings = {f"2088400{n:05d}": 50_000 + 977 * n for n in range(HOLDERS)}
    for batch in range(0, HOLDERS, 20):
        chunk = list(holdings.items())[batch : batch + 20]
        await asyncio.gather(*(subscribe_yuebao(process_stub, i, fen) for i, fen in chunk))
    day = business_date_of(datetime.now(UTC)) - timedelta(days=1)
    # The process reads the real clock, so these subscriptions were confirmed today and earn
    # nothing for yesterday; date them back a day, as if confirmed before yesterday began.
    await store.yuebao_accounts.update_many(
        {}, {"$set": {"moved_on": (day - timedelta(days=1)).isoformat()}}
    )

    async def paid() -> Counter[str]:
        cursor = store.yuebao_income.find({"business_date": day.isoformat()})
        return Counter([document["investor_id"] async for document in cursor])

    call = process_stub.RunDailyIncome(
        pb.RunDailyIncomeRequest(business_date=day.isoformat(), page_size=1)
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while sum((await paid()).values()) < 5:
        assert loop.time() < deadline, "the run never got going"
        await asyncio.sleep(0.01)
    wealth_process.kill()
    call.cancel()
    halfway = await paid()
    assert 5 <= sum(halfway.values()) < HOLDERS
    assert set(halfway.values()) == {1}
    run = await store.get_income_run(day)
    assert run is not None and not run.completed
    assert run.holders_paid == sum(halfway.values()), "the checkpoint commits with its page"

    await abort_orphaned_transactions(mongo_client)
    await wealth_process.start()
    finished = await run_until_not_aborted(
        process_stub, pb.RunDailyIncomeRequest(business_date=day.isoformat())
    )
    assert finished.run.state == pb.INCOME_RUN_STATE_COMPLETED
    assert await paid() == Counter(dict.fromkeys(holdings, 1))
    income = distribute_daily_income(
        holdings, Decimal(finished.run.income_per_10k_shares), Decimal(0)
    )
    assert finished.run.credited.amount_fen == income.paid_fen
    for investor, fen in holdings.items():
        account = await store.get_yuebao_account(investor)
        assert account.shares_fen == fen + income.income_fen_by_holder[investor]
    audit = await process_stub.GetWealthAudit(pb.GetWealthAuditRequest())
    assert list(audit.breaches) == []
