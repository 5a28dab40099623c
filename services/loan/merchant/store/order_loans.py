"""Order loans (order_loans.py) in collection ``merchant_order_loans``, trades embedded."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from chassis.errors import NotFound
from chassis.mongo import Document, Session
from services.loan.merchant.audit import MerchantFlows
from services.loan.merchant.order_loans import (
    ORDER_LEDGER_ACCOUNT_ID,
    ExcessDue,
    OrderLoan,
    OrderLoanState,
    PledgedTrade,
)
from services.loan.merchant.store.mapping import principal_from_document, principal_to_document
from services.loan.store.collections import LoanCollections, after_key, sum_of

OPEN_STATES = [OrderLoanState.PENDING_DISBURSEMENT.value, OrderLoanState.ACTIVE.value]
LENT_STATES = [OrderLoanState.ACTIVE.value, OrderLoanState.SETTLED.value]


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def order_loan_to_document(loan: OrderLoan) -> Document:
    return {
        "_id": loan.loan_id,
        "merchant_id": loan.merchant_id,
        "trades": [
            {"trade_id": t.trade_id, "in_escrow_fen": t.in_escrow_fen, "finished": t.finished}
            for t in loan.trades
        ],
        "trade_ids": [t.trade_id for t in loan.trades],
        "amount_fen": loan.amount_fen,
        "state": loan.state.value,
        "decided_at": loan.decided_at,
        "disbursement_posting_id": loan.disbursement_posting_id,
        "disbursed_on": loan.disbursed_on.isoformat() if loan.disbursed_on else None,
        "due_date": loan.due_date.isoformat() if loan.due_date else None,
        "principal": principal_to_document(loan.principal),
        "collections": list(loan.collections),
        "collected_fen": loan.collected_fen,
        "excess": [
            {"application_id": e.application_id, "amount_fen": e.amount_fen, "returned": e.returned}
            for e in loan.excess
        ],
        "overdue_since": loan.overdue_since.isoformat() if loan.overdue_since else None,
        # Denormalised for the sums and the job's scan.
        "principal_outstanding_fen": loan.principal.principal_fen,
        "principal_repaid_fen": loan.principal.principal_repaid_fen,
        "exposure_fen": loan.exposure_fen,
        "excess_unreturned_fen": loan.excess_unreturned_fen,
        "excess_returned_fen": loan.excess_returned_fen,
    }


def order_loan_from_document(document: Document) -> OrderLoan:
    return OrderLoan(
        loan_id=document["_id"],
        merchant_id=document["merchant_id"],
        trades=tuple(
            PledgedTrade(t["trade_id"], t["in_escrow_fen"], t["finished"])
            for t in document["trades"]
        ),
        amount_fen=document["amount_fen"],
        state=OrderLoanState(document["state"]),
        decided_at=document["decided_at"].astimezone(UTC),
        disbursement_posting_id=document["disbursement_posting_id"],
        disbursed_on=_day(document["disbursed_on"]),
        principal=principal_from_document(document["principal"]),
        collections=tuple(document["collections"]),
        collected_fen=document["collected_fen"],
        excess=tuple(
            ExcessDue(e["application_id"], e["amount_fen"], e["returned"])
            for e in document["excess"]
        ),
        overdue_since=_day(document["overdue_since"]),
    )


class OrderLoanStore(LoanCollections):
    @property
    def order_loans(self) -> AsyncCollection[Document]:
        return self.database["merchant_order_loans"]

    async def ensure_order_loan_indexes(self) -> None:
        await self.order_loans.create_indexes(
            [
                IndexModel([("merchant_id", ASCENDING), ("decided_at", DESCENDING)]),
                IndexModel([("trade_ids", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("state", ASCENDING), ("_id", ASCENDING)]),
            ]
        )

    async def find_order_loan(
        self, loan_id: str, session: Session | None = None
    ) -> OrderLoan | None:
        document = await self.order_loans.find_one({"_id": loan_id}, session=session)
        return order_loan_from_document(document) if document else None

    async def get_order_loan(self, loan_id: str, session: Session | None = None) -> OrderLoan:
        loan = await self.find_order_loan(loan_id, session)
        if loan is None:
            raise NotFound(f"order loan {loan_id} not found", metadata={"loan_id": loan_id})
        return loan

    async def save_order_loan(self, session: Session, loan: OrderLoan) -> None:
        await self.order_loans.replace_one(
            {"_id": loan.loan_id}, order_loan_to_document(loan), upsert=True, session=session
        )

    async def pledged_trade_ids(self, trade_ids: list[str], session: Session) -> set[str]:
        """Which of these trades an open order loan already holds."""
        cursor = self.order_loans.find(
            {"trade_ids": {"$in": trade_ids}, "state": {"$in": OPEN_STATES}},
            {"trade_ids": 1},
            session=session,
        )
        held = {trade_id async for document in cursor for trade_id in document["trade_ids"]}
        return held & set(trade_ids)

    async def order_loan_overdue(self, merchant_id: str, today: date, session: Session) -> bool:
        found = await self.order_loans.find_one(
            {
                "merchant_id": merchant_id,
                "state": OrderLoanState.ACTIVE.value,
                "$or": [
                    {"overdue_since": {"$ne": None}},
                    {"due_date": {"$lt": today.isoformat()}},
                ],
            },
            {"_id": 1},
            session=session,
        )
        return found is not None

    async def list_order_loans(
        self, merchant_id: str, limit: int, after: tuple[str, ...] | None
    ) -> list[OrderLoan]:
        query: Document = {"merchant_id": merchant_id}
        if after is not None:
            query.update(after_key("decided_at", datetime.fromisoformat(after[0]), after[1], True))
        cursor = (
            self.order_loans.find(query)
            .sort([("decided_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [order_loan_from_document(document) async for document in cursor]

    async def order_loans_to_follow(self, after_id: str, limit: int) -> list[OrderLoan]:
        cursor = (
            self.order_loans.find(
                {
                    "_id": {"$gt": after_id},
                    "$or": [
                        {"state": OrderLoanState.ACTIVE.value},
                        {"excess_unreturned_fen": {"$gt": 0}},
                    ],
                }
            )
            .sort("_id")
            .limit(limit)
        )
        return [order_loan_from_document(document) async for document in cursor]

    async def order_exposure_fen(self, session: Session | None = None) -> int:
        return await sum_of(self.order_loans, {}, "exposure_fen", session)

    async def order_flows(self) -> MerchantFlows:
        """platform:loan:order: lent = disbursed; collected = withheld less excess given back."""
        lent = {"state": {"$in": LENT_STATES}}
        return MerchantFlows(
            lent_fen=await sum_of(self.order_loans, lent, "amount_fen"),
            collected_fen=await sum_of(self.order_loans, {}, "collected_fen")
            - await sum_of(self.order_loans, {}, "excess_returned_fen"),
            principal_repaid_fen=await sum_of(self.order_loans, {}, "principal_repaid_fen"),
            principal_outstanding_fen=await sum_of(
                self.order_loans, {}, "principal_outstanding_fen"
            ),
            in_flight_fen=await sum_of(self.order_loans, {}, "excess_unreturned_fen"),
            account_id=ORDER_LEDGER_ACCOUNT_ID,
        )
