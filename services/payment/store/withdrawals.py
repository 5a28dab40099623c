"""Withdrawal records (batch_withdrawals.Withdrawal): one document per withdrawal, by its key.

A reserve inserts the record pending, in its transaction; settling it is one conditional
update (pending -> paid or declined) in the settle's transaction, so a withdrawal settles
exactly once however many drivers (the request, a replay, the recovery job) try.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Document, Session
from services.payment.batch_withdrawals import (
    WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
    Withdrawal,
    WithdrawalState,
)
from services.payment.store.accounts import AccountStore


def _document(withdrawal: Withdrawal) -> Document:
    return {
        "_id": withdrawal.key,
        "account_id": withdrawal.account_id,
        "card_number": withdrawal.card_number,
        "amount_fen": withdrawal.amount_fen,
        "state": withdrawal.state.value,
        "created_at": withdrawal.created_at,
        "posting_id": withdrawal.posting_id,
    }


def _withdrawal(document: Document) -> Withdrawal:
    return Withdrawal(
        key=document["_id"],
        account_id=document["account_id"],
        card_number=document["card_number"],
        amount_fen=document["amount_fen"],
        state=WithdrawalState(document["state"]),
        created_at=document["created_at"],
        posting_id=document.get("posting_id", ""),
        settled_at=document.get("settled_at"),
        bank_reference=document.get("bank_reference", ""),
        declined_reason=document.get("declined_reason", ""),
        declined_message=document.get("declined_message", ""),
    )


class WithdrawalStore(AccountStore):
    """The withdrawals collection."""

    @property
    def withdrawals(self) -> AsyncCollection[Document]:
        return self.database["withdrawals"]

    async def ensure_withdrawal_indexes(self) -> None:
        # The recovery job's query: pending withdrawals, oldest first.
        await self.withdrawals.create_indexes(
            [IndexModel([("state", ASCENDING), ("created_at", ASCENDING)])]
        )

    async def insert_withdrawals(self, session: Session, withdrawals: Sequence[Withdrawal]) -> None:
        """Record reserved withdrawals, pending (in the reserve's transaction)."""
        if withdrawals:
            await self.withdrawals.insert_many(
                [_document(w) for w in withdrawals], ordered=False, session=session
            )

    async def get_withdrawal(self, key: str, session: Session | None = None) -> Withdrawal | None:
        document = await self.withdrawals.find_one({"_id": key}, session=session)
        return None if document is None else _withdrawal(document)

    async def pending_withdrawals(self, created_before: datetime, limit: int) -> list[Withdrawal]:
        """Pending withdrawals reserved before created_before, oldest first."""
        cursor = self.withdrawals.find(
            {"state": WithdrawalState.PENDING.value, "created_at": {"$lt": created_before}}
        )
        return [_withdrawal(d) async for d in cursor.sort("created_at", ASCENDING).limit(limit)]

    async def settle_withdrawal(
        self,
        session: Session,
        key: str,
        state: WithdrawalState,
        now: datetime,
        *,
        bank_reference: str = "",
        declined_reason: str = "",
        declined_message: str = "",
    ) -> bool:
        """Mark a pending withdrawal settled; False if it was not pending (settled already)."""
        result = await self.withdrawals.update_one(
            {"_id": key, "state": WithdrawalState.PENDING.value},
            {
                "$set": {
                    "state": state.value,
                    "settled_at": now,
                    "bank_reference": bank_reference,
                    "declined_reason": declined_reason,
                    "declined_message": declined_message,
                }
            },
            session=session,
        )
        return result.matched_count == 1

    async def audit_withdrawals_in_transit(self) -> list[str]:
        """In-transit's balance = the pending withdrawals' sum (at rest: nothing in flight)."""
        if await self.accounts.find_one({"_id": WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID}) is None:
            return []
        account = await self.get_account(WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID)
        pipeline: list[Document] = [
            {"$match": {"state": WithdrawalState.PENDING.value}},
            {"$group": {"_id": None, "fen": {"$sum": "$amount_fen"}}},
        ]
        rows = [row async for row in await self.withdrawals.aggregate(pipeline)]
        pending_fen = int(rows[0]["fen"]) if rows else 0
        if account.balance_fen != pending_fen:
            return [
                f"withdrawals in transit {account.balance_fen} fen, pending withdrawals sum to "
                f"{pending_fen} fen"
            ]
        return []
