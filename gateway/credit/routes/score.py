"""The caller's own score (芝麻分): GET /v1/credit/score, its history, and declarations.

Every route acts for the authenticated personal user on their own credit data
(gateway.credit.callers.owner); none takes a person id, so nobody can read another's score.
History is its own paged route (GET /v1/credit/score/history), not embedded in the score.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any, ClassVar

from aiohttp import web
from pydantic import Field

from chassis.money import Money
from colony.credit.v1 import credit_pb2 as cpb
from gateway.clients import CreditClient
from gateway.credit import callers
from gateway.credit.representations import (
    EDUCATION_NAMES,
    declaration_json,
    owner_score_json,
    score_json,
)
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import (
    Body,
    Currency,
    NonNegativeAmountFen,
    body_schemas,
    one_of,
    read_body,
)
from gateway.edge.idempotency import IdempotentRequests, StoredResponse, require_idempotency_key
from gateway.edge.identities import Role
from gateway.edge.openapi import schema_ref
from gateway.edge.ownership import page_json
from gateway.edge.paging import PAGING_QUERY_PARAMETERS, page_request
from gateway.edge.representations import encode_json, json_response, money_to_proto
from gateway.edge.routing import AuthScheme, Route, route_factory

OPERATION_DECLARE = "createCreditDeclaration"
# A transport bound; the credit service holds the real limit.
EMPLOYER_LENGTH_MAX = 100

Employer = Annotated[
    str, Field(min_length=1, max_length=EMPLOYER_LENGTH_MAX, pattern=r"[^\s\u0085\ufeff]")
]


# The credit service's bound (services/credit/wire.py): beyond ten million yuan a month, a typo.
DECLARED_INCOME_FEN_MAX = 10_000_000 * 100


class CreditDeclarationRequest(Body):
    """Self-declared data, weighed less than what the platform observes. A declaration
    replaces the previous one: a field left out (or null) is no longer declared."""

    field_reasons: ClassVar[Mapping[str, str]] = {
        "monthly_income_fen": "INVALID_AMOUNT",
        "currency": "UNSUPPORTED_CURRENCY",
    }

    monthly_income_fen: Annotated[
        NonNegativeAmountFen,
        Field(
            le=DECLARED_INCOME_FEN_MAX,
            description="Monthly income in whole fen, at most ten million yuan (0 or absent: "
            "not declared).",
        ),
    ] = 0
    currency: Currency = "CNY"
    education: Annotated[str, one_of(EDUCATION_NAMES)] | None = None
    employer: Employer | None = None


SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(CreditDeclarationRequest),
    "CreditDeclared": {
        "type": "object",
        "required": ["declaration", "score"],
        "properties": {
            "declaration": schema_ref("CreditDeclaration"),
            "score": {**schema_ref("CreditScore"), "description": "The score it made."},
        },
    },
}


def _declaration(body: CreditDeclarationRequest) -> cpb.Declaration:
    return cpb.Declaration(
        monthly_income=money_to_proto(Money(body.monthly_income_fen, body.currency)),
        education=EDUCATION_NAMES[body.education] if body.education else cpb.EDUCATION_UNSPECIFIED,
        employer=body.employer or "",
    )


class CreditScoreRoutes:
    """GET /v1/credit/score, GET /v1/credit/score/history, POST /v1/credit/declarations."""

    def __init__(self, credit: CreditClient, idempotency: IdempotentRequests) -> None:
        self._credit = credit
        self._idempotency = idempotency

    def routes(self) -> list[Route]:
        route = route_factory("credit", (AuthScheme.BEARER,), Role.CUSTOMER)
        unavailable = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}
        return [
            route(
                "GET",
                "/v1/credit/score",
                self.score,
                "getCreditScore",
                "The caller's credit score: band, model version, sub-scores, the reasons that "
                "raised and lowered it, the two actions that would raise it most, and credit "
                "limit advice",
                response_schema="OwnCreditScore",
                problems=unavailable,
            ),
            route(
                "GET",
                "/v1/credit/score/history",
                self.history,
                "listCreditScoreHistory",
                "The caller's earlier scores, newest first",
                response_schema="CreditScoreHistory",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",), **unavailable},
            ),
            route(
                "POST",
                "/v1/credit/declarations",
                self.declare,
                OPERATION_DECLARE,
                "Declare income, education and employer (replaces the previous declaration)",
                idempotency_key_required=True,
                request_schema="CreditDeclarationRequest",
                response_schema="CreditDeclared",
                response_status=HTTPStatus.CREATED,
                response_description="Declared; a replay of the same key returns this answer.",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT", "UNSUPPORTED_CURRENCY"),
                    **unavailable,
                },
            ),
        ]

    async def score(self, request: web.Request) -> web.Response:
        caller, person_id = callers.owner(request), callers.person_of(request)
        score, advice = await asyncio.gather(
            self._credit.get_score(cpb.GetScoreRequest(caller=caller, person_id=person_id)),
            self._credit.get_credit_limit_advice(
                cpb.GetCreditLimitAdviceRequest(caller=caller, person_id=person_id)
            ),
        )
        return json_response(owner_score_json(score, advice))

    async def history(self, request: web.Request) -> web.Response:
        response = await self._credit.get_score_history(
            cpb.GetScoreHistoryRequest(
                caller=callers.owner(request),
                person_id=callers.person_of(request),
                page=page_request(request),
            )
        )
        return page_json("scores", response.scores, score_json, response.page.next_page_token)

    async def declare(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, CreditDeclarationRequest)
        declaration = _declaration(body)
        caller, person_id = callers.owner(request), callers.person_of(request)

        async def declare(grpc_key: str) -> StoredResponse:
            response = await self._credit.declare_data(
                cpb.DeclareDataRequest(
                    idempotency_key=grpc_key,
                    caller=caller,
                    person_id=person_id,
                    declaration=declaration,
                )
            )
            payload = {
                "declaration": declaration_json(response.declaration),
                "score": score_json(response.score),
            }
            return StoredResponse(status=HTTPStatus.CREATED, body=encode_json(payload))

        return await self._idempotency.respond(
            user_id=request[CALLER].user_id,
            key=key,
            operation_id=OPERATION_DECLARE,
            body=body.fields_sent(),
            operation=declare,
        )
