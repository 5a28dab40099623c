"""People: their features and current score, one document per person (collection "persons")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Document, Session
from services.credit.features import Declaration, Education, MonthActivity, PersonFeatures
from services.credit.scorecard import Score
from services.credit.store.scores import score_from_document, score_to_document


def declaration_to_document(declaration: Declaration) -> Document:
    return {
        "monthly_income_fen": declaration.monthly_income_fen,
        "education": int(declaration.education),
        "employer": declaration.employer,
        "declared_at": declaration.declared_at,
    }


def declaration_from_document(document: Document) -> Declaration:
    return Declaration(
        monthly_income_fen=document["monthly_income_fen"],
        education=Education(document["education"]),
        employer=document["employer"],
        declared_at=document["declared_at"],
    )


def features_to_document(features: PersonFeatures) -> Document:
    return {
        "_id": features.person_id,
        "opened_at": features.opened_at,
        "kyc_level": features.kyc_level,
        "resident_id_hash": features.resident_id_hash,
        "balance_fen": features.balance_fen,
        "yuebao_fen": features.yuebao_fen,
        "fixed_term_fen": features.fixed_term_fen,
        "funds_fen": features.funds_fen,
        "months": [[m.month, m.payments, m.spent_fen] for m in features.months],
        "payments_total": features.payments_total,
        "trades_completed": features.trades_completed,
        "trades_refunded": features.trades_refunded,
        "repayments_on_time": features.repayments_on_time,
        "repayments_late": features.repayments_late,
        "last_late_at": features.last_late_at,
        "overdue_90_loans": list(features.overdue_90_loans),
        "counterparts": list(features.counterparts),
        "declaration": declaration_to_document(features.declaration),
        "blacklisted": features.blacklisted,
    }


def features_from_document(document: Document) -> PersonFeatures:
    return PersonFeatures(
        person_id=document["_id"],
        opened_at=document["opened_at"],
        kyc_level=document["kyc_level"],
        resident_id_hash=document["resident_id_hash"],
        balance_fen=document["balance_fen"],
        yuebao_fen=document["yuebao_fen"],
        fixed_term_fen=document["fixed_term_fen"],
        funds_fen=document["funds_fen"],
        months=tuple(MonthActivity(m, p, s) for m, p, s in document["months"]),
        payments_total=document["payments_total"],
        trades_completed=document["trades_completed"],
        trades_refunded=document["trades_refunded"],
        repayments_on_time=document["repayments_on_time"],
        repayments_late=document["repayments_late"],
        last_late_at=document["last_late_at"],
        overdue_90_loans=tuple(document["overdue_90_loans"]),
        counterparts=tuple(document["counterparts"]),
        declaration=declaration_from_document(document["declaration"]),
        blacklisted=document["blacklisted"],
    )


class PersonStore:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._persons = collection

    async def ensure_indexes(self) -> None:
        await self._persons.create_indexes(
            [
                IndexModel([("resident_id_hash", ASCENDING)], sparse=True),
                IndexModel([("score.model_version", ASCENDING)]),
            ]
        )

    async def load_many(
        self, person_ids: Iterable[str], session: Session | None = None
    ) -> dict[str, PersonFeatures]:
        """The known people among person_ids (merchants and platform accounts are not)."""
        ids = list(dict.fromkeys(person_ids))
        cursor = self._persons.find({"_id": {"$in": ids}}, {"score": 0}, session=session)
        return {d["_id"]: features_from_document(d) async for d in cursor}

    async def load(self, person_id: str, session: Session | None = None) -> PersonFeatures | None:
        return (await self.load_many([person_id], session)).get(person_id)

    async def find_by_resident_id_hash(
        self, resident_id_hash: str, session: Session | None = None
    ) -> list[PersonFeatures]:
        cursor = self._persons.find(
            {"resident_id_hash": resident_id_hash}, {"score": 0}, session=session
        ).limit(10)  # one person per resident id; a bound all the same
        return [features_from_document(d) async for d in cursor]

    async def save(self, session: Session, features: PersonFeatures) -> None:
        document = features_to_document(features)
        await self._persons.update_one(
            {"_id": features.person_id},
            {"$set": {k: v for k, v in document.items() if k != "_id"}},
            upsert=True,
            session=session,
        )

    async def save_many(
        self,
        session: Session,
        people: Sequence[PersonFeatures],
        scores: Mapping[str, Score] | None = None,
    ) -> None:
        """Save these people's features (and the score given for each), one bulk write."""
        writes = []
        for features in people:
            fields = {k: v for k, v in features_to_document(features).items() if k != "_id"}
            score = (scores or {}).get(features.person_id)
            if score is not None:
                fields["score"] = score_to_document(score)
            writes.append(UpdateOne({"_id": features.person_id}, {"$set": fields}, upsert=True))
        if writes:
            await self._persons.bulk_write(writes, ordered=True, session=session)

    async def not_in_good_standing(
        self, person_ids: Iterable[str], session: Session | None = None
    ) -> set[str]:
        """Those of person_ids who are blacklisted or 90+ days overdue (one query)."""
        ids = list(dict.fromkeys(person_ids))
        if not ids:
            return set()
        cursor = self._persons.find(
            {
                "_id": {"$in": ids},
                "$or": [{"blacklisted": True}, {"overdue_90_loans.0": {"$exists": True}}],
            },
            {"_id": 1},
            session=session,
        )
        return {d["_id"] async for d in cursor}

    async def scores_of(
        self, person_ids: Iterable[str], session: Session | None = None
    ) -> dict[str, Score]:
        """The stored current scores of those of person_ids who have one (one query)."""
        ids = list(dict.fromkeys(person_ids))
        cursor = self._persons.find(
            {"_id": {"$in": ids}, "score": {"$exists": True}}, {"score": 1}, session=session
        )
        return {d["_id"]: score_from_document(d["_id"], d["score"]) async for d in cursor}

    async def set_scores(self, session: Session, scores: Sequence[Score]) -> None:
        """Store each person's current score, one bulk write."""
        writes = [
            UpdateOne({"_id": s.person_id}, {"$set": {"score": score_to_document(s)}})
            for s in scores
        ]
        if writes:
            await self._persons.bulk_write(writes, ordered=True, session=session)

    async def counterparts_not_in_good_standing(
        self, counterparts: Iterable[str], session: Session | None = None
    ) -> int:
        """How many of these counterparts are blacklisted or 90+ days overdue."""
        return await self._persons.count_documents(
            {
                "_id": {"$in": list(counterparts)},
                "$or": [{"blacklisted": True}, {"overdue_90_loans.0": {"$exists": True}}],
            },
            session=session,
        )

    async def current_score(self, person_id: str, session: Session | None = None) -> Score | None:
        document = await self._persons.find_one({"_id": person_id}, {"score": 1}, session=session)
        if document is None or "score" not in document:
            return None
        return score_from_document(person_id, document["score"])

    async def set_score(self, session: Session, score: Score) -> None:
        await self._persons.update_one(
            {"_id": score.person_id}, {"$set": {"score": score_to_document(score)}}, session=session
        )

    async def scored_by_another_version(self, model_version: str, limit: int) -> list[str]:
        cursor = self._persons.find(
            {"score.model_version": {"$exists": True, "$ne": model_version}}, {"_id": 1}
        ).limit(limit)
        return [d["_id"] async for d in cursor]

    async def scored_before(self, moment: datetime, limit: int) -> list[str]:
        """People whose score is older than moment (time-dependent features drift)."""
        cursor = (
            self._persons.find({"score.computed_at": {"$lt": moment}}, {"_id": 1})
            .sort("score.computed_at", ASCENDING)
            .limit(limit)
        )
        return [d["_id"] async for d in cursor]
