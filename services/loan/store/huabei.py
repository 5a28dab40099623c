"""Huabei lines and purchases: the line's guarded counters and the purchase records."""

from __future__ import annotations

from datetime import date, datetime

from pymongo import DESCENDING

from chassis.errors import NotFound
from chassis.mongo import Document, Session
from services.loan.huabei import HuabeiLine, HuabeiPurchase, PurchaseState
from services.loan.store.collections import LoanCollections, after_key
from services.loan.store.mapping import (
    line_from_document,
    line_to_document,
    purchase_from_document,
    purchase_to_document,
)

UNBILLED_PURCHASES_MAX = 1_000


class HuabeiStore(LoanCollections):
    """Lines (one per borrower) and their purchases."""

    async def find_line(
        self, borrower_id: str, session: Session | None = None
    ) -> HuabeiLine | None:
        document = await self.huabei_lines.find_one({"_id": borrower_id}, session=session)
        return line_from_document(document) if document else None

    async def get_line(self, borrower_id: str, session: Session | None = None) -> HuabeiLine:
        line = await self.find_line(borrower_id, session)
        if line is None:
            raise NotFound(
                f"{borrower_id} has no Huabei line", metadata={"borrower_id": borrower_id}
            )
        return line

    async def save_line(self, session: Session, line: HuabeiLine) -> None:
        """Insert or replace the line (the transaction's conflict detection guards it)."""
        await self.huabei_lines.replace_one(
            {"_id": line.borrower_id}, line_to_document(line), upsert=True, session=session
        )

    async def reserve_on_line(self, session: Session, borrower_id: str, amount_fen: int) -> bool:
        """reserved += amount if line - used - reserved ≥ amount and not frozen (guarded)."""
        guard = {
            "_id": borrower_id,
            "frozen": False,
            "$expr": {
                "$gte": [
                    {"$subtract": ["$line_fen", {"$add": ["$used_fen", "$reserved_fen"]}]},
                    amount_fen,
                ]
            },
        }
        result = await self.huabei_lines.update_one(
            guard, {"$inc": {"reserved_fen": amount_fen}}, session=session
        )
        return result.modified_count == 1

    async def move_reserved(
        self, session: Session, borrower_id: str, reserved_fen: int, used_fen: int
    ) -> None:
        """Release reserved_fen of the reservation and draw used_fen on the line."""
        result = await self.huabei_lines.update_one(
            {"_id": borrower_id, "reserved_fen": {"$gte": reserved_fen}},
            {"$inc": {"reserved_fen": -reserved_fen, "used_fen": used_fen}},
            session=session,
        )
        assert result.modified_count == 1, f"line {borrower_id} holds less than its reservation"

    async def find_purchase(
        self, purchase_id: str, session: Session | None = None
    ) -> HuabeiPurchase | None:
        document = await self.huabei_purchases.find_one({"_id": purchase_id}, session=session)
        return purchase_from_document(document) if document else None

    async def get_purchase(
        self, purchase_id: str, session: Session | None = None
    ) -> HuabeiPurchase:
        purchase = await self.find_purchase(purchase_id, session)
        if purchase is None:
            raise NotFound(
                f"purchase {purchase_id} not found", metadata={"purchase_id": purchase_id}
            )
        return purchase

    async def find_purchase_for(self, borrower_id: str, reference: str) -> HuabeiPurchase | None:
        """The borrower's purchase for a reference: the captured one, else a reserved one."""
        query: Document = {
            "borrower_id": borrower_id,
            "reference": reference,
            "state": {"$in": [PurchaseState.CAPTURED.value, PurchaseState.RESERVED.value]},
        }
        documents = await self.huabei_purchases.find(query).sort("_id").to_list(10)
        purchases = [purchase_from_document(document) for document in documents]
        captured = [p for p in purchases if p.state is PurchaseState.CAPTURED]
        found = captured or purchases
        return found[0] if found else None

    async def feed_position(self, feed: str, session: Session | None = None) -> int:
        document = await self.feed_positions.find_one({"_id": feed}, session=session)
        return int(document["position"]) if document else 0

    async def advance_feed_position(self, session: Session, feed: str, position: int) -> None:
        await self.feed_positions.update_one(
            {"_id": feed}, {"$set": {"position": position}}, upsert=True, session=session
        )

    async def save_purchase(self, session: Session, purchase: HuabeiPurchase) -> None:
        await self.huabei_purchases.replace_one(
            {"_id": purchase.purchase_id},
            purchase_to_document(purchase),
            upsert=True,
            session=session,
        )

    async def unbilled_purchases(
        self, session: Session | None, borrower_id: str, through: date | None = None
    ) -> list[HuabeiPurchase]:
        """Captured purchases on no bill and in no plan (captured on or before through)."""
        query: Document = {
            "borrower_id": borrower_id,
            "state": PurchaseState.CAPTURED.value,
            "bill_id": "",
            "installment_plan_id": "",
        }
        if through is not None:
            query["captured_on"] = {"$lte": through.isoformat()}
        cursor = self.huabei_purchases.find(query, session=session).sort("_id")
        documents = await cursor.to_list(UNBILLED_PURCHASES_MAX)
        return [purchase_from_document(document) for document in documents]

    async def mark_purchases_billed(
        self, session: Session, purchase_ids: list[str], bill_id: str
    ) -> None:
        await self.huabei_purchases.update_many(
            {"_id": {"$in": purchase_ids}}, {"$set": {"bill_id": bill_id}}, session=session
        )

    async def list_purchases(
        self, borrower_id: str, limit: int, after: tuple[str, ...] | None
    ) -> list[HuabeiPurchase]:
        query: dict[str, object] = {"borrower_id": borrower_id, "released_before_reserved": False}
        if after is not None:
            query.update(after_key("reserved_at", datetime.fromisoformat(after[0]), after[1], True))
        cursor = (
            self.huabei_purchases.find(query)
            .sort([("reserved_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [purchase_from_document(document) async for document in cursor]

    async def lines_with_statement_days(
        self, days: list[int], after_id: str, limit: int
    ) -> list[str]:
        cursor = (
            self.huabei_lines.find(
                {"statement_day": {"$in": days}, "_id": {"$gt": after_id}}, {"_id": 1}
            )
            .sort("_id")
            .limit(limit)
        )
        return [document["_id"] async for document in cursor]

    async def delinquent_line_ids(self, after_id: str, limit: int) -> list[str]:
        cursor = (
            self.huabei_lines.find(
                {"bucket": {"$ne": "current"}, "_id": {"$gt": after_id}}, {"_id": 1}
            )
            .sort("_id")
            .limit(limit)
        )
        return [document["_id"] async for document in cursor]
