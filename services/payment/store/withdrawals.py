"""Withdrawal records (batch_withdrawals.Withdrawal): one document per withdrawal, by its key.

A reserve inserts the record pending, in its transaction; settling it is one conditional
update (pending -> paid or declined) in the settle's transaction (bank_requests.py, shared
with top-ups), so a withdrawal settles exactly once however many drivers try.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Document, Session
from services.payment.batch_withdrawals import (
    WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
    Withdrawal,
    WithdrawalState,
)
from services.payment.store.accounts import AccountStore
from services.payment.store.bank_requests import (
    ensure_pending_index,
    insert_pending,
    pending_documents,
    pending_sum,
    settle_pending,
)


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
        await ensure_pending_index(self.withdrawals)

    async def insert_withdrawals(self, session: Session, withdrawals: Sequence[Withdrawal]) -> None:
        """Record reserved withdrawals, pending (in the reserve's transaction)."""
        await insert_pending(self.withdrawals, session, [_document(w) for w in withdrawals])

    async def get_withdrawal(self, key: str, session: Session | None = None) -> Withdrawal | None:
        document = await self.withdrawals.find_one({"_id": key}, session=session)
        return None if document is None else _withdrawal(document)

    async def pending_withdrawals(self, created_before: datetime, limit: int) -> list[Withdrawal]:
        """Pending withdrawals reserved before created_before, oldest first."""
        documents = await pending_documents(self.withdrawals, created_before, limit)
        return [_withdrawal(d) for d in documents]

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
        fields = {
            "bank_reference": bank_reference,
            "declined_reason": declined_reason,
            "declined_message": declined_message,
        }
        return await settle_pending(
            self.withdrawals, session, key, state=state.value, now=now, fields=fields
        )

    async def audit_withdrawals_in_transit(self) -> list[str]:
        """In-transit's balance = the pending withdrawals' sum (at rest: nothing in flight)."""
        if await self.accounts.find_one({"_id": WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID}) is None:
            return []
        account = await self.get_account(WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID)
        pending_fen = await pending_sum(self.withdrawals)
        if account.balance_fen != pending_fen:
            return [
                f"withdrawals in transit {account.balance_fen} fen, pending withdrawals sum to "
                f"{pending_fen} fen"
            ]
        return []
