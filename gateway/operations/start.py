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

A second kind of attempt is the *fall-through* of a payment whose method ran out between
choosing and paying (a concurrent payment spent the balance first): the route gives a
``fall_through`` that builds the next attempt's input from the refused one (the next
methods in the payer's order, read afresh), and the request is answered by that attempt.
Only the request that started an attempt falls through from it, at most
FALL_THROUGH_ATTEMPTS_MAX times; a retry of the request follows the attempts it started.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from chassis.errors import FailedPrecondition
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

# Refusals that mean "this method has not got the money any more", not "this payment cannot
# be made": the payment moved nothing and the next method in the payer's order may pay.
FALL_THROUGH_REASONS = frozenset(
    {"INSUFFICIENT_FUNDS", "HUABEI_LINE_EXCEEDED", "FAST_REDEMPTION_LIMIT_EXCEEDED"}
)
FALL_THROUGH_ATTEMPTS_MAX = 3

# Builds the next attempt's input from the refused attempt's; None when no method is left.
FallThrough = Callable[[Mapping[str, Any]], Awaitable[JsonObject | None]]


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
    fall_through: FallThrough | None = None,
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
        and (_asks_for_the_password(existing) or _ran_out(existing))
    ):
        following = derive_saga_id(caller.user_id, key, attempt + 1)
        following_record = await engine.get(following)
        if following_record is None and not (answering and _asks_for_the_password(existing)):
            break  # no later attempt: the refusal stands (until the password comes)
        attempt += 1
        saga_id, existing = following, following_record
    started_here = existing is None
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
    fallen_through = 0
    while (
        fall_through is not None
        and started_here
        and _ran_out(record)
        and fallen_through < FALL_THROUGH_ATTEMPTS_MAX
    ):
        following_input = await fall_through(record.input)
        if following_input is None:
            break
        fallen_through += 1
        attempt += 1
        saga_id = derive_saga_id(caller.user_id, key, attempt)
        following_record = await engine.get(saga_id)
        started_here = following_record is None
        record = await _start_or_follow(
            engine,
            definition,
            following_record,
            saga_id=saga_id,
            owner_user_id=caller.user_id,
            fingerprint=fingerprint,
            saga_input=_given(following_input),
            wait_seconds=wait_seconds,
        )
    return operation_answer(record)


def _given(saga_input: JsonObject) -> Callable[[], Awaitable[JsonObject]]:
    async def built() -> JsonObject:
        return saga_input

    return built


def _ran_out(record: SagaRecord) -> bool:
    """True for an operation undone because a payment method ran out of money."""
    return (
        record.state is SagaState.COMPENSATED
        and record.error is not None
        and record.error.reason in FALL_THROUGH_REASONS
    )


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
    """engine.start for the saga saga_id; its input is built only if it does not exist yet.

    An existing saga that is not this request's (the key used before for another route, by
    another owner or with another body) is refused here, before its input is read: an input
    of another kind of saga is not one this definition can read (its steps' skip rules).
    """
    if existing is not None and (
        existing.saga_name,
        existing.owner_user_id,
        existing.fingerprint,
    ) != (definition.name, owner_user_id, fingerprint):
        raise FailedPrecondition(
            "this Idempotency-Key was already used for a different request; "
            "use a new key for a new request",
            reason="IDEMPOTENCY_KEY_REUSED",
        )
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
        fall_through: FallThrough | None = None,
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
            fall_through=fall_through,
        )
