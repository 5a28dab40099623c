"""The insurance service's collections and their indexes.

Collections in the service's own database:
  quotes        quotes, valid 15 minutes, with the policy that consumed them
  policies      policies in every state (VOID tombstones included)
  claims        claims, unique per (policy, event reference)
  job_runs      one per business date the expiry job has run
  idempotency   idempotency records (chassis.idempotency)
  outbox        domain events (chassis.outbox)
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from chassis.mongo import Document, Session

# The expiry job reads policies in pages and handles at most this many a run (beyond it the
# operator sees a partial count and runs the date again).
JOB_PAGE_SIZE = 200
JOB_POLICIES_MAX = 100_000


def after_key(field: str, value: Any, item_id: str, descending: bool) -> Document:
    """The keyset filter for items after (value, item_id) in (field, _id) order."""
    compare = "$lt" if descending else "$gt"
    return {"$or": [{field: {compare: value}}, {field: value, "_id": {compare: item_id}}]}


async def sum_of(
    collection: Any, match: Document, field: str, session: Session | None = None
) -> int:
    """The sum of field over the documents matching match (0 if none)."""
    pipeline: list[Document] = [
        {"$match": match},
        {"$group": {"_id": None, "total": {"$sum": f"${field}"}}},
    ]
    rows = [row async for row in await collection.aggregate(pipeline, session=session)]
    return int(rows[0]["total"]) if rows else 0


class InsuranceCollections:
    """The collections of one insurance database (the base of every aggregate's store)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.database = database
        self.quotes = database["quotes"]
        self.policies = database["policies"]
        self.claims = database["claims"]
        self.job_runs = database["job_runs"]
        self.idempotency = database["idempotency"]
        self.outbox = database["outbox"]

    async def ensure_indexes(self) -> None:
        """Create the indexes the queries rely on (idempotent)."""
        await self.policies.create_indexes(
            [
                IndexModel([("holder_id", ASCENDING), ("created_at", DESCENDING)]),
                IndexModel([("state", ASCENDING), ("end_date", ASCENDING), ("_id", ASCENDING)]),
                IndexModel([("product_id", ASCENDING)]),
            ]
        )
        await self.claims.create_indexes(
            [
                IndexModel([("policy_id", ASCENDING), ("event_reference", ASCENDING)], unique=True),
                IndexModel([("state", ASCENDING), ("submitted_at", ASCENDING)]),
                IndexModel([("policy_id", ASCENDING), ("submitted_at", ASCENDING)]),
            ]
        )
