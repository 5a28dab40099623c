"""A credit blacklist entry reaches payment risk control and denies a large transfer.

Two real services follow each other's feeds: credit follows payment (to learn people and the
hash of their resident id), payment follows credit (to learn who is a dishonest debtor,
失信被执行人). An operator lists a resident id in the credit service; within seconds the
person's transfers above 500 yuan are DENIED by the rule "dishonest-debtor", smaller ones go
through, and removing the listing lifts the rule.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest

from chassis.clock import Clock, SystemClock
from chassis.feed_follower import UpstreamFeed
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from chassis.runtime import BuildService
from chassis.settings import ServiceSettings
from colony.credit.v1 import credit_pb2 as cpb
from colony.credit.v1 import credit_pb2_grpc
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from conftest import service_settings
from infra.embedded_mongo import free_port
from services.credit.server import build_credit_service
from services.payment.server import build_payment_service
from services.payment.tests.support import cny, new_key, new_phone, new_resident_id, top_up

YUAN = 100
DEADLINE_SECONDS = 20.0
OPERATOR = cpb.Caller(kind=cpb.CALLER_KIND_OPERATOR, id="operator-1")
COURT = "court:beijing-dongcheng"
# gRPC shares connections to one address across channels: payment's follower tried the
# credit port before credit listened, and a shared connection would still be backing off.
OWN_SUBCHANNELS = [("grpc.use_local_subchannel_pool", 1)]


async def started(
    name: str, build: BuildService, settings: ServiceSettings, client: MongoClient
) -> GrpcService:
    service = await build(settings, client, SystemClock())
    await service.start()
    return service


@pytest.fixture(scope="module")
async def stubs(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> AsyncIterator[tuple[payment_pb2_grpc.PaymentServiceStub, credit_pb2_grpc.CreditServiceStub]]:
    payment_port, credit_port = free_port(), free_port()
    payment_settings = dataclasses.replace(
        service_settings("payment", mongo_url, f"{database_name}_payment"), grpc_port=payment_port
    )
    credit_settings = dataclasses.replace(
        service_settings("credit", mongo_url, f"{database_name}_credit"), grpc_port=credit_port
    )

    async def payment_build(s: ServiceSettings, c: MongoClient, clock: Clock) -> GrpcService:
        credit_feed = UpstreamFeed("credit", f"127.0.0.1:{credit_port}")
        return await build_payment_service(s, c, clock, credit_feed=credit_feed)

    async def credit_build(s: ServiceSettings, c: MongoClient, clock: Clock) -> GrpcService:
        payment_feed = UpstreamFeed("payment", f"127.0.0.1:{payment_port}")
        return await build_credit_service(s, c, clock, [payment_feed])

    payment = await started("payment", payment_build, payment_settings, mongo_client)
    credit = await started("credit", credit_build, credit_settings, mongo_client)
    try:
        async with (
            grpc.aio.insecure_channel(
                f"127.0.0.1:{payment_port}", options=OWN_SUBCHANNELS
            ) as payment_channel,
            grpc.aio.insecure_channel(
                f"127.0.0.1:{credit_port}", options=OWN_SUBCHANNELS
            ) as credit_channel,
        ):
            yield (
                payment_pb2_grpc.PaymentServiceStub(payment_channel),
                credit_pb2_grpc.CreditServiceStub(credit_channel),
            )
    finally:
        await credit.stop()
        await payment.stop()


async def transfer(
    stub: payment_pb2_grpc.PaymentServiceStub, from_id: str, to_id: str, fen: int
) -> str:
    """ "OK", or the reason and rule ids of the refusal."""
    try:
        await stub.Transfer(
            pb.TransferRequest(
                idempotency_key=new_key(),
                from_account_id=from_id,
                to_account_id=to_id,
                amount=cny(fen),
            )
        )
    except grpc.aio.AioRpcError as error:
        return str(error.details())
    return "OK"


async def account_of(stub: payment_pb2_grpc.PaymentServiceStub, account_id: str) -> pb.Account:
    return (await stub.GetAccount(pb.GetAccountRequest(account_id=account_id))).account


async def eventually(probe: Callable[[], Awaitable[bool]]) -> None:
    """Poll probe until it holds, within the deadline (the feeds are asynchronous)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while not await probe():
        assert loop.time() < deadline, "the credit blacklist did not reach payment in time"
        await asyncio.sleep(0.05)


async def test_a_listed_debtor_cannot_move_large_sums_until_the_listing_is_removed(
    stubs: tuple[payment_pb2_grpc.PaymentServiceStub, credit_pb2_grpc.CreditServiceStub],
) -> None:
    payment, credit = stubs
    resident_id = new_resident_id()
    debtor = (
        await payment.OpenPersonalAccount(
            pb.OpenPersonalAccountRequest(
                idempotency_key=new_key(),
                owner_ref=uuid.uuid4().hex,
                real_name="李四",
                resident_id=resident_id,
                phone=new_phone(),
            )
        )
    ).account
    friend = (
        await payment.OpenPersonalAccount(
            pb.OpenPersonalAccountRequest(
                idempotency_key=new_key(),
                owner_ref=uuid.uuid4().hex,
                real_name="王五",
                resident_id=new_resident_id(),
                phone=new_phone(),
            )
        )
    ).account
    await top_up(payment, debtor.account_id, 5_000 * YUAN)
    case = f"(2026)京0101执{uuid.uuid4().hex[:6]}号"
    resident_id_hash = hashlib.sha256(resident_id.encode()).hexdigest()

    # Whether credit has learnt of the person from payment's feed yet or not, the listing
    # names them (at once, or when their account-opened event arrives) and travels back to
    # payment on the credit feed.
    await credit.ImportBlacklist(
        cpb.ImportBlacklistRequest(
            idempotency_key=new_key(),
            caller=OPERATOR,
            source=COURT,
            listings=[cpb.BlacklistListing(resident_id_hash=resident_id_hash, case_reference=case)],
        )
    )

    async def large_transfer_denied() -> bool:
        account = (
            await payment.GetAccount(pb.GetAccountRequest(account_id=debtor.account_id))
        ).account
        return account.dishonest_debtor

    await eventually(large_transfer_denied)
    refusal = await transfer(payment, debtor.account_id, friend.account_id, 600 * YUAN)
    assert "refused by risk control" in refusal and "dishonest-debtor" in refusal
    assert await transfer(payment, debtor.account_id, friend.account_id, 100 * YUAN) == "OK"

    await credit.RemoveBlacklistEntries(
        cpb.RemoveBlacklistEntriesRequest(
            idempotency_key=new_key(),
            caller=OPERATOR,
            source=COURT,
            case_references=[case],
            reason=cpb.REMOVAL_REASON_SETTLED,
        )
    )

    async def lifted() -> bool:
        account = (
            await payment.GetAccount(pb.GetAccountRequest(account_id=debtor.account_id))
        ).account
        return not account.dishonest_debtor

    await eventually(lifted)
    assert await transfer(payment, debtor.account_id, friend.account_id, 600 * YUAN) == "OK"
