"""Repayments, auto-debit settings, and the daily job's run records."""

from __future__ import annotations

from datetime import date, datetime

from pymongo import DESCENDING

from chassis.mongo import Document, Session
from services.loan.auto_debit import AutoDebitSetting
from services.loan.repayments import Repayment, RepaymentState
from services.loan.store.collections import LoanCollections, after_key, sum_of
from services.loan.store.mapping import repayment_from_document, repayment_to_document


class RepaymentStore(LoanCollections):
    """Repayments by id, by borrower, in flight per account; auto-debit; job runs."""

    async def find_repayment(
        self, repayment_id: str, session: Session | None = None
    ) -> Repayment | None:
        document = await self.repayments.find_one({"_id": repayment_id}, session=session)
        return repayment_from_document(document) if document else None

    async def save_repayment(self, session: Session, repayment: Repayment) -> None:
        await self.repayments.replace_one(
            {"_id": repayment.repayment_id},
            repayment_to_document(repayment),
            upsert=True,
            session=session,
        )

    async def pending_repayments_fen(self, account_id: str, session: Session | None = None) -> int:
        return await sum_of(
            self.repayments,
            {"account_id": account_id, "state": RepaymentState.PENDING.value},
            "amount_fen",
            session,
        )

    async def list_repayments(
        self, borrower_id: str, limit: int, after: tuple[str, ...] | None
    ) -> list[Repayment]:
        query: Document = {"borrower_id": borrower_id}
        if after is not None:
            query.update(after_key("tried_at", datetime.fromisoformat(after[0]), after[1], True))
        cursor = (
            self.repayments.find(query)
            .sort([("tried_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [repayment_from_document(document) async for document in cursor]

    async def get_auto_debit(
        self, borrower_id: str, session: Session | None = None
    ) -> AutoDebitSetting:
        document = await self.auto_debits.find_one({"_id": borrower_id}, session=session)
        if document is None:
            return AutoDebitSetting(borrower_id, enabled=False, sources=())
        return AutoDebitSetting(
            borrower_id, document["enabled"], tuple(document["sources"]), document["updated_at"]
        )

    async def save_auto_debit(self, session: Session, setting: AutoDebitSetting) -> None:
        await self.auto_debits.replace_one(
            {"_id": setting.borrower_id},
            {
                "_id": setting.borrower_id,
                "enabled": setting.enabled,
                "sources": list(setting.sources),
                "updated_at": setting.updated_at,
            },
            upsert=True,
            session=session,
        )

    async def auto_debit_borrowers(self, after_id: str, limit: int) -> list[AutoDebitSetting]:
        cursor = (
            self.auto_debits.find({"enabled": True, "_id": {"$gt": after_id}})
            .sort("_id")
            .limit(limit)
        )
        return [
            AutoDebitSetting(d["_id"], d["enabled"], tuple(d["sources"]), d["updated_at"])
            async for d in cursor
        ]

    async def find_job_run(self, business_date: date) -> Document | None:
        return await self.job_runs.find_one({"_id": business_date.isoformat()})

    async def save_job_run(self, business_date: date, run: Document) -> None:
        await self.job_runs.replace_one(
            {"_id": business_date.isoformat()},
            {"_id": business_date.isoformat(), **run},
            upsert=True,
        )
