"""Cash-loan RPCs (cash_loans.py holds the rules): the "310" decision and the disbursement
steps of the gateway's saga."""

from __future__ import annotations

from chassis.errors import InvalidArgument
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import amount_from_proto, next_page, page_size_of
from colony.loan.v1 import loan_pb2 as pb
from services.loan.cash_loans import (
    CashLoan,
    CashLoanState,
    accrue_loan,
    cancel_cash_loan,
    decide_cash_loan,
    disburse,
)
from services.loan.huabei import require_id
from services.loan.merchant.funding import require_capacity
from services.loan.merchant.store import MerchantLendingStore
from services.loan.rpc_base import LoanRpcBase
from services.loan.wire import METHOD_FROM_PROTO, advice_from_proto, cash_loan_to_proto


class CashLoansRpc(LoanRpcBase):
    """Cash loans: apply, disburse, cancel, read."""

    async def ApplyCashLoan(
        self, request: pb.ApplyCashLoanRequest, context: Context
    ) -> pb.ApplyCashLoanResponse:
        loan_id = require_id(request.loan_id, "loan_id")
        borrower_id = require_id(request.borrower_id, "borrower_id")
        advice = advice_from_proto(request.advice, borrower_id)
        amount_fen = amount_from_proto(request.amount)
        if request.method not in METHOD_FROM_PROTO:
            raise InvalidArgument("method is required", metadata={"field": "method"})

        async def apply(session: Session) -> pb.ApplyCashLoanResponse:
            existing = await self._store.find_cash_loan(loan_id, session)
            if existing is not None:
                return pb.ApplyCashLoanResponse(loan=self._loan_view(existing))
            loan = decide_cash_loan(
                loan_id=loan_id,
                advice=advice,
                amount_fen=amount_fen,
                term_months=request.term_months,
                method=METHOD_FROM_PROTO[request.method],
                exposure_fen=await self._store.cash_loan_exposure_fen(borrower_id, session),
                overdue=await self._store.borrower_overdue(borrower_id, session),
                now=self._clock.now(),
            )
            if loan.state is CashLoanState.PENDING_DISBURSEMENT:
                # Lent from the loan business's capital: within capital + allowed borrowing
                # (docs/loans.md "Funding"); a refusal stores nothing.
                lending = MerchantLendingStore(self._store.database)
                require_capacity(await lending.claim_capacity(session), amount_fen)
            return await self._store_loan(session, loan, "loan.cash_loan.decided")

        async with self._borrower_locks.hold([borrower_id]):
            return await self._idempotent(
                "apply-cash-loan", request, pb.ApplyCashLoanResponse, apply
            )

    async def ConfirmDisbursement(
        self, request: pb.ConfirmDisbursementRequest, context: Context
    ) -> pb.ConfirmDisbursementResponse:
        loan_id = require_id(request.loan_id, "loan_id")
        posting_id = require_id(request.payment_posting_id, "payment_posting_id")

        async def confirm(session: Session) -> pb.ConfirmDisbursementResponse:
            loan = await self._store.get_cash_loan(loan_id, session)
            disbursed = disburse(loan, posting_id, self._today())
            if disbursed is loan:
                return pb.ConfirmDisbursementResponse(loan=self._loan_view(loan))
            response = await self._store_loan(session, disbursed, "loan.cash_loan.disbursed")
            return pb.ConfirmDisbursementResponse(loan=response.loan)

        return await self._idempotent(
            "confirm-disbursement", request, pb.ConfirmDisbursementResponse, confirm
        )

    async def CancelCashLoan(
        self, request: pb.CancelCashLoanRequest, context: Context
    ) -> pb.CancelCashLoanResponse:
        loan_id = require_id(request.loan_id, "loan_id")

        async def cancel(session: Session) -> pb.CancelCashLoanResponse:
            loan = await self._store.get_cash_loan(loan_id, session)
            cancelled = cancel_cash_loan(loan)
            if cancelled is loan:
                return pb.CancelCashLoanResponse(loan=self._loan_view(loan))
            response = await self._store_loan(session, cancelled, "loan.cash_loan.cancelled")
            return pb.CancelCashLoanResponse(loan=response.loan)

        return await self._idempotent(
            "cancel-cash-loan", request, pb.CancelCashLoanResponse, cancel
        )

    def _loan_view(self, loan: CashLoan) -> pb.CashLoan:
        """The loan as of today (interest and penalties accrued in the answer, not stored)."""
        today = self._today()
        return cash_loan_to_proto(accrue_loan(loan, today), today)

    async def _store_loan(
        self, session: Session, loan: CashLoan, event_type: str
    ) -> pb.ApplyCashLoanResponse:
        await self._store.save_cash_loan(session, loan)
        message = self._loan_view(loan)
        await self._events.append(session, event_type, loan.loan_id, message)
        return pb.ApplyCashLoanResponse(loan=message)

    async def GetCashLoan(
        self, request: pb.GetCashLoanRequest, context: Context
    ) -> pb.GetCashLoanResponse:
        loan = await self._store.get_cash_loan(require_id(request.loan_id, "loan_id"))
        return pb.GetCashLoanResponse(loan=self._loan_view(loan))

    async def ListCashLoans(
        self, request: pb.ListCashLoansRequest, context: Context
    ) -> pb.ListCashLoansResponse:
        borrower_id = require_id(request.borrower_id, "borrower_id")
        query = f"cash-loans:{borrower_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        loans = await self._store.list_cash_loans(borrower_id, page_size, after)
        return pb.ListCashLoansResponse(
            loans=[self._loan_view(loan) for loan in loans],
            page=next_page(
                len(loans),
                page_size,
                lambda: encode_page_token(
                    query, loans[-1].decided_at.isoformat(), loans[-1].loan_id
                ),
            ),
        )
