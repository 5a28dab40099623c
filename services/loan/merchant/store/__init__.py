"""Merchant lending's store: facilities, draws and repayments (steps), and the funding book.

Collections (in the loan database, beside the consumer products'):
  merchant_facilities   one per facility, both parts embedded
  merchant_steps        draws and facility repayments, tried → applied or cancelled
  loan_funding          one document "funding": capital and bank borrowing
  abs_pools             ABS pools, their loans embedded (store/abs_pools.py)
Reads of the consumer books (huabei_lines, cash_loans) are sums only: the lending capacity.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from pymongo import ASCENDING, DESCENDING, IndexModel

from chassis.errors import NotFound
from chassis.mongo import Document, Session
from services.loan.merchant.abs_pool import ORDER_LOAN, Candidate
from services.loan.merchant.audit import MerchantFlows
from services.loan.merchant.facilities import DEFAULT_POLICY, CreditPolicy, Facility, FacilityState
from services.loan.merchant.funding import Capacity, FundingBook
from services.loan.merchant.order_loans import OrderLoan, OrderLoanState
from services.loan.merchant.steps import Step, StepKind, StepState
from services.loan.merchant.store.abs_pools import AbsPoolStore
from services.loan.merchant.store.mapping import (
    facility_from_document,
    facility_to_document,
    funding_from_document,
    step_from_document,
    step_to_document,
)
from services.loan.merchant.store.order_loans import order_loan_from_document
from services.loan.store.cash_loans import OWING_STATES
from services.loan.store.collections import after_key, sum_of

FUNDING_ID = "funding"
POLICY_ID = "credit_policy"
LENT_STATES = [FacilityState.ACTIVE.value]


class MerchantLendingStore(AbsPoolStore):
    """Merchant lending's aggregates over the loan database."""

    def __init__(self, database: object) -> None:
        super().__init__(database)
        self.merchant_facilities = self.database["merchant_facilities"]
        self.merchant_steps = self.database["merchant_steps"]
        self.loan_funding = self.database["loan_funding"]

    async def ensure_merchant_indexes(self) -> None:
        await self.merchant_facilities.create_indexes(
            [
                IndexModel([("merchant_id", ASCENDING), ("decided_at", DESCENDING)]),
                IndexModel([("state", ASCENDING)]),
            ]
        )
        await self.ensure_order_loan_indexes()
        await self.ensure_abs_pool_indexes()
        await self.merchant_steps.create_indexes(
            [IndexModel([("facility_id", ASCENDING), ("state", ASCENDING)])]
        )

    # facilities
    async def find_facility(
        self, facility_id: str, session: Session | None = None
    ) -> Facility | None:
        document = await self.merchant_facilities.find_one({"_id": facility_id}, session=session)
        return facility_from_document(document) if document else None

    async def get_facility(self, facility_id: str, session: Session | None = None) -> Facility:
        facility = await self.find_facility(facility_id, session)
        if facility is None:
            raise NotFound(
                f"facility {facility_id} not found", metadata={"facility_id": facility_id}
            )
        return facility

    async def save_facility(self, session: Session, facility: Facility) -> None:
        await self.merchant_facilities.replace_one(
            {"_id": facility.facility_id},
            facility_to_document(facility),
            upsert=True,
            session=session,
        )

    async def list_facilities(
        self, merchant_id: str, limit: int, after: tuple[str, ...] | None
    ) -> list[Facility]:
        query: Document = {"merchant_id": merchant_id}
        if after is not None:
            query.update(after_key("decided_at", datetime.fromisoformat(after[0]), after[1], True))
        cursor = (
            self.merchant_facilities.find(query)
            .sort([("decided_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [facility_from_document(document) async for document in cursor]

    async def merchant_overdue(self, merchant_id: str, today: date, session: Session) -> bool:
        """Any of the merchant's facilities past its end date with principal owed, or an
        order loan overdue."""
        found = await self.merchant_facilities.find_one(
            {
                "merchant_id": merchant_id,
                "state": FacilityState.ACTIVE.value,
                "end_date": {"$lt": today.isoformat()},
                "principal_outstanding_fen": {"$gt": 0},
            },
            {"_id": 1},
            session=session,
        )
        return found is not None or await self.order_loan_overdue(merchant_id, today, session)

    async def facilities_to_follow(self, today: date, after_id: str, limit: int) -> list[Facility]:
        """Facilities past their end date (owing, or with a withholding to release) or with
        excess to give back."""
        cursor = (
            self.merchant_facilities.find(
                {
                    "_id": {"$gt": after_id},
                    "state": FacilityState.ACTIVE.value,
                    "$or": [
                        {"end_date": {"$lt": today.isoformat()}},
                        {"excess_pending_fen": {"$gt": 0}},
                    ],
                }
            )
            .sort("_id")
            .limit(limit)
        )
        return [facility_from_document(document) async for document in cursor]

    # steps
    async def find_step(self, step_id: str, session: Session | None = None) -> Step | None:
        document = await self.merchant_steps.find_one({"_id": step_id}, session=session)
        return step_from_document(document) if document else None

    async def get_step(self, step_id: str, kind: StepKind, session: Session) -> Step:
        step = await self.find_step(step_id, session)
        if step is None or step.kind is not kind:
            raise NotFound(f"{kind.value} {step_id} not found", metadata={"id": step_id})
        return step

    async def save_step(self, session: Session, step: Step) -> None:
        await self.merchant_steps.replace_one(
            {"_id": step.step_id}, step_to_document(step), upsert=True, session=session
        )

    # funding
    async def funding_book(self, session: Session | None = None) -> FundingBook:
        return funding_from_document(
            await self.loan_funding.find_one({"_id": FUNDING_ID}, session=session)
        )

    async def save_funding_book(self, session: Session, book: FundingBook) -> None:
        await self.loan_funding.update_one(
            {"_id": FUNDING_ID},
            {
                "$set": {"capital_fen": book.capital_fen, "borrowing_fen": book.borrowing_fen},
                "$inc": {"version": 1},
            },
            upsert=True,
            session=session,
        )

    async def credit_policy(self, session: Session | None = None) -> CreditPolicy:
        document = await self.loan_funding.find_one({"_id": POLICY_ID}, session=session)
        if document is None:
            return DEFAULT_POLICY
        return CreditPolicy(
            min_months_with_settlements=document["min_months_with_settlements"],
            max_refund_rate=Decimal(document["max_refund_rate"]),
            max_share_of_sales=Decimal(document["max_share_of_sales"]),
        )

    async def save_credit_policy(self, session: Session, policy: CreditPolicy) -> None:
        await self.loan_funding.replace_one(
            {"_id": POLICY_ID},
            {
                "min_months_with_settlements": policy.min_months_with_settlements,
                "max_refund_rate": str(policy.max_refund_rate),
                "max_share_of_sales": str(policy.max_share_of_sales),
            },
            upsert=True,
            session=session,
        )

    async def capacity(self, session: Session | None = None) -> Capacity:
        """Capital, borrowing and every product's principal lent or about to be lent."""
        consumer = (
            await sum_of(self.huabei_lines, {}, "used_fen", session)
            + await sum_of(self.huabei_lines, {}, "reserved_fen", session)
            + await sum_of(
                self.cash_loans,
                {"state": {"$in": OWING_STATES}},
                "principal_outstanding_fen",
                session,
            )
        )
        merchant = await sum_of(
            self.merchant_facilities, {}, "exposure_fen", session
        ) + await self.order_exposure_fen(session)
        sold = await self.sold_to_pools_fen(session)
        return Capacity(await self.funding_book(session), consumer, merchant, sold)

    async def sold_to_pools_fen(self, session: Session | None = None) -> int:
        """The pooled loans' principal still outstanding (at most what each was bought for),
        facilities and order loans: lent, but the pools' money now, not the lender's."""
        held = await self.pooled_fen(session)
        if not held:
            return 0
        sold = 0
        for collection in (self.merchant_facilities, self.order_loans):
            cursor = collection.find(
                {"_id": {"$in": list(held)}}, {"principal_outstanding_fen": 1}, session=session
            )
            sold += sum([min(held[d["_id"]], d["principal_outstanding_fen"]) async for d in cursor])
        return sold

    async def abs_candidates(self, today: date, session: Session) -> list[Candidate]:
        """Active facilities and order loans with principal outstanding that no pool holds,
        by id (facility ids "mf_…" before order loan ids "ol_…"). Consumer loans are never
        offered (abs_pool.POOLED_KINDS: the product rule)."""
        pooled = await self.pooled_loan_ids(session)
        active = {"state": FacilityState.ACTIVE.value, "principal_outstanding_fen": {"$gt": 0}}
        candidates = []
        async for document in self.merchant_facilities.find(active, session=session):
            facility = facility_from_document(document)
            if facility.facility_id in pooled or facility.end_date is None:
                continue
            candidates.append(
                Candidate(
                    loan_id=facility.facility_id,
                    borrower_id=facility.merchant_id,
                    principal_fen=facility.principal_outstanding_fen,
                    end_date=facility.end_date,
                    current=not facility.overdue_on(today),
                )
            )
        orders = {**active, "state": OrderLoanState.ACTIVE.value}
        async for document in self.order_loans.find(orders, session=session):
            loan = order_loan_from_document(document)
            if loan.loan_id in pooled or loan.due_date is None:
                continue
            candidates.append(
                Candidate(
                    loan_id=loan.loan_id,
                    borrower_id=loan.merchant_id,
                    principal_fen=loan.principal.principal_fen,
                    end_date=loan.due_date,
                    current=not loan.overdue_on(today),
                    kind=ORDER_LOAN,
                )
            )
        return sorted(candidates, key=lambda candidate: candidate.loan_id)

    async def order_loans_by_id(self, ids: list[str], session: Session) -> dict[str, OrderLoan]:
        cursor = self.order_loans.find({"_id": {"$in": ids}}, session=session)
        return {d["_id"]: order_loan_from_document(d) async for d in cursor}

    async def facilities_by_id(self, ids: list[str], session: Session) -> dict[str, Facility]:
        cursor = self.merchant_facilities.find({"_id": {"$in": ids}}, session=session)
        return {d["_id"]: facility_from_document(d) async for d in cursor}

    async def claim_capacity(self, session: Session) -> Capacity:
        """The capacity, read after writing the funding document: two transactions that
        both lend conflict on it, so the second retries and sees the first's loan."""
        await self.loan_funding.update_one(
            {"_id": FUNDING_ID},
            {"$inc": {"version": 1}, "$setOnInsert": {"capital_fen": 0, "borrowing_fen": 0}},
            upsert=True,
            session=session,
        )
        return await self.capacity(session)

    # audit
    async def merchant_flows(self) -> MerchantFlows:
        """The sums the audit compares (lent, collected, principal repaid and outstanding)."""
        applied = {"state": StepState.APPLIED.value}
        draws = {**applied, "kind": StepKind.DRAW.value}
        repayments = {**applied, "kind": StepKind.REPAYMENT.value}
        started = {"state": {"$in": LENT_STATES}}
        return MerchantFlows(
            lent_fen=await sum_of(self.merchant_facilities, started, "fixed_fen")
            + await sum_of(self.merchant_steps, draws, "amount_fen"),
            collected_fen=await sum_of(self.merchant_steps, repayments, "amount_fen"),
            principal_repaid_fen=await sum_of(self.merchant_steps, repayments, "principal_fen"),
            principal_outstanding_fen=await sum_of(
                self.merchant_facilities, {}, "principal_outstanding_fen"
            ),
            in_flight_fen=await sum_of(
                self.merchant_steps, {"state": StepState.PENDING.value}, "amount_fen"
            ),
            from_pools_fen=sum(
                pool.purchases_fen
                - pool.order_loan_purchases_fen
                + pool.excess_spread_fen()
                - (pool.collected_fen() - pool.order_loan_collected_fen())
                for pool in await self.all_pools()
            ),
        )

    async def order_flows(self) -> MerchantFlows:
        """platform:loan:order's books, with what pools paid for its loans less the
        collections on them passed to the pools."""
        return replace(
            await super().order_flows(),
            from_pools_fen=sum(
                pool.order_loan_purchases_fen - pool.order_loan_collected_fen()
                for pool in await self.all_pools()
            ),
        )
