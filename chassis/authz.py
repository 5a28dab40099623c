"""Which caller may call which RPC: the authorisation interceptor every service runs.

Under mutual TLS (chassis.tls) each caller is the process its client certificate names
(``spiffe://colony/<process>``). ``RPC_CALLERS`` lists, for every RPC of every service, the
callers allowed; anything not listed is refused (deny by default). The callers:

- ``gateway``: the only one that acts for people; it may call every business RPC (and it
  follows payment's feed for the refunds of Huabei-paid trades);
- ``credit``: the credit bureau's feed consumers (it follows payment, wealth, loan and
  insurance), so StreamEvents of those four;
- ``payment`` and ``loan``: risk control's and the loan books' consumers of the credit feed;
- ``colony-cli``: operators' tools (``colony``), which may read the audit and report RPCs.

Health (grpc.health.v1) is open to any caller with a certificate of the platform's CA, and
so is reflection, which the server registers only with COLONY_ENV=dev.

A refusal is UNAUTHENTICATED (reason NO_CLIENT_IDENTITY: no verified identity) or
PERMISSION_DENIED (reason CALLER_NOT_ALLOWED, with the caller and the method in the
ErrorInfo metadata).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc

from chassis.errors import DomainError, PermissionDenied, Unauthenticated
from chassis.tls import SPIFFE_PREFIX

log = logging.getLogger("colony.authz")

Context = grpc.aio.ServicerContext[Any, Any]

GATEWAY_CALLER = "gateway"
CLI_CALLER = "colony-cli"
CALLERS = (GATEWAY_CALLER, "payment", "wealth", "credit", "loan", "insurance", CLI_CALLER)
# Any caller whose certificate the platform's CA signed.
ANY_CALLER = "*"

GATEWAY = frozenset({GATEWAY_CALLER})
GATEWAY_AND_OPERATORS = frozenset({GATEWAY_CALLER, CLI_CALLER})
CREDIT_FEED_CONSUMER = frozenset({"credit"})
CREDIT_FEED_FOLLOWERS = frozenset({"payment", "loan"})
# The gateway follows payment's feed too: a Huabei-paid trade's refund goes back to the line.
PAYMENT_FEED_FOLLOWERS = frozenset({"credit", GATEWAY_CALLER})
ANYONE = frozenset({ANY_CALLER})

HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICES = (
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)

# Full service name -> method name -> the callers allowed. Every RPC of every service is
# here (chassis/tests/test_authz.py enumerates the service descriptors to check).
RPC_CALLERS: Mapping[str, Mapping[str, frozenset[str]]] = {
    "colony.payment.v1.PaymentService": {
        "OpenPersonalAccount": GATEWAY,
        "OpenMerchantAccount": GATEWAY,
        "GetAccount": GATEWAY,
        "FindAccountByPhone": GATEWAY,
        "TopUp": GATEWAY,
        "Withdraw": GATEWAY,
        "Transfer": GATEWAY,
        "ListStatement": GATEWAY,
        "BindCard": GATEWAY,
        "ListBoundCards": GATEWAY,
        "UnbindCard": GATEWAY,
        "EnsurePlatformAccount": GATEWAY,
        "SetAccountHot": GATEWAY,
        "PlatformTransfer": GATEWAY,
        "CreateHold": GATEWAY,
        "CaptureHold": GATEWAY,
        "VoidHold": GATEWAY,
        "GetHold": GATEWAY,
        "CreateTrade": GATEWAY,
        "PayTrade": GATEWAY,
        "CheckTradePayable": GATEWAY,
        "MarkTradeShipped": GATEWAY,
        "ConfirmTradeReceipt": GATEWAY,
        "RequestTradeRefund": GATEWAY,
        "DecideTradeRefund": GATEWAY,
        "CancelTrade": GATEWAY,
        "GetTrade": GATEWAY,
        "ListTrades": GATEWAY,
        "RunTradeJobs": GATEWAY,
        "IssuePaymentCode": GATEWAY,
        "ChargePaymentCode": GATEWAY,
        "ListBillers": GATEWAY,
        "PayBill": GATEWAY,
        "CheckBillReference": GATEWAY,
        "SetPaymentPassword": GATEWAY,
        "AuthorizePayment": GATEWAY,
        "GetRiskRules": GATEWAY,
        "SetRiskRules": GATEWAY,
        "SetBlacklisted": GATEWAY,
        "ListRiskDecisions": GATEWAY,
        "ListMerchantReviews": GATEWAY,
        "DecideMerchantReview": GATEWAY,
        "StreamEvents": PAYMENT_FEED_FOLLOWERS,
    },
    "colony.wealth.v1.WealthService": {
        "IssueShares": GATEWAY,
        "RedeemShares": GATEWAY,
        "CancelRedemption": GATEWAY,
        "GetYuebaoAccount": GATEWAY,
        "ListYuebaoIncome": GATEWAY,
        "GetYuebaoFund": GATEWAY,
        "SetYuebaoPortfolio": GATEWAY,
        "RunDailyIncome": GATEWAY,
        "ConfirmPurchase": GATEWAY,
        "CancelPurchase": GATEWAY,
        "GetPurchase": GATEWAY,
        "ListDuePayouts": GATEWAY,
        "MarkPayoutPaid": GATEWAY,
        "GetPayout": GATEWAY,
        "CreateProduct": GATEWAY,
        "GetProduct": GATEWAY,
        "ListProducts": GATEWAY,
        "CloseProduct": GATEWAY,
        "SubscribeProduct": GATEWAY,
        "GetHolding": GATEWAY,
        "ListHoldings": GATEWAY,
        "ListHoldingForTransfer": GATEWAY,
        "WithdrawTransferListing": GATEWAY,
        "ListTransferListings": GATEWAY,
        "BuyTransferListing": GATEWAY,
        "RunFixedTermJobs": GATEWAY,
        "CreateReservation": GATEWAY,
        "CancelReservation": GATEWAY,
        "ListReservations": GATEWAY,
        "ListMatchingReservations": GATEWAY,
        "AllocateReservations": GATEWAY,
        "CreateFund": GATEWAY,
        "GetFund": GATEWAY,
        "ListFunds": GATEWAY,
        "PublishNav": GATEWAY,
        "ListNavHistory": GATEWAY,
        "SubmitRiskProfile": GATEWAY,
        "GetRiskProfile": GATEWAY,
        "BuyFund": GATEWAY,
        "SellFund": GATEWAY,
        "GetFundOrder": GATEWAY,
        "ListFundOrders": GATEWAY,
        "ListFundPositions": GATEWAY,
        "RecommendFunds": GATEWAY,
        "GetWealthAudit": GATEWAY_AND_OPERATORS,
        "SeedDemoCatalog": GATEWAY,
        "StreamEvents": CREDIT_FEED_CONSUMER,
    },
    "colony.credit.v1.CreditService": {
        "GetScore": GATEWAY,
        "GetScoreHistory": GATEWAY,
        "DeclareData": GATEWAY,
        "GrantConsent": GATEWAY,
        "RevokeConsent": GATEWAY,
        "ListConsents": GATEWAY,
        "ListScoreAccess": GATEWAY,
        "CheckDepositWaiver": GATEWAY,
        "GetCreditLimitAdvice": GATEWAY,
        "ImportBlacklist": GATEWAY,
        "RemoveBlacklistEntries": GATEWAY,
        "GetBlacklistStatus": GATEWAY,
        "LoadScorecard": GATEWAY,
        "GetScorecard": GATEWAY,
        "GetFeedStatus": GATEWAY_AND_OPERATORS,
        "StreamEvents": CREDIT_FEED_FOLLOWERS,
    },
    "colony.loan.v1.LoanService": {
        "SyncHuabeiLine": GATEWAY,
        "GetHuabeiLine": GATEWAY,
        "ReserveHuabei": GATEWAY,
        "CaptureHuabei": GATEWAY,
        "ReleaseHuabei": GATEWAY,
        "RefundHuabeiPurchase": GATEWAY,
        "FindHuabeiPurchase": GATEWAY,
        "ListHuabeiPurchases": GATEWAY,
        "ListBills": GATEWAY,
        "GetBill": GATEWAY,
        "GetInstallmentOffers": GATEWAY,
        "ConvertToInstallments": GATEWAY,
        "ListInstallmentPlans": GATEWAY,
        "ApplyCashLoan": GATEWAY,
        "ConfirmDisbursement": GATEWAY,
        "CancelCashLoan": GATEWAY,
        "GetCashLoan": GATEWAY,
        "ListCashLoans": GATEWAY,
        "GetAmountOwed": GATEWAY,
        "TryRepayment": GATEWAY,
        "ConfirmRepayment": GATEWAY,
        "CancelRepayment": GATEWAY,
        "ListRepayments": GATEWAY,
        "SetAutoDebit": GATEWAY,
        "GetAutoDebit": GATEWAY,
        "RunLoanJobs": GATEWAY,
        "ListDueAutoDebits": GATEWAY,
        "GetPortfolioReport": GATEWAY_AND_OPERATORS,
        "GetLoanAudit": GATEWAY_AND_OPERATORS,
        "StreamEvents": CREDIT_FEED_CONSUMER,
    },
    "colony.loan.v1.MerchantLendingService": {
        "ApplyFacility": GATEWAY,
        "ConfirmFacilityDisbursement": GATEWAY,
        "CancelFacility": GATEWAY,
        "GetFacility": GATEWAY,
        "ListFacilities": GATEWAY,
        "TryDraw": GATEWAY,
        "ConfirmDraw": GATEWAY,
        "CancelDraw": GATEWAY,
        "TryFacilityRepayment": GATEWAY,
        "ConfirmFacilityRepayment": GATEWAY,
        "CancelFacilityRepayment": GATEWAY,
        "PayInCapital": GATEWAY,
        "BorrowFromBank": GATEWAY,
        "RepayBankBorrowing": GATEWAY,
        "GetLendingCapacity": GATEWAY,
        "GetMerchantLendingAudit": GATEWAY_AND_OPERATORS,
        "SetMerchantCreditPolicy": GATEWAY,
        "GetMerchantCreditPolicy": GATEWAY,
        "ApplyOrderLoan": GATEWAY,
        "ConfirmOrderLoanDisbursement": GATEWAY,
        "CancelOrderLoan": GATEWAY,
        "GetOrderLoan": GATEWAY,
        "ListOrderLoans": GATEWAY,
        "ListOrderLoansToFollow": GATEWAY,
        "ApplyOrderLoanCollection": GATEWAY,
        "ConfirmOrderLoanExcessReturned": GATEWAY,
        "FinishOrderLoanTrades": GATEWAY,
        "ListFacilitiesToFollow": GATEWAY,
        "ApplyFacilityCollection": GATEWAY,
        "ConfirmFacilityExcessReturned": GATEWAY,
        "CreateAbsPool": GATEWAY,
        "RecordAbsUnitsSold": GATEWAY,
        "BuyAbsLoans": GATEWAY,
        "GetAbsPool": GATEWAY_AND_OPERATORS,
        "PassThroughAbsPool": GATEWAY,
        "ListAbsHoldings": GATEWAY_AND_OPERATORS,
        "ListAbsPools": GATEWAY_AND_OPERATORS,
        "ConfirmAbsPeriodPosted": GATEWAY,
    },
    "colony.payment.v1.WithholdingService": {
        "SetWithholding": GATEWAY,
        "ReleaseWithholding": GATEWAY,
        "GetWithholding": GATEWAY,
        "ListWithholdings": GATEWAY,
        "SetStoreFreeze": GATEWAY,
        "GetStoreFreeze": GATEWAY,
    },
    "colony.insurance.v1.InsuranceService": {
        "ListProducts": GATEWAY,
        "CreateQuote": GATEWAY,
        "GetQuote": GATEWAY,
        "TryBuyPolicy": GATEWAY,
        "ConfirmPolicyPurchase": GATEWAY,
        "CancelPolicyPurchase": GATEWAY,
        "CancelPolicy": GATEWAY,
        "MarkRefundPaid": GATEWAY,
        "GetPolicy": GATEWAY,
        "ListPolicies": GATEWAY,
        "RunPolicyExpiry": GATEWAY,
        "SubmitClaim": GATEWAY,
        "AddClaimEvidence": GATEWAY,
        "ReviewClaim": GATEWAY,
        "MarkClaimPaid": GATEWAY,
        "GetClaim": GATEWAY,
        "ListClaims": GATEWAY,
        "GetInsuranceReport": GATEWAY_AND_OPERATORS,
        "GetInsuranceAudit": GATEWAY_AND_OPERATORS,
        "StreamEvents": CREDIT_FEED_CONSUMER,
    },
    HEALTH_SERVICE: {"Check": ANYONE, "Watch": ANYONE},
    **{name: {"ServerReflectionInfo": ANYONE} for name in REFLECTION_SERVICES},
}

NO_IDENTITY = "NO_CLIENT_IDENTITY"
NOT_ALLOWED = "CALLER_NOT_ALLOWED"


def caller_of(context: Context) -> str | None:
    """The verified identity of the caller (its certificate's spiffe SAN), or None."""
    for value in context.auth_context().get("peer_spiffe_id", []):
        uri = value.decode(errors="replace")
        if uri.startswith(SPIFFE_PREFIX) and len(uri) > len(SPIFFE_PREFIX):
            return uri.removeprefix(SPIFFE_PREFIX)
    return None


def allowed_callers(method: str) -> frozenset[str]:
    """The callers RPC_CALLERS allows on "/package.Service/Method" (none if unlisted)."""
    service, _, name = method.lstrip("/").partition("/")
    return RPC_CALLERS.get(service, {}).get(name, frozenset())


def check_caller(method: str, caller: str | None) -> None:
    """Raise Unauthenticated or PermissionDenied unless caller may call method."""
    if caller is None:
        raise Unauthenticated(
            "a verified client certificate is required",
            reason=NO_IDENTITY,
            metadata={"method": method},
        )
    allowed = allowed_callers(method)
    if caller not in allowed and ANY_CALLER not in allowed:
        raise PermissionDenied(
            f"{caller} may not call {method}",
            reason=NOT_ALLOWED,
            metadata={"caller": caller, "method": method},
        )


class AuthorizationInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call whose verified caller RPC_CALLERS does not allow (deny by default).

    It sits inside chassis.grpc_server's error mapping, so a refusal of a unary or
    server-streaming call becomes a status with ErrorInfo there and is logged with the others.
    """

    def __init__(self, domain: str) -> None:
        self._domain = domain

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary is not None:
            unary: Callable[[Any, Context], Awaitable[Any]] = handler.unary_unary  # type: ignore[assignment]

            async def checked_unary(request: Any, context: Context) -> Any:
                self._check(method, context)
                return await unary(request, context)

            return grpc.unary_unary_rpc_method_handler(
                checked_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            streaming: Callable[[Any, Context], AsyncIterator[Any]] = handler.unary_stream  # type: ignore[assignment]

            async def checked_stream(request: Any, context: Context) -> AsyncIterator[Any]:
                self._check(method, context)
                async for response in streaming(request, context):
                    yield response

            return grpc.unary_stream_rpc_method_handler(
                checked_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            bidi: Callable[[Any, Context], AsyncIterator[Any]] = handler.stream_stream  # type: ignore[assignment]

            async def checked_bidi(requests: Any, context: Context) -> AsyncIterator[Any]:
                try:
                    self._check(method, context)
                except DomainError as refusal:
                    await context.abort(_code_of(refusal), refusal.message)
                async for response in bidi(requests, context):
                    yield response

            return grpc.stream_stream_rpc_method_handler(
                checked_bidi,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # No Colony service has client-streaming RPCs: refuse rather than let one through.
        log.warning("refused %s: client-streaming RPCs are not authorised", method)
        return None

    def _check(self, method: str, context: Context) -> None:
        caller = caller_of(context)
        try:
            check_caller(method, caller)
        except DomainError as refusal:
            log.warning(
                "call refused",
                extra={"method": method, "caller": caller or "", "reason": refusal.reason},
            )
            raise


def _code_of(refusal: DomainError) -> grpc.StatusCode:
    if isinstance(refusal, Unauthenticated):
        return grpc.StatusCode.UNAUTHENTICATED
    return grpc.StatusCode.PERMISSION_DENIED
