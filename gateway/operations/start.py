"""How a route starts a wallet operation (a saga) for the caller and answers it.

The saga's id derives from the caller and their Idempotency-Key, so a retried request finds
the same operation whatever became of the first (finished, undone, or still going on) and
is answered like it: 201 with the operation, the refusal that undid it, or 202 with its URL
(gateway.operations.answers.operation_answer). The checks and reads that build the saga's
input run before the first attempt only: a retry answers with what that attempt started.

One exception, as for single calls (gateway.edge.idempotency): an operation undone because risk
control asked for the payment password (RISK_CHALLENGE_REQUIRED, or a wrong password) is
answered by retrying the same request, same key, with ``payment_password``. That retry is a
new attempt, its own saga (derive_saga_id's attempt number), built afresh. Any later retry
of the request, with the password or without, is answered by the latest attempt. The password
itself never enters a saga log: Operations.authorize exchanges it for a payment
authorization (single use, five minutes, bound to the payer and the amount), which the
saga's payment step carries instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.idempotency import (
    PAYMENT_PASSWORD_RETRY_REASONS,
    fingerprint_request,
    require_idempotency_key,
)
from gateway.edge.representations import money_to_proto
from gateway.edge.risk_signals import optional_payment_password
from gateway.operations.answers import operation_answer
from gateway.sagas.catalogue import Sagas
from gateway.sagas.definition import JsonObject, SagaDefinition, SagaState, derive_saga_id
from gateway.sagas.engine import SagaEngine
from gateway.sagas.log import SagaRecord


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
    fingerprint = fingerprint_request(operation_id, body)
    saga_id = derive_saga_id(caller.user_id, key)
    existing = await engine.get(saga_id)
    # The attempts a challenge started: follow them to the last; with the password, a last
    # one undone for want of it (or of a right one) is answered by a new attempt.
    answering = bool(optional_payment_password(body))
    attempt = 0
    while (
        existing is not None
        and existing.fingerprint == fingerprint
        and _asks_for_the_password(existing)
    ):
        following = derive_saga_id(caller.user_id, key, attempt + 1)
        following_record = await engine.get(following)
        if following_record is None and not answering:
            break  # no later attempt: the refusal stands until the password comes
        attempt += 1
        saga_id, existing = following, following_record
    record = await _start_or_follow(
        engine,
        definition,
        existing,
        saga_id=saga_id,
        owner_user_id=caller.user_id,
        fingerprint=fingerprint,
        saga_input=saga_input,
        wait_seconds=wait_seconds,
    )
    return operation_answer(record)


async def _start_or_follow(
    engine: SagaEngine,
    definition: SagaDefinition,
    existing: SagaRecord | None,
    *,
    saga_id: str,
    owner_user_id: str,
    fingerprint: str,
    saga_input: Callable[[], Awaitable[JsonObject]],
    wait_seconds: float,
) -> SagaRecord:
    """engine.start for the saga saga_id; its input is built only if it does not exist yet."""
    return await engine.start(
        definition,
        saga_id=saga_id,
        owner_user_id=owner_user_id,
        saga_input=existing.input if existing is not None else await saga_input(),
        fingerprint=fingerprint,
        wait_seconds=wait_seconds,
    )


def _asks_for_the_password(record: SagaRecord) -> bool:
    """True for an operation undone because it needed a (right) payment password."""
    return (
        record.state is SagaState.COMPENSATED
        and record.error is not None
        and record.error.reason in PAYMENT_PASSWORD_RETRY_REASONS
    )


@dataclass(frozen=True, slots=True)
class Operations:
    """What a route needs to start wallet operations: the engine, the sagas, the inline wait."""

    engine: SagaEngine
    sagas: Sagas
    wait_seconds: float
    payment: PaymentClient

    async def run(
        self,
        definition: SagaDefinition,
        *,
        saga_id: str,
        owner_user_id: str,
        fingerprint: str,
        saga_input: Callable[[], Awaitable[JsonObject]],
    ) -> SagaRecord:
        """Start (or find) a saga for a route that answers in its own terms, not as an
        operation (the merchant's payment-code charge); the record as it stands after the
        inline wait."""
        return await _start_or_follow(
            self.engine,
            definition,
            await self.engine.get(saga_id),
            saga_id=saga_id,
            owner_user_id=owner_user_id,
            fingerprint=fingerprint,
            saga_input=saga_input,
            wait_seconds=self.wait_seconds,
        )

    async def authorize(self, body: dict[str, Any], account_id: str, amount: Money) -> str:
        """A payment authorization for the body's payment_password, or "" if it has none.

        A wrong or locked password is refused here, before any saga starts.
        """
        password = optional_payment_password(body)
        if not password:
            return ""
        response = await self.payment.authorize_payment(
            pb.AuthorizePaymentRequest(
                account_id=account_id, payment_password=password, amount=money_to_proto(amount)
            )
        )
        return response.authorization

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
