"""The saga engine: drives a saga forward, or back through its compensations, under a lease.

One *pass* claims a saga's lease, runs steps until the saga finishes, parks, or a step's
attempts for this pass are spent, then lets the lease go. Every step is write-ahead logged
(gateway.sagas.log): "about to run step k" is durable before the call, "step k done with
its result" before step k+1 begins, so a crash between any two points leaves a log from
which any replica can carry on, and re-running a step is safe because its key is derived
from the saga id and the step name (gateway.sagas.definition). A step skipped for the
saga's input (Step.skip) is SKIPPED in the saga's first record and never logged, called or
compensated: it has no effect to make durable.

What a step's failure means:
- a refusal (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...) certainly changed
  nothing: the steps before it are compensated in reverse order, unless a step past the
  point of no return is done, in which case the saga is parked for an operator;
- anything else (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, a service fault) leaves the
  outcome unknown: the step is retried with the same key, with exponential backoff, at most
  ``attempts_per_pass`` times per pass; the saga then waits, RUNNING or COMPENSATING, for
  the recovery loop's next pass. After ``attempts_max`` attempts in all, a step with a
  compensation is given up (it and the steps before it are compensated), while a
  retry-forward step or a compensation parks the saga.
A refused compensation parks the saga at once: something outside the saga moved.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.errors import PyMongoError

from chassis.clock import Clock
from chassis.errors import DomainError, ErrorKind, FailedPrecondition
from gateway.clients import ServiceFault
from gateway.sagas.definition import (
    RETRY_FORWARD,
    JsonObject,
    SagaDefinition,
    SagaState,
    StepContext,
    StepStatus,
    may_compensate,
    steps_to_compensate,
)
from gateway.sagas.failpoints import SAGA_POINT, Failpoints, Phase
from gateway.sagas.log import LeaseLost, SagaLog, SagaRecord, StepError
from gateway.sagas.retry import RetryPolicy
from gateway.sagas.tracing import traced_pass, traced_step

log = logging.getLogger("colony.gateway.sagas")

# A saga claimed this many times without finishing needs an operator (a bug that fails
# every pass before any attempt is counted, or a lease lost again and again).
CLAIMS_MAX = 100
# The recovery loop's round: at most this many sagas, this many driven at once.
RECOVERY_BATCH_MAX = 50
RECOVERY_CONCURRENCY = 8
# A request waiting for a saga another claim is driving polls with backoff, bounded.
POLL_INTERVAL_SECONDS_FIRST = 0.01
POLL_INTERVAL_SECONDS_MAX = 0.2
POLLS_MAX = 1_000
# The lease is renewed three times per lease period while a pass runs; bounded regardless.
RENEWALS_PER_LEASE = 3
RENEWALS_MAX = 100_000


@dataclass(frozen=True, slots=True)
class _Done:
    record: SagaRecord


@dataclass(frozen=True, slots=True)
class _Refused:
    record: SagaRecord
    error: StepError


@dataclass(frozen=True, slots=True)
class _OutOfAttempts:
    record: SagaRecord
    error: StepError


@dataclass(frozen=True, slots=True)
class _Paused:
    """This pass's attempts are spent; the saga waits for the next pass."""

    record: SagaRecord


_Outcome = _Done | _Refused | _OutOfAttempts | _Paused


def _given_up(step_name: str, attempts: int, last_error: StepError | None) -> StepError:
    """The error a saga answers with when a step never got a definite answer."""
    code = last_error.code if last_error is not None else ErrorKind.UNAVAILABLE.name
    if code not in (ErrorKind.UNAVAILABLE.name, ErrorKind.DEADLINE_EXCEEDED.name):
        code = ErrorKind.UNAVAILABLE.name
    return StepError(
        code=code,
        reason="UNAVAILABLE",
        message=(
            f"the operation could not finish: its {step_name} step got no answer in "
            f"{attempts} attempts, so it was undone; send a new request with a new "
            "Idempotency-Key to try again"
        ),
        metadata={"step": step_name},
    )


class SagaEngine:
    """Starts, resumes and recovers the sagas of the definitions it is given."""

    def __init__(
        self,
        saga_log: SagaLog,
        definitions: Iterable[SagaDefinition],
        clock: Clock,
        *,
        instance_id: str,
        lease_seconds: float,
        retry: RetryPolicy,
        failpoints: Failpoints | None = None,
    ) -> None:
        self._log = saga_log
        self._definitions: dict[str, SagaDefinition] = {}
        for definition in definitions:
            assert definition.name not in self._definitions, f"saga {definition.name} twice"
            self._definitions[definition.name] = definition
        self._clock = clock
        self._instance_id = instance_id
        self._lease_seconds = lease_seconds
        self._retry = retry
        self._failpoints = failpoints or Failpoints(None)
        self._tasks: set[asyncio.Task[SagaRecord | None]] = set()

    @property
    def instance_id(self) -> str:
        return self._instance_id

    def definition(self, saga_name: str) -> SagaDefinition:
        return self._definitions[saga_name]

    async def get(self, saga_id: str) -> SagaRecord | None:
        return await self._log.get(saga_id)

    async def list_unfinished(
        self, states: Iterable[SagaState], stuck_for_seconds: int, limit: int
    ) -> list[SagaRecord]:
        """Unfinished sagas that have not progressed for stuck_for_seconds, oldest first."""
        wanted = tuple(states)
        assert wanted and not any(state.is_final for state in wanted), wanted
        updated_before = self._clock.now() - timedelta(seconds=stuck_for_seconds)
        return await self._log.list_unfinished(wanted, updated_before, limit)

    # Starting and resuming.

    async def start(
        self,
        definition: SagaDefinition,
        *,
        saga_id: str,
        owner_user_id: str,
        saga_input: JsonObject,
        fingerprint: str,
        wait_seconds: float,
    ) -> SagaRecord:
        """Create the saga (or find it, for a retried request) and drive it for wait_seconds.

        Returns the saga as it stands when it finished, parked, or the wait ran out; in the
        last case it goes on in the background and the recovery loop finishes it if needed.
        """
        assert self._definitions.get(definition.name) is definition, definition.name
        token = uuid.uuid4().hex
        now = self._clock.now()
        created = await self._log.create(
            definition,
            saga_id=saga_id,
            owner_user_id=owner_user_id,
            fingerprint=fingerprint,
            saga_input=saga_input,
            lease_owner=self._instance_id,
            lease_token=token,
            lease_until=self._lease_until(),
            now=now,
        )
        if created is None:
            existing = await self._log.get(saga_id)
            assert existing is not None, f"saga {saga_id} vanished"
            if (existing.saga_name, existing.owner_user_id, existing.fingerprint) != (
                definition.name,
                owner_user_id,
                fingerprint,
            ):
                raise FailedPrecondition(
                    "this Idempotency-Key was already used for a different request; "
                    "use a new key for a new request",
                    reason="IDEMPOTENCY_KEY_REUSED",
                )
            return await self.drive_or_wait(saga_id, wait_seconds)
        log.info("saga started", extra={"saga": definition.name, "saga_id": saga_id})
        self._failpoints.reach(definition.name, SAGA_POINT, Phase.CREATED)
        return await self._drive_and_wait(created, token, wait_seconds)

    async def drive_or_wait(self, saga_id: str, wait_seconds: float) -> SagaRecord:
        """Drive the saga if nobody holds it, else wait (bounded) for whoever does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        poll_interval_seconds = POLL_INTERVAL_SECONDS_FIRST
        record: SagaRecord | None = None
        for _ in range(POLLS_MAX):
            token = uuid.uuid4().hex
            claimed = await self._claim(saga_id, token)
            if claimed is not None:
                return await self._drive_and_wait(claimed, token, deadline - loop.time())
            record = await self._log.get(saga_id)
            assert record is not None, f"saga {saga_id} vanished"
            remaining_seconds = deadline - loop.time()
            if not record.state.is_driven or remaining_seconds <= 0:
                return record
            await asyncio.sleep(min(poll_interval_seconds, remaining_seconds))
            poll_interval_seconds = min(poll_interval_seconds * 2, POLL_INTERVAL_SECONDS_MAX)
        assert record is not None
        return record

    async def resume(self, saga_id: str) -> SagaRecord | None:
        """One pass over the saga if its lease is free (expired or released); else None."""
        token = uuid.uuid4().hex
        claimed = await self._claim(saga_id, token)
        if claimed is None:
            return None
        return await self._drive(claimed, token)

    def resume_soon(self, saga_id: str) -> None:
        """Start a pass in the background (after an operator's retry)."""
        self._track(asyncio.create_task(self.resume(saga_id), name=f"saga {saga_id}"))

    async def recover_once(self) -> int:
        """One round of the recovery loop: resume sagas whose lease expired; how many passes ran."""
        due = await self._log.due_for_recovery(self._clock.now(), RECOVERY_BATCH_MAX)
        if not due:
            return 0
        gate = asyncio.Semaphore(RECOVERY_CONCURRENCY)

        async def resume_one(saga_id: str) -> bool:
            async with gate:
                try:
                    return await self.resume(saga_id) is not None
                except Exception:
                    # One saga's failure (a bug in a step, the database away) must not stop
                    # the others; its attempts are counted, so it cannot fail forever.
                    log.exception("saga recovery pass failed", extra={"saga_id": saga_id})
                    return False

        resumed = await asyncio.gather(*(resume_one(saga_id) for saga_id in due))
        return sum(resumed)

    async def retry_parked(self, saga_id: str) -> SagaRecord | None:
        """Un-park a saga with fresh attempt budgets and drive it again; None if not parked."""
        record = await self._log.get(saga_id)
        if record is None or record.state is not SagaState.PARKED:
            return None
        assert record.parked_from is not None
        unparked = await self._log.unpark(
            saga_id,
            resume_state=record.parked_from,
            step_count=len(record.steps),
            now=self._clock.now(),
        )
        if unparked is not None:
            self.resume_soon(saga_id)
        return unparked

    async def close(self) -> None:
        """Stop the passes running in the background; their leases lapse and others resume."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # One pass.

    def _lease_until(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self._lease_seconds)

    async def _claim(self, saga_id: str, token: str) -> SagaRecord | None:
        return await self._log.claim(
            saga_id,
            lease_owner=self._instance_id,
            lease_token=token,
            lease_until=self._lease_until(),
            now=self._clock.now(),
        )

    def _track(self, task: asyncio.Task[SagaRecord | None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[SagaRecord | None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("saga pass failed", exc_info=task.exception())

    async def _drive_and_wait(
        self, record: SagaRecord, token: str, wait_seconds: float
    ) -> SagaRecord:
        """Drive in a task of its own, so the pass goes on after the wait (or the request) ends."""
        task: asyncio.Task[SagaRecord | None] = asyncio.create_task(
            self._drive(record, token), name=f"saga {record.saga_id}"
        )
        self._track(task)
        done, _ = await asyncio.wait({task}, timeout=max(wait_seconds, 0.0))
        if task in done:
            driven = task.result()
            assert driven is not None
            return driven
        current = await self._log.get(record.saga_id)
        return current or record

    async def _drive(self, record: SagaRecord, token: str) -> SagaRecord:
        """One pass under the lease token; the lease is renewed throughout and let go after."""
        definition = self._definitions.get(record.saga_name)
        if definition is None:
            # A replica that does not know this saga (a rolling deploy): leave it to others.
            log.error("unknown saga definition", extra={"saga": record.saga_name})
            return await self._log.release(record.saga_id, token, self._clock.now()) or record
        renewer = asyncio.create_task(self._keep_lease(record.saga_id, token))
        driven: SagaRecord | None = None
        try:
            driven = await self._pass(definition, record, token)
        except LeaseLost:
            log.warning("saga lease lost mid-pass", extra={"saga_id": record.saga_id})
            return await self._log.get(record.saga_id) or record
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            if driven is None or driven.state.is_driven:
                # Unfinished (its attempts for this pass spent, or an error): let the lease
                # go now rather than when it expires, so the next pass can begin at once.
                released = await asyncio.shield(self._let_go(record.saga_id, token))
                driven = released or driven
        assert driven is not None
        return driven

    async def _let_go(self, saga_id: str, token: str) -> SagaRecord | None:
        try:
            return await self._log.release(saga_id, token, self._clock.now())
        except PyMongoError as error:  # the lease lapses by itself
            log.warning("could not release a saga lease: %s", error)
            return None

    async def _keep_lease(self, saga_id: str, token: str) -> None:
        interval_seconds = self._lease_seconds / RENEWALS_PER_LEASE
        for _ in range(RENEWALS_MAX):
            await asyncio.sleep(interval_seconds)
            try:
                if not await self._log.renew(saga_id, token, self._lease_until()):
                    return  # taken over: the next write of the pass raises LeaseLost
            except PyMongoError as error:
                log.warning("could not renew a saga lease: %s", error)

    @traced_pass
    async def _pass(self, definition: SagaDefinition, record: SagaRecord, token: str) -> SagaRecord:
        if record.claims > CLAIMS_MAX:
            return await self._log.park(
                record.saga_id,
                token,
                parked_from=record.state,
                reason=f"claimed {record.claims} times without finishing",
                error=None,
                now=self._clock.now(),
            )
        logged_steps = tuple(step.name for step in record.steps)
        if logged_steps != definition.step_names:
            # Written by another version of this saga (its steps changed since): the steps
            # are matched by position, so driving it could skip or repeat a call. An
            # operator finishes it by hand.
            return await self._log.park(
                record.saga_id,
                token,
                parked_from=record.state,
                reason=f"its log has the steps {', '.join(logged_steps)}; this version of "
                f"{definition.name} has {', '.join(definition.step_names)}",
                error=None,
                now=self._clock.now(),
            )
        if record.state is SagaState.RUNNING:
            record = await self._forward(definition, record, token)
        if record.state is SagaState.COMPENSATING:
            record = await self._compensate(definition, record, token)
        return record

    async def _forward(
        self, definition: SagaDefinition, record: SagaRecord, token: str
    ) -> SagaRecord:
        for index, step in enumerate(definition.steps):
            status = record.steps[index].status
            if status in (StepStatus.DONE, StepStatus.SKIPPED):
                continue
            # REFUSED here is a step an operator has sent to be tried again (retry_parked):
            # a refusal changed nothing, so it is run like a step never run.
            assert status in (StepStatus.PENDING, StepStatus.STARTED, StepStatus.REFUSED), (
                f"saga {record.saga_id} is running with step {step.name} {status}"
            )
            outcome = await self._attempts(definition, record, token, index, compensation=False)
            record = outcome.record
            if isinstance(outcome, _Done):
                continue
            if isinstance(outcome, _Paused):
                return record
            now = self._clock.now()
            if isinstance(outcome, _Refused):
                statuses = list(record.statuses)
                statuses[index] = StepStatus.REFUSED
                if may_compensate(definition, statuses):
                    return await self._log.step_refused(
                        record.saga_id,
                        token,
                        index,
                        outcome.error,
                        now=now,
                        lease_until=self._lease_until(),
                    )
                return await self._log.park(
                    record.saga_id,
                    token,
                    parked_from=SagaState.RUNNING,
                    reason=f"step {step.name} was refused past the point of no return "
                    f"({outcome.error.reason})",
                    error=outcome.error,
                    step_index=index,
                    step_refused=True,
                    now=now,
                )
            attempts = record.steps[index].attempts
            if step.compensation is RETRY_FORWARD or not may_compensate(
                definition, record.statuses
            ):
                return await self._log.park(
                    record.saga_id,
                    token,
                    parked_from=SagaState.RUNNING,
                    reason=f"step {step.name} did not succeed in {attempts} attempts",
                    error=outcome.error,
                    step_index=index,
                    now=now,
                )
            return await self._log.begin_compensation(
                record.saga_id,
                token,
                _given_up(step.name, attempts, outcome.error),
                now=now,
                lease_until=self._lease_until(),
            )
        return await self._log.finish(
            record.saga_id,
            token,
            SagaState.COMPLETED,
            result=definition.outcome(record.input, record.results()),
            now=self._clock.now(),
        )

    async def _compensate(
        self, definition: SagaDefinition, record: SagaRecord, token: str
    ) -> SagaRecord:
        for index in steps_to_compensate(definition, record.statuses):
            step = definition.steps[index]
            outcome = await self._attempts(definition, record, token, index, compensation=True)
            record = outcome.record
            if isinstance(outcome, _Done):
                continue
            if isinstance(outcome, _Paused):
                return record
            if isinstance(outcome, _Refused):
                reason = (
                    f"the compensation of step {step.name} was refused ({outcome.error.reason})"
                )
            else:
                attempts = record.steps[index].compensation_attempts
                reason = f"the compensation of step {step.name} failed {attempts} times"
            return await self._log.park(
                record.saga_id,
                token,
                parked_from=SagaState.COMPENSATING,
                reason=reason,
                error=outcome.error,
                step_index=index,
                now=self._clock.now(),
            )
        return await self._log.finish(
            record.saga_id, token, SagaState.COMPENSATED, result=None, now=self._clock.now()
        )

    @traced_step
    async def _attempts(
        self,
        definition: SagaDefinition,
        record: SagaRecord,
        token: str,
        index: int,
        *,
        compensation: bool,
    ) -> _Outcome:
        """Try step index (or its compensation) up to attempts_per_pass times in this pass."""
        step = definition.steps[index]
        call = step.compensation if compensation else step.action
        assert call is not RETRY_FORWARD, f"step {step.name} has no compensation"
        started, called, done = (
            (Phase.COMPENSATION_STARTED, Phase.COMPENSATION_CALLED, Phase.COMPENSATION_DONE)
            if compensation
            else (Phase.STARTED, Phase.CALLED, Phase.DONE)
        )
        for failures in range(1, self._retry.attempts_per_pass + 1):
            step_record = record.steps[index]
            used = step_record.compensation_attempts if compensation else step_record.attempts
            if used >= self._retry.attempts_max:
                error = step_record.last_error or _given_up(step.name, used, None)
                return _OutOfAttempts(record, error)
            record = await self._log.start_attempt(
                record.saga_id,
                token,
                index,
                compensation=compensation,
                now=self._clock.now(),
                lease_until=self._lease_until(),
            )
            self._failpoints.reach(definition.name, step.name, started)
            context = StepContext(record.saga_id, step.name, record.input, record.results())
            try:
                result = await call(context)
            except DomainError as error:
                self._failpoints.reach(definition.name, step.name, called)
                failure = StepError.of(error)
                if error.is_refusal:
                    log.info(
                        "saga step refused",
                        extra={
                            "saga_id": record.saga_id,
                            "step": step.name,
                            "reason": error.reason,
                        },
                    )
                    return _Refused(record, failure)
                log.warning(
                    "saga step failed, will retry",
                    extra={"saga_id": record.saga_id, "step": step.name, "reason": error.reason},
                )
            except ServiceFault as fault:
                self._failpoints.reach(definition.name, step.name, called)
                log.error("saga step: service fault: %s", fault, extra={"step": step.name})
                failure = StepError("UNKNOWN", "SERVICE_FAULT", str(fault), {})
            else:
                self._failpoints.reach(definition.name, step.name, called)
                assert isinstance(result, dict), f"step {step.name} returned {type(result)}"
                now = self._clock.now()
                if compensation:
                    record = await self._log.step_compensated(
                        record.saga_id, token, index, now=now, lease_until=self._lease_until()
                    )
                else:
                    record = await self._log.step_done(
                        record.saga_id,
                        token,
                        index,
                        result,
                        now=now,
                        lease_until=self._lease_until(),
                    )
                self._failpoints.reach(definition.name, step.name, done)
                return _Done(record)
            record = await self._log.attempt_failed(
                record.saga_id,
                token,
                index,
                failure,
                now=self._clock.now(),
                lease_until=self._lease_until(),
            )
            if failures < self._retry.attempts_per_pass:
                await asyncio.sleep(self._retry.backoff_seconds(failures))
        return _Paused(record)
