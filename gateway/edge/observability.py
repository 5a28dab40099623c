"""What the gateway tells its watchers: the trace id of every answer, HTTP metrics, stuck sagas.

``trace_id_middleware`` (the outermost) gives every response an ``X-Trace-Id`` header, and
problem+json bodies a ``trace_id`` (gateway.edge.problems reads ``TRACE_ID``). With tracing on
(OTEL_EXPORTER_OTLP_ENDPOINT set) it is the trace of the request's server span, which continues
an incoming W3C ``traceparent``. With tracing off it costs two random numbers: the incoming
``traceparent``'s trace id is kept (or a new one made) and made current as a non-recording
span, so the gateway's own log lines of that request carry it; nothing is exported and the
services' log lines do not carry it.

``http_metrics_middleware`` counts and times each request by route template
(``/v1/trades/{trade_id}``; ``unmatched`` for paths no route has), method and status.
``StuckSagas`` refreshes colony_sagas_stuck from the saga log while metrics are served.
"""

from __future__ import annotations

import asyncio
import random
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry import context, propagate, trace
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import Clock
from chassis.errors import DomainError
from chassis.metrics import (
    FIGURES_REFRESH_SECONDS,
    HTTP_SERVER_DURATION,
    HTTP_SERVER_REQUESTS,
    SAGAS_STUCK,
    enabled,
    export,
    figures_job,
)
from chassis.mongo import Document
from gateway.edge.background import run_for_app_lifetime
from gateway.sagas.definition import SagaState

TRACE_ID_HEADER = "X-Trace-Id"
# request[TRACE_ID]: the request's trace id, 32 lower-case hex digits.
TRACE_ID = web.RequestKey("colony_trace_id", str)
UNMATCHED_ROUTE = "unmatched"


def current_trace_id() -> str:
    """The current span's trace id (32 hex digits), "" outside a request."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""


# A refusal replayed from an idempotency record (gateway.edge.idempotency) names the trace of
# the attempt that was refused: its body is then the same bytes as the first answer's.
_REPLAYED_TRACE_ID = "colony_replayed_trace_id"


def mark_replayed(error: DomainError, trace_id: str) -> DomainError:
    """The error, marked as the replay of a refusal first answered in trace trace_id."""
    if trace_id:
        vars(error)[_REPLAYED_TRACE_ID] = trace_id
    return error


def replayed_trace_id(error: DomainError) -> str | None:
    """The trace id of the first answer when error is a replayed refusal, else None."""
    trace_id = vars(error).get(_REPLAYED_TRACE_ID)
    return str(trace_id) if trace_id else None


def _request_span_context() -> trace.SpanContext | None:
    span_context = trace.get_current_span().get_span_context()
    return span_context if span_context.is_valid else None


@web.middleware
async def trace_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Name the request's trace in the answer (header, problem body) and in its log lines."""
    span_context = _request_span_context()
    token = None
    if span_context is None:
        incoming = trace.get_current_span(propagate.extract(request.headers)).get_span_context()
        trace_id = incoming.trace_id if incoming.is_valid else random.getrandbits(128) or 1
        span_context = trace.SpanContext(
            trace_id=trace_id,
            span_id=random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.DEFAULT),
        )
        token = context.attach(trace.set_span_in_context(trace.NonRecordingSpan(span_context)))
    trace_id_hex = format(span_context.trace_id, "032x")
    request[TRACE_ID] = trace_id_hex
    try:
        response = await handler(request)
    finally:
        if token is not None:
            context.detach(token)
    if not response.prepared:
        response.headers[TRACE_ID_HEADER] = trace_id_hex
    return response


def _route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


def http_metrics_middleware() -> Middleware:
    """RED per route: colony_http_server_requests_total and _duration_seconds."""
    export(HTTP_SERVER_REQUESTS, HTTP_SERVER_DURATION)

    @web.middleware
    async def measured(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            route = _route_template(request)
            HTTP_SERVER_DURATION.labels(route, request.method).observe(
                time.perf_counter() - started
            )
            HTTP_SERVER_REQUESTS.labels(route, request.method, str(status)).inc()

    return measured


class StuckSagas:
    """colony_sagas_stuck: unfinished sagas whose lease expired, plus parked ones."""

    def __init__(self, sagas: AsyncCollection[Document], clock: Clock) -> None:
        self._sagas = sagas
        self._clock = clock
        export(SAGAS_STUCK)

    async def read(self) -> None:
        driven = [SagaState.RUNNING.value, SagaState.COMPENSATING.value]
        lapsed = {"state": {"$in": driven}, "lease_until": {"$lt": self._clock.now()}}
        count = self._sagas.count_documents
        stuck = await count(lapsed) + await count({"state": SagaState.PARKED.value})
        SAGAS_STUCK.set(stuck)

    def install(self, app: web.Application) -> None:
        """Refresh every FIGURES_REFRESH_SECONDS while the app runs and metrics are served."""
        refresh = figures_job(self.read)

        async def loop() -> None:
            while True:  # the app's lifetime; each round is two indexed counts
                if enabled():
                    await refresh()
                await asyncio.sleep(FIGURES_REFRESH_SECONDS)

        run_for_app_lifetime(app, "stuck sagas", loop)
