"""The loan service's collections and their indexes.

Collections in the service's own database:
  huabei_lines        one per borrower: line, used, reserved, credit, delinquency
  huabei_purchases    reservations and captured purchases (tombstones included)
  bills               Huabei bills, one per (borrower, statement date)
  installment_plans   Huabei installment plans with their parts
  cash_loans          cash loans (declined ones too) with their periods
  repayments          repayments, tried → applied or cancelled (tombstones included)
  auto_debits         auto-debit settings, one per borrower
  job_runs            one per business date the daily job has run
  feed_positions      the last event applied of each feed followed (the credit feed)
  idempotency         idempotency records (chassis.idempotency)
  outbox              domain events (chassis.outbox)
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from chassis.mongo import Document, Session

# Every scan of the daily job is paged; a job run handles at most this many accounts per
# kind (beyond it the operator sees a partial count and runs the date again).
JOB_PAGE_SIZE = 200
JOB_ACCOUNTS_MAX = 1_000_000


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


class LoanCollections:
    """The collections of one loan database (the base of every aggregate's store)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.database = database
        self.huabei_lines = database["huabei_lines"]
        self.huabei_purchases = database["huabei_purchases"]
        self.bills = database["bills"]
        self.installment_plans = database["installment_plans"]
        self.cash_loans = database["cash_loans"]
        self.repayments = database["repayments"]
        self.auto_debits = database["auto_debits"]
        self.job_runs = database["job_runs"]
        self.feed_positions = database["feed_positions"]
        self.idempotency = database["idempotency"]
        self.outbox = database["outbox"]

    async def ensure_indexes(self) -> None:
        """Create the indexes the queries rely on (idempotent)."""
        await self.huabei_lines.create_indexes(
            [IndexModel([("statement_day", ASCENDING)]), IndexModel([("bucket", ASCENDING)])]
        )
        await self.huabei_purchases.create_indexes(
            [
                IndexModel([("borrower_id", ASCENDING), ("reserved_at", DESCENDING)]),
                IndexModel(
                    [("borrower_id", ASCENDING), ("state", ASCENDING), ("bill_id", ASCENDING)]
                ),
                IndexModel([("borrower_id", ASCENDING), ("reference", ASCENDING)]),
            ]
        )
        await self.bills.create_indexes(
            [
                IndexModel([("borrower_id", ASCENDING), ("statement_date", DESCENDING)]),
                IndexModel([("paid", ASCENDING), ("due_date", ASCENDING)]),
            ]
        )
        await self.installment_plans.create_indexes(
            [
                IndexModel([("borrower_id", ASCENDING), ("created_at", DESCENDING)]),
                IndexModel([("borrower_id", ASCENDING), ("next_statement_date", ASCENDING)]),
            ]
        )
        await self.cash_loans.create_indexes(
            [
                IndexModel([("borrower_id", ASCENDING), ("decided_at", DESCENDING)]),
                IndexModel([("state", ASCENDING), ("_id", ASCENDING)]),
            ]
        )
        await self.repayments.create_indexes(
            [
                IndexModel([("borrower_id", ASCENDING), ("tried_at", DESCENDING)]),
                IndexModel([("account_id", ASCENDING), ("state", ASCENDING)]),
            ]
        )
        await self.auto_debits.create_index("enabled")
