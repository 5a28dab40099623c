"""The gateway's settings, read once from the environment at start-up (CONVENTIONS.md)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from chassis.settings import (
    DEFAULT_GRPC_PORTS,
    DEFAULT_MONGO_URL,
    SERVICE_NAMES,
    TelemetrySettings,
)
from chassis.tls import TlsSettings
from gateway.edge.rate_limits import DEFAULT_BUDGETS, Budget, RequestClass
from gateway.sagas.failpoints import Failpoint

ENVIRONMENT_DEV = "dev"
# Only ever used when COLONY_ENV=dev, so a laptop can run the platform with no setup.
DEV_JWT_SECRET = "colony-dev-only-jwt-secret-do-not-use-in-production"
# HS256 keys shorter than the hash output weaken the signature (RFC 7518 §3.2).
JWT_SECRET_LENGTH_MIN = 32
# The payment service keeps a hold at most 7 days (services/payment/holds.py).
SAGA_HOLD_TTL_SECONDS_MAX = 7 * 24 * 3600


def _number(
    environ: Mapping[str, str], name: str, default: float, *, zero_allowed: bool = False
) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"setting {name}={raw!r} is not a number") from None
    if zero_allowed and value == 0:
        return value
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


def _switch(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw not in ("on", "off"):
        raise SystemExit(f"setting {name}={raw!r} must be on or off")
    return raw == "on"


def _rate_limits(environ: Mapping[str, str]) -> dict[RequestClass, Budget]:
    """COLONY_RATE_LIMIT_<CLASS>_PER_MINUTE (0: unlimited) and _BURST per request class."""
    budgets = {}
    for request_class, default in DEFAULT_BUDGETS.items():
        prefix = f"COLONY_RATE_LIMIT_{request_class.value.upper()}"
        budgets[request_class] = Budget(
            per_minute=_number(
                environ, f"{prefix}_PER_MINUTE", default.per_minute, zero_allowed=True
            ),
            burst=_whole_number(environ, f"{prefix}_BURST", default.burst),
        )
    return budgets


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
class SagaSettings:
    """The saga engine's leases, retries and recovery loop (gateway.sagas).

    Environment: COLONY_SAGA_LEASE_SECONDS, COLONY_SAGA_RECOVERY_INTERVAL_SECONDS,
    COLONY_SAGA_INLINE_WAIT_SECONDS, COLONY_SAGA_ATTEMPTS_PER_PASS,
    COLONY_SAGA_ATTEMPTS_MAX, COLONY_SAGA_BACKOFF_SECONDS, COLONY_SAGA_HOLD_TTL_SECONDS, and
    the test-only COLONY_SAGA_FAILPOINT (gateway.sagas.failpoints; refused unless
    COLONY_ENV=dev).
    """

    # How long a claim on a saga lasts without renewal before another replica may take it.
    lease_seconds: float = 30.0
    # How often each replica looks for sagas whose lease expired.
    recovery_interval_seconds: float = 5.0
    # How long a request drives its saga before answering 202 with the operation's URL.
    inline_wait_seconds: float = 10.0
    # Attempts of one step per pass (with backoff), and in all before it is given up.
    attempts_per_pass: int = 3
    attempts_max: int = 20
    # The first wait between attempts; it doubles per attempt, up to RetryPolicy's cap.
    backoff_seconds: float = 0.2
    # How long a saga's hold reserves the money before the payment service's sweeper frees it.
    hold_ttl_seconds: int = 15 * 60
    failpoint: Failpoint | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], environment: str) -> SagaSettings:
        attempts_per_pass = _whole_number(environ, "COLONY_SAGA_ATTEMPTS_PER_PASS", 3)
        attempts_max = _whole_number(environ, "COLONY_SAGA_ATTEMPTS_MAX", 20)
        if attempts_per_pass > attempts_max:
            raise SystemExit(
                "COLONY_SAGA_ATTEMPTS_PER_PASS must not exceed COLONY_SAGA_ATTEMPTS_MAX"
            )
        hold_ttl_seconds = _whole_number(environ, "COLONY_SAGA_HOLD_TTL_SECONDS", 15 * 60)
        if hold_ttl_seconds > SAGA_HOLD_TTL_SECONDS_MAX:
            raise SystemExit(
                f"COLONY_SAGA_HOLD_TTL_SECONDS must be at most {SAGA_HOLD_TTL_SECONDS_MAX}"
            )
        return cls(
            lease_seconds=_number(environ, "COLONY_SAGA_LEASE_SECONDS", 30.0),
            recovery_interval_seconds=_number(
                environ, "COLONY_SAGA_RECOVERY_INTERVAL_SECONDS", 5.0
            ),
            inline_wait_seconds=_number(environ, "COLONY_SAGA_INLINE_WAIT_SECONDS", 10.0),
            attempts_per_pass=attempts_per_pass,
            attempts_max=attempts_max,
            backoff_seconds=_number(environ, "COLONY_SAGA_BACKOFF_SECONDS", 0.2),
            hold_ttl_seconds=hold_ttl_seconds,
            failpoint=_failpoint(environ, environment),
        )


def _failpoint(environ: Mapping[str, str], environment: str) -> Failpoint | None:
    """The test-only crash point; only a dev environment may have one."""
    text = environ.get("COLONY_SAGA_FAILPOINT", "")
    if not text:
        return None
    if environment != ENVIRONMENT_DEV:
        raise SystemExit("COLONY_SAGA_FAILPOINT kills the gateway: only with COLONY_ENV=dev")
    try:
        return Failpoint.parse(text)
    except ValueError as error:
        raise SystemExit(f"COLONY_SAGA_FAILPOINT: {error}") from None


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Where the gateway listens, its database, its token secret and where the services are.

    Environment: COLONY_GATEWAY_HOST / _PORT, COLONY_GATEWAY_MONGO_URL (falls back to
    MONGO_URL), COLONY_GATEWAY_DB, COLONY_ENV, COLONY_JWT_SECRET, COLONY_JWT_TTL_SECONDS,
    COLONY_<SERVICE>_ADDRESS for each business line, COLONY_RPC_DEADLINE_SECONDS,
    COLONY_READINESS_DEADLINE_SECONDS, COLONY_IDEMPOTENCY_LEASE_SECONDS,
    COLONY_IDEMPOTENCY_WAIT_SECONDS, COLONY_OPERATOR_PHONES (comma-separated phones whose
    users get the "operator" role at log-in: dev and tests only, refused by gateway.__main__
    elsewhere; operators are granted with `colony operator grant`),
    COLONY_WEALTH_JOBS_INTERVAL_SECONDS, the
    per-user budgets COLONY_RATE_LIMIT_{MONEY,WRITE,READ}_{PER_MINUTE,BURST},
    COLONY_API_DOCS and COLONY_OPENAPI_ADMIN ("on"/"off"; on by default only in dev),
    COLONY_SMS_CHANNEL and the saga settings (SagaSettings).
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
    # Users registered with these phones are platform operators (the admin endpoints): dev and
    # tests only (gateway.__main__ refuses it elsewhere); see gateway.edge.operator_grants.
    operator_phones: frozenset[str] = frozenset()
    sagas: SagaSettings = field(default_factory=SagaSettings)
    # How often each replica looks for a business date whose wealth job is due (0: never;
    # the operator runs dates by hand). gateway.wealth.schedule.
    wealth_jobs_interval_seconds: float = 60.0
    # The same for the loan job (bills, accrual, delinquency). gateway.loans.schedule.
    loan_jobs_interval_seconds: float = 60.0
    # The same for the order-loan job (a round, not a date). gateway.loans.merchant.schedule.
    order_loan_jobs_interval_seconds: float = 60.0
    # The same for the insurance job (expiry; approved claims paid). gateway.insurance.jobs.
    insurance_jobs_interval_seconds: float = 60.0
    # The gateway's certificate and the CA (COLONY_TLS_CA/_CERT/_KEY, chassis.tls): mutual
    # TLS to every service. None: plaintext, which gateway.__main__ allows only in dev.
    tls: TlsSettings | None = None
    # Per-user request budgets by class (gateway.edge.rate_limits).
    rate_limits: Mapping[RequestClass, Budget] = field(default_factory=lambda: DEFAULT_BUDGETS)
    # Swagger UI at /docs, and the operator routes in /openapi.json: dev conveniences that a
    # deployment turns on explicitly (COLONY_API_DOCS, COLONY_OPENAPI_ADMIN: "on"/"off").
    api_docs_published: bool = True
    openapi_includes_admin: bool = True
    # The SMS adapter for phone verification (gateway.edge.phone_verification.load_sms_channel):
    # "fake" by default in dev only; elsewhere a package.module:factory the deployment provides.
    sms_channel: str = ""

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
            sagas=SagaSettings.from_env(env, environment),
            wealth_jobs_interval_seconds=_number(
                env, "COLONY_WEALTH_JOBS_INTERVAL_SECONDS", 60.0, zero_allowed=True
            ),
            loan_jobs_interval_seconds=_number(
                env, "COLONY_LOAN_JOBS_INTERVAL_SECONDS", 60.0, zero_allowed=True
            ),
            order_loan_jobs_interval_seconds=_number(
                env, "COLONY_ORDER_LOAN_JOBS_INTERVAL_SECONDS", 60.0, zero_allowed=True
            ),
            insurance_jobs_interval_seconds=_number(
                env, "COLONY_INSURANCE_JOBS_INTERVAL_SECONDS", 60.0, zero_allowed=True
            ),
            tls=TlsSettings.from_env(env),
            rate_limits=_rate_limits(env),
            api_docs_published=_switch(env, "COLONY_API_DOCS", environment == ENVIRONMENT_DEV),
            openapi_includes_admin=_switch(
                env, "COLONY_OPENAPI_ADMIN", environment == ENVIRONMENT_DEV
            ),
            sms_channel=env.get(
                "COLONY_SMS_CHANNEL", "fake" if environment == ENVIRONMENT_DEV else ""
            ),
        )
