"""/healthz and /readyz: the gateway is ready only when its database and all services are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from grpc_health.v1 import health_pb2

from chassis.bare_service import build_bare_service
from chassis.clock import SystemClock
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from chassis.settings import SERVICE_NAMES, ServiceSettings, TelemetrySettings
from gateway.clients import ServiceChannels
from gateway.tests.conftest import GatewayFactory, gateway_settings, problem_of

Client = TestClient[Any, Any]
BARE_SERVICE_NAMES = [name for name in SERVICE_NAMES if name != "payment"]


@pytest.fixture(scope="module")
async def bare_services(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> AsyncIterator[dict[str, GrpcService]]:
    """The four business lines that serve only health and reflection today, in process."""
    services: dict[str, GrpcService] = {}
    try:
        for name in BARE_SERVICE_NAMES:
            settings = ServiceSettings(
                service_name=name,
                grpc_host="127.0.0.1",
                grpc_port=0,
                mongo_url=mongo_url,
                database_name=f"{database_name}_{name}",
                max_concurrent_rpcs=16,
                shutdown_grace_seconds=1,
                telemetry=TelemetrySettings.from_env(name, {}),
            )
            services[name] = await build_bare_service(settings, mongo_client, SystemClock())
            await services[name].start()
        yield services
    finally:
        for service in services.values():
            await service.stop()


@pytest.fixture(scope="module")
async def complete_gateway(
    start_gateway: GatewayFactory,
    database_name: str,
    payment_address: str,
    bare_services: dict[str, GrpcService],
) -> AsyncIterator[Client]:
    """A gateway with all five services running."""
    addresses = {name: f"127.0.0.1:{service.port}" for name, service in bare_services.items()}
    addresses["payment"] = payment_address
    channels = ServiceChannels.open(addresses)
    try:
        yield await start_gateway(gateway_settings(database_name, addresses), channels)
    finally:
        await channels.close()


async def test_healthz_answers_while_the_process_is_up(gateway: Client) -> None:
    response = await gateway.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_ready_when_the_database_and_all_five_services_answer(
    complete_gateway: Client,
) -> None:
    response = await complete_gateway.get("/readyz")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {name: "SERVING" for name in ("database", *SERVICE_NAMES)}


async def test_not_ready_while_a_service_reports_not_serving(
    complete_gateway: Client, bare_services: dict[str, GrpcService]
) -> None:
    wealth = bare_services["wealth"]
    await wealth.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    try:
        response = await complete_gateway.get("/readyz")
        problem = await problem_of(response, 503, "UNAVAILABLE")
    finally:
        await wealth.health.set("", health_pb2.HealthCheckResponse.SERVING)
    assert problem["metadata"]["wealth"] == "NOT_SERVING"
    assert (await complete_gateway.get("/readyz")).status == 200


async def test_not_ready_names_the_services_that_cannot_be_reached(gateway: Client) -> None:
    # The module's plain gateway knows only the payment service; the others are not running.
    response = await gateway.get("/readyz")
    problem = await problem_of(response, 503, "UNAVAILABLE")
    assert problem["metadata"]["payment"] == "SERVING"
    assert problem["metadata"]["database"] == "SERVING"
    for name in BARE_SERVICE_NAMES:
        assert problem["metadata"][name] == "UNREACHABLE"
        assert name in problem["detail"]
