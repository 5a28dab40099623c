"""Fixtures of the payment service's tests: a stub on the module's service, and its store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2_grpc
from services.payment.store import PaymentStore
from services.payment.tests.support import Stub


@pytest.fixture(scope="module")
async def stub(payment_address: str) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(payment_address) as channel:
        yield payment_pb2_grpc.PaymentServiceStub(channel)


@pytest.fixture(scope="module")
def store(mongo_client: MongoClient, database_name: str) -> PaymentStore:
    return PaymentStore(mongo_client[f"{database_name}_payment"])
