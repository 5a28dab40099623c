"""Policy RPCs (policies.py holds the rules): the premium saga's try/confirm/cancel, the
holder's cancellation and the refund saga's record, reads."""

from __future__ import annotations

from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import next_page, page_size_of
from colony.insurance.v1 import insurance_pb2 as pb
from services.insurance.policies import (
    buy_from_quote,
    cancel_policy,
    cancel_purchase,
    confirm_purchase,
    mark_refund_paid,
    require_same_try,
    void_tombstone,
)
from services.insurance.rpc_base import InsuranceRpcBase
from services.insurance.wire import quote_inputs_from_proto, require_id


class PoliciesRpc(InsuranceRpcBase):
    """Buying (try/confirm/cancel), cancelling, refunds, reads."""

    async def TryBuyPolicy(
        self, request: pb.TryBuyPolicyRequest, context: Context
    ) -> pb.TryBuyPolicyResponse:
        policy_id = require_id(request.policy_id, "policy_id")
        quote_id = require_id(request.quote_id, "quote_id")
        inputs = quote_inputs_from_proto(request.inputs)

        async def try_buy(session: Session) -> pb.TryBuyPolicyResponse:
            existing = await self._store.find_policy(policy_id, session)
            if existing is not None:
                policy = require_same_try(existing, quote_id)
                return pb.TryBuyPolicyResponse(policy=await self._policy_view(policy, session))
            quote = await self._store.get_quote(quote_id, session)
            product = self._catalogue.product(quote.product_id)
            consumed, policy = buy_from_quote(policy_id, product, quote, inputs, self._clock.now())
            await self._store.save_quote(session, consumed)
            await self._store.save_policy(session, policy)
            return pb.TryBuyPolicyResponse(policy=await self._policy_view(policy, session))

        return await self._idempotent("try-buy-policy", request, pb.TryBuyPolicyResponse, try_buy)

    async def ConfirmPolicyPurchase(
        self, request: pb.ConfirmPolicyPurchaseRequest, context: Context
    ) -> pb.ConfirmPolicyPurchaseResponse:
        policy_id = require_id(request.policy_id, "policy_id")
        premium_transfer_id = require_id(request.premium_transfer_id, "premium_transfer_id")
        insurer_transfer_id = require_id(request.insurer_transfer_id, "insurer_transfer_id")

        async def confirm(session: Session) -> pb.ConfirmPolicyPurchaseResponse:
            policy = await self._store.get_policy(policy_id, session)
            issued = confirm_purchase(
                policy, premium_transfer_id, insurer_transfer_id, self._today()
            )
            message = await self._save_policy(session, policy, issued, "insurance.policy.issued")
            return pb.ConfirmPolicyPurchaseResponse(policy=message)

        return await self._idempotent(
            "confirm-policy-purchase", request, pb.ConfirmPolicyPurchaseResponse, confirm
        )

    async def CancelPolicyPurchase(
        self, request: pb.CancelPolicyPurchaseRequest, context: Context
    ) -> pb.CancelPolicyPurchaseResponse:
        policy_id = require_id(request.policy_id, "policy_id")

        async def cancel(session: Session) -> pb.CancelPolicyPurchaseResponse:
            policy = await self._store.find_policy(policy_id, session)
            if policy is None:
                # The cancel overtook its try: leave a tombstone so the late try is refused.
                policy = void_tombstone(policy_id, self._clock.now())
                await self._store.save_policy(session, policy)
                return pb.CancelPolicyPurchaseResponse(policy=await self._policy_view(policy))
            voided = cancel_purchase(policy)
            message = await self._save_policy(session, policy, voided)
            return pb.CancelPolicyPurchaseResponse(policy=message)

        return await self._idempotent(
            "cancel-policy-purchase", request, pb.CancelPolicyPurchaseResponse, cancel
        )

    async def CancelPolicy(
        self, request: pb.CancelPolicyRequest, context: Context
    ) -> pb.CancelPolicyResponse:
        policy_id = require_id(request.policy_id, "policy_id")

        async def cancel(session: Session) -> pb.CancelPolicyResponse:
            policy = await self._store.get_policy(policy_id, session)
            claims_open = await self._store.open_claim_count(policy_id, session)
            cancelled = cancel_policy(policy, self._today(), claims_open)
            message = await self._save_policy(
                session, policy, cancelled, "insurance.policy.cancelled"
            )
            return pb.CancelPolicyResponse(policy=message)

        return await self._idempotent("cancel-policy", request, pb.CancelPolicyResponse, cancel)

    async def MarkRefundPaid(
        self, request: pb.MarkRefundPaidRequest, context: Context
    ) -> pb.MarkRefundPaidResponse:
        policy_id = require_id(request.policy_id, "policy_id")
        insurer_transfer_id = require_id(request.insurer_transfer_id, "insurer_transfer_id")
        refund_transfer_id = require_id(request.refund_transfer_id, "refund_transfer_id")

        async def mark(session: Session) -> pb.MarkRefundPaidResponse:
            policy = await self._store.get_policy(policy_id, session)
            paid = mark_refund_paid(policy, insurer_transfer_id, refund_transfer_id)
            return pb.MarkRefundPaidResponse(policy=await self._save_policy(session, policy, paid))

        return await self._idempotent("mark-refund-paid", request, pb.MarkRefundPaidResponse, mark)

    async def GetPolicy(
        self, request: pb.GetPolicyRequest, context: Context
    ) -> pb.GetPolicyResponse:
        policy = await self._store.get_policy(require_id(request.policy_id, "policy_id"))
        return pb.GetPolicyResponse(policy=await self._policy_view(policy))

    async def ListPolicies(
        self, request: pb.ListPoliciesRequest, context: Context
    ) -> pb.ListPoliciesResponse:
        holder_id = require_id(request.holder_id, "holder_id")
        query = f"policies:{holder_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        policies = await self._store.list_policies(holder_id, page_size, after)
        return pb.ListPoliciesResponse(
            policies=[await self._policy_view(policy) for policy in policies],
            page=next_page(
                len(policies),
                page_size,
                lambda: encode_page_token(
                    query, policies[-1].created_at.isoformat(), policies[-1].policy_id
                ),
            ),
        )
