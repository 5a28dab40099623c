"""How a wallet operation (a saga) looks to its owner, and how a route that starts one answers.

operation_answer is that answer: 201 with the operation when it completed, the refusal as
problem+json when it was refused and undone, or 202 Accepted with the operation's URL
(Location) when it goes on in the background. No keys, hold ids or lease details reach the
owner: those are the gateway's business. Routes of every business area use this module;
it imports no route module.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import DomainError
from gateway.edge.representations import encode_json
from gateway.sagas.definition import SagaState
from gateway.sagas.log import SagaRecord, StepError

OPERATION_PATH = "/v1/operations/{operation_id}"
# A step key (or its compensation key) as it may appear in a service's message.
_STEP_KEY_PATTERN = re.compile(r"saga:[0-9a-f]+:([a-z0-9_]+)(?::compensation)?")

# The 202 every route that starts an operation documents besides its 201.
OPERATION_RESPONSES: dict[int, tuple[str, str]] = {
    HTTPStatus.ACCEPTED: (
        "Operation",
        "Not finished in time: it goes on in the background; follow the Location "
        "(GET /v1/operations/{operation_id}).",
    )
}


def time_json(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _without_keys(text: str) -> str:
    """A service's message with any step key replaced by the step's name."""
    return _STEP_KEY_PATTERN.sub(lambda match: f"the {match.group(1)} step", text)


def public_error(error: StepError) -> StepError:
    """The error as its owner may see it: no internal keys in the message or metadata."""
    return StepError(
        code=error.code,
        reason=error.reason,
        message=_without_keys(error.message),
        metadata={name: _without_keys(value) for name, value in error.metadata.items()},
    )


def operation_json(record: SagaRecord) -> dict[str, Any]:
    """The operation as its owner sees it."""
    payload: dict[str, Any] = {
        "operation_id": record.saga_id,
        "kind": record.saga_name,
        "state": record.state.value,
        "steps": [
            {
                "name": step.name,
                "status": step.status.value,
                "attempts": step.attempts,
                "compensation_attempts": step.compensation_attempts,
            }
            for step in record.steps
        ],
        "created_at": time_json(record.created_at),
        "updated_at": time_json(record.updated_at),
    }
    if record.finished_at is not None:
        payload["finished_at"] = time_json(record.finished_at)
    if record.result is not None:
        payload["result"] = record.result
    if record.error is not None and record.state is SagaState.COMPENSATED:
        error = public_error(record.error)
        payload["error"] = {"reason": error.reason, "detail": error.message}
        if error.metadata:
            payload["error"]["metadata"] = error.metadata
    return payload


# Saga input fields that are bearer secrets while they live (a payment authorization, a
# payment code): an operator sees that they are there, not what they are.
SECRET_INPUT_FIELDS = frozenset({"payment_authorization", "code"})
REDACTED = "[redacted]"


def redacted(value: Any) -> Any:
    """value (a saga's input) with every secret field's value replaced, at any depth."""
    if isinstance(value, dict):
        return {
            name: (REDACTED if name in SECRET_INPUT_FIELDS and item else redacted(item))
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def operation_location(saga_id: str) -> str:
    return OPERATION_PATH.replace("{operation_id}", saga_id)


def refusal_of(record: SagaRecord) -> DomainError:
    """The refusal that undid a compensated operation, as the client sees it.

    Rendered by the problem middleware like the service's own refusal, with the
    operation's id so the client can look at what was undone.
    """
    assert record.state is SagaState.COMPENSATED, record.state
    assert record.error is not None, f"saga {record.saga_id} compensated without a cause"
    refusal = public_error(record.error)
    metadata = {**refusal.metadata, "operation_id": record.saga_id}
    return StepError(refusal.code, refusal.reason, refusal.message, metadata).to_domain_error()


def operation_answer(record: SagaRecord) -> web.Response:
    """201 with a completed operation, its refusal if it was undone, else 202 with its URL."""
    if record.state is SagaState.COMPENSATED:
        raise refusal_of(record)
    status = HTTPStatus.CREATED if record.state is SagaState.COMPLETED else HTTPStatus.ACCEPTED
    return web.Response(
        status=status,
        body=encode_json(operation_json(record)),
        content_type="application/json",
        headers={"Location": operation_location(record.saga_id)},
    )
