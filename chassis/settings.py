"""Per-process settings, read once from the environment at start-up (CONVENTIONS.md).

Nothing below __main__ reads os.environ: a settings object is built here and passed in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from chassis.tls import TlsSettings

ENVIRONMENT_DEV = "dev"
DEFAULT_MONGO_URL = "mongodb://127.0.0.1:27027/?replicaSet=rs0"

# One port per business line; the gateway listens on 8080.
DEFAULT_GRPC_PORTS = {
    "payment": 50051,
    "wealth": 50052,
    "credit": 50053,
    "loan": 50054,
    "insurance": 50055,
}
SERVICE_NAMES = tuple(DEFAULT_GRPC_PORTS)


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"setting {name}={raw!r} is not a whole number") from None


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """Where traces and metrics go; with no OTLP endpoint, spans are not exported."""

    service_name: str
    otlp_endpoint: str
    log_level: str
    # COLONY_METRICS_PORT: where GET /metrics is served (chassis.metrics); 0: not served.
    metrics_port: int = 0

    @classmethod
    def from_env(cls, service_name: str, environ: Mapping[str, str]) -> TelemetrySettings:
        return cls(
            service_name=f"colony-{service_name}",
            otlp_endpoint=environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            log_level=environ.get("COLONY_LOG_LEVEL", "INFO").upper(),
            metrics_port=_int(environ, "COLONY_METRICS_PORT", 0),
        )


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What one business-line service needs: where to listen and which database is its own.

    Environment, for service NAME (upper-case): COLONY_NAME_GRPC_HOST / _GRPC_PORT,
    COLONY_NAME_MONGO_URL (falls back to MONGO_URL), COLONY_NAME_DB (default "NAME"),
    COLONY_GRPC_MAX_CONCURRENT_RPCS, COLONY_SHUTDOWN_GRACE_SECONDS, COLONY_ENV,
    COLONY_TLS_CA / _CERT / _KEY (chassis.tls: mutual TLS; without them the server is
    plaintext, which only COLONY_ENV=dev allows), COLONY_NAME_HEALTH_PORT (a plaintext port
    serving only grpc.health.v1, for probes that present no certificate; 0: none).
    """

    service_name: str
    grpc_host: str
    grpc_port: int
    mongo_url: str
    database_name: str
    max_concurrent_rpcs: int
    shutdown_grace_seconds: int
    telemetry: TelemetrySettings
    # COLONY_ENV. Built directly (in-process tests) a service is a dev one; from_env reads it.
    environment: str = ENVIRONMENT_DEV
    # This process's certificate and the CA (mutual TLS); None: plaintext (dev only).
    tls: TlsSettings | None = None
    health_port: int = 0

    @classmethod
    def from_env(
        cls, service_name: str, environ: Mapping[str, str] | None = None
    ) -> ServiceSettings:
        env = os.environ if environ is None else environ
        prefix = f"COLONY_{service_name.upper()}_"
        return cls(
            service_name=service_name,
            grpc_host=env.get(f"{prefix}GRPC_HOST", "127.0.0.1"),
            grpc_port=_int(env, f"{prefix}GRPC_PORT", DEFAULT_GRPC_PORTS[service_name]),
            mongo_url=env.get(f"{prefix}MONGO_URL") or env.get("MONGO_URL") or DEFAULT_MONGO_URL,
            database_name=env.get(f"{prefix}DB", service_name),
            max_concurrent_rpcs=_int(env, "COLONY_GRPC_MAX_CONCURRENT_RPCS", 512),
            shutdown_grace_seconds=_int(env, "COLONY_SHUTDOWN_GRACE_SECONDS", 10),
            telemetry=TelemetrySettings.from_env(service_name, env),
            environment=env.get("COLONY_ENV", ""),
            tls=TlsSettings.from_env(env),
            health_port=_int(env, f"{prefix}HEALTH_PORT", 0),
        )

    @property
    def listen_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"
