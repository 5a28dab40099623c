"""Prometheus metrics: the names docs/operations.md lists, and what feeds them.

Every metric is defined here once and *exported* (added to this process's registry) by the
code that feeds it: the RPC interceptor exports the RPC series, the gateway's middleware the
HTTP series, each service the business figures it owns. So a process serves only what it
measures, and building several services in one test process registers nothing twice.

Business figures are cheap by construction:

- counters are incremented where the event happens. Postings and claims paid are counted
  when the transaction that appended their outbox event *commits* — observed through
  PyMongo's command monitoring (``CommittedEvents``), so a transaction retried after a write
  conflict counts once and an aborted one not at all, with no change to the code that posts;
- gauges read from a database are refreshed by a periodic job (``FIGURES_REFRESH_SECONDS``),
  never by a scrape.

``serve(port, host)`` starts the HTTP endpoint (``GET /metrics``) on a thread of its own; it
runs only when COLONY_METRICS_PORT is set (chassis.telemetry.configure_metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol

import grpc
from bson import Binary
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.registry import Collector
from pymongo import monitoring

log = logging.getLogger("colony.metrics")

# The *_created series double every counter's size and no panel reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry()
LATENCY_BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Gauges read from a database are refreshed this often (and never on a scrape).
FIGURES_REFRESH_SECONDS = 15.0
OUTBOX_COLLECTION = "outbox"

RPC_SERVER_REQUESTS = Counter(
    "colony_rpc_server_requests",
    "gRPC requests handled, by method and status code",
    ["rpc", "code"],
    registry=None,
)
RPC_SERVER_DURATION = Histogram(
    "colony_rpc_server_duration_seconds",
    "gRPC request handling time",
    ["rpc"],
    buckets=LATENCY_BUCKETS_SECONDS,
    registry=None,
)
HTTP_SERVER_REQUESTS = Counter(
    "colony_http_server_requests",
    "HTTP requests handled, by route template, method and status",
    ["route", "method", "status"],
    registry=None,
)
HTTP_SERVER_DURATION = Histogram(
    "colony_http_server_duration_seconds",
    "HTTP request handling time",
    ["route", "method"],
    buckets=LATENCY_BUCKETS_SECONDS,
    registry=None,
)
PAYMENTS = Counter(
    "colony_payments", "Postings committed, by posting kind", ["kind"], registry=None
)
PAYMENTS_AMOUNT_FEN = Counter(
    "colony_payments_amount_fen",
    "Amount of the postings committed, in fen, by posting kind",
    ["kind"],
    registry=None,
)
HOLDS_OPEN = Gauge("colony_holds_open", "Holds not captured, voided or expired", registry=None)
SAGA_OUTCOMES = Counter(
    "colony_saga_outcomes",
    "Sagas finished (completed, compensated) or parked, by saga",
    ["saga", "outcome"],
    registry=None,
)
SAGAS_STUCK = Gauge(
    "colony_sagas_stuck", "Sagas unfinished with an expired lease, or parked", registry=None
)
FEED_LAG_EVENTS = Gauge(
    "colony_feed_lag_events",
    "Events committed upstream and not yet applied, by feed",
    ["feed"],
    registry=None,
)
FEED_LAG_SECONDS = Gauge(
    "colony_feed_lag_seconds", "Age of the oldest unapplied event, by feed", ["feed"], registry=None
)
YUEBAO_AUM_FEN = Gauge(
    "colony_yuebao_aum_fen", "Yu'e Bao assets under management (shares), fen", registry=None
)
HUABEI_OUTSTANDING_FEN = Gauge(
    "colony_huabei_outstanding_fen", "Huabei principal owed, fen", registry=None
)
LOANS_OUTSTANDING_FEN = Gauge(
    "colony_loans_outstanding_fen", "All loan principal outstanding, fen", registry=None
)
LOANS_NONPERFORMING_FEN = Gauge(
    "colony_loans_nonperforming_fen", "Loan principal 90+ days past due, fen", registry=None
)
CLAIMS_PAID = Counter("colony_insurance_claims_paid", "Insurance claims paid", registry=None)
CLAIMS_PAID_FEN = Counter(
    "colony_insurance_claims_paid_fen", "Amount of the insurance claims paid, fen", registry=None
)

_exported: set[int] = set()


class _Serving:
    """Whether this process serves metrics (set once, by serve)."""

    on = False


def export(*metrics: Collector) -> None:
    """Serve these metrics from this process (idempotent)."""
    for metric in metrics:
        if id(metric) not in _exported:
            REGISTRY.register(metric)
            _exported.add(id(metric))


def enabled() -> bool:
    """Whether this process serves metrics (periodic figure reads run only then)."""
    return _Serving.on


def serve(port: int, host: str) -> int:
    """Serve GET /metrics on host:port from a thread of its own; returns the bound port."""
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    _Serving.on = True
    bound = int(server.server_address[1])
    log.info("metrics", extra={"address": f"{host}:{bound}"})
    return bound


# --- RPCs ---------------------------------------------------------------------------------

Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Context], Awaitable[Any]]
StreamHandler = Callable[[Any, Context], AsyncIterator[Any]]


def _code_name(context: Context, raised: BaseException | None) -> str:
    code = context.code()
    if code is not None and code != grpc.StatusCode.OK:
        return str(code.name)
    if raised is None:
        return "OK"
    if isinstance(raised, asyncio.CancelledError):
        return "CANCELLED"
    return "UNKNOWN"


class RpcMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts every RPC by method and final status code, and times it (the outermost one)."""

    def __init__(self) -> None:
        export(RPC_SERVER_REQUESTS, RPC_SERVER_DURATION)

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        rpc = handler_call_details.method.lstrip("/")
        if handler.unary_unary is not None:
            unary: Handler = handler.unary_unary  # type: ignore[assignment]

            async def measured_unary(request: Any, context: Context) -> Any:
                async with _measured(rpc, context):
                    return await unary(request, context)

            return grpc.unary_unary_rpc_method_handler(
                measured_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            streaming: StreamHandler = handler.unary_stream  # type: ignore[assignment]

            async def measured_stream(request: Any, context: Context) -> AsyncIterator[Any]:
                async with _measured(rpc, context):
                    async for response in streaming(request, context):
                        yield response

            return grpc.unary_stream_rpc_method_handler(
                measured_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


@contextlib.asynccontextmanager
async def _measured(rpc: str, context: Context) -> AsyncIterator[None]:
    started = time.perf_counter()
    raised: BaseException | None = None
    try:
        yield
    except BaseException as error:
        raised = error
        raise
    finally:
        RPC_SERVER_DURATION.labels(rpc).observe(time.perf_counter() - started)
        RPC_SERVER_REQUESTS.labels(rpc, _code_name(context, raised)).inc()


# --- Events counted when their transaction commits -----------------------------------------

EventHandler = Callable[[bytes], None]


class CommittedEvents(monitoring.CommandListener):
    """Calls a handler for each outbox event of a watched type once its transaction commits.

    Follows the commands of every session: an outbox insert inside a transaction is held
    under the session id until that session's commitTransaction succeeds (then handled),
    its abortTransaction, or the start of its next transaction (both drop it). A failed
    commit keeps them: a commit with an unknown result is retried and may yet succeed.
    """

    def __init__(self) -> None:
        self.handlers: dict[str, EventHandler] = {}
        self._pending: dict[Binary, list[tuple[str, bytes]]] = {}
        self._requests: dict[int, Binary | list[tuple[str, bytes]]] = {}

    def watch(self, handlers: Mapping[str, EventHandler]) -> None:
        self.handlers.update(handlers)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.handlers:
            return
        command = event.command
        session = (command.get("lsid") or {}).get("id")
        if session is not None and command.get("startTransaction"):
            self._pending.pop(session, None)
        name = event.command_name
        if name == "insert" and command.get("insert") == OUTBOX_COLLECTION:
            events = [
                (document["type"], document["payload"])
                for document in command.get("documents", ())
                if document.get("type") in self.handlers
            ]
            if not events:
                return
            if session is not None and "txnNumber" in command:
                self._pending.setdefault(session, []).extend(events)
            else:
                self._requests[event.request_id] = events
        elif name == "commitTransaction" and session in self._pending:
            self._requests[event.request_id] = session
        elif name == "abortTransaction" and session is not None:
            self._pending.pop(session, None)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        done = self._requests.pop(event.request_id, None)
        if done is None:
            return
        events = self._pending.pop(done, []) if isinstance(done, Binary) else done
        for event_type, payload in events:
            try:
                self.handlers[event_type](payload)
            except Exception:  # a metric must never break the service
                log.exception("counting event %s failed", event_type)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._requests.pop(event.request_id, None)


COMMITTED_EVENTS = CommittedEvents()
monitoring.register(COMMITTED_EVENTS)


def count_committed(handlers: Mapping[str, EventHandler], *metrics: Collector) -> None:
    """Export metrics and call handlers[type](payload) for each committed outbox event."""
    export(*metrics)
    COMMITTED_EVENTS.watch(handlers)


# --- Gauges refreshed periodically ---------------------------------------------------------


class PeriodicJobs(Protocol):
    """Where a periodic job runs (chassis.grpc_server.GrpcService)."""

    def add_periodic(
        self, name: str, interval_seconds: float, job: Callable[[], Awaitable[int]]
    ) -> None: ...


def refresh_figures(
    service: PeriodicJobs,
    read: Callable[[], Awaitable[None]],
    *metrics: Collector,
    interval_seconds: float = FIGURES_REFRESH_SECONDS,
) -> None:
    """Export metrics, and have the service run read() (which sets them) every interval."""
    export(*metrics)
    service.add_periodic("business-figures", interval_seconds, figures_job(read))


def figures_job(read: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[int]]:
    """A periodic job (GrpcService.add_periodic) running read() only while metrics are served.

    Returns 0 (work done is not worth a log line); a failed read is logged and retried at the
    next round.
    """

    async def refresh() -> int:
        if not _Serving.on:
            return 0
        try:
            await read()
        except Exception as error:
            log.warning("refreshing business figures failed: %s", error)
        return 0

    return refresh
