"""Huabei bills and installment plans."""

from __future__ import annotations

from datetime import date, datetime

from pymongo import DESCENDING

from chassis.errors import NotFound
from chassis.mongo import Session
from services.loan.bills import Bill
from services.loan.installments import InstallmentPlan
from services.loan.store.collections import LoanCollections, after_key
from services.loan.store.mapping import (
    bill_from_document,
    bill_to_document,
    plan_from_document,
    plan_to_document,
)

# A borrower has at most this many unpaid bills (the rest would be years overdue).
OPEN_BILLS_MAX = 120
OPEN_PLANS_MAX = 100


class BillStore(LoanCollections):
    """Bills (one per borrower and statement date) and installment plans."""

    async def find_bill(self, bill_id: str, session: Session | None = None) -> Bill | None:
        document = await self.bills.find_one({"_id": bill_id}, session=session)
        return bill_from_document(document) if document else None

    async def get_bill(self, bill_id: str, session: Session | None = None) -> Bill:
        bill = await self.find_bill(bill_id, session)
        if bill is None:
            raise NotFound(f"bill {bill_id} not found", metadata={"bill_id": bill_id})
        return bill

    async def save_bill(self, session: Session, bill: Bill) -> None:
        await self.bills.replace_one(
            {"_id": bill.bill_id}, bill_to_document(bill), upsert=True, session=session
        )

    async def save_bills(self, session: Session, bills: list[Bill]) -> None:
        for bill in bills:
            await self.save_bill(session, bill)

    async def open_bills(self, borrower_id: str, session: Session | None = None) -> list[Bill]:
        """The borrower's unpaid bills, oldest statement first."""
        cursor = self.bills.find({"borrower_id": borrower_id, "paid": False}, session=session).sort(
            "statement_date"
        )
        return [bill_from_document(document) for document in await cursor.to_list(OPEN_BILLS_MAX)]

    async def latest_open_bill(self, borrower_id: str, session: Session) -> Bill | None:
        bills = await self.open_bills(borrower_id, session)
        return bills[-1] if bills else None

    async def list_bills(
        self, borrower_id: str, limit: int, after: tuple[str, ...] | None
    ) -> list[Bill]:
        query: dict[str, object] = {"borrower_id": borrower_id}
        if after is not None:
            query.update(after_key("statement_date", after[0], after[1], True))
        cursor = (
            self.bills.find(query)
            .sort([("statement_date", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [bill_from_document(document) async for document in cursor]

    async def borrowers_with_bills_past_due(
        self, day: date, after_id: str, limit: int
    ) -> list[str]:
        """Borrowers with an unpaid bill whose due date is before day."""
        pipeline: list[dict[str, object]] = [
            {"$match": {"paid": False, "due_date": {"$lt": day.isoformat()}}},
            {"$group": {"_id": "$borrower_id"}},
            {"$match": {"_id": {"$gt": after_id}}},
            {"$sort": {"_id": 1}},
            {"$limit": limit},
        ]
        return [row["_id"] async for row in await self.bills.aggregate(pipeline)]

    async def find_plan(
        self, plan_id: str, session: Session | None = None
    ) -> InstallmentPlan | None:
        document = await self.installment_plans.find_one({"_id": plan_id}, session=session)
        return plan_from_document(document) if document else None

    async def get_plan(self, plan_id: str, session: Session | None = None) -> InstallmentPlan:
        plan = await self.find_plan(plan_id, session)
        if plan is None:
            raise NotFound(f"installment plan {plan_id} not found", metadata={"plan_id": plan_id})
        return plan

    async def save_plan(self, session: Session, plan: InstallmentPlan) -> None:
        await self.installment_plans.replace_one(
            {"_id": plan.plan_id}, plan_to_document(plan), upsert=True, session=session
        )

    async def plans_due_by(
        self, session: Session, borrower_id: str, statement_date: date
    ) -> list[InstallmentPlan]:
        """Plans with an unbilled part due on a statement on or before statement_date."""
        cursor = self.installment_plans.find(
            {
                "borrower_id": borrower_id,
                "next_statement_date": {"$ne": "", "$lte": statement_date.isoformat()},
            },
            session=session,
        ).sort("_id")
        return [plan_from_document(document) for document in await cursor.to_list(OPEN_PLANS_MAX)]

    async def list_plans(
        self, borrower_id: str, limit: int, after: tuple[str, ...] | None
    ) -> list[InstallmentPlan]:
        query: dict[str, object] = {"borrower_id": borrower_id}
        if after is not None:
            query.update(after_key("created_at", datetime.fromisoformat(after[0]), after[1], True))
        cursor = (
            self.installment_plans.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [plan_from_document(document) async for document in cursor]
