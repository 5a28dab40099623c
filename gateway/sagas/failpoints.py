"""Failpoints: a TEST-ONLY fault-injection hook that SIGKILLs the gateway inside a saga.

Off unless COLONY_SAGA_FAILPOINT is set, and refused at start-up unless COLONY_ENV=dev
(gateway.settings). The crash tests (gateway/tests/test_saga_crash.py) use it to kill a
real gateway process at every point of a saga where a crash could land, then restart it
and show the recovery loop finishes or compensates the saga with money conserved.

Syntax: ``kill-after:<saga>:<step>:<phase>``, for example
``kill-after:merchant_payment:capture_to_merchant:called``.

- ``<saga>:saga:created``: the saga record is written, no step has begun.
- ``<saga>:<step>:started``: the "about to run the step" write is durable, the call is not made.
- ``<saga>:<step>:called``: the call has answered (a result or a refusal), nothing recorded.
- ``<saga>:<step>:done``: the step's outcome is recorded, the next step has not begun.
- ``compensation-started``, ``compensation-called``, ``compensation-done``: the same three
  points around the step's compensation.

The process dies at the first match (os.kill(getpid(), SIGKILL): no cleanup, no flush,
exactly like a power cut or the OOM killer), so one failpoint kills one process once.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from gateway.sagas.definition import NAME_PATTERN

log = logging.getLogger("colony.gateway.sagas")

KILL_AFTER = "kill-after"
# The pseudo step name of points that belong to the saga rather than to one step.
SAGA_POINT = "saga"


class Phase(StrEnum):
    CREATED = "created"
    STARTED = "started"
    CALLED = "called"
    DONE = "done"
    COMPENSATION_STARTED = "compensation-started"
    COMPENSATION_CALLED = "compensation-called"
    COMPENSATION_DONE = "compensation-done"


@dataclass(frozen=True, slots=True)
class Failpoint:
    """Where to kill the process: a saga, one of its steps (or "saga"), a phase."""

    saga_name: str
    step_name: str
    phase: Phase

    @classmethod
    def parse(cls, text: str) -> Failpoint:
        """The failpoint ``kill-after:<saga>:<step>:<phase>``; ValueError if malformed."""
        parts = text.strip().split(":")
        if len(parts) != 4 or parts[0] != KILL_AFTER:
            raise ValueError(f"failpoint {text!r} is not kill-after:<saga>:<step>:<phase>")
        _, saga_name, step_name, phase_text = parts
        if not (NAME_PATTERN.fullmatch(saga_name) and NAME_PATTERN.fullmatch(step_name)):
            raise ValueError(f"failpoint {text!r} names an impossible saga or step")
        try:
            phase = Phase(phase_text)
        except ValueError:
            phases = ", ".join(phase.value for phase in Phase)
            raise ValueError(f"failpoint phase {phase_text!r} is not one of {phases}") from None
        if (step_name == SAGA_POINT) != (phase is Phase.CREATED):
            raise ValueError(f"failpoint {text!r}: 'created' goes with step 'saga' and only it")
        return cls(saga_name, step_name, phase)

    def __str__(self) -> str:
        return f"{KILL_AFTER}:{self.saga_name}:{self.step_name}:{self.phase.value}"


def kill_this_process() -> None:
    """SIGKILL ourselves: nothing after this line runs, no handler, no cleanup."""
    os.kill(os.getpid(), signal.SIGKILL)


class Failpoints:
    """The engine calls reach() at every point; only the configured one kills."""

    def __init__(
        self, failpoint: Failpoint | None, kill: Callable[[], None] = kill_this_process
    ) -> None:
        self._failpoint = failpoint
        self._kill = kill

    def reach(self, saga_name: str, step_name: str, phase: Phase) -> None:
        failpoint = self._failpoint
        if failpoint is None:
            return
        if (failpoint.saga_name, failpoint.step_name, failpoint.phase) == (
            saga_name,
            step_name,
            phase,
        ):
            log.critical("failpoint reached: killing the process", extra={"at": str(failpoint)})
            self._kill()
