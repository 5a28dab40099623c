"""Fixtures of the credit service's tests: a credit service following the module's payment feed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from chassis.clock import Clock, SystemClock
from chassis.feed_follower import UpstreamFeed
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from chassis.outbox import EventLog, OutboxFeed
from chassis.settings import ServiceSettings
from colony.credit.v1 import credit_pb2_grpc
from colony.payment.v1 import payment_pb2_grpc
from conftest import running_service
from services.credit.feeds.intake import ActiveModel, Bureau
from services.credit.server import DEFAULT_MODEL_PATH, build_credit_service, load_active_model
from services.credit.store import CreditStore


@pytest.fixture(scope="module")
async def credit_service(
    mongo_url: str, mongo_client: MongoClient, database_name: str, payment_address: str
) -> AsyncIterator[GrpcService]:
    async def build(settings: ServiceSettings, client: MongoClient, clock: Clock) -> GrpcService:
        return await build_credit_service(
            settings, client, clock, [UpstreamFeed("payment", payment_address)]
        )

    async with running_service("credit", build, mongo_url, mongo_client, database_name) as service:
        yield service


@pytest.fixture(scope="module")
async def credit(credit_service: GrpcService) -> AsyncIterator[credit_pb2_grpc.CreditServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{credit_service.port}") as channel:
        yield credit_pb2_grpc.CreditServiceStub(channel)


@pytest.fixture(scope="module")
async def payment(payment_address: str) -> AsyncIterator[payment_pb2_grpc.PaymentServiceStub]:
    async with grpc.aio.insecure_channel(payment_address) as channel:
        yield payment_pb2_grpc.PaymentServiceStub(channel)


@pytest.fixture(scope="module")
def credit_store(mongo_client: MongoClient, database_name: str) -> CreditStore:
    return CreditStore(mongo_client[f"{database_name}_credit"])


@pytest.fixture(scope="module")
async def bureau(
    credit_service: GrpcService, mongo_client: MongoClient, credit_store: CreditStore
) -> Bureau:
    """The intake over the service's database, to drive it with hand-built events."""
    del credit_service  # started first: the indexes and the active model exist
    clock = SystemClock()
    feed = OutboxFeed(mongo_client, credit_store.database)
    model = await load_active_model(mongo_client, credit_store, clock, DEFAULT_MODEL_PATH)
    return Bureau(
        mongo_client, credit_store, EventLog(feed.outbox, clock), clock, ActiveModel(model)
    )
