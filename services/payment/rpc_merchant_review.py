"""Merchant onboarding review RPCs: list merchants by review state, decide one (merchant_review.py).

The check itself (MERCHANT_NOT_APPROVED) runs before CreateTrade and ChargePaymentCode take
anything: `require_merchant_approved`. How a merchant opens: AccountsRpc.merchant_onboarding.
"""

from __future__ import annotations

from chassis.errors import FailedPrecondition
from chassis.grpc_server import Context
from chassis.mongo import Document, Session, run_in_transaction
from chassis.wire import timestamp_to_proto
from colony.payment.v1 import payment_pb2 as pb
from services.payment.merchant_review import (
    Onboarding,
    decide,
    onboarding_from_document,
    require_approved,
    review_state_of,
)
from services.payment.rpc_base import PaymentRpcBase, require_account_id
from services.payment.store import PaymentStore

REVIEWS_LISTED_MAX = 200


def review_to_proto(document: Document, onboarding: Onboarding) -> pb.MerchantReview:
    return pb.MerchantReview(
        account_id=document["_id"],
        merchant_name=document.get("display_name", ""),
        state=onboarding.state.value,
        opened_at=timestamp_to_proto(document.get("opened_at")),
        decided_by=onboarding.decided_by,
        decided_at=timestamp_to_proto(onboarding.decided_at),
        note=onboarding.note,
    )


async def require_merchant_approved(store: PaymentStore, merchant_id: str, operation: str) -> None:
    """MERCHANT_NOT_APPROVED for a merchant in review or rejected; others pass (the
    transaction's own checks refuse a missing account or another kind). Run before the
    transaction: a state never goes back to in_review, so an approval seen here stands."""
    document = await store.accounts.find_one({"_id": merchant_id}, {"onboarding": 1})
    if document is not None:
        require_approved(
            merchant_id, onboarding_from_document(document.get("onboarding")), operation
        )


class MerchantReviewRpc(PaymentRpcBase):
    """Operators' review of new merchants (through the gateway's admin routes)."""

    async def ListMerchantReviews(
        self, request: pb.ListMerchantReviewsRequest, context: Context
    ) -> pb.ListMerchantReviewsResponse:
        state = review_state_of(request.state)
        documents = await self._store.list_onboarding(state, REVIEWS_LISTED_MAX)
        return pb.ListMerchantReviewsResponse(
            reviews=[
                review_to_proto(document, onboarding_from_document(document.get("onboarding")))
                for document in documents
            ]
        )

    async def DecideMerchantReview(
        self, request: pb.DecideMerchantReviewRequest, context: Context
    ) -> pb.DecideMerchantReviewResponse:
        account_id = require_account_id(request.account_id, "account_id")

        async def record(session: Session) -> pb.MerchantReview:
            document, current = await self._store.get_onboarding(account_id, session)
            decided = decide(
                current, request.approve, request.decided_by, request.note, self._clock.now()
            )
            if decided is None:
                return review_to_proto(document, current)  # the same decision stands
            if not await self._store.record_onboarding(session, account_id, decided, current.state):
                raise FailedPrecondition(
                    "the merchant's onboarding was decided meanwhile", reason="ALREADY_DECIDED"
                )
            return review_to_proto(document, decided)

        review = await run_in_transaction(self._client, record)
        return pb.DecideMerchantReviewResponse(review=review)
