"""Run the gateway: `python -m gateway`. Settings once, telemetry, database, serve."""

from __future__ import annotations

import logging

from aiohttp import web

from chassis.clock import SystemClock
from chassis.event_loop import loop_factory
from chassis.mongo import create_client
from chassis.runtime import DATABASE_WAIT_SECONDS_MAX, wait_for_database
from chassis.telemetry import configure_logging, configure_metrics, configure_tracing
from chassis.tls import PROCESS_TLS
from gateway.app import create_app
from gateway.clients import ServiceChannels
from gateway.settings import ENVIRONMENT_DEV, GatewaySettings

log = logging.getLogger("colony.gateway")

SHUTDOWN_GRACE_SECONDS = 10.0


async def build_app(settings: GatewaySettings) -> web.Application:
    """The app over a fresh database client and service channels, closed at shutdown."""
    client = create_client(settings.mongo_url, app_name="colony-gateway")
    await wait_for_database(client, DATABASE_WAIT_SECONDS_MAX)
    channels = ServiceChannels.open(settings.service_addresses, settings.tls)
    app = create_app(settings, client, SystemClock(), channels)

    async def close(app: web.Application) -> None:
        await channels.close()
        await client.close()

    app.on_cleanup.append(close)
    return app


def main() -> None:
    settings = GatewaySettings.from_env()
    configure_logging(settings.telemetry)
    if settings.tls is None and settings.environment != ENVIRONMENT_DEV:
        raise SystemExit("mutual TLS to the services is required outside COLONY_ENV=dev")
    if settings.operator_phones and settings.environment != ENVIRONMENT_DEV:
        # A phone list makes whoever registers a listed phone first an operator.
        raise SystemExit(
            "COLONY_OPERATOR_PHONES is for dev only: grant operators with `colony operator grant`"
        )
    if settings.jwt_secret_is_dev_default:
        log.warning("COLONY_ENV=dev: signing tokens with the built-in dev secret")
    # The gateway's own feed followers (Huabei refunds follow payment) present its certificate.
    PROCESS_TLS.set(settings.tls)
    configure_tracing(settings.telemetry, instrument_grpc_server=False)
    configure_metrics(settings.telemetry, settings.host)
    if settings.telemetry.otlp_endpoint:
        # Like the chassis, trace only when spans are collected. This patches
        # web.Application, so it must run before the app is created.
        from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor

        AioHttpServerInstrumentor().instrument()
    # run_app stops on SIGTERM/SIGINT: it stops accepting, lets requests in flight finish
    # within the grace period, then runs on_cleanup.
    web.run_app(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        print=None,
        loop=loop_factory()(),
    )


if __name__ == "__main__":
    main()
