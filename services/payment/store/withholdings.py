"""Withholding instructions (withholding.py), with their applications embedded, and store
freezes (store_freeze.py): the payment side of post-loan control.

Collection ``withholdings`` (its handle here, beside PaymentCollections'): one document per
instruction; the settlement reads the merchant's active ones and writes them back in its
own transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from chassis.errors import NotFound
from chassis.mongo import Document, Session
from services.payment.store.collections import PaymentCollections
from services.payment.store_freeze import StoreFreeze
from services.payment.withholding import (
    Application,
    Withholding,
    WithholdingState,
    plan_withholding,
)

LIST_MAX = 100


def withholding_to_document(item: Withholding) -> Document:
    return {
        "_id": item.withholding_id,
        "merchant_account_id": item.merchant_account_id,
        "trade_id": item.trade_id,
        "account_id": item.account_id,
        "reference": item.reference,
        "amount_fen": item.amount_fen,
        "state": item.state.value,
        "created_at": item.created_at,
        "withheld_fen": item.withheld_fen,
        "applications": [
            {
                "posting_id": a.posting_id,
                "trade_id": a.trade_id,
                "amount_fen": a.amount_fen,
                "applied_at": a.applied_at,
            }
            for a in item.applications
        ],
    }


def withholding_from_document(document: Document) -> Withholding:
    return Withholding(
        withholding_id=document["_id"],
        merchant_account_id=document["merchant_account_id"],
        trade_id=document["trade_id"],
        account_id=document["account_id"],
        reference=document["reference"],
        amount_fen=document["amount_fen"],
        state=WithholdingState(document["state"]),
        created_at=document["created_at"].astimezone(UTC),
        withheld_fen=document["withheld_fen"],
        applications=tuple(
            Application(a["posting_id"], a["trade_id"], a["amount_fen"], a["applied_at"])
            for a in document["applications"]
        ),
    )


class WithholdingStore(PaymentCollections):
    @property
    def withholdings(self) -> AsyncCollection[Document]:
        return self.database["withholdings"]

    async def ensure_withholding_indexes(self) -> None:
        await self.withholdings.create_indexes(
            [
                IndexModel([("merchant_account_id", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("reference", ASCENDING)]),
            ]
        )

    async def find_withholding(
        self, withholding_id: str, session: Session | None = None
    ) -> Withholding | None:
        document = await self.withholdings.find_one({"_id": withholding_id}, session=session)
        return withholding_from_document(document) if document else None

    async def get_withholding(self, withholding_id: str) -> Withholding:
        found = await self.find_withholding(withholding_id)
        if found is None:
            raise NotFound(f"withholding {withholding_id} not found")
        return found

    async def save_withholding(self, session: Session, item: Withholding) -> None:
        await self.withholdings.replace_one(
            {"_id": item.withholding_id},
            withholding_to_document(item),
            upsert=True,
            session=session,
        )

    async def active_withholdings(
        self, session: Session, merchant_account_id: str, trade_id: str
    ) -> list[Withholding]:
        """The merchant's active instructions this trade's settlement may apply."""
        cursor = self.withholdings.find(
            {
                "merchant_account_id": merchant_account_id,
                "state": WithholdingState.ACTIVE.value,
                "trade_id": {"$in": ["", trade_id]},
            },
            session=session,
        )
        return [withholding_from_document(document) async for document in cursor]

    async def withholdings_of(self, reference: str) -> list[Withholding]:
        cursor = self.withholdings.find({"reference": reference}).sort("created_at").limit(LIST_MAX)
        return [withholding_from_document(document) async for document in cursor]

    async def withhold_from_settlement(
        self,
        session: Session,
        trade_id: str,
        merchant_id: str,
        merchant_fen: int,
        *,
        posting_id: str,
        now: datetime,
    ) -> list[tuple[str, int]]:
        """Apply the merchant's active instructions to this settlement (in its transaction):
        save them and return the legs the settlement posting must carry."""
        instructions = await self.active_withholdings(session, merchant_id, trade_id)
        if not instructions:
            return []
        changed, legs = plan_withholding(trade_id, merchant_fen, instructions, now, posting_id)
        for item in changed:
            await self.save_withholding(session, item)
        return legs

    # store freezes (store_freeze.py), one document per merchant
    @property
    def store_freezes(self) -> AsyncCollection[Document]:
        return self.database["store_freezes"]

    async def find_store_freeze(
        self, merchant_account_id: str, session: Session | None = None
    ) -> StoreFreeze | None:
        document = await self.store_freezes.find_one({"_id": merchant_account_id}, session=session)
        if document is None:
            return None
        return StoreFreeze(
            merchant_account_id,
            document["frozen"],
            document["reason"],
            document["changed_at"].astimezone(UTC),
        )

    async def save_store_freeze(self, session: Session, freeze: StoreFreeze) -> None:
        await self.store_freezes.replace_one(
            {"_id": freeze.merchant_account_id},
            {"frozen": freeze.frozen, "reason": freeze.reason, "changed_at": freeze.changed_at},
            upsert=True,
            session=session,
        )
