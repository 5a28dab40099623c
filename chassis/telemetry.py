"""Telemetry set up once per process: JSON logs carrying trace ids, OpenTelemetry traces,
Prometheus metrics.

Handlers never open spans by hand: gRPC server/client and PyMongo instrumentation
(and aiohttp in the gateway) produce them, and trace context travels in gRPC metadata. The
exceptions are the saga engine's saga and step spans (gateway.sagas.tracing) and a feed
consumer's span per batch, which links to the spans that appended its events: an event
carries its producer's W3C trace context (``trace_context_now`` at append,
``links_to`` at consumption).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from chassis.settings import TelemetrySettings

# The W3C trace-context header an event carries (colony.common.v1.Event.trace_context).
TRACEPARENT = "traceparent"

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace ids, extra fields."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self._service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service_name,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            payload["trace_id"] = f"{span_context.trace_id:032x}"
            payload["span_id"] = f"{span_context.span_id:016x}"
        payload.update(
            {key: value for key, value in record.__dict__.items() if key not in _RESERVED}
        )
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(settings: TelemetrySettings) -> None:
    """Send every log record to stdout as JSON at the configured level."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(settings.service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("pymongo").setLevel(logging.WARNING)


def configure_tracing(settings: TelemetrySettings, *, instrument_grpc_server: bool) -> None:
    """Install a tracer provider exporting over OTLP, when an endpoint is configured.

    Instruments gRPC clients (so context propagates in metadata), the gRPC server when this
    process serves gRPC, and PyMongo (commands become child spans). With no endpoint
    nothing is instrumented: spans nobody collects would only cost time on every call.
    """
    if not settings.otlp_endpoint:
        return
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
    )
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    GrpcAioInstrumentorClient().instrument()  # type: ignore[no-untyped-call]
    if instrument_grpc_server:
        GrpcAioInstrumentorServer().instrument()  # type: ignore[no-untyped-call]
    PymongoInstrumentor().instrument()


def configure_metrics(settings: TelemetrySettings, host: str) -> int:
    """Serve GET /metrics on COLONY_METRICS_PORT (bound to host); 0 and nothing when unset."""
    if not settings.metrics_port:
        return 0
    from chassis.metrics import serve

    return serve(settings.metrics_port, host)


def trace_context_now() -> dict[str, str]:
    """The current span's W3C trace context (traceparent, tracestate); {} with no span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def links_to(contexts: Iterable[Mapping[str, str]]) -> list[trace.Link]:
    """Span links to the spans whose trace contexts these are (invalid ones skipped)."""
    links = []
    for carrier in contexts:
        if TRACEPARENT not in carrier:
            continue
        span_context = trace.get_current_span(propagate.extract(carrier)).get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    return links
