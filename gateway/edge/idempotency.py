"""HTTP idempotency: the same Idempotency-Key and body get the same answer, once.

Collection ``http_idempotency`` of the gateway database, one record per (user, key):
``{_id: "<user_id>:<key>", fingerprint, state, lease_owner, lease_expires_at, outcome,
service_attempt, created_at, purge_at}``; a record is kept RECORD_RETENTION after it was
created (a TTL index on purge_at, chassis.retention).
1. The first request claims the key by inserting an "in_progress" record with a lease.
2. It calls the service with a gRPC idempotency key derived from (user, key), so the
   service itself never applies the operation twice, even across gateway crashes.
3. It stores the final outcome (a success's status and body, or a refusal) and completes.
A duplicate finds the record: a completed one is replayed; an in-progress one is waited
for (bounded); an in-progress one whose lease expired (its gateway died) is taken over and
re-driven with the same derived key, so the service replays its stored result.
Transient failures (a service unavailable) are not stored: the lease is released at once
and the next request with the key tries again.

Risk challenges (issue 3): a payment challenged by risk control is refused with
RISK_CHALLENGE_REQUIRED, and the client answers by sending the *same* request with the
same key plus its payment password. So the password is no part of the fingerprint (and is
never stored), and the refusals that ask for a password, or say it was wrong, are not final:
the key is released for the retry. Such a refusal is the service's definite word that
nothing moved, so the retry is sent under a new service key (``service_attempt`` + 1 in
the record): the service may have remembered the refusal, or the request without the
password, under the old one. A DENY (RISK_DENIED) is final and stored like any refusal.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from aiohttp import web
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chassis.clock import Clock
from chassis.errors import (
    Aborted,
    DomainError,
    ErrorKind,
    FailedPrecondition,
    InvalidArgument,
)
from chassis.retention import PURGE_FIELD, ensure_purge_index, purge_at
from gateway.edge.observability import current_trace_id, mark_replayed

log = logging.getLogger("colony.gateway.edge.idempotency")

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_LENGTH_MAX = 128
RECORD_RETENTION = timedelta(days=7)
# Waiting for a concurrent duplicate: polls back off from the first interval to the cap;
# the settings' wait deadline ends the wait, and POLLS_MAX bounds the loop regardless.
POLL_INTERVAL_SECONDS_FIRST = 0.005
POLL_INTERVAL_SECONDS_MAX = 0.1
POLLS_MAX = 1_000

# Body fields that are secrets: left out of the fingerprint (so a challenge can be answered
# by adding one) and so never stored, not even hashed.
SECRET_BODY_FIELDS = frozenset(
    {"payment_password", "current_password", "new_password", "login_password"}
)
# Refusals that ask the client to retry the same request with a (right) payment password:
# not final, and certain that nothing moved (gateway.edge.risk_signals sends the password).
PAYMENT_PASSWORD_RETRY_REASONS = frozenset(
    {
        "RISK_CHALLENGE_REQUIRED",
        "PAYMENT_PASSWORD_WRONG",
        "PAYMENT_PASSWORD_LOCKED",
        "PAYMENT_PASSWORD_NOT_SET",
        "INVALID_PAYMENT_PASSWORD",
        # An authorization that lapsed before the payment it was given for.
        "PAYMENT_AUTHORIZATION_INVALID",
    }
)


class RecordState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A successful answer exactly as first sent: replayed byte for byte."""

    status: int
    body: bytes
    content_type: str = "application/json"

    def to_response(self) -> web.Response:
        return web.Response(status=self.status, body=self.body, content_type=self.content_type)


Operation = Callable[[str], Awaitable[StoredResponse]]


def require_idempotency_key(request: web.Request) -> str:
    """The request's Idempotency-Key header, or a refusal if it is missing or unusable."""
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER, "")
    if not key:
        raise InvalidArgument(
            f"the {IDEMPOTENCY_KEY_HEADER} header is required on this request",
            reason="IDEMPOTENCY_KEY_MISSING",
        )
    if len(key) > IDEMPOTENCY_KEY_LENGTH_MAX or not key.isascii() or not key.isprintable():
        raise InvalidArgument(
            f"the {IDEMPOTENCY_KEY_HEADER} header must be 1 to {IDEMPOTENCY_KEY_LENGTH_MAX} "
            "printable ASCII characters"
        )
    return key


def fingerprint_request(operation_id: str, body: object) -> str:
    """A hash of what the request asks for: the operation and its body, key order ignored.

    Secret fields (SECRET_BODY_FIELDS) of an object body are left out: they say how the
    request is confirmed, not what it asks for.
    """
    if isinstance(body, dict):
        body = {name: value for name, value in body.items() if name not in SECRET_BODY_FIELDS}
    canonical = json.dumps(
        [operation_id, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def derive_grpc_idempotency_key(user_id: str, idempotency_key: str, attempt: int = 0) -> str:
    """The service-side key for a user's Idempotency-Key: the same on every retry.

    attempt counts the password-retry refusals already answered for the key (see the
    module docstring); the first attempt's key carries no suffix.
    """
    assert attempt >= 0
    digest = hashlib.sha256(f"{user_id}\n{idempotency_key}".encode()).hexdigest()
    return f"http:{digest}" if attempt == 0 else f"http:{digest}:{attempt}"


def _error_outcome(error: DomainError) -> dict[str, Any]:
    return {
        "error": {
            "code": error.kind.name,
            "reason": error.reason,
            "message": error.message,
            "metadata": error.metadata,
            "trace_id": current_trace_id(),
        }
    }


def _replay(outcome: dict[str, Any]) -> StoredResponse:
    if "error" in outcome:
        error = outcome["error"]
        # Raised again, the refusal is rendered by the same middleware into the same bytes
        # (its trace_id that of the refused attempt, gateway.edge.observability).
        replayed = DomainError(
            error["message"],
            reason=error["reason"],
            metadata=error["metadata"],
            kind=ErrorKind[error["code"]],
        )
        raise mark_replayed(replayed, error.get("trace_id", ""))
    return StoredResponse(
        status=outcome["status"], body=outcome["body"], content_type=outcome["content_type"]
    )


class IdempotentRequests:
    """Runs each (user, Idempotency-Key) once and answers its duplicates the same."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        clock: Clock,
        lease_seconds: float,
        wait_seconds: float,
    ) -> None:
        self._collection = collection
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self._wait_seconds = wait_seconds

    async def ensure_indexes(self) -> None:
        await ensure_purge_index(
            self._collection, replaces={"retention": ("created_at", RECORD_RETENTION)}
        )

    async def run(
        self, *, user_id: str, key: str, fingerprint: str, operation: Operation
    ) -> StoredResponse:
        """The stored answer for (user_id, key), running operation(grpc_key) if there is none."""
        record_id = f"{user_id}:{key}"
        claim = await self._claim_or_replay(record_id, key, fingerprint)
        if isinstance(claim, StoredResponse):
            return claim
        lease_owner, attempt = claim
        try:
            response = await operation(derive_grpc_idempotency_key(user_id, key, attempt))
        except DomainError as error:
            if error.reason in PAYMENT_PASSWORD_RETRY_REASONS:
                await self._release_for_next_attempt(record_id, lease_owner)
                raise
            # A refusal follows from the request itself: stored and replayed like a success.
            # Anything else (unavailable, in progress, a fault) leaves the key free.
            if not error.is_refusal:
                await self._release(record_id, lease_owner)
                raise
            await self._complete(record_id, lease_owner, _error_outcome(error))
            raise
        except BaseException:
            await asyncio.shield(self._release(record_id, lease_owner))
            raise
        outcome = {
            "status": response.status,
            "body": response.body,
            "content_type": response.content_type,
        }
        await self._complete(record_id, lease_owner, outcome)
        return response

    async def respond(
        self,
        *,
        user_id: str,
        key: str,
        operation_id: str,
        body: dict[str, Any],
        operation: Operation,
    ) -> web.Response:
        """run() for a request asking operation_id with body; the answer as an HTTP response."""
        stored = await self.run(
            user_id=user_id,
            key=key,
            fingerprint=fingerprint_request(operation_id, body),
            operation=operation,
        )
        return stored.to_response()

    async def _claim_or_replay(
        self, record_id: str, key: str, fingerprint: str
    ) -> tuple[str, int] | StoredResponse:
        """(lease owner token, service attempt) once this request holds the key, or the answer."""
        loop = asyncio.get_running_loop()
        wait_deadline = loop.time() + self._wait_seconds
        poll_interval_seconds = POLL_INTERVAL_SECONDS_FIRST
        for _ in range(POLLS_MAX):
            lease_owner = uuid.uuid4().hex
            if await self._insert_claim(record_id, fingerprint, lease_owner):
                return lease_owner, 0
            record = await self._collection.find_one({"_id": record_id})
            if record is None:
                continue  # expired by retention between the insert and the read
            if record["fingerprint"] != fingerprint:
                raise FailedPrecondition(
                    f"the {IDEMPOTENCY_KEY_HEADER} {key!r} was already used for a different "
                    "request; use a new key for a new request",
                    reason="IDEMPOTENCY_KEY_REUSED",
                )
            if record["state"] == RecordState.COMPLETED:
                return _replay(record["outcome"])
            if record["lease_expires_at"] <= self._clock.now():
                if await self._take_over(record, lease_owner):
                    if record["lease_owner"] is not None:  # None: released, not abandoned
                        log.warning("took over an abandoned idempotency key", extra={"key": key})
                    return lease_owner, int(record.get("service_attempt", 0))
                continue
            if loop.time() >= wait_deadline:
                break
            await asyncio.sleep(poll_interval_seconds)
            poll_interval_seconds = min(poll_interval_seconds * 2, POLL_INTERVAL_SECONDS_MAX)
        raise Aborted(
            f"a request with the {IDEMPOTENCY_KEY_HEADER} {key!r} is still in progress; "
            "retry shortly with the same key",
            reason="REQUEST_IN_PROGRESS",
        )

    async def _insert_claim(self, record_id: str, fingerprint: str, lease_owner: str) -> bool:
        now = self._clock.now()
        try:
            await self._collection.insert_one(
                {
                    "_id": record_id,
                    "fingerprint": fingerprint,
                    "state": RecordState.IN_PROGRESS.value,
                    "lease_owner": lease_owner,
                    "lease_expires_at": now + self._lease,
                    "created_at": now,
                    PURGE_FIELD: purge_at(self._clock, now, RECORD_RETENTION),
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def _take_over(self, record: dict[str, Any], lease_owner: str) -> bool:
        """Claim an expired lease; False if another request took it first."""
        result = await self._collection.update_one(
            {
                "_id": record["_id"],
                "state": RecordState.IN_PROGRESS.value,
                "lease_owner": record["lease_owner"],
            },
            {
                "$set": {
                    "lease_owner": lease_owner,
                    "lease_expires_at": self._clock.now() + self._lease,
                }
            },
        )
        return result.modified_count == 1

    async def _release(self, record_id: str, lease_owner: str) -> None:
        """End this request's lease now, so the next request with the key tries again."""
        await self._collection.update_one(
            {"_id": record_id, "lease_owner": lease_owner, "state": RecordState.IN_PROGRESS.value},
            {"$set": {"lease_expires_at": self._clock.now(), "lease_owner": None}},
        )

    async def _release_for_next_attempt(self, record_id: str, lease_owner: str) -> None:
        """Release the key after a password-retry refusal; the retry uses a new service key."""
        await self._collection.update_one(
            {"_id": record_id, "lease_owner": lease_owner, "state": RecordState.IN_PROGRESS.value},
            {
                "$set": {"lease_expires_at": self._clock.now(), "lease_owner": None},
                "$inc": {"service_attempt": 1},
            },
        )

    async def _complete(self, record_id: str, lease_owner: str, outcome: dict[str, Any]) -> None:
        result = await self._collection.update_one(
            {"_id": record_id, "lease_owner": lease_owner},
            {"$set": {"state": RecordState.COMPLETED.value, "outcome": outcome}},
        )
        if result.modified_count == 0:
            # Our lease ran out and another request took the key over; it re-drives the
            # same derived key, so the service gives it this same outcome.
            log.warning("idempotency lease lost before completion", extra={"record": record_id})
