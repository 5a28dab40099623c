"""Risk control: the blacklist, the configured rules, and the audit trail of decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from chassis.mongo import Document, Session
from chassis.paging import decode_page_token, encode_page_token, invalid_page_token
from services.payment.screening import RiskDecisionRecord
from services.payment.store.collections import PaymentCollections
from services.payment.store.mapping import risk_decision_from_document, risk_decision_to_document


def _decisions_query(payer_account_id: str) -> str:
    return f"risk-decisions:{payer_account_id}"


def _decisions_position(payer_account_id: str, page_token: str) -> tuple[datetime, str] | None:
    position = decode_page_token(page_token, _decisions_query(payer_account_id), parts=2)
    if position is None:
        return None
    decided_at, decision_id = position
    try:
        return datetime.fromisoformat(decided_at), decision_id
    except ValueError:
        raise invalid_page_token() from None


class RiskStore(PaymentCollections):
    """The blacklist, risk_rules and risk_decisions collections."""

    async def ensure_risk_indexes(self) -> None:
        await self.risk_decisions.create_index(
            [("payer_account_id", ASCENDING), ("decided_at", DESCENDING)]
        )

    async def blacklisted_among(self, account_ids: list[str], session: Session | None) -> set[str]:
        """Which of these accounts are on the blacklist."""
        cursor = self.blacklist.find({"_id": {"$in": account_ids}}, {"_id": 1}, session=session)
        return {document["_id"] async for document in cursor}

    async def set_blacklisted(
        self, account_id: str, blacklisted: bool, reason: str, now: datetime
    ) -> None:
        if blacklisted:
            await self.blacklist.update_one(
                {"_id": account_id},
                {"$set": {"reason": reason, "listed_at": now}},
                upsert=True,
            )
        else:
            await self.blacklist.delete_one({"_id": account_id})

    async def load_risk_rules(self) -> list[dict[str, Any]] | None:
        """The configured rule data, or None when the defaults apply."""
        document = await self.risk_rules.find_one({"_id": "current"})
        return None if document is None else list(document["rules"])

    async def save_risk_rules(self, rules: list[dict[str, Any]], now: datetime) -> None:
        await self.risk_rules.update_one(
            {"_id": "current"}, {"$set": {"rules": rules, "updated_at": now}}, upsert=True
        )

    async def insert_risk_decision(
        self, session: Session | None, record: RiskDecisionRecord
    ) -> None:
        await self.risk_decisions.insert_one(risk_decision_to_document(record), session=session)

    async def list_risk_decisions(
        self, payer_account_id: str, page_size: int, page_token: str
    ) -> tuple[list[RiskDecisionRecord], str]:
        """Decisions newest first (all payers' for ""), and the next page's token.

        The cursor is the last decision's (decided_at, decision id), bound to the payer.
        """
        query: Document = {"payer_account_id": payer_account_id} if payer_account_id else {}
        position = _decisions_position(payer_account_id, page_token)
        if position is not None:
            decided_at, decision_id = position
            query["$or"] = [
                {"decided_at": {"$lt": decided_at}},
                {"decided_at": decided_at, "_id": {"$lt": decision_id}},
            ]
        cursor = (
            self.risk_decisions.find(query)
            .sort([("decided_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        records = [risk_decision_from_document(document) async for document in cursor]
        if len(records) < page_size:
            return records, ""
        last = records[-1]
        token = encode_page_token(
            _decisions_query(payer_account_id), last.decided_at.isoformat(), last.decision_id
        )
        return records, token
