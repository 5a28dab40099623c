"""The payment service's client (DOMAIN.md §1)."""

from __future__ import annotations

import grpc

from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from gateway.clients.base import ServiceClient


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

    async def bind_card(self, request: pb.BindCardRequest) -> pb.BindCardResponse:
        return await self._call(self._stub.BindCard, request)

    async def list_bound_cards(self, account_id: str) -> list[pb.BoundCard]:
        request = pb.ListBoundCardsRequest(account_id=account_id)
        response: pb.ListBoundCardsResponse = await self._call(self._stub.ListBoundCards, request)
        return list(response.cards)

    async def unbind_card(self, account_id: str, card_id: str) -> None:
        request = pb.UnbindCardRequest(account_id=account_id, card_id=card_id)
        await self._call(self._stub.UnbindCard, request)

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

    async def list_merchant_reviews(self, state: str) -> pb.ListMerchantReviewsResponse:
        return await self._call(
            self._stub.ListMerchantReviews, pb.ListMerchantReviewsRequest(state=state)
        )

    async def decide_merchant_review(
        self, request: pb.DecideMerchantReviewRequest
    ) -> pb.MerchantReview:
        response: pb.DecideMerchantReviewResponse = await self._call(
            self._stub.DecideMerchantReview, request
        )
        return response.review
