"""Spans and outcome counts of the saga engine, kept out of its control flow.

``traced_pass`` wraps one pass of a saga (SagaEngine._pass): a span ``saga <name>`` with the
saga id, and the outcome counted (colony_saga_outcomes_total) when the pass ends the saga or
parks it. ``traced_step`` wraps the attempts at one step or its compensation: a span
``saga step <name>`` (``saga compensate <name>``) with the saga id, under which the step's
gRPC client calls run. With no tracer provider installed (no OTLP endpoint) the spans are
the API's no-op ones.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from opentelemetry import trace

from chassis.metrics import SAGA_OUTCOMES, export
from gateway.sagas.definition import SagaDefinition, SagaState
from gateway.sagas.log import SagaRecord

_tracer = trace.get_tracer("colony.sagas")

SAGA_ID = "colony.saga.id"
SAGA_NAME = "colony.saga.name"
STEP_NAME = "colony.saga.step"
# A pass that ends in one of these states is counted as that outcome.
OUTCOMES = {
    SagaState.COMPLETED: "completed",
    SagaState.COMPENSATED: "compensated",
    SagaState.PARKED: "parked",
}

R = TypeVar("R")
Engine = TypeVar("Engine")


def traced_pass(
    method: Callable[[Engine, SagaDefinition, SagaRecord, str], Awaitable[SagaRecord]],
) -> Callable[[Engine, SagaDefinition, SagaRecord, str], Awaitable[SagaRecord]]:
    """Span one pass of a saga, and count the outcome it reaches."""
    export(SAGA_OUTCOMES)

    @functools.wraps(method)
    async def pass_in_span(
        engine: Engine, definition: SagaDefinition, record: SagaRecord, token: str
    ) -> SagaRecord:
        with _tracer.start_as_current_span(
            f"saga {definition.name}",
            attributes={SAGA_ID: record.saga_id, SAGA_NAME: definition.name},
        ) as span:
            result = await method(engine, definition, record, token)
            span.set_attribute("colony.saga.state", result.state.value)
        outcome = OUTCOMES.get(result.state)
        if outcome is not None:
            SAGA_OUTCOMES.labels(definition.name, outcome).inc()
        return result

    return pass_in_span


def traced_step(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Span the attempts at one step (or its compensation) within a pass."""

    @functools.wraps(method)
    async def step_in_span(
        engine: Engine,
        definition: SagaDefinition,
        record: SagaRecord,
        token: str,
        index: int,
        *args: Any,
        **kwargs: Any,
    ) -> R:
        step = definition.steps[index].name
        compensation = bool(kwargs.get("compensation", False))
        with _tracer.start_as_current_span(
            f"saga {'compensate' if compensation else 'step'} {step}",
            attributes={SAGA_ID: record.saga_id, SAGA_NAME: definition.name, STEP_NAME: step},
        ):
            return await method(engine, definition, record, token, index, *args, **kwargs)

    return step_in_span
