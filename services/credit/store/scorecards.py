"""Scorecard model versions and which one is active (collection "scorecards")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Session

ACTIVE_ID = "active"


@dataclass(frozen=True, slots=True)
class StoredModel:
    version: str
    model_json: str
    loaded_at: datetime


class ScorecardStore:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._scorecards = collection

    async def get(self, version: str, session: Session | None = None) -> StoredModel | None:
        document = await self._scorecards.find_one({"_id": f"model:{version}"}, session=session)
        if document is None:
            return None
        return StoredModel(version, document["model_json"], document["loaded_at"])

    async def active(self, session: Session | None = None) -> StoredModel | None:
        pointer = await self._scorecards.find_one({"_id": ACTIVE_ID}, session=session)
        return None if pointer is None else await self.get(pointer["version"], session)

    async def activate(self, session: Session, model: StoredModel) -> None:
        """Store the model (once per version) and make it the active one."""
        await self._scorecards.update_one(
            {"_id": f"model:{model.version}"},
            {"$setOnInsert": {"model_json": model.model_json, "loaded_at": model.loaded_at}},
            upsert=True,
            session=session,
        )
        await self._scorecards.update_one(
            {"_id": ACTIVE_ID}, {"$set": {"version": model.version}}, upsert=True, session=session
        )
