"""The durable saga log: collection ``sagas`` of the gateway database, one document per saga.

``{_id: saga_id, saga, owner_user_id, fingerprint, input, state, steps: [{name, status,
attempts, compensation_attempts, result, last_error, started_at, finished_at,
compensated_at}], result, error, parked_from, parked_reason, lease_owner, lease_token,
lease_until, claims, created_at, updated_at, finished_at}``

The lease: whoever drives a saga holds it. ``lease_owner`` is the gateway instance (for
operators), ``lease_token`` is this one claim (fencing: every write made while driving is
conditioned on it, so a replica whose lease lapsed cannot overwrite its successor's
progress), ``lease_until`` is when others may take it over. A claim is one
find_one_and_update on a saga whose lease is expired or released; every write renews it.
``claims`` counts the claims, a last bound on a saga that never finishes.
``updated_at`` moves with progress only (not with lease renewals): "stuck for" is measured
from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chassis.errors import DomainError, ErrorKind
from gateway.sagas.definition import (
    SKIPPED_RESULT,
    JsonObject,
    SagaDefinition,
    SagaState,
    StepStatus,
)

Document = dict[str, Any]
LIST_LIMIT_MAX = 100


class LeaseLost(Exception):
    """This claim's lease was taken over (it lapsed): stop driving, the new holder goes on."""


@dataclass(frozen=True, slots=True)
class StepError:
    """A service's refusal or failure, as recorded: enough to answer it again, byte for byte."""

    code: str  # an ErrorKind name (the canonical status code's name)
    reason: str
    message: str
    metadata: dict[str, str]

    @classmethod
    def of(cls, error: DomainError) -> StepError:
        return cls(error.kind.name, error.reason, error.message, dict(error.metadata))

    def to_domain_error(self) -> DomainError:
        return DomainError(
            self.message,
            reason=self.reason,
            metadata=self.metadata,
            kind=ErrorKind[self.code],
        )

    def to_document(self) -> Document:
        return {
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
            "metadata": self.metadata,
        }

    @classmethod
    def from_document(cls, document: Document | None) -> StepError | None:
        if document is None:
            return None
        return cls(document["code"], document["reason"], document["message"], document["metadata"])


@dataclass(frozen=True, slots=True)
class StepRecord:
    name: str
    status: StepStatus
    attempts: int
    compensation_attempts: int
    result: JsonObject | None
    last_error: StepError | None
    started_at: datetime | None
    finished_at: datetime | None
    compensated_at: datetime | None


@dataclass(frozen=True, slots=True)
class SagaRecord:
    """One saga as the log holds it."""

    saga_id: str
    saga_name: str
    owner_user_id: str
    fingerprint: str
    input: JsonObject
    state: SagaState
    steps: tuple[StepRecord, ...]
    # The public outcome of a COMPLETED saga.
    result: JsonObject | None
    # Why it compensated or parked: the refusal, or the failure that used up the attempts.
    error: StepError | None
    parked_from: SagaState | None
    parked_reason: str
    lease_owner: str | None
    lease_until: datetime
    claims: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def statuses(self) -> tuple[StepStatus, ...]:
        return tuple(step.status for step in self.steps)

    def results(self) -> dict[str, JsonObject]:
        """The results of the steps that are done (or were done before being undone), and
        the skipped steps' SKIPPED_RESULT."""
        return {step.name: step.result for step in self.steps if step.result is not None}


def _step_from_document(document: Document) -> StepRecord:
    return StepRecord(
        name=document["name"],
        status=StepStatus(document["status"]),
        attempts=document["attempts"],
        compensation_attempts=document["compensation_attempts"],
        result=document.get("result"),
        last_error=StepError.from_document(document.get("last_error")),
        started_at=document.get("started_at"),
        finished_at=document.get("finished_at"),
        compensated_at=document.get("compensated_at"),
    )


def _from_document(document: Document) -> SagaRecord:
    parked_from = document.get("parked_from")
    return SagaRecord(
        saga_id=document["_id"],
        saga_name=document["saga"],
        owner_user_id=document["owner_user_id"],
        fingerprint=document["fingerprint"],
        input=document["input"],
        state=SagaState(document["state"]),
        steps=tuple(_step_from_document(step) for step in document["steps"]),
        result=document.get("result"),
        error=StepError.from_document(document.get("error")),
        parked_from=SagaState(parked_from) if parked_from else None,
        parked_reason=document.get("parked_reason", ""),
        lease_owner=document.get("lease_owner"),
        lease_until=document["lease_until"],
        claims=document["claims"],
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        finished_at=document.get("finished_at"),
    )


def _new_step(name: str, *, skipped: bool) -> Document:
    """A step as the saga's first record has it: PENDING, or SKIPPED for good."""
    return {
        "name": name,
        "status": (StepStatus.SKIPPED if skipped else StepStatus.PENDING).value,
        "attempts": 0,
        "compensation_attempts": 0,
        "result": dict(SKIPPED_RESULT) if skipped else None,
        "last_error": None,
    }


_DRIVEN_STATES = [SagaState.RUNNING.value, SagaState.COMPENSATING.value]


class SagaLog:
    """The only code that knows the ``sagas`` collection."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    async def ensure_indexes(self) -> None:
        # The recovery loop's query, and the operators' list of stuck sagas.
        await self._collection.create_index(
            [("state", ASCENDING), ("lease_until", ASCENDING)], name="state_lease"
        )
        await self._collection.create_index(
            [("state", ASCENDING), ("updated_at", ASCENDING)], name="state_updated"
        )

    async def create(
        self,
        definition: SagaDefinition,
        *,
        saga_id: str,
        owner_user_id: str,
        fingerprint: str,
        saga_input: JsonObject,
        lease_owner: str,
        lease_token: str,
        lease_until: datetime,
        now: datetime,
    ) -> SagaRecord | None:
        """Insert a RUNNING saga already leased to its creator; None if the id exists.

        The steps with nothing to do for this input (Step.skip) are SKIPPED from the start.
        """
        document: Document = {
            "_id": saga_id,
            "saga": definition.name,
            "owner_user_id": owner_user_id,
            "fingerprint": fingerprint,
            "input": saga_input,
            "state": SagaState.RUNNING.value,
            "steps": [
                _new_step(step.name, skipped=step.skipped_for(saga_input))
                for step in definition.steps
            ],
            "result": None,
            "error": None,
            "lease_owner": lease_owner,
            "lease_token": lease_token,
            "lease_until": lease_until,
            "claims": 1,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self._collection.insert_one(document)
        except DuplicateKeyError:
            return None
        return _from_document(document)

    async def get(self, saga_id: str) -> SagaRecord | None:
        document = await self._collection.find_one({"_id": saga_id})
        return None if document is None else _from_document(document)

    async def claim(
        self,
        saga_id: str,
        *,
        lease_owner: str,
        lease_token: str,
        lease_until: datetime,
        now: datetime,
    ) -> SagaRecord | None:
        """Take the lease of a driven saga whose lease expired or was released; else None."""
        document = await self._collection.find_one_and_update(
            {
                "_id": saga_id,
                "state": {"$in": _DRIVEN_STATES},
                "$or": [{"lease_until": {"$lte": now}}, {"lease_token": None}],
            },
            {
                "$set": {
                    "lease_owner": lease_owner,
                    "lease_token": lease_token,
                    "lease_until": lease_until,
                },
                "$inc": {"claims": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _from_document(document)

    async def renew(self, saga_id: str, lease_token: str, lease_until: datetime) -> bool:
        """Extend this claim's lease; False if it is no longer ours."""
        result = await self._collection.update_one(
            {"_id": saga_id, "lease_token": lease_token}, {"$set": {"lease_until": lease_until}}
        )
        return result.matched_count == 1

    async def release(self, saga_id: str, lease_token: str, now: datetime) -> SagaRecord | None:
        """Give the lease up now, so the recovery loop (any replica) may take the saga.

        Returns the saga as released; None if the lease was no longer this claim's.
        """
        document = await self._collection.find_one_and_update(
            {"_id": saga_id, "lease_token": lease_token},
            {"$set": {"lease_until": now, "lease_token": None, "lease_owner": None}},
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _from_document(document)

    async def start_attempt(
        self,
        saga_id: str,
        lease_token: str,
        index: int,
        *,
        compensation: bool,
        now: datetime,
        lease_until: datetime,
    ) -> SagaRecord:
        """The write-ahead record "about to run step index (or its compensation)"."""
        status = StepStatus.COMPENSATING if compensation else StepStatus.STARTED
        counter = "compensation_attempts" if compensation else "attempts"
        return await self._record(
            saga_id,
            lease_token,
            {f"steps.{index}.status": status.value, "updated_at": now, "lease_until": lease_until},
            increments={f"steps.{index}.{counter}": 1},
            earliest={f"steps.{index}.started_at": now},
        )

    async def attempt_failed(
        self,
        saga_id: str,
        lease_token: str,
        index: int,
        error: StepError,
        *,
        now: datetime,
        lease_until: datetime,
    ) -> SagaRecord:
        """An attempt failed without a definite answer: the step stays where it was."""
        return await self._record(
            saga_id,
            lease_token,
            {
                f"steps.{index}.last_error": error.to_document(),
                "updated_at": now,
                "lease_until": lease_until,
            },
        )

    async def step_done(
        self,
        saga_id: str,
        lease_token: str,
        index: int,
        result: JsonObject,
        *,
        now: datetime,
        lease_until: datetime,
    ) -> SagaRecord:
        return await self._record(
            saga_id,
            lease_token,
            {
                f"steps.{index}.status": StepStatus.DONE.value,
                f"steps.{index}.result": result,
                f"steps.{index}.last_error": None,
                f"steps.{index}.finished_at": now,
                "updated_at": now,
                "lease_until": lease_until,
            },
        )

    async def step_compensated(
        self,
        saga_id: str,
        lease_token: str,
        index: int,
        *,
        now: datetime,
        lease_until: datetime,
    ) -> SagaRecord:
        return await self._record(
            saga_id,
            lease_token,
            {
                f"steps.{index}.status": StepStatus.COMPENSATED.value,
                f"steps.{index}.last_error": None,
                f"steps.{index}.compensated_at": now,
                "updated_at": now,
                "lease_until": lease_until,
            },
        )

    async def step_refused(
        self,
        saga_id: str,
        lease_token: str,
        index: int,
        error: StepError,
        *,
        now: datetime,
        lease_until: datetime,
    ) -> SagaRecord:
        """The service refused step index: it certainly changed nothing; compensation follows.

        One write with the switch to COMPENSATING, so no crash can separate the two.
        """
        return await self._record(
            saga_id,
            lease_token,
            {
                f"steps.{index}.status": StepStatus.REFUSED.value,
                f"steps.{index}.last_error": error.to_document(),
                f"steps.{index}.finished_at": now,
                "state": SagaState.COMPENSATING.value,
                "error": error.to_document(),
                "updated_at": now,
                "lease_until": lease_until,
            },
        )

    async def begin_compensation(
        self,
        saga_id: str,
        lease_token: str,
        error: StepError,
        *,
        now: datetime,
        lease_until: datetime,
    ) -> SagaRecord:
        """Give up going forward (a step ran out of attempts): undo what was done."""
        return await self._record(
            saga_id,
            lease_token,
            {
                "state": SagaState.COMPENSATING.value,
                "error": error.to_document(),
                "updated_at": now,
                "lease_until": lease_until,
            },
        )

    async def park(
        self,
        saga_id: str,
        lease_token: str,
        *,
        parked_from: SagaState,
        reason: str,
        error: StepError | None,
        step_index: int | None = None,
        step_refused: bool = False,
        now: datetime,
    ) -> SagaRecord:
        """Stop driving the saga until an operator retries it; the lease ends.

        step_index names the step whose failure parks it (its last_error is recorded);
        step_refused says the service refused that step's action, past the point of no return.
        """
        assert parked_from.is_driven
        changes: Document = {
            "state": SagaState.PARKED.value,
            "parked_from": parked_from.value,
            "parked_reason": reason,
            "updated_at": now,
            "lease_until": now,
        }
        # Parked while compensating, the saga keeps the error that made it compensate.
        if error is not None and parked_from is SagaState.RUNNING:
            changes["error"] = error.to_document()
        if step_index is not None and error is not None:
            changes[f"steps.{step_index}.last_error"] = error.to_document()
        if step_index is not None and step_refused:
            changes[f"steps.{step_index}.status"] = StepStatus.REFUSED.value
            changes[f"steps.{step_index}.finished_at"] = now
        return await self._record(saga_id, lease_token, changes, ends_lease=True)

    async def finish(
        self,
        saga_id: str,
        lease_token: str,
        state: SagaState,
        *,
        result: JsonObject | None,
        now: datetime,
    ) -> SagaRecord:
        """COMPLETED (with its public result) or COMPENSATED: final, the lease ends."""
        assert state.is_final
        changes: Document = {
            "state": state.value,
            "result": result,
            "finished_at": now,
            "updated_at": now,
            "lease_until": now,
        }
        return await self._record(saga_id, lease_token, changes, ends_lease=True)

    async def _record(
        self,
        saga_id: str,
        lease_token: str,
        changes: Document,
        *,
        increments: Document | None = None,
        earliest: Document | None = None,
        ends_lease: bool = False,
    ) -> SagaRecord:
        """Write under this claim's lease; the record as written. LeaseLost if not ours."""
        updates: Document = {"$set": dict(changes)}
        if ends_lease:
            updates["$set"].update({"lease_token": None, "lease_owner": None})
        if increments:
            updates["$inc"] = increments
        if earliest:
            updates["$min"] = earliest
        document = await self._collection.find_one_and_update(
            {"_id": saga_id, "lease_token": lease_token},
            updates,
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            raise LeaseLost(saga_id)
        return _from_document(document)

    async def unpark(
        self, saga_id: str, *, resume_state: SagaState, step_count: int, now: datetime
    ) -> SagaRecord | None:
        """Put a PARKED saga back where it parked from, with fresh attempt budgets."""
        resets: Document = {}
        for index in range(step_count):
            resets[f"steps.{index}.attempts"] = 0
            resets[f"steps.{index}.compensation_attempts"] = 0
        document = await self._collection.find_one_and_update(
            {"_id": saga_id, "state": SagaState.PARKED.value},
            {
                "$set": {
                    **resets,
                    "state": resume_state.value,
                    "parked_from": None,
                    "parked_reason": "",
                    "claims": 0,
                    "lease_until": now,
                    "lease_token": None,
                    "lease_owner": None,
                    "updated_at": now,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _from_document(document)

    async def due_for_recovery(self, now: datetime, limit: int) -> list[str]:
        """Ids of driven sagas whose lease expired (or was released), longest-waiting first."""
        cursor = (
            self._collection.find(
                {"state": {"$in": _DRIVEN_STATES}, "lease_until": {"$lte": now}}, {"_id": 1}
            )
            .sort("lease_until", ASCENDING)
            .limit(limit)
        )
        return [document["_id"] async for document in cursor]

    async def list_unfinished(
        self, states: Sequence[SagaState], updated_before: datetime, limit: int
    ) -> list[SagaRecord]:
        """Sagas in these states that have not progressed since updated_before, oldest first."""
        assert 0 < limit <= LIST_LIMIT_MAX
        cursor = (
            self._collection.find(
                {
                    "state": {"$in": [state.value for state in states]},
                    "updated_at": {"$lte": updated_before},
                }
            )
            .sort([("updated_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [_from_document(document) async for document in cursor]
