"""Top-up records (batch_top_ups.TopUp): one document per top-up, by its key.

A reserve inserts the record pending, in its transaction; settling it is one conditional
update (pending -> credited or declined) in the settle's transaction (bank_requests.py,
shared with withdrawals), so a top-up settles exactly once however many drivers try. The
credit's posting carries the reference "top-up:<key>", which the audit follows back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Document, Session
from services.payment.batch_top_ups import TopUp, TopUpState
from services.payment.store.accounts import AccountStore
from services.payment.store.bank_requests import (
    ensure_pending_index,
    insert_pending,
    pending_documents,
    settle_pending,
)

TOP_UP_REFERENCE_PREFIX = "top-up:"


def top_up_reference(key: str) -> str:
    """The reference of a top-up's credit posting."""
    return f"{TOP_UP_REFERENCE_PREFIX}{key}"


def _document(top_up: TopUp) -> Document:
    return {
        "_id": top_up.key,
        "account_id": top_up.account_id,
        "card_number": top_up.card_number,
        "amount_fen": top_up.amount_fen,
        "state": top_up.state.value,
        "created_at": top_up.created_at,
    }


def _top_up(document: Document) -> TopUp:
    return TopUp(
        key=document["_id"],
        account_id=document["account_id"],
        card_number=document["card_number"],
        amount_fen=document["amount_fen"],
        state=TopUpState(document["state"]),
        created_at=document["created_at"],
        settled_at=document.get("settled_at"),
        posting_id=document.get("posting_id", ""),
        bank_reference=document.get("bank_reference", ""),
        response=bytes(document.get("response", b"")),
        declined_reason=document.get("declined_reason", ""),
        declined_message=document.get("declined_message", ""),
    )


class TopUpStore(AccountStore):
    """The top_ups collection."""

    @property
    def top_ups(self) -> AsyncCollection[Document]:
        return self.database["top_ups"]

    async def ensure_top_up_indexes(self) -> None:
        await ensure_pending_index(self.top_ups)

    async def insert_top_ups(self, session: Session, top_ups: Sequence[TopUp]) -> None:
        """Record reserved top-ups, pending (in the reserve's transaction)."""
        await insert_pending(self.top_ups, session, [_document(t) for t in top_ups])

    async def get_top_up(self, key: str, session: Session | None = None) -> TopUp | None:
        document = await self.top_ups.find_one({"_id": key}, session=session)
        return None if document is None else _top_up(document)

    async def pending_top_ups(self, created_before: datetime, limit: int) -> list[TopUp]:
        """Pending top-ups reserved before created_before, oldest first."""
        documents = await pending_documents(self.top_ups, created_before, limit)
        return [_top_up(d) for d in documents]

    async def credit_top_up(
        self,
        session: Session,
        key: str,
        now: datetime,
        *,
        posting_id: str,
        bank_reference: str,
    ) -> bool:
        """Mark a pending top-up credited; False if it was not pending (settled already)."""
        fields = {"posting_id": posting_id, "bank_reference": bank_reference}
        return await settle_pending(
            self.top_ups, session, key, state=TopUpState.CREDITED.value, now=now, fields=fields
        )

    async def keep_top_up_response(self, session: Session, key: str, response: bytes) -> None:
        """Keep a credited top-up's answer (pb.TopUpResponse), in its settle's transaction."""
        await self.top_ups.update_one(
            {"_id": key}, {"$set": {"response": Binary(response)}}, session=session
        )

    async def decline_top_up(
        self, session: Session, key: str, now: datetime, *, reason: str, message: str
    ) -> bool:
        """Mark a pending top-up declined; False if it was not pending (settled already)."""
        fields = {"declined_reason": reason, "declined_message": message}
        return await settle_pending(
            self.top_ups, session, key, state=TopUpState.DECLINED.value, now=now, fields=fields
        )

    async def audit_top_ups(self, pending_before: datetime) -> list[str]:
        """Top-ups at rest: none pending since before pending_before (the recovery job settles
        them); each credited one has its credit posting, and each top-up credit posting
        belongs to a credited top-up (money from the bank never credited without a record)."""
        breaches = [
            f"top-up {t.key} ({t.amount_fen} fen to {t.account_id}) pending since {t.created_at}"
            for t in await self.pending_top_ups(pending_before, 100)
        ]
        credited: dict[str, str] = {}
        cursor = self.top_ups.find({"state": TopUpState.CREDITED.value}, {"posting_id": 1})
        async for document in cursor:
            credited[document["_id"]] = document.get("posting_id", "")
        posted: dict[str, str] = {}
        query = {"reference": {"$regex": f"^{TOP_UP_REFERENCE_PREFIX}"}}
        async for document in self.postings.find(query, {"reference": 1}):
            key = str(document["reference"]).removeprefix(TOP_UP_REFERENCE_PREFIX)
            posted[key] = document["_id"]
        for key, posting_id in credited.items():
            if posted.get(key) != posting_id:
                breaches.append(f"credited top-up {key} has no credit posting {posting_id}")
        for key, posting_id in posted.items():
            if key not in credited:
                breaches.append(f"top-up credit posting {posting_id} has no credited top-up {key}")
        return breaches
