"""Idempotent mutations: the same key returns the first result and changes nothing.

The record of a key is written in the same transaction as the change it guards, so a
crash can never leave a change without its record or a record without its change.
The same key with a different request is refused (DESIGN.md "Contracts").

Only outcomes that changed something are recorded. A refused request changed nothing,
so its key stays free: retrying it runs the rules again (and still fails, unless the
refusal was one the client can answer, such as a risk challenge met with the password).
Fields named in VOLATILE_FIELDS (the idempotency key itself, risk signals such as the
payment password) are not part of what makes two requests "the same".
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from google.protobuf.message import Message
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chassis.clock import Clock
from chassis.errors import (
    Aborted,
    IdempotencyKeyReused,
    InvalidArgument,
    Unavailable,
)
from chassis.mongo import MongoClient, Session, run_in_transaction

ResponseT = TypeVar("ResponseT", bound=Message)

IDEMPOTENCY_KEY_LENGTH_MAX = 200
# Refusals that depend only on the request are stored and replayed like results; a
# transient one (unavailable, in progress) is not, so a retry can still succeed.
_TRANSIENT_ERRORS = (Unavailable, Aborted)


VOLATILE_FIELDS = ("idempotency_key", "risk")


def fingerprint_request(request: Message) -> str:
    """A stable hash of the request without its volatile fields."""
    clone = type(request)()
    clone.CopyFrom(request)
    for name in VOLATILE_FIELDS:
        if name in clone.DESCRIPTOR.fields_by_name:
            clone.ClearField(name)
    return hashlib.sha256(clone.SerializeToString(deterministic=True)).hexdigest()


def require_idempotency_key(key: str) -> str:
    """Return key if it is usable, else refuse the call."""
    if not key:
        raise InvalidArgument(
            "idempotency_key is required on every mutating call", reason="IDEMPOTENCY_KEY_MISSING"
        )
    if len(key) > IDEMPOTENCY_KEY_LENGTH_MAX:
        raise InvalidArgument(
            f"idempotency_key is longer than {IDEMPOTENCY_KEY_LENGTH_MAX} characters"
        )
    return key


class IdempotencyStore:
    """Key records in one collection: ``{_id: "<scope>:<key>", fingerprint, response}``."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], clock: Clock) -> None:
        self._collection = collection
        self._clock = clock

    async def _lookup(
        self, session: Session, record_id: str, fingerprint: str, key: str
    ) -> dict[str, Any] | None:
        record = await self._collection.find_one({"_id": record_id}, session=session)
        if record is not None and record["fingerprint"] != fingerprint:
            raise IdempotencyKeyReused(key)
        return record

    async def _record(
        self, session: Session | None, record_id: str, fingerprint: str, outcome: dict[str, Any]
    ) -> None:
        document = {
            "_id": record_id,
            "fingerprint": fingerprint,
            "recorded_at": self._clock.now(),
            **outcome,
        }
        await self._collection.insert_one(document, session=session)

    async def run(
        self,
        client: MongoClient,
        *,
        scope: str,
        request: Message,
        response_type: type[ResponseT],
        operation: Callable[[Session], Awaitable[ResponseT]],
    ) -> ResponseT:
        """Run operation once per (scope, request.idempotency_key), in one transaction."""
        key = require_idempotency_key(getattr(request, "idempotency_key", ""))
        record_id = f"{scope}:{key}"
        fingerprint = fingerprint_request(request)

        async def attempt(session: Session) -> ResponseT:
            record = await self._lookup(session, record_id, fingerprint, key)
            if record is not None:
                return _replay(record, response_type)
            response = await operation(session)
            await self._record(
                session, record_id, fingerprint, {"response": response.SerializeToString()}
            )
            return response

        for _ in range(2):
            try:
                return await run_in_transaction(client, attempt)
            except DuplicateKeyError:
                # A concurrent call with the same key committed first: replay its outcome.
                continue
        raise Aborted(f"idempotency key {key!r} is being processed concurrently; retry")


def _replay(record: dict[str, Any], response_type: type[ResponseT]) -> ResponseT:
    return response_type.FromString(record["response"])
