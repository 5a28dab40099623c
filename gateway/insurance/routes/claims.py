"""The caller's insurance claims: file one on their own policy, see it and its state.

``POST /v1/insurance/claims`` files a claim (SUBMITTED → ADJUDICATING, then the product's
automatic rule): a return-shipping claim names no event (it is the insured trade) and is
approved at once when the payment service shows the trade refunded; an account-security
claim names the debit (its posting id) and waits for risk control or an operator to confirm
it unauthorised; travel and health claims carry a note and wait for an operator's review.
An approved claim is paid to the beneficiary's balance by the claim_payout saga before the
answer where it can be (gateway.insurance.claims). The claim id derives from the caller and
the Idempotency-Key, so a retried request files nothing twice; a second claim for the same
policy and event is refused with DUPLICATE_CLAIM (metadata.claim_id names the first).
"""

from __future__ import annotations

import hashlib
from http import HTTPStatus
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from chassis.errors import ErrorKind, FailedPrecondition, InvalidArgument, NotFound
from chassis.money import Money
from colony.insurance.v1 import insurance_pb2 as ipb
from gateway.clients import InsuranceClient, PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import NON_BLANK_PATTERN, Body, body_schemas, read_body
from gateway.edge.idempotency import require_idempotency_key
from gateway.edge.ownership import get_own, page_json, path_id
from gateway.edge.paging import PAGING_QUERY_PARAMETERS, page_request
from gateway.edge.representations import json_response, money_to_proto
from gateway.edge.routing import AuthScheme, QueryParameter, Route, route_factory
from gateway.insurance.claims import ClaimPayouts
from gateway.insurance.representations import claim_json
from gateway.insurance.routes.policies import own_policy

ID_LENGTH_MAX = 64
REFERENCE_LENGTH_MAX = 200
NOTE_LENGTH_MAX = 500
AMOUNT_FEN_MAX = 10**10
PAYMENT_ATTESTS = "payment"
UNAVAILABLE = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}


def _text(length_max: int) -> Any:
    return Field(min_length=1, max_length=length_max, pattern=NON_BLANK_PATTERN)


class InsuranceClaimRequest(Body):
    """A claim on the caller's policy. Return shipping names no event and no amount (the
    insured trade, a fixed payout); every other kind names both (a 400 naming the one
    missing, once the policy is known)."""

    policy_id: Annotated[str, _text(ID_LENGTH_MAX)]
    event_reference: (
        Annotated[
            str,
            _text(REFERENCE_LENGTH_MAX),
            Field(
                description="What is claimed for: the debit's posting id (account security), "
                "a trip or treatment reference (travel, health)."
            ),
        ]
        | None
    ) = None
    amount_fen: (
        Annotated[
            int,
            Field(
                ge=1,
                le=AMOUNT_FEN_MAX,
                json_schema_extra={"format": "int64"},
                description="Whole fen claimed (not for return shipping).",
            ),
        ]
        | None
    ) = None
    note: Annotated[str, _text(NOTE_LENGTH_MAX)] | None = None


SCHEMAS: dict[str, dict[str, Any]] = {**body_schemas(InsuranceClaimRequest)}


def claim_id_for(user_id: str, idempotency_key: str) -> str:
    """The claim a user's Idempotency-Key files: the same for every retry."""
    digest = hashlib.sha256(f"claim\n{user_id}\n{idempotency_key}".encode()).hexdigest()
    return f"clm_{digest[:24]}"


class InsuranceClaimRoutes:
    """/v1/insurance/claims."""

    def __init__(
        self, insurance: InsuranceClient, payment: PaymentClient, payouts: ClaimPayouts
    ) -> None:
        self._insurance = insurance
        self._payment = payment
        self._payouts = payouts

    def routes(self) -> list[Route]:
        route = route_factory("insurance", (AuthScheme.BEARER,))
        return [
            route(
                "POST",
                "/v1/insurance/claims",
                self.submit,
                "submitInsuranceClaim",
                "File a claim on one of the caller's policies; an approved claim is paid to "
                "the balance at once",
                idempotency_key_required=True,
                request_schema="InsuranceClaimRequest",
                response_schema="InsuranceClaim",
                response_status=HTTPStatus.CREATED,
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "DUPLICATE_CLAIM",
                        "CLAIM_EXCEEDS_COVER",
                        "POLICY_NOT_ACTIVE",
                        "FAILED_PRECONDITION",
                    ),
                    **UNAVAILABLE,
                },
            ),
            route(
                "GET",
                "/v1/insurance/claims",
                self.list_claims,
                "listInsuranceClaims",
                "The claims on one of the caller's policies",
                response_schema="InsuranceClaims",
                query_parameters=(
                    QueryParameter(
                        "policy_id",
                        {"type": "string", "minLength": 1},
                        "The caller's policy.",
                        required=True,
                    ),
                    *PAGING_QUERY_PARAMETERS,
                ),
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    **UNAVAILABLE,
                },
            ),
            route(
                "GET",
                "/v1/insurance/claims/{claim_id}",
                self.get_claim,
                "getInsuranceClaim",
                "One claim on the caller's policy (or paying the caller) and its state",
                response_schema="InsuranceClaim",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **UNAVAILABLE},
            ),
        ]

    async def submit(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, InsuranceClaimRequest)
        caller = request[CALLER]
        policy = await own_policy(self._insurance, body.policy_id, caller.account_id)
        submit = ipb.SubmitClaimRequest(policy_id=policy.policy_id)
        submit.claim_id = claim_id_for(caller.user_id, key)
        submit.idempotency_key = f"claim:{submit.claim_id}"
        note = body.note or ""
        if policy.kind == ipb.PRODUCT_KIND_MERCHANT_DEPOSIT:
            raise FailedPrecondition(
                "deposit insurance pays a buyer's refund the merchant cannot fund: the "
                "platform files its claims",
                metadata={"policy_id": policy.policy_id},
            )
        if policy.kind == ipb.PRODUCT_KIND_RETURN_SHIPPING:
            for field in ("event_reference", "amount_fen"):
                if field in body.model_fields_set:
                    raise InvalidArgument(
                        f"a return-shipping claim names no {field}", metadata={"field": field}
                    )
            submit.event_reference = policy.subject_id
            submit.evidence.extend(await self._trade_evidence(policy.subject_id))
        else:
            for field in ("event_reference", "amount_fen"):
                if getattr(body, field) is None:
                    raise InvalidArgument(f"{field} is required", metadata={"field": field})
            assert body.event_reference is not None and body.amount_fen is not None
            submit.event_reference = body.event_reference
            amount_fen = body.amount_fen
            submit.amount.CopyFrom(money_to_proto(Money(amount_fen, "CNY")))
            submit.evidence.append(
                ipb.Evidence(
                    kind=ipb.EVIDENCE_KIND_DOCUMENTS,
                    reference=submit.event_reference,
                    attested_by=f"holder:{caller.account_id}",
                    note=note,
                )
            )
        claim = (await self._insurance.submit_claim(submit)).claim
        await self._payouts.pay(claim)
        claim = await self._insurance.get_claim(claim.claim_id)
        return json_response(claim_json(claim), status=HTTPStatus.CREATED)

    async def _trade_evidence(self, trade_id: str) -> list[ipb.Evidence]:
        """TRADE_REFUNDED, attested by the payment service, when the insured trade was
        refunded (the service's answer, not the caller's word)."""
        trade = await self._payment.get_trade(trade_id)
        if trade.refunded.amount_fen <= 0:
            return []
        return [
            ipb.Evidence(
                kind=ipb.EVIDENCE_KIND_TRADE_REFUNDED,
                reference=trade_id,
                attested_by=PAYMENT_ATTESTS,
                note=f"refunded {trade.refunded.amount_fen} fen",
            )
        ]

    async def list_claims(self, request: web.Request) -> web.Response:
        policy_id = request.query.get("policy_id", "")
        if not policy_id:
            raise InvalidArgument("policy_id is required", metadata={"field": "policy_id"})
        policy = await own_policy(self._insurance, policy_id, request[CALLER].account_id)
        response = await self._insurance.list_claims(
            ipb.ListClaimsRequest(policy_id=policy.policy_id, page=page_request(request))
        )
        return page_json("claims", response.claims, claim_json, response.page.next_page_token)

    async def get_claim(self, request: web.Request) -> web.Response:
        claim_id = path_id(request, "claim_id", "claim")
        account_id = request[CALLER].account_id
        claim = await get_own(
            self._insurance.get_claim(claim_id),
            lambda _: True,
            what="claim",
            object_id=claim_id,
            unknown_kinds=(ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT),
        )
        if claim.beneficiary_id != account_id:
            try:
                await own_policy(self._insurance, claim.policy_id, account_id)
            except NotFound:
                raise NotFound(
                    f"there is no claim {claim_id!r} of yours", metadata={"claim_id": claim_id}
                ) from None
        return json_response(claim_json(claim))
