"""Operations: the sagas behind wallet operations, as their owners and operators see them.

- GET /v1/operations/{operation_id}: the state and steps of one of the caller's own
  operations (anyone else's answers 404, as if it did not exist). No keys, hold ids or
  lease details: those are the gateway's business.
- GET /v1/admin/operations: operators list unfinished operations (running, compensating,
  parked) that have not progressed for a while, oldest first.
- POST /v1/admin/operations/{operation_id}/retry: an operator un-parks an operation once
  the cause is dealt with; it goes on from where it parked, with fresh attempt budgets.

How an operation looks to its owner, and how a route that starts one answers, are in
gateway.operations.answers.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.paging import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX
from gateway.edge.authentication import CALLER
from gateway.edge.identities import Role
from gateway.edge.openapi import schema_ref
from gateway.edge.ownership import get_own, path_id
from gateway.edge.paging import parse_page_size
from gateway.edge.representations import json_response
from gateway.edge.routing import AuthScheme, QueryParameter, Route
from gateway.operations.answers import (
    OPERATION_PATH,
    operation_json,
    redacted,
    time_json,
)
from gateway.sagas.definition import SagaState, StepStatus, step_key
from gateway.sagas.engine import SagaEngine
from gateway.sagas.log import SagaRecord, StepError

log = logging.getLogger("colony.gateway.operations")

OPERATION_ID_LENGTH_MAX = 64
UNFINISHED_STATES = (SagaState.RUNNING, SagaState.COMPENSATING, SagaState.PARKED)
# Ten years: a bound on the query, not a business rule.
STUCK_FOR_SECONDS_MAX = 10 * 365 * 24 * 3600

_TIME = {"type": "string", "format": "date-time"}
_STATE_PROPERTY: dict[str, Any] = {
    "type": "string",
    "enum": [state.value for state in SagaState],
    "description": (
        "running and compensating go on by themselves; completed and compensated are "
        "final; parked waits for an operator."
    ),
}
_STEP_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string"},
    "status": {"type": "string", "enum": [status.value for status in StepStatus]},
    "attempts": {"type": "integer"},
    "compensation_attempts": {"type": "integer"},
}
_OPERATION_PROPERTIES: dict[str, Any] = {
    "operation_id": {"type": "string"},
    "kind": {"type": "string", "example": "merchant_payment"},
    "state": _STATE_PROPERTY,
    "steps": {"type": "array", "items": schema_ref("OperationStep")},
    "created_at": _TIME,
    "updated_at": {**_TIME, "description": "When the operation last progressed."},
    "finished_at": _TIME,
    "result": {
        "type": "object",
        "additionalProperties": True,
        "description": "What a completed operation did (for a merchant payment: posting_id, "
        "merchant_account_id, amount, memo, paid_at).",
    },
    "error": {
        "type": "object",
        "required": ["reason", "detail"],
        "description": "Why a compensated operation was undone.",
        "properties": {
            "reason": {"type": "string"},
            "detail": {"type": "string"},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}
_OPERATION_REQUIRED = ["operation_id", "kind", "state", "steps", "created_at", "updated_at"]

SCHEMAS: dict[str, dict[str, Any]] = {
    "OperationStep": {
        "type": "object",
        "required": list(_STEP_PROPERTIES),
        "properties": _STEP_PROPERTIES,
    },
    "Operation": {
        "type": "object",
        "description": "A wallet operation that spans services (a saga) and where it is.",
        "required": _OPERATION_REQUIRED,
        "properties": _OPERATION_PROPERTIES,
    },
    "OperatorOperationStep": {
        "type": "object",
        "required": [*_STEP_PROPERTIES, "key"],
        "properties": {
            **_STEP_PROPERTIES,
            "key": {
                "type": "string",
                "description": "The step's idempotency key (the hold id of a hold step).",
            },
            "last_error": {"type": "object", "additionalProperties": True},
        },
    },
    "OperatorOperation": {
        "type": "object",
        "description": "An operation with what an operator needs to investigate it.",
        "required": [*_OPERATION_REQUIRED, "owner_user_id", "input", "claims"],
        "properties": {
            **_OPERATION_PROPERTIES,
            "steps": {"type": "array", "items": schema_ref("OperatorOperationStep")},
            "owner_user_id": {"type": "string"},
            "input": {"type": "object", "additionalProperties": True},
            "parked_reason": {"type": "string"},
            "claims": {"type": "integer", "description": "How many passes have claimed it."},
            "lease_owner": {
                "type": "string",
                "description": "The gateway instance driving it now, if any.",
            },
            "lease_until": _TIME,
        },
    },
    "OperatorOperationList": {
        "type": "object",
        "required": ["operations"],
        "properties": {"operations": {"type": "array", "items": schema_ref("OperatorOperation")}},
    },
}


def _error_json(error: StepError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "code": error.code,
        "reason": error.reason,
        "detail": error.message,
        "metadata": error.metadata,
    }


def operator_operation_json(record: SagaRecord) -> dict[str, Any]:
    """The operation with what an operator needs: owner, input, keys, errors, the lease."""
    payload = operation_json(record)
    payload["steps"] = [
        {
            **public_step,
            "key": step_key(record.saga_id, step.name),
            "last_error": _error_json(step.last_error),
        }
        for public_step, step in zip(payload["steps"], record.steps, strict=True)
    ]
    payload.update(
        {
            "owner_user_id": record.owner_user_id,
            "input": redacted(record.input),
            "parked_reason": record.parked_reason,
            "claims": record.claims,
        }
    )
    if record.error is not None:
        payload["error"] = _error_json(record.error)
    if record.lease_owner is not None:
        payload["lease_owner"] = record.lease_owner
        payload["lease_until"] = time_json(record.lease_until)
    return payload


def _operation_id_of(request: web.Request) -> str:
    return path_id(request, "operation_id", "operation", OPERATION_ID_LENGTH_MAX)


def _states_of(request: web.Request) -> tuple[SagaState, ...]:
    text = request.query.get("state")
    if text is None:
        return UNFINISHED_STATES
    by_name = {state.value: state for state in UNFINISHED_STATES}
    state = by_name.get(text.lower())
    if state is None:
        raise InvalidArgument(
            f"state must be one of {', '.join(by_name)}", metadata={"field": "state"}
        )
    return (state,)


def _stuck_for_seconds_of(request: web.Request) -> int:
    text = request.query.get("stuck_for_seconds", "0")
    if not (text.isascii() and text.isdigit()) or int(text) > STUCK_FOR_SECONDS_MAX:
        raise InvalidArgument(
            f"stuck_for_seconds must be a whole number from 0 to {STUCK_FOR_SECONDS_MAX}",
            metadata={"field": "stuck_for_seconds"},
        )
    return int(text)


class OperationRoutes:
    """GET /v1/operations/{id}; GET /v1/admin/operations; POST /v1/admin/operations/{id}/retry."""

    def __init__(self, engine: SagaEngine) -> None:
        self._engine = engine

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                OPERATION_PATH,
                self.get_operation,
                operation_id="getOperation",
                summary="One of the caller's operations (a saga): its state and steps",
                tag="operations",
                auth=(AuthScheme.BEARER,),
                response_schema="Operation",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            Route(
                "GET",
                "/v1/admin/operations",
                self.list_unfinished,
                operation_id="listUnfinishedOperations",
                summary="Operations not finished and not progressing: running, "
                "compensating or parked for an operator",
                tag="admin",
                auth=(AuthScheme.BEARER,),
                required_role=Role.OPERATOR,
                response_schema="OperatorOperationList",
                query_parameters=(
                    QueryParameter(
                        "state",
                        {"type": "string", "enum": [state.value for state in UNFINISHED_STATES]},
                        "Only operations in this state (default: all three).",
                    ),
                    QueryParameter(
                        "stuck_for_seconds",
                        {"type": "integer", "minimum": 0, "maximum": STUCK_FOR_SECONDS_MAX},
                        "Only operations that have not progressed for this long (default 0).",
                    ),
                    QueryParameter(
                        "page_size",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": PAGE_SIZE_MAX,
                            "default": PAGE_SIZE_DEFAULT,
                        },
                        "At most this many, the longest stuck first.",
                    ),
                ),
            ),
            Route(
                "POST",
                "/v1/admin/operations/{operation_id}/retry",
                self.retry,
                operation_id="retryOperation",
                summary="Un-park an operation: it goes on where it parked, with fresh attempts",
                tag="admin",
                auth=(AuthScheme.BEARER,),
                required_role=Role.OPERATOR,
                response_schema="OperatorOperation",
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("ILLEGAL_TRANSITION",),
                },
            ),
        ]

    async def get_operation(self, request: web.Request) -> web.Response:
        operation_id = _operation_id_of(request)
        record = await get_own(
            self._engine.get(operation_id),
            lambda record: record.owner_user_id == request[CALLER].user_id,
            what="operation",
            object_id=operation_id,
        )
        return json_response(operation_json(record))

    async def list_unfinished(self, request: web.Request) -> web.Response:
        records = await self._engine.list_unfinished(
            _states_of(request),
            _stuck_for_seconds_of(request),
            parse_page_size(request.query.get("page_size")),
        )
        return json_response({"operations": [operator_operation_json(r) for r in records]})

    async def retry(self, request: web.Request) -> web.Response:
        operation_id = _operation_id_of(request)
        record = await self._engine.retry_parked(operation_id)
        if record is None:
            current = await self._engine.get(operation_id)
            if current is None:
                raise NotFound(
                    f"there is no operation {operation_id!r}",
                    metadata={"operation_id": operation_id},
                )
            raise FailedPrecondition(
                f"operation {operation_id} is {current.state.value}, not parked",
                reason="ILLEGAL_TRANSITION",
                metadata={"state": current.state.value},
            )
        log.info(
            "operation retried by an operator",
            extra={"operator_user_id": request[CALLER].user_id, "operation_id": operation_id},
        )
        return json_response(operator_operation_json(record))
