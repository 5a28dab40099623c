"""Consent grants and the merchant access log (collections "consents", "score_access")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Document, Session
from services.credit.consent import ConsentGrant, ConsentPurpose, ScoreAccess


def grant_to_document(grant: ConsentGrant) -> Document:
    return {
        "_id": grant.grant_id,
        "person_id": grant.person_id,
        "merchant_id": grant.merchant_id,
        "purpose": grant.purpose.value,
        "granted_at": grant.granted_at,
        "expires_at": grant.expires_at,
        "revoked_at": grant.revoked_at,
    }


def grant_from_document(document: Document) -> ConsentGrant:
    return ConsentGrant(
        grant_id=document["_id"],
        person_id=document["person_id"],
        merchant_id=document["merchant_id"],
        purpose=ConsentPurpose(document["purpose"]),
        granted_at=document["granted_at"],
        expires_at=document["expires_at"],
        revoked_at=document["revoked_at"],
    )


def _after(position: tuple[datetime, str] | None, field: str) -> Document:
    if position is None:
        return {}
    at, item_id = position
    return {"$or": [{field: {"$lt": at}}, {field: at, "_id": {"$lt": item_id}}]}


class ConsentStore:
    def __init__(
        self,
        grants: AsyncCollection[dict[str, Any]],
        accesses: AsyncCollection[dict[str, Any]],
    ) -> None:
        self._grants = grants
        self._accesses = accesses

    async def ensure_indexes(self) -> None:
        await self._grants.create_indexes(
            [
                IndexModel([("person_id", 1), ("merchant_id", 1), ("purpose", 1)]),
                IndexModel([("person_id", 1), ("granted_at", DESCENDING), ("_id", DESCENDING)]),
            ]
        )
        await self._accesses.create_indexes(
            [IndexModel([("person_id", 1), ("accessed_at", DESCENDING), ("_id", DESCENDING)])]
        )

    async def grants_of(
        self, person_id: str, merchant_id: str, session: Session | None = None
    ) -> list[ConsentGrant]:
        """The person's grants to one merchant that are not revoked (live or expired)."""
        cursor = self._grants.find(
            {"person_id": person_id, "merchant_id": merchant_id, "revoked_at": None},
            session=session,
        ).limit(100)
        return [grant_from_document(d) async for d in cursor]

    async def get(self, grant_id: str, session: Session | None = None) -> ConsentGrant | None:
        document = await self._grants.find_one({"_id": grant_id}, session=session)
        return None if document is None else grant_from_document(document)

    async def insert(self, session: Session, grant: ConsentGrant) -> None:
        await self._grants.insert_one(grant_to_document(grant), session=session)

    async def save(self, session: Session, grant: ConsentGrant) -> None:
        await self._grants.replace_one(
            {"_id": grant.grant_id}, grant_to_document(grant), session=session
        )

    async def list_grants(
        self, person_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[ConsentGrant]:
        cursor = (
            self._grants.find({"person_id": person_id, **_after(after, "granted_at")})
            .sort([("granted_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [grant_from_document(d) async for d in cursor]

    async def log_access(self, access: ScoreAccess) -> None:
        await self._accesses.insert_one(
            {
                "_id": access.access_id,
                "person_id": access.person_id,
                "merchant_id": access.merchant_id,
                "purpose": access.purpose.value,
                "grant_id": access.grant_id,
                "method": access.method,
                "accessed_at": access.accessed_at,
            }
        )

    async def list_accesses(
        self, person_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[ScoreAccess]:
        cursor = (
            self._accesses.find({"person_id": person_id, **_after(after, "accessed_at")})
            .sort([("accessed_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [
            ScoreAccess(
                access_id=d["_id"],
                person_id=d["person_id"],
                merchant_id=d["merchant_id"],
                purpose=ConsentPurpose(d["purpose"]),
                grant_id=d["grant_id"],
                method=d["method"],
                accessed_at=d["accessed_at"],
            )
            async for d in cursor
        ]
