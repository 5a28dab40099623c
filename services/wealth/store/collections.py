"""The wealth service's collections, their indexes, and the query pieces the stores share.

Collections in the service's own database:
  purchases           the wealth side of every purchase (purchases.py), tombstones included
  payouts             money the wealth accounts owe, until the gateway marks it paid
  yuebao_accounts     one document per Yu'e Bao holder: shares, income figures, fast usage
  yuebao_redemptions  redemptions (and tombstones of redemptions cancelled first)
  yuebao_income       one document per (holder, business date) paid: the exactly-once marker
                      of the daily income, written with the holder's share credit
  yuebao_income_runs  one document per business date: quote, progress cursor, totals
  yuebao_fund         the fund: portfolio (data) and the residue carried from run to run
  products            Zhaocaibao products; sold_fen only moves by guarded $inc
  holdings            Zhaocaibao holdings
  reservations        Zhaocaibao reservations
  funds, fund_navs    the marketplace's funds and their NAV history
  fund_orders         buy and sell orders
  fund_positions      units per (investor, fund), in hundredths of a unit
  risk_profiles       one per investor
  idempotency         idempotency records (chassis.idempotency)
  outbox              domain events (chassis.outbox)
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from chassis.mongo import Document, Session


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


class WealthCollections:
    """The collections of one wealth database (the base of every aggregate's store)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.database = database
        self.purchases = database["purchases"]
        self.payouts = database["payouts"]
        self.yuebao_accounts = database["yuebao_accounts"]
        self.yuebao_redemptions = database["yuebao_redemptions"]
        self.yuebao_income = database["yuebao_income"]
        self.yuebao_income_runs = database["yuebao_income_runs"]
        self.yuebao_fund = database["yuebao_fund"]
        self.products = database["products"]
        self.holdings = database["holdings"]
        self.reservations = database["reservations"]
        self.funds = database["funds"]
        self.fund_navs = database["fund_navs"]
        self.fund_orders = database["fund_orders"]
        self.fund_positions = database["fund_positions"]
        self.risk_profiles = database["risk_profiles"]
        self.idempotency = database["idempotency"]
        self.outbox = database["outbox"]

    async def ensure_indexes(self) -> None:
        """Create the indexes the queries below rely on (idempotent)."""
        await self.purchases.create_indexes(
            [
                IndexModel([("investor_id", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("kind", ASCENDING), ("state", ASCENDING)]),
            ]
        )
        await self.payouts.create_indexes(
            [
                IndexModel(
                    [
                        ("settlement", ASCENDING),
                        ("state", ASCENDING),
                        ("due_on", ASCENDING),
                        ("_id", ASCENDING),
                    ]
                ),
                IndexModel([("from_account_id", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("to_account_id", ASCENDING), ("state", ASCENDING)]),
            ]
        )
        await self.yuebao_income.create_index(
            [("investor_id", ASCENDING), ("business_date", DESCENDING)]
        )
        await self.yuebao_income_runs.create_index([("state", ASCENDING), ("_id", DESCENDING)])
        await self.products.create_index([("created_at", DESCENDING), ("_id", DESCENDING)])
        await self.holdings.create_indexes(
            [
                IndexModel([("investor_id", ASCENDING), ("value_date", DESCENDING)]),
                IndexModel([("state", ASCENDING), ("maturity_date", ASCENDING)]),
                IndexModel([("state", ASCENDING), ("product_id", ASCENDING)]),
            ]
        )
        await self.reservations.create_indexes(
            [
                IndexModel([("state", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)]),
                IndexModel([("investor_id", ASCENDING), ("created_at", DESCENDING)]),
            ]
        )
        await self.fund_navs.create_index([("fund_id", ASCENDING), ("nav_date", DESCENDING)])
        await self.fund_orders.create_indexes(
            [
                IndexModel([("investor_id", ASCENDING), ("placed_at", DESCENDING)]),
                IndexModel([("state", ASCENDING), ("fund_id", ASCENDING), ("nav_date", ASCENDING)]),
            ]
        )
        await self.fund_positions.create_index("investor_id")
