"""The event feed: commit order, resumable positions, nothing lost or repeated across a kill.

The service runs as a real process (``python -m services.payment``) so that it can be
killed with SIGKILL in the middle of a stream, then started again on the same database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from services.payment.tests.support import open_person, top_up
from tests.service_process import ServiceProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def payment_process(mongo_url: str, database_name: str) -> Iterator[ServiceProcess]:
    process = ServiceProcess("payment", mongo_url, f"{database_name}_{uuid.uuid4().hex[:6]}")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def stub_of(
    payment_process: ServiceProcess,
) -> AsyncIterator[payment_pb2_grpc.PaymentServiceStub]:
    async with grpc.aio.insecure_channel(payment_process.address) as channel:
        yield payment_pb2_grpc.PaymentServiceStub(channel)


async def read_until(stub, after: str, count: int, types: tuple[str, ...] = ()) -> list:
    """Follow the feed from a position until count events arrived (bounded by a deadline)."""
    events: list = []
    call = stub.StreamEvents(pb.StreamEventsRequest(after_position=after, follow=True, types=types))
    try:
        async with asyncio.timeout(20):
            async for message in call:
                events.extend(message.events)
                if len(events) >= count:
                    break
    finally:
        call.cancel()
    return events


async def test_feed_survives_a_kill_without_gaps_or_duplicates(payment_process, stub_of) -> None:
    await payment_process.start()
    alice = await open_person(stub_of)  # 1 event: account opened
    for fen in (100, 200, 300):
        await top_up(stub_of, alice.account_id, fen)  # 1 posting event each

    first = await read_until(stub_of, "", 4)
    assert [e.position for e in first] == ["1", "2", "3", "4"]
    assert [e.type for e in first] == ["payment.account.opened"] + ["payment.posting.recorded"] * 3
    posting = pb.Posting()
    assert first[1].payload.Unpack(posting)
    assert posting.entries[1].amount.amount_fen == 100  # commit order: the first top-up first

    # Commit more events and kill the service before (or while) the sequencer positions them.
    await asyncio.gather(*(top_up(stub_of, alice.account_id, fen) for fen in range(1, 21)))
    payment_process.kill()
    await payment_process.start()

    rest = await read_until(stub_of, first[-1].position, 20)
    positions = [int(e.position) for e in first + rest]
    assert positions == list(range(1, 25)), "positions are dense, in order, with no repeats"
    amounts = sorted(
        _posting(e).entries[1].amount.amount_fen for e in rest if e.type.endswith("recorded")
    )
    assert amounts == list(range(1, 21)), "every committed top-up is in the feed exactly once"


async def test_a_consumer_resumes_from_any_saved_position(payment_process, stub_of) -> None:
    await payment_process.start()
    alice = await open_person(stub_of)
    for fen in range(1, 6):
        await top_up(stub_of, alice.account_id, fen)
    everything = await read_until(stub_of, "", 6)
    resumed = await read_until(stub_of, everything[2].position, 3)
    assert [e.event_id for e in resumed] == [e.event_id for e in everything[3:]]


async def test_a_follower_of_some_types_gets_only_those_at_their_feed_positions(
    payment_process, stub_of
) -> None:
    await payment_process.start()
    alice = await open_person(stub_of)  # position 1
    await top_up(stub_of, alice.account_id, 100)  # position 2
    bob = await open_person(stub_of)  # position 3
    await top_up(stub_of, bob.account_id, 200)  # position 4

    opened = await read_until(stub_of, "", 2, types=("payment.account.opened",))
    assert [(e.position, e.type) for e in opened] == [
        ("1", "payment.account.opened"),
        ("3", "payment.account.opened"),
    ]
    # Resuming after the first: the posting in between is skipped, the position kept.
    resumed = await read_until(stub_of, "1", 1, types=("payment.account.opened",))
    assert [e.position for e in resumed] == ["3"]
    everything = await read_until(stub_of, "", 4)
    assert [e.position for e in everything] == ["1", "2", "3", "4"]


async def test_a_bad_position_is_refused(payment_process, stub_of) -> None:
    await payment_process.start()
    call = stub_of.StreamEvents(pb.StreamEventsRequest(after_position="abc"))
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        async for _ in call:
            pass
    assert refusal.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _posting(event) -> pb.Posting:
    posting = pb.Posting()
    assert event.payload.Unpack(posting)
    return posting
