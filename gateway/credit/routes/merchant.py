"""The merchant's credit routes: deposit-free checks (免押金) and score reads, with consent.

The merchant is the authenticated principal (an access token or API key of a merchant
user) and is named to the credit service as the caller and the asking merchant; the body
names only the person. The credit service answers only with the person's live grant for the
purpose (else 403 CONSENT_REQUIRED, and no score) and logs every read in the person's access
log. A phone that belongs to nobody answers CONSENT_REQUIRED too (nobody can have consented),
so phones cannot be probed here.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import DomainError, ErrorKind, InvalidArgument, PermissionDenied
from colony.credit.v1 import credit_pb2 as cpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import CreditClient, PaymentClient
from gateway.credit import callers
from gateway.credit.representations import merchant_score_json
from gateway.edge.identities import Role
from gateway.edge.openapi import schema_ref
from gateway.edge.ownership import path_id
from gateway.edge.payloads import AMOUNT_PROPERTIES, optional_text, read_json_object, require_amount
from gateway.edge.representations import (
    json_response,
    money_json,
    money_proto_json,
    money_to_proto,
)
from gateway.edge.routing import AuthScheme, Route, route_factory

ACCOUNT_ID_LENGTH_MAX = 64
PHONE_LENGTH_MAX = 32
WAIVER_FIELDS = ("person_account_id", "person_phone", "amount_fen", "currency")
WAIVER_REFUSALS = ("SCORE_TOO_LOW", "DEPOSIT_ABOVE_CAP", "BLACKLISTED")

SCHEMAS: dict[str, dict[str, Any]] = {
    "CreditDepositWaiverRequest": {
        "type": "object",
        "description": "Give exactly one of person_account_id and person_phone; amount_fen is "
        "the deposit the merchant would take.",
        "required": ["amount_fen"],
        "additionalProperties": False,
        "properties": {
            "person_account_id": {"type": "string", "maxLength": ACCOUNT_ID_LENGTH_MAX},
            "person_phone": {"type": "string", "maxLength": PHONE_LENGTH_MAX},
            **AMOUNT_PROPERTIES,
        },
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
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT", "UNSUPPORTED_CURRENCY"),
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

    async def _person_id(self, body: dict[str, Any]) -> str:
        account_id = optional_text(body, "person_account_id", ACCOUNT_ID_LENGTH_MAX)
        phone = optional_text(body, "person_phone", PHONE_LENGTH_MAX)
        if (account_id is None) == (phone is None):
            raise InvalidArgument("give exactly one of person_account_id and person_phone")
        if account_id is not None:
            return account_id
        assert phone is not None
        try:
            account = await self._payment.find_account_by_phone(phone)
        except DomainError as error:
            if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT):
                raise _no_consent() from None
            raise
        if account.kind != pb.ACCOUNT_KIND_PERSONAL:
            raise _no_consent()
        return account.account_id

    async def check_deposit_waiver(self, request: web.Request) -> web.Response:
        body = await read_json_object(request, WAIVER_FIELDS)
        deposit = require_amount(body)
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
