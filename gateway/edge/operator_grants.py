"""Who is a platform operator: explicit grants against registered identities.

Collection ``operator_grants`` of the gateway database, append-only: one document per grant
or revocation ``{user_id, phone, action: "grant"|"revoke", by, at, reason}``. A user is an
operator while their latest event is a grant. Grants are made by the ``colony operator``
command (infra.cli), by someone with access to the gateway's database, never through the
API and never for a phone nobody has registered yet (so the first person to register a
phone cannot become an operator by it). The gateway checks the grant at log-in and on every
request with an operator token, so a revocation takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import Clock
from chassis.errors import FailedPrecondition, NotFound
from gateway.edge.identities import IdentityState, IdentityStore

OPERATOR_GRANTS_COLLECTION = "operator_grants"
WHO_LENGTH_MAX = 200
# Events at the same instant (a manual clock) keep their insertion order by _id.
NEWEST_FIRST = [("at", DESCENDING), ("_id", DESCENDING)]


class GrantAction(StrEnum):
    GRANT = "grant"
    REVOKE = "revoke"


@dataclass(frozen=True, slots=True)
class GrantEvent:
    user_id: str
    phone: str
    action: GrantAction
    by: str
    at: datetime
    reason: str = ""


def _event(document: dict[str, Any]) -> GrantEvent:
    return GrantEvent(
        user_id=document["user_id"],
        phone=document["phone"],
        action=GrantAction(document["action"]),
        by=document["by"],
        at=document["at"],
        reason=document.get("reason", ""),
    )


class OperatorGrants:
    """Grants and revocations of the operator role, and the check the gateway makes."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], clock: Clock) -> None:
        self._events = collection
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self._events.create_index([("user_id", ASCENDING), ("at", DESCENDING)])

    async def is_operator(self, user_id: str) -> bool:
        latest = await self._events.find_one({"user_id": user_id}, sort=NEWEST_FIRST)
        return latest is not None and latest["action"] == GrantAction.GRANT.value

    async def grant(
        self, identities: IdentityStore, phone: str, by: str, reason: str = ""
    ) -> GrantEvent:
        """Make the active identity registered with phone an operator (recorded with by)."""
        return await self._record(identities, phone, GrantAction.GRANT, by, reason)

    async def revoke(
        self, identities: IdentityStore, phone: str, by: str, reason: str = ""
    ) -> GrantEvent:
        return await self._record(identities, phone, GrantAction.REVOKE, by, reason)

    async def history(self, limit: int = 100) -> list[GrantEvent]:
        """The latest grants and revocations, newest first."""
        cursor = self._events.find({}).sort(NEWEST_FIRST).limit(limit)
        return [_event(document) async for document in cursor]

    async def _record(
        self, identities: IdentityStore, phone: str, action: GrantAction, by: str, reason: str
    ) -> GrantEvent:
        by = by.strip()
        if not by or len(by) > WHO_LENGTH_MAX:
            raise FailedPrecondition("say who grants or revokes (1 to 200 characters)")
        identity = await identities.find_by_phone(phone)
        if identity is None or identity.state is not IdentityState.ACTIVE:
            raise NotFound(f"no registered, active identity has phone {phone}")
        event = GrantEvent(identity.user_id, phone, action, by, self._clock.now(), reason)
        await self._events.insert_one(
            {
                "user_id": event.user_id,
                "phone": event.phone,
                "action": event.action.value,
                "by": event.by,
                "at": event.at,
                "reason": event.reason,
            }
        )
        return event
