"""What the ABS crash tests share (test_abs_units_crash, test_abs_pass_through_crash): the
failpoints of a saga whose every step retries forward, with the statuses each leaves, and a
restarted gateway's recovery loop finishing a saga."""

from __future__ import annotations

import aiohttp

from gateway.sagas.definition import SagaDefinition, SagaState, StepStatus
from gateway.sagas.failpoints import SAGA_POINT, Failpoint, Phase
from gateway.sagas.log import SagaLog
from gateway.tests.saga_support import FINISHED_WITHIN_SECONDS, GatewayProcess, eventually

_PENDING, _STARTED, _DONE = StepStatus.PENDING, StepStatus.STARTED, StepStatus.DONE


def forward_points(saga: SagaDefinition) -> dict[str, tuple[StepStatus, ...]]:
    """Each failpoint (the saga written; each step started, called, done) and the step
    statuses a kill there leaves."""
    steps = saga.step_names

    def after(step_name: str, phase: Phase) -> tuple[StepStatus, ...]:
        index = saga.index_of(step_name)
        at_kill = _DONE if phase is Phase.DONE else _STARTED
        return (_DONE,) * index + (at_kill,) + (_PENDING,) * (len(steps) - index - 1)

    return {
        str(Failpoint(saga.name, SAGA_POINT, Phase.CREATED)): (_PENDING,) * len(steps),
        **{
            str(Failpoint(saga.name, name, phase)): after(name, phase)
            for name in steps
            for phase in (Phase.STARTED, Phase.CALLED, Phase.DONE)
        },
    }


async def recovered(
    restarted: GatewayProcess,
    session: aiohttp.ClientSession,
    saga_log: SagaLog,
    operation_id: str,
) -> str:
    """Start a gateway without a failpoint; the state its recovery loop finishes the saga in
    (never parked)."""
    await restarted.start(session)

    async def final() -> str | None:
        record = await saga_log.get(operation_id)
        assert record is not None
        assert record.state is not SagaState.PARKED, record
        return record.state.value if record.state.is_final else None

    try:
        return await eventually(final, FINISHED_WITHIN_SECONDS, f"{operation_id} finishes")
    finally:
        await restarted.stop()
