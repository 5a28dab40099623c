"""What a saga is: a named, ordered list of steps, and the keys each step calls with.

Pure: no I/O, no clients. A step's ``action`` and ``compensation`` are coroutines the
definition module writes over a service client (see gateway.sagas for how to declare one);
the engine (gateway.sagas.engine) runs them and the log (gateway.sagas.log) records them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Literal

# A name shows in the saga log, in failpoints and in keys: short, lower-case, no colons.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
STEPS_MAX = 16
# Payment hold ids are at most 200 characters; a step key stays well inside that.
SAGA_ID_HEX_LENGTH = 32

JsonObject = dict[str, Any]


class SagaState(StrEnum):
    """Where a saga is. RUNNING and COMPENSATING are driven; the rest wait or are final."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    # Needs an operator: a compensation that keeps failing, a step past the point of no
    # return refused or out of attempts. Only POST /v1/admin/operations/{id}/retry moves it.
    PARKED = "parked"

    @property
    def is_driven(self) -> bool:
        return self in (SagaState.RUNNING, SagaState.COMPENSATING)

    @property
    def is_final(self) -> bool:
        return self in (SagaState.COMPLETED, SagaState.COMPENSATED)


class StepStatus(StrEnum):
    """One step's progress, as the write-ahead log records it."""

    PENDING = "pending"
    # Written before the call: the call may or may not have taken effect.
    STARTED = "started"
    DONE = "done"
    # The service refused the call: it certainly did not take effect.
    REFUSED = "refused"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    # Nothing to do for this saga's input (Step.skip): written so when the saga is created,
    # never called, never compensated.
    SKIPPED = "skipped"


class _RetryForward(Enum):
    RETRY_FORWARD = "retry_forward"


# The marker of a step past the point of no return: it has no compensation, and once a
# step before it is done it is retried until it succeeds (or parked for an operator).
RETRY_FORWARD: Literal[_RetryForward.RETRY_FORWARD] = _RetryForward.RETRY_FORWARD


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a step's action (or compensation) is given."""

    saga_id: str
    step_name: str
    # The saga's input as it was created (JSON values only).
    input: Mapping[str, Any]
    # The results of the steps done before this one, by step name.
    results: Mapping[str, JsonObject]

    @property
    def key(self) -> str:
        """This step's idempotency key (or hold id): the same on every re-run."""
        return step_key(self.saga_id, self.step_name)

    @property
    def compensation_key(self) -> str:
        """The key of this step's compensation, for RPCs that need a key of their own."""
        return step_key(self.saga_id, self.step_name) + ":compensation"

    def key_of(self, step_name: str) -> str:
        """The key of an earlier step (the hold id a capture step captures)."""
        return step_key(self.saga_id, step_name)


StepCall = Callable[[StepContext], Awaitable[JsonObject]]
# Whether a step has nothing to do for a saga's input: a pure function of the input alone
# (never of time, of a service or of other steps), so every replica, at any time, decides
# the same; the log records the decision once, when the saga is created.
SkipWhen = Callable[[Mapping[str, Any]], bool]
# The result of a skipped step, as later steps and the outcome read it.
SKIPPED_RESULT: JsonObject = {"skipped": True}


@dataclass(frozen=True, slots=True)
class Step:
    """One call of a saga, and how it is undone (or that it is never undone)."""

    name: str
    # Calls one service once with ctx.key; returns a JSON object for later steps.
    # Re-running it with the same context must give the same outcome (an idempotent RPC).
    action: StepCall
    # Undoes the action. Must be idempotent and must succeed when the action never took
    # effect (a crash may leave the action's outcome unknown): VoidHold leaves a tombstone.
    compensation: StepCall | Literal[_RetryForward.RETRY_FORWARD]
    # When the step has nothing to do for the saga's input (a Yu'e Bao step of a payment
    # with no Yu'e Bao part): such a step is logged SKIPPED in the saga's first record, with
    # SKIPPED_RESULT, and costs no log write, call or compensation. None: it always runs.
    skip: SkipWhen | None = None

    def __post_init__(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name):
            raise ValueError(f"step name {self.name!r} must match {NAME_PATTERN.pattern}")

    @property
    def retries_forward(self) -> bool:
        return self.compensation is RETRY_FORWARD

    def skipped_for(self, saga_input: Mapping[str, Any]) -> bool:
        return self.skip is not None and self.skip(saga_input)


# Builds the public result of a completed saga (GET /v1/operations/{id}, the 201 answer)
# from its input and its steps' results: no keys, no hold ids, nothing secret.
OutcomeBuilder = Callable[[Mapping[str, Any], Mapping[str, JsonObject]], JsonObject]


@dataclass(frozen=True, slots=True)
class SagaDefinition:
    """A named, ordered list of steps and the public outcome of running them all."""

    name: str
    steps: Sequence[Step]
    outcome: OutcomeBuilder
    # A one-line description for operators and the OpenAPI document.
    summary: str = ""
    step_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name):
            raise ValueError(f"saga name {self.name!r} must match {NAME_PATTERN.pattern}")
        if not 1 <= len(self.steps) <= STEPS_MAX:
            raise ValueError(f"a saga has 1 to {STEPS_MAX} steps")
        names = tuple(step.name for step in self.steps)
        if len(set(names)) != len(names):
            raise ValueError(f"saga {self.name} names a step twice: {names}")
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "step_names", names)

    def index_of(self, step_name: str) -> int:
        return self.step_names.index(step_name)


def derive_saga_id(user_id: str, idempotency_key: str, attempt: int = 0) -> str:
    """The saga a user's HTTP Idempotency-Key starts: the same for every retry of the request.

    attempt > 0 names the saga of a later attempt of the same request: one that answers a
    risk challenge which undid the attempt before it (gateway.operations.start).
    """
    text = f"saga\n{user_id}\n{idempotency_key}" + (f"\n{attempt}" if attempt else "")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return digest[:SAGA_ID_HEX_LENGTH]


def step_key(saga_id: str, step_name: str) -> str:
    """A step's idempotency key (and hold id): deterministic in the saga id and step name."""
    return f"saga:{saga_id}:{step_name}"


def may_compensate(definition: SagaDefinition, statuses: Sequence[StepStatus]) -> bool:
    """True while no step past the point of no return has (or may have) taken effect."""
    return not any(
        step.retries_forward and status in (StepStatus.STARTED, StepStatus.DONE)
        for step, status in zip(definition.steps, statuses, strict=True)
    )


def steps_to_compensate(definition: SagaDefinition, statuses: Sequence[StepStatus]) -> list[int]:
    """Indexes of the steps to undo, last first: every step that did or may have taken effect.

    A STARTED step's outcome is unknown, so it is undone too (its compensation tolerates an
    action that never happened); a REFUSED or SKIPPED step certainly changed nothing.
    """
    undoable = (StepStatus.STARTED, StepStatus.DONE, StepStatus.COMPENSATING)
    indexes = [
        index
        for index, (step, status) in enumerate(zip(definition.steps, statuses, strict=True))
        if status in undoable and not step.retries_forward
    ]
    return indexes[::-1]
