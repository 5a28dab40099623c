"""Holds (TCC reservations): a hold's document and the held_fen it reserves on its account."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, ReturnDocument

from chassis.mongo import Session
from services.payment.holds import Hold, HoldState, require_can_reserve
from services.payment.ledger import Account, AccountKind, AccountStatus
from services.payment.store.accounts import AccountStore
from services.payment.store.mapping import hold_from_document, hold_to_document

# What insert_hold returns for a hold on no account (a void that burnt an unknown id).
_NO_ACCOUNT = Account("", AccountKind.PLATFORM, AccountStatus.CLOSED, "")


class HoldStore(AccountStore):
    """The holds collection, and the reservations on the accounts collection."""

    async def ensure_hold_indexes(self) -> None:
        await self.holds.create_index([("state", ASCENDING), ("expires_at", ASCENDING)])

    async def get_hold(self, hold_id: str, session: Session | None = None) -> Hold | None:
        document = await self.holds.find_one({"_id": hold_id}, session=session)
        return hold_from_document(document) if document else None

    async def insert_hold(self, session: Session, hold: Hold) -> Account:
        """Record a hold and reserve its amount (guarded: available >= amount)."""
        if hold.is_open:
            document = await self.accounts.find_one_and_update(
                {
                    "_id": hold.account_id,
                    "status": AccountStatus.ACTIVE.value,
                    "hot_shards": {"$in": [0, None]},
                    "$expr": {
                        "$gte": [{"$subtract": ["$balance_fen", "$held_fen"]}, hold.amount_fen]
                    },
                },
                {"$inc": {"held_fen": hold.amount_fen}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if document is None:
                # The guard refused: the hold rules say why, from the account as seen now.
                require_can_reserve(
                    await self.get_account(hold.account_id, session), hold.amount_fen
                )
                raise AssertionError(f"hold on {hold.account_id} refused without a reason")
        await self.holds.insert_one(hold_to_document(hold), session=session)
        return await self.get_account(hold.account_id, session) if hold.account_id else _NO_ACCOUNT

    async def close_hold(self, session: Session, before: Hold, after: Hold) -> None:
        """Store a hold's new state; release its reservation if it was open and is no longer."""
        if before.is_open and not after.is_open:
            await self.accounts.update_one(
                {"_id": before.account_id},
                {"$inc": {"held_fen": -before.amount_fen}},
                session=session,
            )
        result = await self.holds.replace_one(
            {"_id": before.hold_id, "state": before.state.value},
            hold_to_document(after),
            session=session,
        )
        assert result.matched_count == 1, f"hold {before.hold_id} changed under this transaction"

    async def holds_due_to_expire(self, now: datetime, limit: int) -> list[Hold]:
        """Open holds whose TTL has passed, oldest first, at most limit."""
        cursor = (
            self.holds.find({"state": HoldState.HELD.value, "expires_at": {"$lte": now}})
            .sort("expires_at", ASCENDING)
            .limit(limit)
        )
        return [hold_from_document(document) async for document in cursor]
