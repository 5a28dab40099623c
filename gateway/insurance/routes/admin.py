"""Operator endpoints of the insurance line.

- GET /v1/admin/insurance/claims?state=adjudicating: the claims awaiting review (or in any
  other state);
- POST /v1/admin/insurance/claims/{claim_id}/review: approve or reject an adjudicating
  claim (a rejection carries its reason); an approved claim is paid at once;
- POST /v1/admin/insurance/claims/{claim_id}/evidence: the operator confirms an
  unauthorised debit (account security; attested ``operator:<user id>``), which approves
  the claim that named the debit, and it is paid;
- GET /v1/admin/insurance/report: premiums, commission, refunds and claims per product;
- POST /v1/admin/jobs/insurance: the insurance job of a business date (expiry; approved
  claims paid), which the gateway also runs on its schedule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any, ClassVar, Literal

from aiohttp import web
from pydantic import Field

from chassis.clock import Clock, business_date_of, parse_business_date
from chassis.errors import DomainError, ErrorKind, FailedPrecondition, InvalidArgument
from chassis.money import Money
from colony.insurance.v1 import insurance_pb2 as ipb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import InsuranceClient, PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import (
    MONEY_REASONS,
    NON_BLANK_PATTERN,
    AmountFen,
    Body,
    CalendarDate,
    Currency,
    body_schemas,
    parse_body,
    read_body,
)
from gateway.edge.idempotency import require_idempotency_key
from gateway.edge.identities import Role
from gateway.edge.openapi import schema_ref
from gateway.edge.ownership import not_yours, page_json, path_id
from gateway.edge.paging import PAGING_QUERY_PARAMETERS, page_request
from gateway.edge.payloads import read_json
from gateway.edge.representations import json_response, money_proto_json
from gateway.edge.routing import AuthScheme, QueryParameter, Route, route_factory
from gateway.insurance.deposit import UNFUNDED_REASON, after_sales_refund_id
from gateway.insurance.representations import CLAIM_STATE_PREFIX, claim_json
from gateway.insurance.sagas.after_sales import after_sales_input
from gateway.insurance.wiring import InsuranceOperations
from gateway.operations.answers import operation_answer, refusal_of
from gateway.payment.trade_access import trade_id_of
from gateway.sagas.definition import JsonObject, SagaState, derive_saga_id
from gateway.wealth.representations import enum_names, enum_value

log = logging.getLogger("colony.gateway.admin")

DECISIONS = {"approve": ipb.REVIEW_DECISION_APPROVE, "reject": ipb.REVIEW_DECISION_REJECT}
REASON_LENGTH_MAX = 500
REFERENCE_LENGTH_MAX = 200
CLAIM_STATES = enum_names(ipb.ClaimState, CLAIM_STATE_PREFIX)
UNAVAILABLE = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}

Reason = Annotated[
    str, Field(min_length=1, max_length=REASON_LENGTH_MAX, pattern=NON_BLANK_PATTERN)
]


class AfterSalesRefundRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: Annotated[
        AmountFen, Field(description="At most what the merchant received for the trade.")
    ]
    currency: Currency = "CNY"
    reason: Reason


class InsuranceClaimApproval(Body):
    decision: Literal["approve"]
    reason: Reason | None = None


class InsuranceClaimRejection(Body):
    decision: Literal["reject"]
    reason: Annotated[Reason, Field(description="Why it is rejected (a rejection names it).")]


class UnauthorisedDebitConfirmation(Body):
    posting_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=REFERENCE_LENGTH_MAX,
            pattern=NON_BLANK_PATTERN,
            description="The debit the claim names, confirmed unauthorised.",
        ),
    ]
    note: Reason | None = None


class InsuranceJobsRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {"business_date": "INVALID_BUSINESS_DATE"}

    business_date: Annotated[
        CalendarDate,
        Field(description="The business date (CST) the job runs for; it must have begun."),
    ]


def parse_review(body: object) -> InsuranceClaimApproval | InsuranceClaimRejection:
    """An approval or a rejection, by its decision."""
    if isinstance(body, dict) and body.get("decision") == "reject":
        return parse_body(InsuranceClaimRejection, body)
    if isinstance(body, dict) and body.get("decision") != "approve":
        raise InvalidArgument("decision must be approve or reject", metadata={"field": "decision"})
    return parse_body(InsuranceClaimApproval, body)


SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(
        AfterSalesRefundRequest,
        InsuranceClaimApproval,
        InsuranceClaimRejection,
        UnauthorisedDebitConfirmation,
        InsuranceJobsRequest,
    ),
    "InsuranceClaimReview": {
        "description": "An approval (a reason optional) or a rejection (its reason required).",
        "oneOf": [schema_ref("InsuranceClaimApproval"), schema_ref("InsuranceClaimRejection")],
    },
    "AfterSalesRefund": {
        "type": "object",
        "required": ["trade_id", "amount", "paid_by"],
        "properties": {
            "trade_id": {"type": "string"},
            "amount": schema_ref("Money"),
            "paid_by": {"type": "string", "enum": ["merchant", "deposit_insurance"]},
            "posting_id": {"type": "string"},
            "claim": {
                **schema_ref("InsuranceClaim"),
                "description": "The deposit claim that paid it (paid_by deposit_insurance).",
            },
        },
    },
    "InsuranceJobRun": {
        "type": "object",
        "required": ["business_date", "policies_expired", "already_completed", "claims_paid"],
        "properties": {
            "business_date": {"type": "string", "format": "date"},
            "policies_expired": {"type": "integer"},
            "already_completed": {"type": "boolean"},
            "claims_paid": {
                "type": "integer",
                "description": "Approved claims whose payout was started (or found).",
            },
        },
    },
    "InsuranceReport": {
        "type": "object",
        "required": ["products"],
        "properties": {"products": {"type": "array", "items": {"type": "object"}}},
    },
}


async def _given(saga_input: JsonObject) -> JsonObject:
    return saga_input


async def require_settled_trade(payment: PaymentClient, trade_id: str, amount: Money) -> pb.Trade:
    """The settled trade an after-sales refund is for, at most what the merchant received."""
    try:
        trade = await payment.get_trade(trade_id)
    except DomainError as error:
        if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT):
            raise not_yours("trade", trade_id) from None
        raise
    if trade.state != pb.TRADE_STATE_SETTLED:
        raise FailedPrecondition(
            f"trade {trade_id} is not settled: its refunds come from escrow",
            reason="ILLEGAL_TRANSITION",
            metadata={"trade_id": trade_id},
        )
    if amount.fen > trade.merchant_settled.amount_fen:
        raise InvalidArgument(
            f"a refund of {amount.fen} fen exceeds the {trade.merchant_settled.amount_fen} fen "
            "the merchant received",
            reason="INVALID_AMOUNT",
            metadata={"field": "amount_fen"},
        )
    return trade


class InsuranceAdminRoutes:
    def __init__(
        self,
        insurance: InsuranceClient,
        insured: InsuranceOperations,
        payment: PaymentClient,
        *,
        clock: Clock,
    ) -> None:
        self._insurance = insurance
        self._payouts = insured.payouts
        self._jobs = insured.jobs
        self._deposit = insured.deposit
        self._operations = insured.operations
        self._payment = payment
        self._clock = clock

    def routes(self) -> list[Route]:
        route = route_factory("admin", (AuthScheme.BEARER,), Role.OPERATOR)
        claim_problems = {
            HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
            HTTPStatus.UNPROCESSABLE_ENTITY: ("ILLEGAL_TRANSITION",),
            **UNAVAILABLE,
        }
        return [
            route(
                "GET",
                "/v1/admin/insurance/claims",
                self.list_claims,
                "listInsuranceClaimsByState",
                "Claims in a state: adjudicating (awaiting review), approved (awaiting payout)…",
                response_schema="InsuranceClaims",
                query_parameters=(
                    QueryParameter(
                        "state",
                        {"type": "string", "enum": CLAIM_STATES, "default": "adjudicating"},
                        "The claims' state.",
                    ),
                    *PAGING_QUERY_PARAMETERS,
                ),
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",), **UNAVAILABLE},
            ),
            route(
                "POST",
                "/v1/admin/insurance/claims/{claim_id}/review",
                self.review,
                "reviewInsuranceClaim",
                "Approve or reject an adjudicating claim (a rejection names its reason); an "
                "approved claim is paid to the beneficiary",
                request_schema="InsuranceClaimReview",
                response_schema="InsuranceClaim",
                problems=claim_problems,
            ),
            route(
                "POST",
                "/v1/admin/insurance/claims/{claim_id}/evidence",
                self.confirm_unauthorised_debit,
                "confirmUnauthorisedDebit",
                "Confirm the debit an account-security claim names was unauthorised: the "
                "claim is approved and paid",
                request_schema="UnauthorisedDebitConfirmation",
                response_schema="InsuranceClaim",
                problems=claim_problems,
            ),
            route(
                "POST",
                "/v1/admin/trades/{trade_id}/after-sales-refund",
                self.after_sales_refund,
                "refundSettledTrade",
                "Refund a settled trade's buyer from the merchant's balance (one per trade); "
                "a refund the merchant cannot fund is paid by its deposit insurance (消保险)",
                idempotency_key_required=True,
                request_schema="AfterSalesRefundRequest",
                response_schema="AfterSalesRefund",
                response_status=HTTPStatus.CREATED,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT",),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("INSUFFICIENT_FUNDS", "ILLEGAL_TRANSITION"),
                    **UNAVAILABLE,
                },
            ),
            route(
                "GET",
                "/v1/admin/insurance/report",
                self.report,
                "getInsuranceReport",
                "Premiums, commission, refunds and claims paid, per product",
                response_schema="InsuranceReport",
                problems=UNAVAILABLE,
            ),
            route(
                "POST",
                "/v1/admin/jobs/insurance",
                self.run_jobs,
                "runInsuranceJobs",
                "Run the insurance job of a business date: policies past their cover "
                "expire; approved claims are paid",
                request_schema="InsuranceJobsRequest",
                response_schema="InsuranceJobRun",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_BUSINESS_DATE",),
                    **UNAVAILABLE,
                },
            ),
        ]

    async def list_claims(self, request: web.Request) -> web.Response:
        state = request.query.get("state", "adjudicating")
        if state not in CLAIM_STATES:
            raise InvalidArgument(
                f"state must be one of {', '.join(CLAIM_STATES)}", metadata={"field": "state"}
            )
        response = await self._insurance.list_claims(
            ipb.ListClaimsRequest(
                state=enum_value(ipb.ClaimState, state, CLAIM_STATE_PREFIX),  # type: ignore[arg-type]
                page=page_request(request),
            )
        )
        return page_json("claims", response.claims, claim_json, response.page.next_page_token)

    async def _paid(self, claim: ipb.Claim) -> web.Response:
        await self._payouts.pay(claim)
        return json_response(claim_json(await self._insurance.get_claim(claim.claim_id)))

    async def review(self, request: web.Request) -> web.Response:
        claim_id = path_id(request, "claim_id", "claim")
        body = parse_review(await read_json(request))
        decision, reason = body.decision, body.reason or ""
        operator_id = request[CALLER].user_id
        response = await self._insurance.review_claim(
            ipb.ReviewClaimRequest(
                idempotency_key=f"review:{claim_id}:{decision}",
                claim_id=claim_id,
                decision=DECISIONS[decision],
                operator_id=operator_id,
                reason=reason,
            )
        )
        log.info(
            "insurance claim reviewed",
            extra={"operator_user_id": operator_id, "claim_id": claim_id, "decision": decision},
        )
        return await self._paid(response.claim)

    async def confirm_unauthorised_debit(self, request: web.Request) -> web.Response:
        claim_id = path_id(request, "claim_id", "claim")
        body = await read_body(request, UnauthorisedDebitConfirmation)
        posting_id = body.posting_id
        operator_id = request[CALLER].user_id
        response = await self._insurance.add_claim_evidence(
            ipb.AddClaimEvidenceRequest(
                idempotency_key=f"evidence:{claim_id}:{posting_id}",
                claim_id=claim_id,
                evidence=ipb.Evidence(
                    kind=ipb.EVIDENCE_KIND_UNAUTHORISED_DEBIT_CONFIRMED,
                    reference=posting_id,
                    attested_by=f"operator:{operator_id}",
                    note=body.note or "",
                ),
            )
        )
        return await self._paid(response.claim)

    async def after_sales_refund(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)
        body = await read_body(request, AfterSalesRefundRequest)
        amount, reason = Money(body.amount_fen, body.currency), body.reason
        trade = await require_settled_trade(self._payment, trade_id_of(request), amount)
        refund_id = after_sales_refund_id(trade.trade_id)
        record = await self._operations.run(
            self._operations.sagas.after_sales_refund,
            saga_id=derive_saga_id("after-sales-refund", refund_id),
            owner_user_id=request[CALLER].user_id,
            fingerprint=refund_id,
            saga_input=lambda: _given(after_sales_input(trade, amount, reason)),
        )
        if record.state is SagaState.COMPENSATED:
            refused = refusal_of(record)
            if refused.reason != UNFUNDED_REASON:
                raise refused
            claim = await self._deposit.cover_refund(trade, amount, refused)
            answer = {
                "trade_id": trade.trade_id,
                "amount": money_proto_json(claim.amount),
                "paid_by": "deposit_insurance",
                "claim": claim_json(claim),
            }
            return json_response(answer, status=HTTPStatus.CREATED)
        if record.state is not SagaState.COMPLETED or record.result is None:
            return operation_answer(record)
        return json_response(record.result, status=HTTPStatus.CREATED)

    async def report(self, request: web.Request) -> web.Response:
        response = await self._insurance.get_insurance_report()
        return json_response(
            {
                "products": [
                    {
                        "product_id": figures.product_id,
                        "policies_sold": figures.policies_sold,
                        "premiums": money_proto_json(figures.premiums),
                        "commission": money_proto_json(figures.commission),
                        "refunds": money_proto_json(figures.refunds),
                        "claims_paid": money_proto_json(figures.claims_paid),
                        "claims_paid_count": figures.claims_paid_count,
                        "claims_awaiting_review": figures.claims_awaiting_review,
                    }
                    for figures in response.products
                ]
            }
        )

    async def run_jobs(self, request: web.Request) -> web.Response:
        body = await read_body(request, InsuranceJobsRequest)
        business_date = parse_business_date(body.business_date)
        if business_date > business_date_of(self._clock.now()):
            raise InvalidArgument(
                f"business date {business_date} has not begun",
                reason="INVALID_BUSINESS_DATE",
                metadata={"business_date": business_date.isoformat()},
            )
        run = await self._jobs.run(business_date)
        return json_response(
            {
                "business_date": run.business_date,
                "policies_expired": run.policies_expired,
                "already_completed": run.expiry_already_completed,
                "claims_paid": run.claim_payouts_started,
            }
        )
