"""Blacklist entries and their change log (collections "blacklist", "blacklist_changes")."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Document, Session
from services.credit.blacklist import BlacklistChange, BlacklistEntry, Change, ChangeReason

CHANGES_LISTED_MAX = 100


def entry_id(source: str, case_reference: str) -> str:
    return f"{source}|{case_reference}"


def entry_to_document(entry: BlacklistEntry) -> Document:
    return {
        "_id": entry_id(entry.source, entry.case_reference),
        "source": entry.source,
        "case_reference": entry.case_reference,
        "resident_id_hash": entry.resident_id_hash,
        "person_id": entry.person_id,
        "listed": entry.listed,
        "listed_at": entry.listed_at,
        "removed_at": entry.removed_at,
    }


def entry_from_document(document: Document) -> BlacklistEntry:
    return BlacklistEntry(
        source=document["source"],
        case_reference=document["case_reference"],
        resident_id_hash=document["resident_id_hash"],
        person_id=document["person_id"],
        listed=document["listed"],
        listed_at=document["listed_at"],
        removed_at=document["removed_at"],
    )


def change_from_document(document: Document) -> BlacklistChange:
    return BlacklistChange(
        source=document["source"],
        case_reference=document["case_reference"],
        resident_id_hash=document["resident_id_hash"],
        person_id=document["person_id"],
        change=Change(document["change"]),
        reason=ChangeReason(document["reason"]),
        note=document["note"],
        changed_at=document["changed_at"],
    )


class BlacklistStore:
    def __init__(
        self,
        entries: AsyncCollection[dict[str, Any]],
        changes: AsyncCollection[dict[str, Any]],
    ) -> None:
        self._entries = entries
        self._changes = changes

    async def ensure_indexes(self) -> None:
        await self._entries.create_indexes(
            [
                IndexModel([("resident_id_hash", ASCENDING)]),
                IndexModel([("person_id", ASCENDING)]),
            ]
        )
        await self._changes.create_indexes(
            [
                IndexModel([("person_id", ASCENDING), ("changed_at", ASCENDING)]),
                IndexModel([("resident_id_hash", ASCENDING), ("changed_at", ASCENDING)]),
            ]
        )

    async def get(
        self, source: str, case_reference: str, session: Session | None = None
    ) -> BlacklistEntry | None:
        document = await self._entries.find_one(
            {"_id": entry_id(source, case_reference)}, session=session
        )
        return None if document is None else entry_from_document(document)

    async def save(self, session: Session, entry: BlacklistEntry) -> None:
        document = entry_to_document(entry)
        await self._entries.replace_one(
            {"_id": document["_id"]}, document, upsert=True, session=session
        )

    async def record_change(self, session: Session, change: BlacklistChange) -> None:
        await self._changes.insert_one(
            {
                "_id": uuid.uuid4().hex,
                "source": change.source,
                "case_reference": change.case_reference,
                "resident_id_hash": change.resident_id_hash,
                "person_id": change.person_id,
                "change": change.change.value,
                "reason": change.reason.value,
                "note": change.note,
                "changed_at": change.changed_at,
            },
            session=session,
        )

    def _naming(self, person_id: str, resident_id_hash: str) -> Document:
        clauses: list[Document] = []
        if person_id:
            clauses.append({"person_id": person_id})
        if resident_id_hash:
            clauses.append({"resident_id_hash": resident_id_hash})
        assert clauses, "an entry is looked up by person or by resident-id hash"
        return {"$or": clauses}

    async def entries_naming(
        self, person_id: str, resident_id_hash: str, session: Session | None = None
    ) -> list[BlacklistEntry]:
        """Entries naming the person directly or through their resident-id hash."""
        cursor = self._entries.find(
            self._naming(person_id, resident_id_hash), session=session
        ).limit(CHANGES_LISTED_MAX)
        return [entry_from_document(d) async for d in cursor]

    async def listed_naming_any(
        self,
        person_ids: Sequence[str],
        resident_id_hashes: Sequence[str],
        session: Session | None = None,
    ) -> list[BlacklistEntry]:
        """Listed entries naming any of these people or resident-id hashes (one query)."""
        clauses: list[Document] = [{"person_id": {"$in": [p for p in person_ids if p]}}]
        hashes = [h for h in resident_id_hashes if h]
        if hashes:
            clauses.append({"resident_id_hash": {"$in": hashes}})
        cursor = self._entries.find({"listed": True, "$or": clauses}, session=session)
        return [entry_from_document(d) async for d in cursor]

    async def changes_naming(self, person_id: str, resident_id_hash: str) -> list[BlacklistChange]:
        cursor = (
            self._changes.find(self._naming(person_id, resident_id_hash))
            .sort("changed_at", ASCENDING)
            .limit(CHANGES_LISTED_MAX)
        )
        return [change_from_document(d) async for d in cursor]
