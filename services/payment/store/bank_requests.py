"""What the records of bank requests share (withdrawals.py, top_ups.py): one document per
request by its idempotency key, inserted pending in the reserve's transaction, settled by
one conditional update (pending -> a final state) in the settle's transaction, so a request
settles exactly once however many drivers (the request, a replay, the recovery job) try.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Document, Session

PENDING = "pending"


async def ensure_pending_index(collection: AsyncCollection[Document]) -> None:
    # The recovery job's query: pending records, oldest first.
    await collection.create_indexes([IndexModel([("state", ASCENDING), ("created_at", ASCENDING)])])


async def insert_pending(
    collection: AsyncCollection[Document], session: Session, documents: Sequence[Document]
) -> None:
    if documents:
        await collection.insert_many(list(documents), ordered=False, session=session)


async def pending_documents(
    collection: AsyncCollection[Document], created_before: datetime, limit: int
) -> list[Document]:
    """Pending records created before created_before, oldest first."""
    cursor = collection.find({"state": PENDING, "created_at": {"$lt": created_before}})
    return [d async for d in cursor.sort("created_at", ASCENDING).limit(limit)]


async def settle_pending(
    collection: AsyncCollection[Document],
    session: Session,
    key: str,
    *,
    state: str,
    now: datetime,
    fields: dict[str, Any],
) -> bool:
    """Mark a pending record settled; False if it was not pending (settled already)."""
    result = await collection.update_one(
        {"_id": key, "state": PENDING},
        {"$set": {"state": state, "settled_at": now, **fields}},
        session=session,
    )
    return result.matched_count == 1


async def pending_sum(collection: AsyncCollection[Document]) -> int:
    """The fen of the pending records."""
    pipeline: list[Document] = [
        {"$match": {"state": PENDING}},
        {"$group": {"_id": None, "fen": {"$sum": "$amount_fen"}}},
    ]
    rows = [row async for row in await collection.aggregate(pipeline)]
    return int(rows[0]["fen"]) if rows else 0
