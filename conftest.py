"""Test fixtures shared by the whole suite: one real mongod per session, a database per module.

Set COLONY_TEST_MONGO_URL to run the suite against an existing replica set instead of
starting the embedded mongod (DESIGN.md "Running": tests never need Docker or the network).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from chassis.clock import Clock, SystemClock
from chassis.feed_follower import UpstreamFeed
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient, create_client
from chassis.runtime import BuildService
from chassis.settings import ServiceSettings, TelemetrySettings
from infra.embedded_mongo import EmbeddedMongo, free_port
from services.credit.server import build_credit_service
from services.loan.server import build_loan_service
from services.payment.server import build_payment_service
from services.wealth.server import build_wealth_service


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("COLONY_TEST_MONGO_URL")
    if external:
        yield external
        return
    server = EmbeddedMongo(tmp_path_factory.mktemp("mongod"), free_port(), cache_size_gb=0.25)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def mongo_client(mongo_url: str) -> AsyncIterator[MongoClient]:
    client = create_client(mongo_url, app_name="colony-tests")
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="module")
def database_name(request: pytest.FixtureRequest) -> str:
    """A fresh database name for this test module (MongoDB caps names at 63 bytes)."""
    module = re.sub(r"[^a-z0-9]", "_", request.module.__name__.rsplit(".", 1)[-1].lower())
    return f"t_{module[:40]}_{uuid.uuid4().hex[:8]}"


def service_settings(service_name: str, mongo_url: str, database_name: str) -> ServiceSettings:
    """Settings for an in-process service on a free loopback port and its own test database."""
    return ServiceSettings(
        service_name=service_name,
        grpc_host="127.0.0.1",
        grpc_port=0,
        mongo_url=mongo_url,
        database_name=database_name,
        max_concurrent_rpcs=256,
        shutdown_grace_seconds=1,
        telemetry=TelemetrySettings.from_env(service_name, {}),
    )


@contextlib.asynccontextmanager
async def running_service(
    service_name: str,
    build: BuildService,
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
) -> AsyncIterator[GrpcService]:
    """A real service over gRPC on loopback, on `<database_name>_<service_name>`."""
    settings = service_settings(service_name, mongo_url, f"{database_name}_{service_name}")
    service = await build(settings, mongo_client, SystemClock())
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture(scope="module")
async def payment_service(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> AsyncIterator[GrpcService]:
    """A real payment service, backed by this module's database."""
    async with running_service(
        "payment", build_payment_service, mongo_url, mongo_client, database_name
    ) as service:
        yield service


@pytest.fixture(scope="module")
def payment_address(payment_service: GrpcService) -> str:
    """host:port of the module's payment service."""
    return f"127.0.0.1:{payment_service.port}"


@pytest.fixture(scope="module")
async def wealth_service(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> AsyncIterator[GrpcService]:
    """A real wealth service, backed by this module's database."""
    async with running_service(
        "wealth", build_wealth_service, mongo_url, mongo_client, database_name
    ) as service:
        yield service


@pytest.fixture(scope="module")
def wealth_address(wealth_service: GrpcService) -> str:
    """host:port of the module's wealth service."""
    return f"127.0.0.1:{wealth_service.port}"


@pytest.fixture(scope="module")
def credit_upstream_addresses(payment_address: str, wealth_address: str) -> dict[str, str]:
    """The feeds the module's credit service follows: the module's payment and wealth."""
    return {"payment": payment_address, "wealth": wealth_address}


@pytest.fixture(scope="module")
async def credit_service(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    credit_upstream_addresses: dict[str, str],
) -> AsyncIterator[GrpcService]:
    """A real credit service, backed by this module's database, following the upstream feeds."""
    feeds = [UpstreamFeed(name, address) for name, address in credit_upstream_addresses.items()]

    async def build(settings: ServiceSettings, client: MongoClient, clock: Clock) -> GrpcService:
        return await build_credit_service(settings, client, clock, feeds)

    async with running_service("credit", build, mongo_url, mongo_client, database_name) as service:
        yield service


@pytest.fixture(scope="module")
def credit_address(credit_service: GrpcService) -> str:
    """host:port of the module's credit service."""
    return f"127.0.0.1:{credit_service.port}"


@pytest.fixture(scope="module")
async def loan_service(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> AsyncIterator[GrpcService]:
    """A real loan service, backed by this module's database."""
    async with running_service(
        "loan", build_loan_service, mongo_url, mongo_client, database_name
    ) as service:
        yield service


@pytest.fixture(scope="module")
def loan_address(loan_service: GrpcService) -> str:
    """host:port of the module's loan service."""
    return f"127.0.0.1:{loan_service.port}"
