"""How a route starts a wallet operation (a saga) for the caller and answers it.

The saga's id derives from the caller and their Idempotency-Key, so a retried request finds
the same operation whatever became of the first (finished, undone, or still going on) and
is answered like it: 201 with the operation, the refusal that undid it, or 202 with its URL
(gateway.routes.operations.operation_answer). The checks and reads that build the saga's
input run before the first attempt only: a retry answers with what that attempt started.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.authentication import CALLER
from gateway.idempotency import fingerprint_request, require_idempotency_key
from gateway.routes.operations import operation_answer
from gateway.sagas.catalogue import Sagas
from gateway.sagas.definition import JsonObject, SagaDefinition, derive_saga_id
from gateway.sagas.engine import SagaEngine


async def start_operation(
    request: web.Request,
    engine: SagaEngine,
    definition: SagaDefinition,
    *,
    key: str,
    operation_id: str,
    body: dict[str, Any],
    saga_input: Callable[[], Awaitable[JsonObject]],
    wait_seconds: float,
) -> web.Response:
    """Start (or find) the caller's saga for this request (key: its Idempotency-Key)."""
    caller = request[CALLER]
    saga_id = derive_saga_id(caller.user_id, key)
    existing = await engine.get(saga_id)
    record = await engine.start(
        definition,
        saga_id=saga_id,
        owner_user_id=caller.user_id,
        saga_input=existing.input if existing is not None else await saga_input(),
        fingerprint=fingerprint_request(operation_id, body),
        wait_seconds=wait_seconds,
    )
    return operation_answer(record)


@dataclass(frozen=True, slots=True)
class Operations:
    """What a route needs to start wallet operations: the engine, the sagas, the inline wait."""

    engine: SagaEngine
    sagas: Sagas
    wait_seconds: float

    async def start(
        self,
        request: web.Request,
        definition: SagaDefinition,
        *,
        operation_id: str,
        body: dict[str, Any],
        saga_input: Callable[[], Awaitable[JsonObject]],
    ) -> web.Response:
        """start_operation with this gateway's engine and inline wait.

        The Idempotency-Key is checked first, before the body or the path are looked at.
        """
        return await start_operation(
            request,
            self.engine,
            definition,
            key=require_idempotency_key(request),
            operation_id=operation_id,
            body=body,
            saga_input=saga_input,
            wait_seconds=self.wait_seconds,
        )
