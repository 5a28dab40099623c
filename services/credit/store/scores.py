"""Score history: every change of a person's score, newest first (collection "score_history")."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Document, Session
from services.credit.scorecard import Action, DimensionScore, Reason, Score


def _reasons(reasons: tuple[Reason, ...]) -> list[list[Any]]:
    return [[r.code, r.dimension, r.points] for r in reasons]


def score_to_document(score: Score) -> Document:
    return {
        "score": score.score,
        "model_version": score.model_version,
        "dimensions": [[d.dimension, d.sub_score] for d in score.dimensions],
        "raised_by": _reasons(score.raised_by),
        "lowered_by": _reasons(score.lowered_by),
        "actions": [[a.code, a.points_gain] for a in score.actions],
        "computed_at": score.computed_at,
        "blacklisted": score.blacklisted,
        "newcomer": score.newcomer,
        "trigger": score.trigger,
    }


def score_from_document(person_id: str, document: Document) -> Score:
    return Score(
        person_id=person_id,
        score=document["score"],
        model_version=document["model_version"],
        dimensions=tuple(DimensionScore(n, s) for n, s in document["dimensions"]),
        raised_by=tuple(Reason(c, d, p) for c, d, p in document["raised_by"]),
        lowered_by=tuple(Reason(c, d, p) for c, d, p in document["lowered_by"]),
        actions=tuple(Action(c, g) for c, g in document["actions"]),
        computed_at=document["computed_at"],
        blacklisted=document["blacklisted"],
        newcomer=document["newcomer"],
        trigger=document["trigger"],
    )


class ScoreHistoryStore:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._history = collection

    async def ensure_indexes(self) -> None:
        await self._history.create_indexes(
            [IndexModel([("person_id", 1), ("computed_at", DESCENDING), ("_id", DESCENDING)])]
        )

    async def append(self, session: Session, score: Score) -> None:
        await self._history.insert_one(
            {"_id": uuid.uuid4().hex, "person_id": score.person_id, **score_to_document(score)},
            session=session,
        )

    async def append_many(self, session: Session, scores: Sequence[Score]) -> None:
        """Append these scores in order, one insert."""
        if scores:
            await self._history.insert_many(
                [
                    {"_id": uuid.uuid4().hex, "person_id": s.person_id, **score_to_document(s)}
                    for s in scores
                ],
                ordered=True,
                session=session,
            )

    async def list(
        self, person_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[tuple[str, Score]]:
        """(history id, score) newest first, after a (computed_at, id) position."""
        query: Document = {"person_id": person_id}
        if after is not None:
            at, history_id = after
            query["$or"] = [
                {"computed_at": {"$lt": at}},
                {"computed_at": at, "_id": {"$lt": history_id}},
            ]
        cursor = (
            self._history.find(query)
            .sort([("computed_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [(d["_id"], score_from_document(person_id, d)) async for d in cursor]
