"""chassis.metrics against real servers: the RPC series, and events counted once per commit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import wrappers_pb2

from chassis.errors import FailedPrecondition
from chassis.grpc_server import GrpcService
from chassis.metrics import REGISTRY, count_committed
from chassis.mongo import MongoClient, Session, create_client, run_in_transaction
from chassis.outbox import append_event
from colony.payment.v1 import payment_pb2, payment_pb2_grpc

GET_ACCOUNT = "colony.payment.v1.PaymentService/GetAccount"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_every_rpc_is_counted_by_method_and_final_status_and_timed(
    payment_service: GrpcService,
) -> None:
    refused_before = sample("colony_rpc_server_requests_total", rpc=GET_ACCOUNT, code="NOT_FOUND")
    timed_before = sample("colony_rpc_server_duration_seconds_count", rpc=GET_ACCOUNT)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{payment_service.port}") as channel:
        stub = payment_pb2_grpc.PaymentServiceStub(channel)
        for _ in range(2):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetAccount(payment_pb2.GetAccountRequest(account_id="nobody-here"))
            assert refused.value.code() is grpc.StatusCode.NOT_FOUND
    refused_after = sample("colony_rpc_server_requests_total", rpc=GET_ACCOUNT, code="NOT_FOUND")
    assert refused_after == refused_before + 2
    assert sample("colony_rpc_server_duration_seconds_count", rpc=GET_ACCOUNT) == timed_before + 2
    assert sample("colony_rpc_server_requests_total", rpc=GET_ACCOUNT, code="OK") == 0


@pytest.fixture
async def fresh_client(mongo_url: str) -> AsyncIterator[MongoClient]:
    # Created after chassis.metrics registered its command listener (clients made before
    # are not monitored).
    client = create_client(mongo_url, app_name="colony-metrics-test")
    try:
        yield client
    finally:
        await client.close()


async def test_an_event_is_counted_once_when_its_transaction_commits_and_never_if_it_aborts(
    fresh_client: MongoClient, database_name: str
) -> None:
    event_type = f"test.thing_{uuid.uuid4().hex[:8]}"
    seen: list[str] = []
    count_committed(
        {
            event_type: lambda payload: seen.append(
                wrappers_pb2.StringValue.FromString(payload).value
            )
        }
    )
    database = fresh_client[database_name]
    outbox, things = database["outbox"], database["things"]
    await things.insert_one({"_id": "x", "n": 0})
    now = datetime.now(UTC)

    async def append(session: Session, value: str) -> None:
        await append_event(
            outbox,
            session,
            event_type=event_type,
            aggregate_id="x",
            payload=wrappers_pb2.StringValue(value=value),
            occurred_at=now,
        )

    async def committed(session: Session) -> None:
        await append(session, "committed")
        await append_event(  # another type: not watched
            outbox,
            session,
            event_type="test.other",
            aggregate_id="x",
            payload=wrappers_pb2.StringValue(value="other"),
            occurred_at=now,
        )

    await run_in_transaction(fresh_client, committed)
    assert seen == ["committed"]

    async def refused(session: Session) -> None:
        await append(session, "refused")
        raise FailedPrecondition("changed my mind")

    with pytest.raises(FailedPrecondition):
        await run_in_transaction(fresh_client, refused)
    assert seen == ["committed"]

    attempts: list[int] = []

    async def conflicted_once(session: Session) -> None:
        attempts.append(1)
        await things.find_one({"_id": "x"}, session=session)  # the snapshot starts here
        await append(session, "retried")
        if len(attempts) == 1:
            await things.update_one({"_id": "x"}, {"$inc": {"n": 1}})  # outside: a conflict
        await things.update_one({"_id": "x"}, {"$inc": {"n": 1}}, session=session)

    await run_in_transaction(fresh_client, conflicted_once)
    assert len(attempts) == 2, "the first attempt hit a write conflict and was run again"
    assert seen == ["committed", "retried"]
    assert await outbox.count_documents({"type": event_type}) == 2
