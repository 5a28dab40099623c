"""Consent grants (授权) and "who read my score": the owner decides which merchant may read.

A grant names a merchant account, a purpose (``score``: read the score and band;
``deposit_waiver``: ask whether a deposit is waived) and an expiry within a year. The
credit service reads grants on every merchant call, so a revoked grant stops working at
once; every merchant read is in the owner's access log. All of it is the caller's own:
a consent id of someone else's answers 404 like one that does not exist.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import Field

from chassis.errors import DomainError, ErrorKind, NotFound
from colony.credit.v1 import credit_pb2 as cpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import CreditClient, PaymentClient
from gateway.credit import callers
from gateway.credit.representations import PURPOSE_NAMES, access_json, consent_json
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import Body, Moment, body_schemas, one_of, read_body
from gateway.edge.idempotency import IdempotentRequests, StoredResponse, require_idempotency_key
from gateway.edge.identities import Role
from gateway.edge.ownership import not_yours, page_json, path_id
from gateway.edge.paging import PAGING_QUERY_PARAMETERS, page_request
from gateway.edge.representations import encode_json, json_response
from gateway.edge.routing import AuthScheme, Route, route_factory

OPERATION_GRANT = "createCreditConsent"
# Transport bounds; the services hold the real rules (a grant lasts at most a year).
ACCOUNT_ID_LENGTH_MAX = 64


class CreditConsentRequest(Body):
    merchant_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=ACCOUNT_ID_LENGTH_MAX,
            pattern=r"[^\s\u0085\ufeff]",
            description="The merchant's account id (2188…); another account is a 404.",
        ),
    ]
    purpose: Annotated[
        str,
        one_of(
            PURPOSE_NAMES,
            description="score: read the score and band; deposit_waiver: ask whether "
            "a deposit is waived (免押金).",
        ),
    ]
    expires_at: Annotated[
        Moment,
        Field(
            description="In the future and at most a year ahead (the credit service's rule), "
            "with its offset."
        ),
    ]


SCHEMAS: dict[str, dict[str, Any]] = {**body_schemas(CreditConsentRequest)}


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _no_merchant(merchant_id: str) -> NotFound:
    return NotFound(
        f"there is no merchant {merchant_id!r}",
        metadata={"merchant_id": merchant_id},
    )


class CreditConsentRoutes:
    """POST/GET /v1/credit/consents, DELETE /v1/credit/consents/{id}, GET /v1/credit/access-log."""

    def __init__(
        self, credit: CreditClient, payment: PaymentClient, idempotency: IdempotentRequests
    ) -> None:
        self._credit = credit
        self._payment = payment
        self._idempotency = idempotency

    def routes(self) -> list[Route]:
        route = route_factory("credit", (AuthScheme.BEARER,), Role.CUSTOMER)
        unavailable = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}
        paged = {HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",), **unavailable}
        return [
            route(
                "POST",
                "/v1/credit/consents",
                self.grant,
                OPERATION_GRANT,
                "Let a merchant read the caller's score, or check a deposit waiver, until an "
                "expiry",
                idempotency_key_required=True,
                request_schema="CreditConsentRequest",
                response_schema="CreditConsent",
                response_status=HTTPStatus.CREATED,
                response_description="Granted; a replay of the same key returns this answer.",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **unavailable},
            ),
            route(
                "GET",
                "/v1/credit/consents",
                self.list_consents,
                "listCreditConsents",
                "The caller's consent grants, live, expired and revoked, newest first",
                response_schema="CreditConsentList",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems=paged,
            ),
            route(
                "DELETE",
                "/v1/credit/consents/{consent_id}",
                self.revoke,
                "revokeCreditConsent",
                "Revoke a consent grant: it stops working at once (revoking again changes nothing)",
                response_schema="CreditConsent",
                response_description="Revoked (or already revoked).",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **unavailable},
            ),
            route(
                "GET",
                "/v1/credit/access-log",
                self.access_log,
                "listCreditAccessLog",
                "Who read the caller's score: every merchant read, newest first",
                response_schema="CreditAccessList",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems=paged,
            ),
        ]

    async def _require_merchant(self, merchant_id: str) -> None:
        """The account must be a merchant's (a grant to anyone else could never be used)."""
        try:
            account = await self._payment.get_account(merchant_id)
        except DomainError as error:
            if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT):
                raise _no_merchant(merchant_id) from None
            raise
        if account.kind != pb.ACCOUNT_KIND_MERCHANT:
            raise _no_merchant(merchant_id)

    async def grant(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, CreditConsentRequest)
        merchant_id = body.merchant_id
        purpose = PURPOSE_NAMES[body.purpose]
        expires_at = _timestamp(body.expires_at)
        caller, person_id = callers.owner(request), callers.person_of(request)

        async def grant(grpc_key: str) -> StoredResponse:
            await self._require_merchant(merchant_id)
            granted = await self._credit.grant_consent(
                cpb.GrantConsentRequest(
                    idempotency_key=grpc_key,
                    caller=caller,
                    person_id=person_id,
                    merchant_id=merchant_id,
                    purpose=purpose,
                    expires_at=expires_at,
                )
            )
            body_json = encode_json(consent_json(granted))
            return StoredResponse(status=HTTPStatus.CREATED, body=body_json)

        return await self._idempotency.respond(
            user_id=request[CALLER].user_id,
            key=key,
            operation_id=OPERATION_GRANT,
            body=body.fields_sent(),
            operation=grant,
        )

    async def list_consents(self, request: web.Request) -> web.Response:
        response = await self._credit.list_consents(
            cpb.ListConsentsRequest(
                caller=callers.owner(request),
                person_id=callers.person_of(request),
                page=page_request(request),
            )
        )
        return page_json("consents", response.grants, consent_json, response.page.next_page_token)

    async def revoke(self, request: web.Request) -> web.Response:
        consent_id = path_id(request, "consent_id", "consent")
        person_id = callers.person_of(request)
        # Revoking is idempotent by nature: the same person and grant always use one key.
        digest = hashlib.sha256(f"{person_id}\n{consent_id}".encode()).hexdigest()
        try:
            revoked = await self._credit.revoke_consent(
                cpb.RevokeConsentRequest(
                    idempotency_key=f"revoke-consent:{digest}",
                    caller=callers.owner(request),
                    person_id=person_id,
                    grant_id=consent_id,
                )
            )
        except DomainError as error:
            if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT):
                raise not_yours("consent", consent_id) from None
            raise
        return json_response(consent_json(revoked))

    async def access_log(self, request: web.Request) -> web.Response:
        response = await self._credit.list_score_access(
            cpb.ListScoreAccessRequest(
                caller=callers.owner(request),
                person_id=callers.person_of(request),
                page=page_request(request),
            )
        )
        return page_json("accesses", response.accesses, access_json, response.page.next_page_token)
