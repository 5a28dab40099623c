"""The gateway's settings, read once from the environment at start-up (CONVENTIONS.md)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from chassis.settings import (
    DEFAULT_GRPC_PORTS,
    DEFAULT_MONGO_URL,
    SERVICE_NAMES,
    TelemetrySettings,
)

ENVIRONMENT_DEV = "dev"
# Only ever used when COLONY_ENV=dev, so a laptop can run the platform with no setup.
DEV_JWT_SECRET = "colony-dev-only-jwt-secret-do-not-use-in-production"
# HS256 keys shorter than the hash output weaken the signature (RFC 7518 §3.2).
JWT_SECRET_LENGTH_MIN = 32


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"setting {name}={raw!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise SystemExit(f"setting {name}={raw!r} must be a positive number")
    return value


def _whole_number(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _number(environ, name, default)
    if value != int(value):
        raise SystemExit(f"setting {name}={environ[name]!r} is not a whole number")
    return int(value)


def _phones(environ: Mapping[str, str], name: str) -> frozenset[str]:
    """A comma-separated list of phone numbers; blanks around and between are ignored."""
    return frozenset(phone.strip() for phone in environ.get(name, "").split(",") if phone.strip())


def _jwt_secret(environ: Mapping[str, str], environment: str) -> tuple[str, bool]:
    """The signing secret and whether it is the dev default."""
    secret = environ.get("COLONY_JWT_SECRET", "")
    if secret:
        if len(secret.encode()) < JWT_SECRET_LENGTH_MIN:
            raise SystemExit(f"COLONY_JWT_SECRET must be at least {JWT_SECRET_LENGTH_MIN} bytes")
        return secret, False
    if environment == ENVIRONMENT_DEV:
        return DEV_JWT_SECRET, True
    raise SystemExit("COLONY_JWT_SECRET is required (or set COLONY_ENV=dev for a local run)")


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Where the gateway listens, its database, its token secret and where the services are.

    Environment: COLONY_GATEWAY_HOST / _PORT, COLONY_GATEWAY_MONGO_URL (falls back to
    MONGO_URL), COLONY_GATEWAY_DB, COLONY_ENV, COLONY_JWT_SECRET, COLONY_JWT_TTL_SECONDS,
    COLONY_<SERVICE>_ADDRESS for each business line, COLONY_RPC_DEADLINE_SECONDS,
    COLONY_READINESS_DEADLINE_SECONDS, COLONY_IDEMPOTENCY_LEASE_SECONDS,
    COLONY_IDEMPOTENCY_WAIT_SECONDS, COLONY_OPERATOR_PHONES (comma-separated phones whose
    users get the "operator" role at log-in).
    """

    host: str
    port: int
    mongo_url: str
    database_name: str
    environment: str
    jwt_secret: str
    jwt_secret_is_dev_default: bool
    jwt_ttl_seconds: int
    # Business line name -> "host:port" of its gRPC server, for every name in SERVICE_NAMES.
    service_addresses: Mapping[str, str]
    rpc_deadline_seconds: float
    readiness_deadline_seconds: float
    # How long an in-progress Idempotency-Key is held before another request may take it over.
    idempotency_lease_seconds: float
    # How long a duplicate request waits for the first one with its key to finish.
    idempotency_wait_seconds: float
    telemetry: TelemetrySettings
    # Users registered with these phones are platform operators (the admin endpoints).
    operator_phones: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        env = os.environ if environ is None else environ
        environment = env.get("COLONY_ENV", "")
        jwt_secret, is_dev_default = _jwt_secret(env, environment)
        return cls(
            host=env.get("COLONY_GATEWAY_HOST", "127.0.0.1"),
            port=_whole_number(env, "COLONY_GATEWAY_PORT", 8080),
            mongo_url=env.get("COLONY_GATEWAY_MONGO_URL")
            or env.get("MONGO_URL")
            or DEFAULT_MONGO_URL,
            database_name=env.get("COLONY_GATEWAY_DB", "gateway"),
            environment=environment,
            jwt_secret=jwt_secret,
            jwt_secret_is_dev_default=is_dev_default,
            jwt_ttl_seconds=_whole_number(env, "COLONY_JWT_TTL_SECONDS", 900),
            service_addresses={
                name: env.get(f"COLONY_{name.upper()}_ADDRESS")
                or f"127.0.0.1:{DEFAULT_GRPC_PORTS[name]}"
                for name in SERVICE_NAMES
            },
            rpc_deadline_seconds=_number(env, "COLONY_RPC_DEADLINE_SECONDS", 5.0),
            readiness_deadline_seconds=_number(env, "COLONY_READINESS_DEADLINE_SECONDS", 1.0),
            idempotency_lease_seconds=_number(env, "COLONY_IDEMPOTENCY_LEASE_SECONDS", 30.0),
            idempotency_wait_seconds=_number(env, "COLONY_IDEMPOTENCY_WAIT_SECONDS", 10.0),
            telemetry=TelemetrySettings.from_env("gateway", env),
            operator_phones=_phones(env, "COLONY_OPERATOR_PHONES"),
        )
