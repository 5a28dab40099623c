"""The transactional outbox: domain events written in the same transaction as the change.

A service appends an event with ``append_event(session, ...)`` inside the transaction
that makes the change, so an event exists exactly when its change committed (DESIGN.md
"Events"). Serving the outbox as an ordered, resumable feed builds on this collection.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from google.protobuf.message import Message
from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Session

OUTBOX_COLLECTION = "outbox"


async def append_event(
    outbox: AsyncCollection[dict[str, Any]],
    session: Session,
    *,
    event_type: str,
    aggregate_id: str,
    payload: Message,
    occurred_at: datetime,
) -> str:
    """Append one event inside the caller's transaction; returns its event id."""
    event_id = uuid.uuid4().hex
    await outbox.insert_one(
        {
            "_id": event_id,
            "type": event_type,
            "aggregate_id": aggregate_id,
            "occurred_at": occurred_at,
            "payload_type": payload.DESCRIPTOR.full_name,
            "payload": payload.SerializeToString(deterministic=True),
        },
        session=session,
    )
    return event_id
