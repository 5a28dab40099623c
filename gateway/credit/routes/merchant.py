"""The merchant's credit routes: deposit-free checks (免押金) and score reads, with consent.

The merchant is the authenticated principal (an access token or API key of a merchant
user) and is named to the credit service as the caller and the asking merchant; the body
names only the person. The credit service answers only with the person's live grant for the
purpose (else 403 CONSENT_REQUIRED, and no score) and logs every read in the person's access
log. A phone that belongs to nobody answers CONSENT_REQUIRED too (nobody can have consented),
so phones cannot be probed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any, ClassVar

from aiohttp import web
from pydantic import Field

from chassis.errors import DomainError, ErrorKind, PermissionDenied
from chassis.money import Money
from colony.credit.v1 import credit_pb2 as cpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import CreditClient, PaymentClient
from gateway.credit import callers
from gateway.credit.representations import merchant_score_json
from gateway.edge.bodies import (
    MONEY_REASONS,
    AmountFen,
    Body,
    Currency,
    Phone,
    body_schemas,
    parse_body,
)
from gateway.edge.identities import Role
from gateway.edge.openapi import schema_ref
from gateway.edge.ownership import path_id
from gateway.edge.payloads import read_json
from gateway.edge.representations import (
    json_response,
    money_json,
    money_proto_json,
    money_to_proto,
)
from gateway.edge.routing import AuthScheme, Route, route_factory

ACCOUNT_ID_LENGTH_MAX = 64
WAIVER_REFUSALS = ("SCORE_TOO_LOW", "DEPOSIT_ABOVE_CAP", "BLACKLISTED")


class _DepositWaiverCheck(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {
        **MONEY_REASONS,
        "person_phone": "INVALID_PHONE",
    }

    amount_fen: Annotated[AmountFen, Field(description="The deposit the merchant would take.")]
    currency: Currency = "CNY"


class DepositWaiverForAccount(_DepositWaiverCheck):
    """The person named by their payment account id."""

    person_account_id: Annotated[
        str, Field(min_length=1, max_length=ACCOUNT_ID_LENGTH_MAX, pattern=r"[^\s\u0085\ufeff]")
    ]


class DepositWaiverForPhone(_DepositWaiverCheck):
    """The person named by their phone (a phone nobody has is CONSENT_REQUIRED)."""

    person_phone: Phone


SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(DepositWaiverForAccount, DepositWaiverForPhone),
    "CreditDepositWaiverRequest": {
        "description": "Exactly one of person_account_id and person_phone names the person; "
        "amount_fen is the deposit the merchant would take.",
        "oneOf": [schema_ref("DepositWaiverForAccount"), schema_ref("DepositWaiverForPhone")],
    },
    "CreditDepositWaiver": {
        "type": "object",
        "description": "The answer to a deposit-free check. A refusal is an answer, not an "
        "error. The score itself is not shown: a deposit_waiver consent is no score consent.",
        "required": [
            "person_id",
            "merchant_id",
            "deposit",
            "waived",
            "refusal",
            "cap",
        ],
        "properties": {
            "person_id": {"type": "string"},
            "merchant_id": {"type": "string"},
            "deposit": {**schema_ref("Money"), "description": "The deposit asked about."},
            "waived": {"type": "boolean"},
            "refusal": {
                "type": "string",
                "enum": list(WAIVER_REFUSALS),
                "nullable": True,
                "description": "Why not waived; null when waived.",
            },
            "cap": {
                **schema_ref("Money"),
                "description": "The largest deposit waived for this person (0: none).",
            },
        },
    },
}

_CONSENT_PROBLEMS: dict[int, tuple[str, ...]] = {
    HTTPStatus.FORBIDDEN: ("CONSENT_REQUIRED",),
    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
}


def _no_consent() -> PermissionDenied:
    return PermissionDenied(
        "the person has not given this merchant a live consent for this purpose",
        reason="CONSENT_REQUIRED",
    )


def parse_waiver_check(body: object) -> DepositWaiverForAccount | DepositWaiverForPhone:
    """The check a body asks for: by phone when it names a person_phone, else by account id
    (a body with both is refused for the field its model does not have)."""
    if isinstance(body, dict) and "person_phone" in body:
        return parse_body(DepositWaiverForPhone, body)
    return parse_body(DepositWaiverForAccount, body)


class MerchantCreditRoutes:
    """POST /v1/merchant/credit/deposit-waivers, GET /v1/merchant/credit/scores/{person_id}."""

    def __init__(self, credit: CreditClient, payment: PaymentClient) -> None:
        self._credit = credit
        self._payment = payment

    def routes(self) -> list[Route]:
        route = route_factory("merchant", (AuthScheme.BEARER, AuthScheme.API_KEY), Role.MERCHANT)
        return [
            route(
                "POST",
                "/v1/merchant/credit/deposit-waivers",
                self.check_deposit_waiver,
                "checkDepositWaiver",
                "Is the deposit waived for this person (免押金)? Needs the person's live "
                "deposit_waiver consent; the check is in their access log",
                request_schema="CreditDepositWaiverRequest",
                response_schema="CreditDepositWaiver",
                problems={
                    HTTPStatus.BAD_REQUEST: (
                        "INVALID_AMOUNT",
                        "UNSUPPORTED_CURRENCY",
                        "INVALID_PHONE",
                    ),
                    **_CONSENT_PROBLEMS,
                },
            ),
            route(
                "GET",
                "/v1/merchant/credit/scores/{person_id}",
                self.score,
                "getMerchantCreditScore",
                "A person's score and band, with their live score consent; the read is in "
                "their access log",
                response_schema="MerchantCreditScore",
                problems=_CONSENT_PROBLEMS,
            ),
        ]

    async def _person_id(self, body: DepositWaiverForAccount | DepositWaiverForPhone) -> str:
        if isinstance(body, DepositWaiverForAccount):
            return body.person_account_id
        try:
            account = await self._payment.find_account_by_phone(body.person_phone)
        except DomainError as error:
            if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT):
                raise _no_consent() from None
            raise
        if account.kind != pb.ACCOUNT_KIND_PERSONAL:
            raise _no_consent()
        return account.account_id

    async def check_deposit_waiver(self, request: web.Request) -> web.Response:
        body = parse_waiver_check(await read_json(request))
        deposit = Money(body.amount_fen, body.currency)
        person_id = await self._person_id(body)
        caller = callers.merchant(request)
        answer = await self._credit.check_deposit_waiver(
            cpb.CheckDepositWaiverRequest(
                caller=caller,
                person_id=person_id,
                merchant_id=caller.id,
                deposit=money_to_proto(deposit),
            )
        )
        return json_response(
            {
                "person_id": person_id,
                "merchant_id": caller.id,
                "deposit": money_json(deposit),
                "waived": answer.waived,
                "refusal": answer.refusal or None,
                "cap": money_proto_json(answer.cap),
            }
        )

    async def score(self, request: web.Request) -> web.Response:
        person_id = path_id(request, "person_id", "person", ACCOUNT_ID_LENGTH_MAX)
        score = await self._credit.get_score(
            cpb.GetScoreRequest(
                caller=callers.merchant(request),
                person_id=person_id,
                purpose=cpb.CONSENT_PURPOSE_SCORE,
            )
        )
        return json_response(merchant_score_json(score))
