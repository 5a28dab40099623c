"""The loan service's client (DOMAIN.md §4)."""

from __future__ import annotations

import grpc

from colony.loan.v1 import loan_pb2 as lpb
from colony.loan.v1 import loan_pb2_grpc
from gateway.clients.base import ServiceClient


class LoanClient(ServiceClient):
    """The loan line (DOMAIN.md §4, docs/loans.md), one method per RPC the gateway uses.

    The loan service keeps the books and never moves money: every step here is paired with
    postings in the payment ledger by a saga (gateway.loans.sagas) or a job.
    """

    service_name = "loan"

    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float) -> None:
        super().__init__(deadline_seconds)
        self._stub = loan_pb2_grpc.LoanServiceStub(channel)

    async def sync_huabei_line(
        self, request: lpb.SyncHuabeiLineRequest
    ) -> lpb.SyncHuabeiLineResponse:
        return await self._call(self._stub.SyncHuabeiLine, request)

    async def get_huabei_line(self, request: lpb.GetHuabeiLineRequest) -> lpb.GetHuabeiLineResponse:
        return await self._call(self._stub.GetHuabeiLine, request)

    async def reserve_huabei(self, request: lpb.ReserveHuabeiRequest) -> lpb.ReserveHuabeiResponse:
        return await self._call(self._stub.ReserveHuabei, request)

    async def capture_huabei(self, request: lpb.CaptureHuabeiRequest) -> lpb.CaptureHuabeiResponse:
        return await self._call(self._stub.CaptureHuabei, request)

    async def release_huabei(self, request: lpb.ReleaseHuabeiRequest) -> lpb.ReleaseHuabeiResponse:
        return await self._call(self._stub.ReleaseHuabei, request)

    async def refund_huabei_purchase(
        self, request: lpb.RefundHuabeiPurchaseRequest
    ) -> lpb.RefundHuabeiPurchaseResponse:
        return await self._call(self._stub.RefundHuabeiPurchase, request)

    async def find_huabei_purchase(
        self, request: lpb.FindHuabeiPurchaseRequest
    ) -> lpb.FindHuabeiPurchaseResponse:
        return await self._call(self._stub.FindHuabeiPurchase, request)

    async def list_huabei_purchases(
        self, request: lpb.ListHuabeiPurchasesRequest
    ) -> lpb.ListHuabeiPurchasesResponse:
        return await self._call(self._stub.ListHuabeiPurchases, request)

    async def list_bills(self, request: lpb.ListBillsRequest) -> lpb.ListBillsResponse:
        return await self._call(self._stub.ListBills, request)

    async def get_bill(self, request: lpb.GetBillRequest) -> lpb.GetBillResponse:
        return await self._call(self._stub.GetBill, request)

    async def get_installment_offers(
        self, request: lpb.GetInstallmentOffersRequest
    ) -> lpb.GetInstallmentOffersResponse:
        return await self._call(self._stub.GetInstallmentOffers, request)

    async def convert_to_installments(
        self, request: lpb.ConvertToInstallmentsRequest
    ) -> lpb.ConvertToInstallmentsResponse:
        return await self._call(self._stub.ConvertToInstallments, request)

    async def list_installment_plans(
        self, request: lpb.ListInstallmentPlansRequest
    ) -> lpb.ListInstallmentPlansResponse:
        return await self._call(self._stub.ListInstallmentPlans, request)

    async def apply_cash_loan(self, request: lpb.ApplyCashLoanRequest) -> lpb.ApplyCashLoanResponse:
        return await self._call(self._stub.ApplyCashLoan, request)

    async def confirm_disbursement(
        self, request: lpb.ConfirmDisbursementRequest
    ) -> lpb.ConfirmDisbursementResponse:
        return await self._call(self._stub.ConfirmDisbursement, request)

    async def cancel_cash_loan(
        self, request: lpb.CancelCashLoanRequest
    ) -> lpb.CancelCashLoanResponse:
        return await self._call(self._stub.CancelCashLoan, request)

    async def get_cash_loan(self, request: lpb.GetCashLoanRequest) -> lpb.GetCashLoanResponse:
        return await self._call(self._stub.GetCashLoan, request)

    async def list_cash_loans(self, request: lpb.ListCashLoansRequest) -> lpb.ListCashLoansResponse:
        return await self._call(self._stub.ListCashLoans, request)

    async def get_amount_owed(self, request: lpb.GetAmountOwedRequest) -> lpb.GetAmountOwedResponse:
        return await self._call(self._stub.GetAmountOwed, request)

    async def try_repayment(self, request: lpb.TryRepaymentRequest) -> lpb.TryRepaymentResponse:
        return await self._call(self._stub.TryRepayment, request)

    async def confirm_repayment(
        self, request: lpb.ConfirmRepaymentRequest
    ) -> lpb.ConfirmRepaymentResponse:
        return await self._call(self._stub.ConfirmRepayment, request)

    async def cancel_repayment(
        self, request: lpb.CancelRepaymentRequest
    ) -> lpb.CancelRepaymentResponse:
        return await self._call(self._stub.CancelRepayment, request)

    async def list_repayments(
        self, request: lpb.ListRepaymentsRequest
    ) -> lpb.ListRepaymentsResponse:
        return await self._call(self._stub.ListRepayments, request)

    async def set_auto_debit(self, request: lpb.SetAutoDebitRequest) -> lpb.SetAutoDebitResponse:
        return await self._call(self._stub.SetAutoDebit, request)

    async def get_auto_debit(self, request: lpb.GetAutoDebitRequest) -> lpb.GetAutoDebitResponse:
        return await self._call(self._stub.GetAutoDebit, request)

    async def run_loan_jobs(self, request: lpb.RunLoanJobsRequest) -> lpb.RunLoanJobsResponse:
        return await self._call(self._stub.RunLoanJobs, request)

    async def list_due_auto_debits(
        self, request: lpb.ListDueAutoDebitsRequest
    ) -> lpb.ListDueAutoDebitsResponse:
        return await self._call(self._stub.ListDueAutoDebits, request)

    async def get_portfolio_report(
        self, request: lpb.GetPortfolioReportRequest
    ) -> lpb.GetPortfolioReportResponse:
        return await self._call(self._stub.GetPortfolioReport, request)

    async def get_loan_audit(self, request: lpb.GetLoanAuditRequest) -> lpb.GetLoanAuditResponse:
        return await self._call(self._stub.GetLoanAudit, request)
