"""Cash loans, with their periods embedded (at most 12)."""

from __future__ import annotations

from datetime import datetime

from pymongo import DESCENDING

from chassis.errors import NotFound
from chassis.mongo import Session
from services.loan.cash_loans import CashLoan, CashLoanState
from services.loan.store.collections import LoanCollections, after_key, sum_of
from services.loan.store.mapping import cash_loan_from_document, cash_loan_to_document

OWING_STATES = [CashLoanState.PENDING_DISBURSEMENT.value, CashLoanState.ACTIVE.value]


class CashLoanStore(LoanCollections):
    """Cash loans by id, by borrower, and the active ones for the daily job."""

    async def find_cash_loan(self, loan_id: str, session: Session | None = None) -> CashLoan | None:
        document = await self.cash_loans.find_one({"_id": loan_id}, session=session)
        return cash_loan_from_document(document) if document else None

    async def get_cash_loan(self, loan_id: str, session: Session | None = None) -> CashLoan:
        loan = await self.find_cash_loan(loan_id, session)
        if loan is None:
            raise NotFound(f"loan {loan_id} not found", metadata={"loan_id": loan_id})
        return loan

    async def save_cash_loan(self, session: Session, loan: CashLoan) -> None:
        await self.cash_loans.replace_one(
            {"_id": loan.loan_id}, cash_loan_to_document(loan), upsert=True, session=session
        )

    async def cash_loan_exposure_fen(self, borrower_id: str, session: Session) -> int:
        """Principal the borrower owes (or is about to receive) on cash loans."""
        return await sum_of(
            self.cash_loans,
            {"borrower_id": borrower_id, "state": {"$in": OWING_STATES}},
            "principal_outstanding_fen",
            session,
        )

    async def borrower_overdue(self, borrower_id: str, session: Session) -> bool:
        """True when any of the borrower's accounts is past due (as last closed)."""
        loan = await self.cash_loans.find_one(
            {"borrower_id": borrower_id, "bucket": {"$ne": "current"}}, {"_id": 1}, session=session
        )
        line = await self.huabei_lines.find_one(
            {"_id": borrower_id, "bucket": {"$ne": "current"}}, {"_id": 1}, session=session
        )
        return loan is not None or line is not None

    async def list_cash_loans(
        self, borrower_id: str, limit: int, after: tuple[str, ...] | None
    ) -> list[CashLoan]:
        query: dict[str, object] = {"borrower_id": borrower_id}
        if after is not None:
            query.update(after_key("decided_at", datetime.fromisoformat(after[0]), after[1], True))
        cursor = (
            self.cash_loans.find(query)
            .sort([("decided_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [cash_loan_from_document(document) async for document in cursor]

    async def active_cash_loan_ids(self, after_id: str, limit: int) -> list[str]:
        cursor = (
            self.cash_loans.find(
                {"state": CashLoanState.ACTIVE.value, "_id": {"$gt": after_id}}, {"_id": 1}
            )
            .sort("_id")
            .limit(limit)
        )
        return [document["_id"] async for document in cursor]

    async def active_cash_loans_of(self, borrower_id: str) -> list[CashLoan]:
        cursor = self.cash_loans.find(
            {"borrower_id": borrower_id, "state": CashLoanState.ACTIVE.value}
        ).sort("_id")
        return [cash_loan_from_document(document) for document in await cursor.to_list(100)]
