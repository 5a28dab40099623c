"""The insurance service's client (DOMAIN.md §5, docs/insurance.md)."""

from __future__ import annotations

import grpc

from colony.insurance.v1 import insurance_pb2 as ipb
from colony.insurance.v1 import insurance_pb2_grpc
from gateway.clients.base import ServiceClient


class InsuranceClient(ServiceClient):
    """The insurance line, one method per RPC the gateway uses.

    The insurance service keeps the books (quotes, policies, claims) and never moves money:
    each movement is a payment-ledger step of a saga (gateway.insurance.sagas).
    """

    service_name = "insurance"

    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float) -> None:
        super().__init__(deadline_seconds)
        self._stub = insurance_pb2_grpc.InsuranceServiceStub(channel)

    async def list_products(self) -> ipb.ListProductsResponse:
        return await self._call(self._stub.ListProducts, ipb.ListProductsRequest())

    async def create_quote(self, request: ipb.CreateQuoteRequest) -> ipb.CreateQuoteResponse:
        return await self._call(self._stub.CreateQuote, request)

    async def get_quote(self, quote_id: str) -> ipb.Quote:
        response = await self._call(self._stub.GetQuote, ipb.GetQuoteRequest(quote_id=quote_id))
        return response.quote

    async def try_buy_policy(self, request: ipb.TryBuyPolicyRequest) -> ipb.TryBuyPolicyResponse:
        return await self._call(self._stub.TryBuyPolicy, request)

    async def confirm_policy_purchase(
        self, request: ipb.ConfirmPolicyPurchaseRequest
    ) -> ipb.ConfirmPolicyPurchaseResponse:
        return await self._call(self._stub.ConfirmPolicyPurchase, request)

    async def cancel_policy_purchase(
        self, request: ipb.CancelPolicyPurchaseRequest
    ) -> ipb.CancelPolicyPurchaseResponse:
        return await self._call(self._stub.CancelPolicyPurchase, request)

    async def cancel_policy(self, request: ipb.CancelPolicyRequest) -> ipb.CancelPolicyResponse:
        return await self._call(self._stub.CancelPolicy, request)

    async def mark_refund_paid(
        self, request: ipb.MarkRefundPaidRequest
    ) -> ipb.MarkRefundPaidResponse:
        return await self._call(self._stub.MarkRefundPaid, request)

    async def get_policy(self, policy_id: str) -> ipb.Policy:
        response = await self._call(self._stub.GetPolicy, ipb.GetPolicyRequest(policy_id=policy_id))
        return response.policy

    async def list_policies(self, request: ipb.ListPoliciesRequest) -> ipb.ListPoliciesResponse:
        return await self._call(self._stub.ListPolicies, request)

    async def run_policy_expiry(
        self, request: ipb.RunPolicyExpiryRequest
    ) -> ipb.RunPolicyExpiryResponse:
        return await self._call(self._stub.RunPolicyExpiry, request)

    async def submit_claim(self, request: ipb.SubmitClaimRequest) -> ipb.SubmitClaimResponse:
        return await self._call(self._stub.SubmitClaim, request)

    async def add_claim_evidence(
        self, request: ipb.AddClaimEvidenceRequest
    ) -> ipb.AddClaimEvidenceResponse:
        return await self._call(self._stub.AddClaimEvidence, request)

    async def review_claim(self, request: ipb.ReviewClaimRequest) -> ipb.ReviewClaimResponse:
        return await self._call(self._stub.ReviewClaim, request)

    async def mark_claim_paid(self, request: ipb.MarkClaimPaidRequest) -> ipb.MarkClaimPaidResponse:
        return await self._call(self._stub.MarkClaimPaid, request)

    async def get_claim(self, claim_id: str) -> ipb.Claim:
        response = await self._call(self._stub.GetClaim, ipb.GetClaimRequest(claim_id=claim_id))
        return response.claim

    async def list_claims(self, request: ipb.ListClaimsRequest) -> ipb.ListClaimsResponse:
        return await self._call(self._stub.ListClaims, request)

    async def get_insurance_report(self) -> ipb.GetInsuranceReportResponse:
        return await self._call(self._stub.GetInsuranceReport, ipb.GetInsuranceReportRequest())

    async def get_insurance_audit(self) -> ipb.GetInsuranceAuditResponse:
        return await self._call(self._stub.GetInsuranceAudit, ipb.GetInsuranceAuditRequest())
