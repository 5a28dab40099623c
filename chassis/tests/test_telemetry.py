"""Trace context carried by events: what an appender records is what a consumer links to."""

from __future__ import annotations

from opentelemetry import trace

from chassis.telemetry import links_to, trace_context_now

SPAN = trace.SpanContext(
    trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
    span_id=0x00F067AA0BA902B7,
    is_remote=False,
    trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
)


def test_no_span_no_context() -> None:
    assert trace_context_now() == {}
    assert links_to([{}, {"traceparent": "00-garbage"}]) == []


def test_the_appenders_span_is_what_the_consumer_links_to() -> None:
    with trace.use_span(trace.NonRecordingSpan(SPAN)):
        carried = trace_context_now()
    assert carried["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    [link] = links_to([carried, {}])
    assert (link.context.trace_id, link.context.span_id) == (SPAN.trace_id, SPAN.span_id)
