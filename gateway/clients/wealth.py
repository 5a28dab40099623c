"""The wealth service's client (DOMAIN.md §2)."""

from __future__ import annotations

import grpc

from colony.wealth.v1 import wealth_pb2 as wpb
from colony.wealth.v1 import wealth_pb2_grpc
from gateway.clients.base import SEED_DEADLINE_SECONDS, ServiceClient


class WealthClient(ServiceClient):
    """The wealth line (DOMAIN.md §2), one method per RPC: the gateway's sagas, jobs and reads.

    The wealth service never moves money; every call here is paired with postings in the
    payment ledger by a saga (gateway.sagas) or the daily job (gateway.wealth.jobs).
    """

    service_name = "wealth"

    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float) -> None:
        super().__init__(deadline_seconds)
        self._stub = wealth_pb2_grpc.WealthServiceStub(channel)

    async def issue_shares(self, request: wpb.IssueSharesRequest) -> wpb.IssueSharesResponse:
        return await self._call(self._stub.IssueShares, request)

    async def redeem_shares(self, request: wpb.RedeemSharesRequest) -> wpb.RedeemSharesResponse:
        return await self._call(self._stub.RedeemShares, request)

    async def cancel_redemption(
        self, request: wpb.CancelRedemptionRequest
    ) -> wpb.CancelRedemptionResponse:
        return await self._call(self._stub.CancelRedemption, request)

    async def get_yuebao_account(
        self, request: wpb.GetYuebaoAccountRequest
    ) -> wpb.GetYuebaoAccountResponse:
        return await self._call(self._stub.GetYuebaoAccount, request)

    async def list_yuebao_income(
        self, request: wpb.ListYuebaoIncomeRequest
    ) -> wpb.ListYuebaoIncomeResponse:
        return await self._call(self._stub.ListYuebaoIncome, request)

    async def get_yuebao_fund(self, request: wpb.GetYuebaoFundRequest) -> wpb.GetYuebaoFundResponse:
        return await self._call(self._stub.GetYuebaoFund, request)

    async def set_yuebao_portfolio(
        self, request: wpb.SetYuebaoPortfolioRequest
    ) -> wpb.SetYuebaoPortfolioResponse:
        return await self._call(self._stub.SetYuebaoPortfolio, request)

    async def run_daily_income(
        self, request: wpb.RunDailyIncomeRequest
    ) -> wpb.RunDailyIncomeResponse:
        return await self._call(self._stub.RunDailyIncome, request)

    async def confirm_purchase(
        self, request: wpb.ConfirmPurchaseRequest
    ) -> wpb.ConfirmPurchaseResponse:
        return await self._call(self._stub.ConfirmPurchase, request)

    async def cancel_purchase(
        self, request: wpb.CancelPurchaseRequest
    ) -> wpb.CancelPurchaseResponse:
        return await self._call(self._stub.CancelPurchase, request)

    async def get_purchase(self, request: wpb.GetPurchaseRequest) -> wpb.GetPurchaseResponse:
        return await self._call(self._stub.GetPurchase, request)

    async def list_due_payouts(
        self, request: wpb.ListDuePayoutsRequest
    ) -> wpb.ListDuePayoutsResponse:
        return await self._call(self._stub.ListDuePayouts, request)

    async def mark_payout_paid(
        self, request: wpb.MarkPayoutPaidRequest
    ) -> wpb.MarkPayoutPaidResponse:
        return await self._call(self._stub.MarkPayoutPaid, request)

    async def get_payout(self, request: wpb.GetPayoutRequest) -> wpb.GetPayoutResponse:
        return await self._call(self._stub.GetPayout, request)

    async def create_product(self, request: wpb.CreateProductRequest) -> wpb.CreateProductResponse:
        return await self._call(self._stub.CreateProduct, request)

    async def get_product(self, request: wpb.GetProductRequest) -> wpb.GetProductResponse:
        return await self._call(self._stub.GetProduct, request)

    async def list_products(self, request: wpb.ListProductsRequest) -> wpb.ListProductsResponse:
        return await self._call(self._stub.ListProducts, request)

    async def close_product(self, request: wpb.CloseProductRequest) -> wpb.CloseProductResponse:
        return await self._call(self._stub.CloseProduct, request)

    async def subscribe_product(
        self, request: wpb.SubscribeProductRequest
    ) -> wpb.SubscribeProductResponse:
        return await self._call(self._stub.SubscribeProduct, request)

    async def get_holding(self, request: wpb.GetHoldingRequest) -> wpb.GetHoldingResponse:
        return await self._call(self._stub.GetHolding, request)

    async def list_holdings(self, request: wpb.ListHoldingsRequest) -> wpb.ListHoldingsResponse:
        return await self._call(self._stub.ListHoldings, request)

    async def list_holding_for_transfer(
        self, request: wpb.ListHoldingForTransferRequest
    ) -> wpb.ListHoldingForTransferResponse:
        return await self._call(self._stub.ListHoldingForTransfer, request)

    async def withdraw_transfer_listing(
        self, request: wpb.WithdrawTransferListingRequest
    ) -> wpb.WithdrawTransferListingResponse:
        return await self._call(self._stub.WithdrawTransferListing, request)

    async def list_transfer_listings(
        self, request: wpb.ListTransferListingsRequest
    ) -> wpb.ListTransferListingsResponse:
        return await self._call(self._stub.ListTransferListings, request)

    async def buy_transfer_listing(
        self, request: wpb.BuyTransferListingRequest
    ) -> wpb.BuyTransferListingResponse:
        return await self._call(self._stub.BuyTransferListing, request)

    async def run_fixed_term_jobs(
        self, request: wpb.RunFixedTermJobsRequest
    ) -> wpb.RunFixedTermJobsResponse:
        return await self._call(self._stub.RunFixedTermJobs, request)

    async def create_reservation(
        self, request: wpb.CreateReservationRequest
    ) -> wpb.CreateReservationResponse:
        return await self._call(self._stub.CreateReservation, request)

    async def cancel_reservation(
        self, request: wpb.CancelReservationRequest
    ) -> wpb.CancelReservationResponse:
        return await self._call(self._stub.CancelReservation, request)

    async def list_reservations(
        self, request: wpb.ListReservationsRequest
    ) -> wpb.ListReservationsResponse:
        return await self._call(self._stub.ListReservations, request)

    async def list_matching_reservations(
        self, request: wpb.ListMatchingReservationsRequest
    ) -> wpb.ListMatchingReservationsResponse:
        return await self._call(self._stub.ListMatchingReservations, request)

    async def allocate_reservations(
        self, request: wpb.AllocateReservationsRequest
    ) -> wpb.AllocateReservationsResponse:
        return await self._call(self._stub.AllocateReservations, request)

    async def create_fund(self, request: wpb.CreateFundRequest) -> wpb.CreateFundResponse:
        return await self._call(self._stub.CreateFund, request)

    async def get_fund(self, request: wpb.GetFundRequest) -> wpb.GetFundResponse:
        return await self._call(self._stub.GetFund, request)

    async def list_funds(self, request: wpb.ListFundsRequest) -> wpb.ListFundsResponse:
        return await self._call(self._stub.ListFunds, request)

    async def publish_nav(self, request: wpb.PublishNavRequest) -> wpb.PublishNavResponse:
        return await self._call(self._stub.PublishNav, request)

    async def list_nav_history(
        self, request: wpb.ListNavHistoryRequest
    ) -> wpb.ListNavHistoryResponse:
        return await self._call(self._stub.ListNavHistory, request)

    async def submit_risk_profile(
        self, request: wpb.SubmitRiskProfileRequest
    ) -> wpb.SubmitRiskProfileResponse:
        return await self._call(self._stub.SubmitRiskProfile, request)

    async def get_risk_profile(
        self, request: wpb.GetRiskProfileRequest
    ) -> wpb.GetRiskProfileResponse:
        return await self._call(self._stub.GetRiskProfile, request)

    async def buy_fund(self, request: wpb.BuyFundRequest) -> wpb.BuyFundResponse:
        return await self._call(self._stub.BuyFund, request)

    async def sell_fund(self, request: wpb.SellFundRequest) -> wpb.SellFundResponse:
        return await self._call(self._stub.SellFund, request)

    async def get_fund_order(self, request: wpb.GetFundOrderRequest) -> wpb.GetFundOrderResponse:
        return await self._call(self._stub.GetFundOrder, request)

    async def list_fund_orders(
        self, request: wpb.ListFundOrdersRequest
    ) -> wpb.ListFundOrdersResponse:
        return await self._call(self._stub.ListFundOrders, request)

    async def list_fund_positions(
        self, request: wpb.ListFundPositionsRequest
    ) -> wpb.ListFundPositionsResponse:
        return await self._call(self._stub.ListFundPositions, request)

    async def recommend_funds(
        self, request: wpb.RecommendFundsRequest
    ) -> wpb.RecommendFundsResponse:
        return await self._call(self._stub.RecommendFunds, request)

    async def get_wealth_audit(
        self, request: wpb.GetWealthAuditRequest
    ) -> wpb.GetWealthAuditResponse:
        return await self._call(self._stub.GetWealthAudit, request)

    async def seed_demo_catalog(
        self, request: wpb.SeedDemoCatalogRequest
    ) -> wpb.SeedDemoCatalogResponse:
        # Writes a year of NAV history for every demo fund: far more than one request's work.
        return await self._call(
            self._stub.SeedDemoCatalog, request, deadline_seconds=SEED_DEADLINE_SECONDS
        )
