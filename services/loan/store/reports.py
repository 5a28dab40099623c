"""The sums behind the portfolio report and the loan audit (reads only)."""

from __future__ import annotations

from chassis.mongo import Document
from services.loan.cash_loans import CASH_LOAN_LEDGER_ACCOUNT_ID, CashLoanState
from services.loan.delinquency import Bucket
from services.loan.huabei import HUABEI_LEDGER_ACCOUNT_ID, PurchaseState
from services.loan.portfolio import BucketFigures, LedgerFlows, PortfolioReport, Product
from services.loan.repayments import RepaymentState, RepaymentTarget
from services.loan.store.collections import LoanCollections, sum_of

HUABEI_TARGETS = [RepaymentTarget.HUABEI.value, RepaymentTarget.INSTALLMENT_PLAN.value]


async def _grouped(collection: object, match: Document, field: str) -> dict[str, tuple[int, int]]:
    """bucket → (sum of field, count) over the matching documents."""
    pipeline: list[Document] = [
        {"$match": match},
        {"$group": {"_id": "$bucket", "total": {"$sum": f"${field}"}, "count": {"$sum": 1}}},
    ]
    rows = await collection.aggregate(pipeline)  # type: ignore[attr-defined]
    return {row["_id"]: (int(row["total"]), int(row["count"])) async for row in rows}


async def read_portfolio(store: LoanCollections) -> PortfolioReport:
    """Principal outstanding by product and bucket."""
    huabei = await _grouped(store.huabei_lines, {"used_fen": {"$gt": 0}}, "used_fen")
    cash = await _grouped(
        store.cash_loans, {"state": CashLoanState.ACTIVE.value}, "principal_outstanding_fen"
    )
    rows = []
    for product, groups in ((Product.HUABEI, huabei), (Product.CASH_LOAN, cash)):
        for bucket in Bucket:
            principal_fen, accounts = groups.get(bucket.value, (0, 0))
            rows.append(BucketFigures(product, bucket, principal_fen, accounts))
    return PortfolioReport(tuple(rows))


async def _repaid(store: LoanCollections, targets: list[str], field: str) -> int:
    match = {"state": RepaymentState.APPLIED.value, "target": {"$in": targets}}
    return await sum_of(store.repayments, match, field)


async def read_ledger_flows(store: LoanCollections) -> tuple[LedgerFlows, LedgerFlows]:
    """The Huabei and cash-loan books' sums, for the audit."""
    captured = {"state": PurchaseState.CAPTURED.value}
    pending = {"state": RepaymentState.PENDING.value}
    huabei = LedgerFlows(
        account_id=HUABEI_LEDGER_ACCOUNT_ID,
        lent_fen=await sum_of(store.huabei_purchases, captured, "amount_fen"),
        refunded_fen=await sum_of(store.huabei_purchases, captured, "refunded_fen"),
        repaid_fen=await _repaid(store, HUABEI_TARGETS, "amount_fen"),
        principal_repaid_fen=await _repaid(store, HUABEI_TARGETS, "applied.principal_fen"),
        credit_prepaid_fen=await _repaid(store, HUABEI_TARGETS, "credit_fen"),
        principal_outstanding_fen=await sum_of(store.huabei_lines, {}, "used_fen"),
        pending_fen=await sum_of(
            store.repayments, {**pending, "target": {"$in": HUABEI_TARGETS}}, "amount_fen"
        )
        + await sum_of(store.huabei_lines, {}, "reserved_fen"),
    )
    lent = {"state": {"$in": [CashLoanState.ACTIVE.value, CashLoanState.SETTLED.value]}}
    cash_target = [RepaymentTarget.CASH_LOAN.value]
    cash = LedgerFlows(
        account_id=CASH_LOAN_LEDGER_ACCOUNT_ID,
        lent_fen=await sum_of(store.cash_loans, lent, "principal_fen"),
        refunded_fen=0,
        repaid_fen=await _repaid(store, cash_target, "amount_fen"),
        principal_repaid_fen=await _repaid(store, cash_target, "applied.principal_fen"),
        credit_prepaid_fen=0,
        principal_outstanding_fen=await sum_of(store.cash_loans, lent, "principal_outstanding_fen"),
        pending_fen=await sum_of(
            store.repayments, {**pending, "target": {"$in": cash_target}}, "amount_fen"
        ),
    )
    return huabei, cash
