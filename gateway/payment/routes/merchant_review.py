"""Operators review new merchants: list those awaiting review, approve or reject one.

A self-registered merchant opens in review and neither creates trades nor charges payment
codes until approved (the payment service's MERCHANT_NOT_APPROVED; services/payment/
merchant_review.py). The decision records the operator's user id, the time and a note; the
request itself is in the operators' audit log (gateway.edge.audit_log, like every /v1/admin
change). Deciding the same way again answers the recorded decision; the other way is 422
ALREADY_DECIDED.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from chassis.errors import InvalidArgument, NotFound
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import Body, body_schemas, read_body
from gateway.edge.identities import Role
from gateway.edge.openapi import schema_ref
from gateway.edge.representations import json_response, optional_timestamp_json
from gateway.edge.routing import AuthScheme, QueryParameter, Route, route_factory

log = logging.getLogger("colony.gateway.merchant_review")

ACCOUNT_ID_LENGTH_MAX = 64
NOTE_LENGTH_MAX = 500
STATES = ("in_review", "approved", "rejected")


class MerchantReviewDecision(Body):
    approve: Annotated[bool, Field(description="true: approve; false: reject.")]
    note: Annotated[
        str, Field(max_length=NOTE_LENGTH_MAX, description="Why (kept with the decision).")
    ] = ""


SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(MerchantReviewDecision),
    "MerchantReview": {
        "type": "object",
        "required": [
            "account_id",
            "merchant_name",
            "state",
            "opened_at",
            "decided_by",
            "decided_at",
            "note",
        ],
        "properties": {
            "account_id": {"type": "string"},
            "merchant_name": {"type": "string"},
            "state": {"type": "string", "enum": list(STATES)},
            "opened_at": {"type": ["string", "null"], "format": "date-time"},
            "decided_by": {
                "type": "string",
                "description": "The deciding operator's user id, or 'dev auto-approval'; "
                "empty while in review.",
            },
            "decided_at": {"type": ["string", "null"], "format": "date-time"},
            "note": {"type": "string"},
        },
    },
    "MerchantReviewList": {
        "type": "object",
        "required": ["reviews"],
        "properties": {"reviews": {"type": "array", "items": schema_ref("MerchantReview")}},
    },
}


def review_json(review: pb.MerchantReview) -> dict[str, Any]:
    return {
        "account_id": review.account_id,
        "merchant_name": review.merchant_name,
        "state": review.state,
        "opened_at": optional_timestamp_json(review.opened_at),
        "decided_by": review.decided_by,
        "decided_at": optional_timestamp_json(review.decided_at),
        "note": review.note,
    }


_route = route_factory("admin", (AuthScheme.BEARER,), Role.OPERATOR)


class MerchantReviewRoutes:
    """/v1/admin/merchant-reviews (operators only)."""

    def __init__(self, payment: PaymentClient) -> None:
        self._payment = payment

    def routes(self) -> list[Route]:
        return [
            _route(
                "GET",
                "/v1/admin/merchant-reviews",
                self.list_reviews,
                "listMerchantReviews",
                "Merchants by onboarding state (default: awaiting review), oldest first, "
                "at most 200",
                response_schema="MerchantReviewList",
                query_parameters=(
                    QueryParameter(
                        "state",
                        {"type": "string", "enum": list(STATES)},
                        "in_review (the default), approved or rejected.",
                    ),
                ),
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT",)},
            ),
            _route(
                "POST",
                "/v1/admin/merchant-reviews/{account_id}/decision",
                self.decide,
                "decideMerchantReview",
                "Approve or reject a merchant awaiting review (a decision is final)",
                request_schema="MerchantReviewDecision",
                response_schema="MerchantReview",
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("ALREADY_DECIDED",),
                },
            ),
        ]

    async def list_reviews(self, request: web.Request) -> web.Response:
        state = request.query.get("state", "in_review")
        if state not in STATES:
            raise InvalidArgument(
                "state must be in_review, approved or rejected", metadata={"field": "state"}
            )
        response = await self._payment.list_merchant_reviews(state)
        return json_response({"reviews": [review_json(review) for review in response.reviews]})

    async def decide(self, request: web.Request) -> web.Response:
        account_id = request.match_info["account_id"]
        if len(account_id) > ACCOUNT_ID_LENGTH_MAX:
            raise NotFound(f"there is no merchant account {account_id[:ACCOUNT_ID_LENGTH_MAX]!r}")
        body = await read_body(request, MerchantReviewDecision)
        operator = request[CALLER].user_id
        review = await self._payment.decide_merchant_review(
            pb.DecideMerchantReviewRequest(
                account_id=account_id, approve=body.approve, decided_by=operator, note=body.note
            )
        )
        log.info(
            "merchant review decided",
            extra={"operator_user_id": operator, "account_id": account_id, "state": review.state},
        )
        return json_response(review_json(review))
