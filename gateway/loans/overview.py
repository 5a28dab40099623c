"""The loans of the wallet overview (GET /v1/wallet): the Huabei line, its current bill
and the cash loans not yet settled."""

from __future__ import annotations

from typing import Any

from chassis.errors import DomainError, ErrorKind
from colony.common.v1 import paging_pb2
from colony.loan.v1 import loan_pb2 as lpb
from gateway.clients import LoanClient
from gateway.edge.openapi import schema_ref
from gateway.loans.representations import bill_json, cash_loan_json, line_json

# The overview lists at most this many live cash loans (GET /v1/loans/cash-loans has all).
CASH_LOANS_SHOWN_MAX = 20
_LIVE_LOAN_STATES = (lpb.CASH_LOAN_STATE_PENDING_DISBURSEMENT, lpb.CASH_LOAN_STATE_ACTIVE)

WALLET_LOANS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The caller's loans (GET /v1/loans/huabei and /v1/loans/cash-loans have "
    "the rest). Absent when the loan service cannot answer right now, and for merchant "
    "accounts.",
    "required": ["huabei", "current_bill", "cash_loans"],
    "properties": {
        "huabei": {
            "oneOf": [schema_ref("HuabeiLine"), {"type": "null"}],
            "description": "null before the line is opened (GET /v1/loans/huabei opens it).",
        },
        "current_bill": {"oneOf": [schema_ref("HuabeiBill"), {"type": "null"}]},
        "cash_loans": {
            "type": "array",
            "items": schema_ref("CashLoan"),
            "description": "Loans awaiting disbursement or active, newest first.",
        },
    },
}


async def loans_summary(loan: LoanClient, borrower_id: str) -> dict[str, Any]:
    """The borrower's loans as the wallet shows them (read only: nothing is synced here)."""
    try:
        line: lpb.HuabeiLine | None = (
            await loan.get_huabei_line(lpb.GetHuabeiLineRequest(borrower_id=borrower_id))
        ).line
    except DomainError as error:
        if error.kind is not ErrorKind.NOT_FOUND:
            raise
        line = None
    bills = await loan.list_bills(
        lpb.ListBillsRequest(borrower_id=borrower_id, page=paging_pb2.PageRequest(page_size=1))
    )
    loans = await loan.list_cash_loans(
        lpb.ListCashLoansRequest(
            borrower_id=borrower_id,
            page=paging_pb2.PageRequest(page_size=CASH_LOANS_SHOWN_MAX),
        )
    )
    return {
        "huabei": line_json(line) if line is not None else None,
        "current_bill": bill_json(bills.bills[0]) if bills.bills else None,
        "cash_loans": [
            cash_loan_json(found, schedule=False)
            for found in loans.loans
            if found.state in _LIVE_LOAN_STATES
        ],
    }
