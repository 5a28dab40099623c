"""Purchases and payouts: the wealth side of every purchase, and the money the wealth
accounts owe until the gateway has paid it in the payment ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from pymongo import ASCENDING

from chassis.errors import NotFound
from chassis.mongo import Document, Session
from services.wealth.fixed_term import Holding
from services.wealth.payouts import Payout, PayoutSettlement, PayoutState
from services.wealth.purchases import Purchase, PurchaseKind, PurchaseState
from services.wealth.store.collections import WealthCollections, after_key, sum_of
from services.wealth.store.mapping import (
    holding_from_document,
    holding_to_document,
    payout_from_document,
    payout_to_document,
    purchase_from_document,
    purchase_to_document,
)


class PurchaseStore(WealthCollections):
    """Purchases: inserted by a try, closed by its confirm or cancel."""

    async def get_purchase(
        self, purchase_id: str, session: Session | None = None
    ) -> Purchase | None:
        document = await self.purchases.find_one({"_id": purchase_id}, session=session)
        return purchase_from_document(document) if document else None

    async def purchase_planned_holding(self, purchase_id: str, session: Session) -> Holding:
        """The holding a product subscription's try planned (inserted at confirm)."""
        document = await self.purchases.find_one(
            {"_id": purchase_id}, {"planned_holding": 1}, session=session
        )
        assert document and document.get("planned_holding"), f"{purchase_id} planned no holding"
        return holding_from_document(document["planned_holding"])

    async def insert_purchase(
        self, session: Session, purchase: Purchase, planned_holding: Holding | None = None
    ) -> None:
        document = purchase_to_document(purchase)
        if planned_holding is not None:
            document["planned_holding"] = holding_to_document(planned_holding)
        await self.purchases.insert_one(document, session=session)

    async def save_purchase(self, session: Session, before: Purchase, after: Purchase) -> None:
        """Store a purchase's new state, if nobody changed it since `before` was read."""
        result = await self.purchases.update_one(
            {"_id": before.purchase_id, "state": before.state.value},
            {
                "$set": {
                    "state": after.state.value,
                    "closed_at": after.closed_at,
                    "payment_posting_id": after.payment_posting_id,
                    "fund_order_id": after.fund_order_id,
                }
            },
            session=session,
        )
        assert result.matched_count == 1, f"purchase {before.purchase_id} changed underneath"

    async def pending_purchases_fen(
        self,
        kinds: Iterable[PurchaseKind],
        investor_id: str | None = None,
        session: Session | None = None,
    ) -> int:
        """What purchases of these kinds (of one investor) are tried and not yet closed."""
        match: Document = {
            "state": PurchaseState.PENDING.value,
            "kind": {"$in": [kind.value for kind in kinds]},
        }
        if investor_id is not None:
            match["investor_id"] = investor_id
        return await sum_of(self.purchases, match, "amount_fen", session)


class PayoutStore(WealthCollections):
    """Payouts: recorded with the debt that creates them, marked paid by the gateway."""

    async def insert_payouts(self, session: Session, payouts: Iterable[Payout]) -> None:
        documents = [payout_to_document(payout) for payout in payouts]
        if documents:
            await self.payouts.insert_many(documents, session=session)

    async def get_payout(self, payout_id: str, session: Session | None = None) -> Payout:
        document = await self.payouts.find_one({"_id": payout_id}, session=session)
        if document is None:
            raise NotFound(f"payout {payout_id} does not exist", metadata={"payout_id": payout_id})
        return payout_from_document(document)

    async def get_payouts(
        self, payout_ids: Sequence[str], session: Session | None = None
    ) -> tuple[Payout, ...]:
        """The payouts among these ids that exist, in the order given."""
        cursor = self.payouts.find({"_id": {"$in": list(payout_ids)}}, session=session)
        found = {document["_id"]: payout_from_document(document) async for document in cursor}
        return tuple(found[payout_id] for payout_id in payout_ids if payout_id in found)

    async def save_payout(self, session: Session, before: Payout, after: Payout) -> None:
        result = await self.payouts.update_one(
            {"_id": before.payout_id, "state": before.state.value},
            {
                "$set": {
                    "state": after.state.value,
                    "paid_at": after.paid_at,
                    "payment_posting_id": after.payment_posting_id,
                }
            },
            session=session,
        )
        assert result.matched_count == 1, f"payout {before.payout_id} changed underneath"

    async def list_due_payouts(
        self, business_date: date, page_size: int, after: tuple[str, ...] | None
    ) -> list[Payout]:
        """SCHEDULED unpaid payouts due on or before business_date, oldest first."""
        query: Document = {
            "settlement": PayoutSettlement.SCHEDULED.value,
            "state": PayoutState.DUE.value,
            "due_on": {"$lte": business_date.isoformat()},
        }
        if after is not None:
            query = {"$and": [query, after_key("due_on", after[0], after[1], descending=False)]}
        cursor = (
            self.payouts.find(query)
            .sort([("due_on", ASCENDING), ("_id", ASCENDING)])
            .limit(page_size)
        )
        return [payout_from_document(document) async for document in cursor]
