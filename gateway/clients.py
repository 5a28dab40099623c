"""Clients of the business-line services: one channel each, a deadline on every call.

A failed call's gRPC status (with its google.rpc.ErrorInfo) becomes a chassis DomainError
here, in translate_rpc_error, and nowhere else; gateway.edge.problems renders it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from chassis.errors import REFUSAL_KINDS, TRANSIENT_KINDS, DomainError, ErrorKind, Unavailable
from chassis.grpc_status import kind_of
from chassis.settings import SERVICE_NAMES
from colony.credit.v1 import credit_pb2 as cpb
from colony.credit.v1 import credit_pb2_grpc
from colony.loan.v1 import loan_pb2 as lpb
from colony.loan.v1 import loan_pb2_grpc
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from colony.wealth.v1 import wealth_pb2 as wpb
from colony.wealth.v1 import wealth_pb2_grpc

log = logging.getLogger("colony.gateway.clients")

ResponseT = TypeVar("ResponseT", bound=Message)


class ServiceFault(Exception):
    """A service answered in a way no client can act on (a bug): logged, answered with 500."""


def _error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    # from_call reads only code(), details() and trailing_metadata(), which AioRpcError has.
    status = rpc_status.from_call(cast(grpc.Call, error))
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def translate_rpc_error(error: grpc.aio.AioRpcError, service_name: str) -> Exception:
    """The DomainError (or ServiceFault) that stands for a failed call to service_name."""
    code = error.code()
    kind = kind_of(code)
    info = _error_info(error)
    if kind in TRANSIENT_KINDS:
        # The transport's own message names hosts and ports: keep it out of the answer.
        log.warning("%s unavailable: %s %s", service_name, code.name, error.details())
        return Unavailable(
            f"the {service_name} service is unavailable; retry with the same request",
            reason=info.reason if info is not None else "UNAVAILABLE",
        )
    # Refusals a service makes on purpose, always with an ErrorInfo reason; passed on as they are.
    if (kind in REFUSAL_KINDS or kind is ErrorKind.ABORTED) and info is not None:
        return DomainError(
            error.details() or info.reason,
            reason=info.reason,
            metadata=dict(info.metadata),
            kind=kind,
        )
    return ServiceFault(f"{service_name} answered {code.name}: {error.details()}")


@dataclass(frozen=True, slots=True)
class ServiceChannels:
    """One gRPC channel per business line; the gateway shares them across all requests."""

    by_service: Mapping[str, grpc.aio.Channel]

    @classmethod
    def open(cls, addresses: Mapping[str, str]) -> ServiceChannels:
        """Channels to every business line in SERVICE_NAMES (created lazily connecting)."""
        missing = set(SERVICE_NAMES) - set(addresses)
        if missing:
            raise ValueError(f"no address for services {sorted(missing)}")
        return cls({name: grpc.aio.insecure_channel(addresses[name]) for name in SERVICE_NAMES})

    @property
    def payment(self) -> grpc.aio.Channel:
        return self.by_service["payment"]

    @property
    def wealth(self) -> grpc.aio.Channel:
        return self.by_service["wealth"]

    @property
    def credit(self) -> grpc.aio.Channel:
        return self.by_service["credit"]

    @property
    def loan(self) -> grpc.aio.Channel:
        return self.by_service["loan"]

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self.by_service.values()))

    async def check_health(self, deadline_seconds: float) -> dict[str, str]:
        """Each service's grpc.health.v1 status name, asked concurrently, or UNREACHABLE."""
        names = list(self.by_service)
        statuses = await asyncio.gather(
            *(_health_of(self.by_service[name], deadline_seconds) for name in names)
        )
        return dict(zip(names, statuses, strict=True))


async def _health_of(channel: grpc.aio.Channel, deadline_seconds: float) -> str:
    stub: Any = health_pb2_grpc.HealthStub(channel)  # its type stubs omit the RPC methods
    try:
        response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=deadline_seconds)
    except grpc.aio.AioRpcError as error:
        log.info("health check failed: %s", error.code().name)
        return "UNREACHABLE"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


# The one long call: loading the demo catalog (an operator action, idempotent).
SEED_DEADLINE_SECONDS = 120.0


class ServiceClient:
    """What every business-line client shares: the deadline and the one error translation."""

    service_name: ClassVar[str]

    def __init__(self, deadline_seconds: float) -> None:
        self._deadline_seconds = deadline_seconds

    async def _call(
        self,
        rpc: Callable[..., Awaitable[ResponseT]],
        request: Message,
        deadline_seconds: float | None = None,
    ) -> ResponseT:
        try:
            return await rpc(request, timeout=deadline_seconds or self._deadline_seconds)
        except grpc.aio.AioRpcError as error:
            raise translate_rpc_error(error, self.service_name) from error


class PaymentClient(ServiceClient):
    """The payment ledger (DOMAIN.md §1), one method per RPC the gateway uses."""

    service_name = "payment"

    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float) -> None:
        super().__init__(deadline_seconds)
        self._stub = payment_pb2_grpc.PaymentServiceStub(channel)

    async def open_personal_account(
        self, request: pb.OpenPersonalAccountRequest
    ) -> pb.OpenPersonalAccountResponse:
        return await self._call(self._stub.OpenPersonalAccount, request)

    async def open_merchant_account(
        self, request: pb.OpenMerchantAccountRequest
    ) -> pb.OpenMerchantAccountResponse:
        return await self._call(self._stub.OpenMerchantAccount, request)

    async def get_account(self, account_id: str) -> pb.Account:
        request = pb.GetAccountRequest(account_id=account_id)
        response: pb.GetAccountResponse = await self._call(self._stub.GetAccount, request)
        return response.account

    async def find_account_by_phone(self, phone: str) -> pb.Account:
        request = pb.FindAccountByPhoneRequest(phone=phone)
        response: pb.FindAccountByPhoneResponse = await self._call(
            self._stub.FindAccountByPhone, request
        )
        return response.account

    async def top_up(self, request: pb.TopUpRequest) -> pb.TopUpResponse:
        return await self._call(self._stub.TopUp, request)

    async def withdraw(self, request: pb.WithdrawRequest) -> pb.WithdrawResponse:
        return await self._call(self._stub.Withdraw, request)

    async def transfer(self, request: pb.TransferRequest) -> pb.TransferResponse:
        return await self._call(self._stub.Transfer, request)

    async def list_statement(self, request: pb.ListStatementRequest) -> pb.ListStatementResponse:
        return await self._call(self._stub.ListStatement, request)

    async def ensure_platform_account(
        self, request: pb.EnsurePlatformAccountRequest
    ) -> pb.EnsurePlatformAccountResponse:
        return await self._call(self._stub.EnsurePlatformAccount, request)

    async def set_account_hot(self, account_id: str, hot_shards: int) -> pb.Account:
        response: pb.SetAccountHotResponse = await self._call(
            self._stub.SetAccountHot,
            pb.SetAccountHotRequest(account_id=account_id, hot_shards=hot_shards),
        )
        return response.account

    async def platform_transfer(
        self, request: pb.PlatformTransferRequest
    ) -> pb.PlatformTransferResponse:
        return await self._call(self._stub.PlatformTransfer, request)

    # Holds (TCC): the steps of the gateway's sagas (gateway.sagas).

    async def create_hold(self, request: pb.CreateHoldRequest) -> pb.CreateHoldResponse:
        return await self._call(self._stub.CreateHold, request)

    async def capture_hold(self, request: pb.CaptureHoldRequest) -> pb.CaptureHoldResponse:
        return await self._call(self._stub.CaptureHold, request)

    async def void_hold(self, request: pb.VoidHoldRequest) -> pb.Hold:
        response: pb.VoidHoldResponse = await self._call(self._stub.VoidHold, request)
        return response.hold

    async def get_hold(self, hold_id: str) -> pb.Hold:
        request = pb.GetHoldRequest(hold_id=hold_id)
        response: pb.GetHoldResponse = await self._call(self._stub.GetHold, request)
        return response.hold

    # Escrow trades (担保交易).

    async def create_trade(self, request: pb.CreateTradeRequest) -> pb.Trade:
        response: pb.CreateTradeResponse = await self._call(self._stub.CreateTrade, request)
        return response.trade

    async def pay_trade(self, request: pb.PayTradeRequest) -> pb.PayTradeResponse:
        return await self._call(self._stub.PayTrade, request)

    async def mark_trade_shipped(self, trade_id: str, merchant_account_id: str) -> pb.Trade:
        request = pb.MarkTradeShippedRequest(
            trade_id=trade_id, merchant_account_id=merchant_account_id
        )
        response: pb.MarkTradeShippedResponse = await self._call(
            self._stub.MarkTradeShipped, request
        )
        return response.trade

    async def confirm_trade_receipt(self, trade_id: str, buyer_account_id: str) -> pb.Trade:
        request = pb.ConfirmTradeReceiptRequest(
            trade_id=trade_id, buyer_account_id=buyer_account_id
        )
        response: pb.ConfirmTradeReceiptResponse = await self._call(
            self._stub.ConfirmTradeReceipt, request
        )
        return response.trade

    async def request_trade_refund(self, request: pb.RequestTradeRefundRequest) -> pb.Trade:
        response: pb.RequestTradeRefundResponse = await self._call(
            self._stub.RequestTradeRefund, request
        )
        return response.trade

    async def decide_trade_refund(self, request: pb.DecideTradeRefundRequest) -> pb.Trade:
        response: pb.DecideTradeRefundResponse = await self._call(
            self._stub.DecideTradeRefund, request
        )
        return response.trade

    async def cancel_trade(self, trade_id: str, account_id: str) -> pb.Trade:
        request = pb.CancelTradeRequest(trade_id=trade_id, account_id=account_id)
        response: pb.CancelTradeResponse = await self._call(self._stub.CancelTrade, request)
        return response.trade

    async def get_trade(self, trade_id: str) -> pb.Trade:
        request = pb.GetTradeRequest(trade_id=trade_id)
        response: pb.GetTradeResponse = await self._call(self._stub.GetTrade, request)
        return response.trade

    async def check_trade_payable(self, trade_id: str, buyer_account_id: str) -> pb.Trade:
        """The trade, if the buyer may pay it now (the service's escrow rules; nothing moves)."""
        request = pb.CheckTradePayableRequest(trade_id=trade_id, buyer_account_id=buyer_account_id)
        response: pb.CheckTradePayableResponse = await self._call(
            self._stub.CheckTradePayable, request
        )
        return response.trade

    async def list_trades(self, request: pb.ListTradesRequest) -> pb.ListTradesResponse:
        return await self._call(self._stub.ListTrades, request)

    async def run_trade_jobs(self, business_date: str) -> pb.RunTradeJobsResponse:
        request = pb.RunTradeJobsRequest(business_date=business_date)
        return await self._call(self._stub.RunTradeJobs, request)

    # Payment codes (付款码) and bills (水电煤缴费).

    async def issue_payment_code(self, account_id: str) -> pb.IssuePaymentCodeResponse:
        request = pb.IssuePaymentCodeRequest(account_id=account_id)
        return await self._call(self._stub.IssuePaymentCode, request)

    async def charge_payment_code(
        self, request: pb.ChargePaymentCodeRequest
    ) -> pb.ChargePaymentCodeResponse:
        return await self._call(self._stub.ChargePaymentCode, request)

    async def list_billers(self) -> list[pb.Biller]:
        response: pb.ListBillersResponse = await self._call(
            self._stub.ListBillers, pb.ListBillersRequest()
        )
        return list(response.billers)

    async def check_bill_reference(self, biller_id: str, reference: str) -> str:
        response: pb.CheckBillReferenceResponse = await self._call(
            self._stub.CheckBillReference,
            pb.CheckBillReferenceRequest(biller_id=biller_id, reference=reference),
        )
        return response.reference

    async def pay_bill(self, request: pb.PayBillRequest) -> pb.PayBillResponse:
        return await self._call(self._stub.PayBill, request)

    async def set_payment_password(self, request: pb.SetPaymentPasswordRequest) -> None:
        await self._call(self._stub.SetPaymentPassword, request)

    async def authorize_payment(
        self, request: pb.AuthorizePaymentRequest
    ) -> pb.AuthorizePaymentResponse:
        return await self._call(self._stub.AuthorizePayment, request)

    # Risk control administration (operators).

    async def get_risk_rules(self) -> str:
        response: pb.GetRiskRulesResponse = await self._call(
            self._stub.GetRiskRules, pb.GetRiskRulesRequest()
        )
        return response.rules_json

    async def set_risk_rules(self, rules_json: str) -> int:
        request = pb.SetRiskRulesRequest(rules_json=rules_json)
        response: pb.SetRiskRulesResponse = await self._call(self._stub.SetRiskRules, request)
        return response.rule_count

    async def set_blacklisted(self, request: pb.SetBlacklistedRequest) -> None:
        await self._call(self._stub.SetBlacklisted, request)

    async def list_risk_decisions(
        self, request: pb.ListRiskDecisionsRequest
    ) -> pb.ListRiskDecisionsResponse:
        return await self._call(self._stub.ListRiskDecisions, request)


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


class CreditClient(ServiceClient):
    """The credit bureau (DOMAIN.md §3), one method per RPC the gateway uses.

    Every request names its caller (colony.credit.v1.Caller), built by gateway.credit.callers
    from the authenticated identity only; the credit service decides what that caller may see.
    """

    service_name = "credit"

    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float) -> None:
        super().__init__(deadline_seconds)
        self._stub = credit_pb2_grpc.CreditServiceStub(channel)

    async def get_score(self, request: cpb.GetScoreRequest) -> cpb.Score:
        response: cpb.GetScoreResponse = await self._call(self._stub.GetScore, request)
        return response.score

    async def get_score_history(
        self, request: cpb.GetScoreHistoryRequest
    ) -> cpb.GetScoreHistoryResponse:
        return await self._call(self._stub.GetScoreHistory, request)

    async def declare_data(self, request: cpb.DeclareDataRequest) -> cpb.DeclareDataResponse:
        return await self._call(self._stub.DeclareData, request)

    async def grant_consent(self, request: cpb.GrantConsentRequest) -> cpb.ConsentGrant:
        response: cpb.GrantConsentResponse = await self._call(self._stub.GrantConsent, request)
        return response.grant

    async def revoke_consent(self, request: cpb.RevokeConsentRequest) -> cpb.ConsentGrant:
        response: cpb.RevokeConsentResponse = await self._call(self._stub.RevokeConsent, request)
        return response.grant

    async def list_consents(self, request: cpb.ListConsentsRequest) -> cpb.ListConsentsResponse:
        return await self._call(self._stub.ListConsents, request)

    async def list_score_access(
        self, request: cpb.ListScoreAccessRequest
    ) -> cpb.ListScoreAccessResponse:
        return await self._call(self._stub.ListScoreAccess, request)

    async def check_deposit_waiver(
        self, request: cpb.CheckDepositWaiverRequest
    ) -> cpb.CheckDepositWaiverResponse:
        return await self._call(self._stub.CheckDepositWaiver, request)

    async def get_credit_limit_advice(
        self, request: cpb.GetCreditLimitAdviceRequest
    ) -> cpb.CreditLimitAdvice:
        response: cpb.GetCreditLimitAdviceResponse = await self._call(
            self._stub.GetCreditLimitAdvice, request
        )
        return response.advice

    async def import_blacklist(
        self, request: cpb.ImportBlacklistRequest
    ) -> cpb.ImportBlacklistResponse:
        return await self._call(self._stub.ImportBlacklist, request)

    async def remove_blacklist_entries(
        self, request: cpb.RemoveBlacklistEntriesRequest
    ) -> cpb.RemoveBlacklistEntriesResponse:
        return await self._call(self._stub.RemoveBlacklistEntries, request)

    async def get_blacklist_status(
        self, request: cpb.GetBlacklistStatusRequest
    ) -> cpb.GetBlacklistStatusResponse:
        return await self._call(self._stub.GetBlacklistStatus, request)

    async def load_scorecard(self, request: cpb.LoadScorecardRequest) -> cpb.LoadScorecardResponse:
        return await self._call(self._stub.LoadScorecard, request)

    async def get_scorecard(self) -> cpb.GetScorecardResponse:
        return await self._call(self._stub.GetScorecard, cpb.GetScorecardRequest())

    async def get_feed_status(self) -> list[cpb.FeedStatus]:
        response: cpb.GetFeedStatusResponse = await self._call(
            self._stub.GetFeedStatus, cpb.GetFeedStatusRequest()
        )
        return list(response.feeds)


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
