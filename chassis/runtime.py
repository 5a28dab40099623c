"""Process start-up shared by every service's ``__main__``: settings, telemetry, database, serve."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from grpc_health.v1 import health_pb2

from chassis.clock import Clock, SystemClock
from chassis.event_loop import loop_factory
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient, create_client, ping
from chassis.settings import ServiceSettings
from chassis.telemetry import configure_logging, configure_metrics, configure_tracing

log = logging.getLogger("colony.runtime")

DATABASE_WAIT_SECONDS_MAX = 60.0
DATABASE_WATCH_INTERVAL_SECONDS = 5.0

BuildService = Callable[[ServiceSettings, MongoClient, Clock], Awaitable[GrpcService]]


async def wait_for_database(client: MongoClient, deadline_seconds: float) -> None:
    """Poll the database until it answers, or fail after deadline_seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_seconds
    while not await ping(client):
        if loop.time() > deadline:
            raise SystemExit(f"database unreachable for {deadline_seconds:.0f}s; giving up")
        log.info("waiting for the database")
        await asyncio.sleep(0.5)


async def watch_database(service: GrpcService, client: MongoClient) -> None:
    """Keep the health status in step with the database: NOT_SERVING while it is unreachable."""
    serving = True
    while True:  # cancelled at shutdown; each iteration is bounded by the ping's own timeout
        await asyncio.sleep(DATABASE_WATCH_INTERVAL_SECONDS)
        reachable = await ping(client)
        if reachable != serving:
            serving = reachable
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if reachable
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in ("", *service.service_names):
                await service.health.set(name, status)
            log.warning("database %s", "reachable again" if reachable else "unreachable")


async def _serve(settings: ServiceSettings, build: BuildService) -> None:
    client = create_client(settings.mongo_url, app_name=f"colony-{settings.service_name}")
    await wait_for_database(client, DATABASE_WAIT_SECONDS_MAX)
    service = await build(settings, client, SystemClock())
    watcher = asyncio.create_task(watch_database(service, client))

    async def close() -> None:
        watcher.cancel()
        await client.close()

    service.on_stop(close)
    await service.serve_until_signalled()


def run_service(service_name: str, build: BuildService) -> None:
    """Entry point of ``python -m services.<name>``: read settings once, build, serve."""
    settings = ServiceSettings.from_env(service_name)
    configure_logging(settings.telemetry)
    configure_tracing(settings.telemetry, instrument_grpc_server=True)
    configure_metrics(settings.telemetry, settings.grpc_host)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_serve(settings, build))
