"""The operators' audit log: every /v1/admin/* request that changes something, append-only.

Collection ``operator_audit_log`` of the gateway database. For each such request the gateway
appends a "requested" entry *before* the handler runs (who, what, the body) and an
"answered" entry after it (the status, or the refusal's reason), and answers only once both
are written: an action the log cannot record is not taken (503), and one cut short by a
crash leaves its "requested" entry. Nothing in the gateway updates or deletes an entry and
no route does; operators read it with GET /v1/admin/audit-log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from chassis.clock import Clock
from chassis.errors import DomainError, Unavailable
from chassis.paging import decode_page_token, encode_page_token, invalid_page_token

OPERATOR_AUDIT_LOG_COLLECTION = "operator_audit_log"
ADMIN_PATH_PREFIX = "/v1/admin/"
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What of a request body the log keeps (an admin body is small; more is cut off).
BODY_CHARS_MAX = 4096
NEWEST_FIRST = [("at", DESCENDING), ("_id", DESCENDING)]
PAGE_QUERY = "operator-audit-log"


def is_audited(request: web.Request) -> bool:
    """A request an operator makes to change something."""
    return request.method in CHANGING_METHODS and request.path.startswith(ADMIN_PATH_PREFIX)


@dataclass(frozen=True, slots=True)
class AuditActor:
    user_id: str
    phone: str


class OperatorAuditLog:
    """Appends entries and reads them; it has no way to change or remove one."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], clock: Clock) -> None:
        self._entries = collection
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self._entries.create_index(NEWEST_FIRST)
        await self._entries.create_index("request_id")

    async def around(
        self, request: web.Request, actor: AuditActor, handler: Handler
    ) -> web.StreamResponse:
        """Run handler for an audited request, logging it before and its outcome after."""
        request_id = uuid.uuid4().hex
        body = (await request.read()).decode("utf-8", errors="replace")
        await self._append(
            {
                "request_id": request_id,
                "phase": "requested",
                "user_id": actor.user_id,
                "phone": actor.phone,
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "body": body[:BODY_CHARS_MAX],
                "body_truncated": len(body) > BODY_CHARS_MAX,
            }
        )
        try:
            response = await handler(request)
        except DomainError as refusal:
            await self._answered(request_id, actor, outcome=f"refused {refusal.reason}")
            raise
        except web.HTTPException as answer:
            await self._answered(request_id, actor, outcome=f"HTTP {answer.status}")
            raise
        except Exception:
            await self._answered(request_id, actor, outcome="failed")
            raise
        await self._answered(request_id, actor, outcome=f"HTTP {response.status}")
        return response

    async def entries(self, limit: int, page_token: str = "") -> tuple[list[dict[str, Any]], str]:
        """Entries newest first, at most limit, after page_token; and the next page's token."""
        position = decode_page_token(page_token, PAGE_QUERY, 2)
        query: dict[str, Any] = {}
        if position is not None:
            try:
                at, entry_id = datetime.fromisoformat(position[0]), ObjectId(position[1])
            except (ValueError, InvalidId):
                raise invalid_page_token() from None
            query = {"$or": [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": entry_id}}]}
        cursor = self._entries.find(query).sort(NEWEST_FIRST).limit(limit)
        found = [document async for document in cursor]
        next_token = ""
        if len(found) == limit:
            last = found[-1]
            next_token = encode_page_token(PAGE_QUERY, last["at"].isoformat(), str(last["_id"]))
        return [{k: v for k, v in entry.items() if k != "_id"} for entry in found], next_token

    async def _answered(self, request_id: str, actor: AuditActor, outcome: str) -> None:
        await self._append(
            {
                "request_id": request_id,
                "phase": "answered",
                "user_id": actor.user_id,
                "phone": actor.phone,
                "outcome": outcome,
            }
        )

    async def _append(self, entry: dict[str, Any]) -> None:
        try:
            await self._entries.insert_one({**entry, "at": self._clock.now()})
        except PyMongoError as error:
            raise Unavailable(
                "the operator audit log cannot be written; nothing is done without it"
            ) from error
