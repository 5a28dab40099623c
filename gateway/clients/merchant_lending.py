"""The loan service's merchant lending client (colony.loan.v1.MerchantLendingService)."""

from __future__ import annotations

import grpc

from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.loan.v1 import merchant_lending_pb2_grpc
from gateway.clients.base import ServiceClient


class MerchantLendingClient(ServiceClient):
    """Facilities, draws, facility repayments, funding (docs/loans.md "Merchant lending").

    Served by the loan process (the same channel as LoanClient); it moves no money: the
    gateway's sagas (gateway.loans.merchant.sagas) pair each step with the payment ledger.
    """

    service_name = "loan"

    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float) -> None:
        super().__init__(deadline_seconds)
        self._stub = merchant_lending_pb2_grpc.MerchantLendingServiceStub(channel)

    async def apply_facility(self, request: mpb.ApplyFacilityRequest) -> mpb.ApplyFacilityResponse:
        return await self._call(self._stub.ApplyFacility, request)

    async def confirm_facility_disbursement(
        self, request: mpb.ConfirmFacilityDisbursementRequest
    ) -> mpb.ConfirmFacilityDisbursementResponse:
        return await self._call(self._stub.ConfirmFacilityDisbursement, request)

    async def cancel_facility(
        self, request: mpb.CancelFacilityRequest
    ) -> mpb.CancelFacilityResponse:
        return await self._call(self._stub.CancelFacility, request)

    async def get_facility(self, request: mpb.GetFacilityRequest) -> mpb.GetFacilityResponse:
        return await self._call(self._stub.GetFacility, request)

    async def list_facilities(
        self, request: mpb.ListFacilitiesRequest
    ) -> mpb.ListFacilitiesResponse:
        return await self._call(self._stub.ListFacilities, request)

    async def try_draw(self, request: mpb.TryDrawRequest) -> mpb.TryDrawResponse:
        return await self._call(self._stub.TryDraw, request)

    async def confirm_draw(self, request: mpb.ConfirmDrawRequest) -> mpb.ConfirmDrawResponse:
        return await self._call(self._stub.ConfirmDraw, request)

    async def cancel_draw(self, request: mpb.CancelDrawRequest) -> mpb.CancelDrawResponse:
        return await self._call(self._stub.CancelDraw, request)

    async def try_facility_repayment(
        self, request: mpb.TryFacilityRepaymentRequest
    ) -> mpb.TryFacilityRepaymentResponse:
        return await self._call(self._stub.TryFacilityRepayment, request)

    async def confirm_facility_repayment(
        self, request: mpb.ConfirmFacilityRepaymentRequest
    ) -> mpb.ConfirmFacilityRepaymentResponse:
        return await self._call(self._stub.ConfirmFacilityRepayment, request)

    async def cancel_facility_repayment(
        self, request: mpb.CancelFacilityRepaymentRequest
    ) -> mpb.CancelFacilityRepaymentResponse:
        return await self._call(self._stub.CancelFacilityRepayment, request)

    async def pay_in_capital(self, request: mpb.PayInCapitalRequest) -> mpb.PayInCapitalResponse:
        return await self._call(self._stub.PayInCapital, request)

    async def borrow_from_bank(
        self, request: mpb.BorrowFromBankRequest
    ) -> mpb.BorrowFromBankResponse:
        return await self._call(self._stub.BorrowFromBank, request)

    async def repay_bank_borrowing(
        self, request: mpb.RepayBankBorrowingRequest
    ) -> mpb.RepayBankBorrowingResponse:
        return await self._call(self._stub.RepayBankBorrowing, request)

    async def get_lending_capacity(
        self, request: mpb.GetLendingCapacityRequest
    ) -> mpb.GetLendingCapacityResponse:
        return await self._call(self._stub.GetLendingCapacity, request)

    async def get_merchant_lending_audit(
        self, request: mpb.GetMerchantLendingAuditRequest
    ) -> mpb.GetMerchantLendingAuditResponse:
        return await self._call(self._stub.GetMerchantLendingAudit, request)

    async def set_merchant_credit_policy(
        self, request: mpb.SetMerchantCreditPolicyRequest
    ) -> mpb.SetMerchantCreditPolicyResponse:
        return await self._call(self._stub.SetMerchantCreditPolicy, request)

    async def get_merchant_credit_policy(
        self, request: mpb.GetMerchantCreditPolicyRequest
    ) -> mpb.GetMerchantCreditPolicyResponse:
        return await self._call(self._stub.GetMerchantCreditPolicy, request)

    async def apply_order_loan(
        self, request: mpb.ApplyOrderLoanRequest
    ) -> mpb.ApplyOrderLoanResponse:
        return await self._call(self._stub.ApplyOrderLoan, request)

    async def confirm_order_loan_disbursement(
        self, request: mpb.ConfirmOrderLoanDisbursementRequest
    ) -> mpb.ConfirmOrderLoanDisbursementResponse:
        return await self._call(self._stub.ConfirmOrderLoanDisbursement, request)

    async def cancel_order_loan(
        self, request: mpb.CancelOrderLoanRequest
    ) -> mpb.CancelOrderLoanResponse:
        return await self._call(self._stub.CancelOrderLoan, request)

    async def get_order_loan(self, request: mpb.GetOrderLoanRequest) -> mpb.GetOrderLoanResponse:
        return await self._call(self._stub.GetOrderLoan, request)

    async def list_order_loans(
        self, request: mpb.ListOrderLoansRequest
    ) -> mpb.ListOrderLoansResponse:
        return await self._call(self._stub.ListOrderLoans, request)

    async def list_order_loans_to_follow(
        self, request: mpb.ListOrderLoansToFollowRequest
    ) -> mpb.ListOrderLoansToFollowResponse:
        return await self._call(self._stub.ListOrderLoansToFollow, request)

    async def apply_order_loan_collection(
        self, request: mpb.ApplyOrderLoanCollectionRequest
    ) -> mpb.ApplyOrderLoanCollectionResponse:
        return await self._call(self._stub.ApplyOrderLoanCollection, request)

    async def confirm_order_loan_excess_returned(
        self, request: mpb.ConfirmOrderLoanExcessReturnedRequest
    ) -> mpb.ConfirmOrderLoanExcessReturnedResponse:
        return await self._call(self._stub.ConfirmOrderLoanExcessReturned, request)

    async def finish_order_loan_trades(
        self, request: mpb.FinishOrderLoanTradesRequest
    ) -> mpb.FinishOrderLoanTradesResponse:
        return await self._call(self._stub.FinishOrderLoanTrades, request)

    async def list_facilities_to_follow(
        self, request: mpb.ListFacilitiesToFollowRequest
    ) -> mpb.ListFacilitiesToFollowResponse:
        return await self._call(self._stub.ListFacilitiesToFollow, request)

    async def apply_facility_collection(
        self, request: mpb.ApplyFacilityCollectionRequest
    ) -> mpb.ApplyFacilityCollectionResponse:
        return await self._call(self._stub.ApplyFacilityCollection, request)

    async def confirm_facility_excess_returned(
        self, request: mpb.ConfirmFacilityExcessReturnedRequest
    ) -> mpb.ConfirmFacilityExcessReturnedResponse:
        return await self._call(self._stub.ConfirmFacilityExcessReturned, request)

    async def create_abs_pool(self, request: mpb.CreateAbsPoolRequest) -> mpb.CreateAbsPoolResponse:
        return await self._call(self._stub.CreateAbsPool, request)

    async def get_abs_pool(self, request: mpb.GetAbsPoolRequest) -> mpb.GetAbsPoolResponse:
        return await self._call(self._stub.GetAbsPool, request)

    async def record_abs_units_sold(
        self, request: mpb.RecordAbsUnitsSoldRequest
    ) -> mpb.RecordAbsUnitsSoldResponse:
        return await self._call(self._stub.RecordAbsUnitsSold, request)

    async def pass_through_abs_pool(
        self, request: mpb.PassThroughAbsPoolRequest
    ) -> mpb.PassThroughAbsPoolResponse:
        return await self._call(self._stub.PassThroughAbsPool, request)

    async def list_abs_holdings(
        self, request: mpb.ListAbsHoldingsRequest
    ) -> mpb.ListAbsHoldingsResponse:
        return await self._call(self._stub.ListAbsHoldings, request)

    async def buy_abs_loans(self, request: mpb.BuyAbsLoansRequest) -> mpb.BuyAbsLoansResponse:
        return await self._call(self._stub.BuyAbsLoans, request)

    async def list_abs_pools(self, request: mpb.ListAbsPoolsRequest) -> mpb.ListAbsPoolsResponse:
        return await self._call(self._stub.ListAbsPools, request)

    async def confirm_abs_period_posted(
        self, request: mpb.ConfirmAbsPeriodPostedRequest
    ) -> mpb.ConfirmAbsPeriodPostedResponse:
        return await self._call(self._stub.ConfirmAbsPeriodPosted, request)
