"""The credit operators' routes: the dishonest-debtor blacklist (失信被执行人), the feed
consumers' status and lag, and the scorecard model.

Only callers with the operator role get past the middleware (everyone else: 403); the
operator is named to the credit service as the caller (gateway.credit.callers.operator),
which records it, and every change is logged here with the operator's user id.
"""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from chassis.errors import NotFound
from colony.credit.v1 import credit_pb2 as cpb
from gateway.clients import CreditClient
from gateway.credit import callers
from gateway.credit.representations import (
    REMOVAL_REASON_NAMES,
    blacklist_change_json,
    blacklist_entry_json,
    feed_status_json,
)
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import Body, body_schemas, one_of, read_body
from gateway.edge.idempotency import IdempotentRequests, StoredResponse, require_idempotency_key
from gateway.edge.identities import Role
from gateway.edge.openapi import schema_ref
from gateway.edge.representations import encode_json, json_response, timestamp_json
from gateway.edge.routing import AuthScheme, Route, route_factory

log = logging.getLogger("colony.gateway.credit.admin")

OPERATION_IMPORT = "importCreditBlacklist"
OPERATION_REMOVE = "removeCreditBlacklistEntries"
OPERATION_LOAD_SCORECARD = "loadCreditScorecard"
# Transport bounds; the credit service holds the real rules.
SOURCE_LENGTH_MAX = 100
CASE_REFERENCE_LENGTH_MAX = 100
NOTE_LENGTH_MAX = 500
# Listings (or case references) per REST call: the credit service takes up to 1,000 per
# call, but a request body is at most 64 KiB (gateway.app REQUEST_BODY_BYTES_MAX) and a
# listing at its longest, escaped, is about 712 bytes: 80 always fit with the source and note.
PER_CALL_MAX = 80
RESIDENT_ID_HASH_PATTERN = r"^[0-9a-f]{64}$"
RESIDENT_ID_HASH = re.compile(RESIDENT_ID_HASH_PATTERN)
# The credit service's rule for a list's publisher (services.credit.blacklist).
SOURCE_PATTERN = r"^(court|partner):[A-Za-z0-9_.\-]{1,60}$"

Source = Annotated[
    str,
    Field(
        pattern=SOURCE_PATTERN,
        max_length=SOURCE_LENGTH_MAX,
        description="Who publishes the list: court:<name> or partner:<name>.",
        examples=["court:beijing-haidian"],
    ),
]
CaseReference = Annotated[
    str, Field(min_length=1, max_length=CASE_REFERENCE_LENGTH_MAX, pattern=r"[^\s\u0085\ufeff]")
]


class CreditBlacklistListing(Body):
    resident_id_hash: Annotated[
        str,
        Field(
            pattern=RESIDENT_ID_HASH_PATTERN,
            description="sha256 of the 18-character resident id (upper-case X), lower-case "
            "hex: the id itself never travels.",
        ),
    ]
    case_reference: Annotated[
        CaseReference, Field(description="The case reference (执行案号), unique per source.")
    ]


class CreditBlacklistImportRequest(Body):
    source: Source
    listings: Annotated[list[CreditBlacklistListing], Field(min_length=1, max_length=PER_CALL_MAX)]


class CreditBlacklistRemovalRequest(Body):
    source: Source
    case_references: Annotated[list[CaseReference], Field(min_length=1, max_length=PER_CALL_MAX)]
    reason: Annotated[
        str,
        one_of(
            REMOVAL_REASON_NAMES,
            description="settled: the debt was paid (履行完毕); list_withdrawn: the "
            "publisher withdrew the listing.",
        ),
    ]
    note: (
        Annotated[
            str, Field(min_length=1, max_length=NOTE_LENGTH_MAX, pattern=r"[^\s\u0085\ufeff]")
        ]
        | None
    ) = None


class CreditScorecardLoadRequest(Body):
    model: Annotated[
        dict[str, Any],
        Field(
            description="A scorecard model with a new version; it becomes the active one and "
            'people are rescored in the background (docs/credit.md "The scorecard").'
        ),
    ]


SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(
        CreditBlacklistImportRequest, CreditBlacklistRemovalRequest, CreditScorecardLoadRequest
    ),
    "CreditBlacklistImported": {
        "type": "object",
        "required": ["source", "entered", "already_listed", "matched_person_ids"],
        "properties": {
            "source": {"type": "string"},
            "entered": {"type": "integer", "description": "Listings newly entered."},
            "already_listed": {"type": "integer", "description": "Left as they were."},
            "matched_person_ids": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Known people the new listings named (now blacklisted).",
            },
        },
    },
    "CreditBlacklistRemoved": {
        "type": "object",
        "required": ["source", "removed", "not_listed"],
        "properties": {
            "source": {"type": "string"},
            "removed": {"type": "integer"},
            "not_listed": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Case references not listed (unknown or already removed).",
            },
        },
    },
    "CreditBlacklistStatus": {
        "type": "object",
        "required": ["resident_id_hash", "blacklisted", "entries", "changes"],
        "properties": {
            "resident_id_hash": {"type": "string"},
            "blacklisted": {"type": "boolean"},
            "entries": {"type": "array", "items": schema_ref("CreditBlacklistEntry")},
            "changes": {
                "type": "array",
                "items": schema_ref("CreditBlacklistChange"),
                "description": "Every change to the entries, with its reason.",
            },
        },
    },
    "CreditFeedStatusList": {
        "type": "object",
        "required": ["feeds"],
        "properties": {"feeds": {"type": "array", "items": schema_ref("CreditFeedStatus")}},
    },
    "CreditScorecard": {
        "type": "object",
        "required": ["model_version", "loaded_at", "model"],
        "properties": {
            "model_version": {"type": "string", "example": "sesame-2025.1"},
            "loaded_at": {"type": "string", "format": "date-time"},
            "model": {
                "type": "object",
                "additionalProperties": True,
                "description": 'The active model as data (docs/credit.md "The scorecard").',
            },
        },
    },
    "CreditScorecardLoaded": {
        "type": "object",
        "required": ["model_version", "newcomer_score"],
        "properties": {
            "model_version": {"type": "string"},
            "newcomer_score": {
                "type": "integer",
                "description": "The score of a newcomer under this model.",
            },
        },
    },
}


class CreditAdminRoutes:
    """Everything under /v1/admin/credit/."""

    def __init__(self, credit: CreditClient, idempotency: IdempotentRequests) -> None:
        self._credit = credit
        self._idempotency = idempotency

    def routes(self) -> list[Route]:
        route = route_factory("admin", (AuthScheme.BEARER,), Role.OPERATOR)
        unavailable = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}
        return [
            route(
                "POST",
                "/v1/admin/credit/blacklist",
                self.import_blacklist,
                OPERATION_IMPORT,
                "Import a court's or partner's dishonest-debtor list (失信被执行人)",
                idempotency_key_required=True,
                request_schema="CreditBlacklistImportRequest",
                response_schema="CreditBlacklistImported",
                response_description="Imported; a replay of the same key returns this answer.",
                problems=unavailable,
            ),
            route(
                "POST",
                "/v1/admin/credit/blacklist/removals",
                self.remove_entries,
                OPERATION_REMOVE,
                "Remove blacklist entries: the debt was settled, or the list withdrew them",
                idempotency_key_required=True,
                request_schema="CreditBlacklistRemovalRequest",
                response_schema="CreditBlacklistRemoved",
                response_description="Removed; a replay of the same key returns this answer.",
                problems=unavailable,
            ),
            route(
                "GET",
                "/v1/admin/credit/blacklist/{resident_id_hash}",
                self.blacklist_status,
                "getCreditBlacklistStatus",
                "Whether a resident-id hash is blacklisted, its entries and every change",
                response_schema="CreditBlacklistStatus",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **unavailable},
            ),
            route(
                "GET",
                "/v1/admin/credit/feeds",
                self.feeds,
                "listCreditFeeds",
                "The credit service's upstream feed consumers: position, lag (events and "
                "seconds behind), counters, connection and last error",
                response_schema="CreditFeedStatusList",
                problems=unavailable,
            ),
            route(
                "GET",
                "/v1/admin/credit/scorecard",
                self.scorecard,
                "getCreditScorecard",
                "The active scorecard model",
                response_schema="CreditScorecard",
                problems=unavailable,
            ),
            route(
                "POST",
                "/v1/admin/credit/scorecards",
                self.load_scorecard,
                OPERATION_LOAD_SCORECARD,
                "Load a new scorecard model version and make it the active one",
                idempotency_key_required=True,
                request_schema="CreditScorecardLoadRequest",
                response_schema="CreditScorecardLoaded",
                response_status=HTTPStatus.CREATED,
                response_description="Loaded; a replay of the same key returns this answer.",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_SCORECARD",),
                    HTTPStatus.CONFLICT: ("SCORECARD_VERSION_EXISTS",),
                    **unavailable,
                },
            ),
        ]

    async def import_blacklist(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, CreditBlacklistImportRequest)
        source = body.source
        listings = [
            cpb.BlacklistListing(
                resident_id_hash=listing.resident_id_hash, case_reference=listing.case_reference
            )
            for listing in body.listings
        ]
        caller = callers.operator(request)

        async def import_(grpc_key: str) -> StoredResponse:
            response = await self._credit.import_blacklist(
                cpb.ImportBlacklistRequest(
                    idempotency_key=grpc_key, caller=caller, source=source, listings=listings
                )
            )
            log.info(
                "credit blacklist imported",
                extra={
                    "operator_user_id": request[CALLER].user_id,
                    "source": source,
                    "entered": response.entered,
                },
            )
            payload = {
                "source": source,
                "entered": response.entered,
                "already_listed": response.already_listed,
                "matched_person_ids": list(response.matched_person_ids),
            }
            return StoredResponse(status=HTTPStatus.OK, body=encode_json(payload))

        return await self._idempotency.respond(
            user_id=request[CALLER].user_id,
            key=key,
            operation_id=OPERATION_IMPORT,
            body=body.fields_sent(),
            operation=import_,
        )

    async def remove_entries(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, CreditBlacklistRemovalRequest)
        source, references, reason = body.source, body.case_references, body.reason
        note = body.note or ""
        caller = callers.operator(request)

        async def remove(grpc_key: str) -> StoredResponse:
            response = await self._credit.remove_blacklist_entries(
                cpb.RemoveBlacklistEntriesRequest(
                    idempotency_key=grpc_key,
                    caller=caller,
                    source=source,
                    case_references=references,
                    reason=REMOVAL_REASON_NAMES[reason],
                    note=note,
                )
            )
            log.info(
                "credit blacklist entries removed",
                extra={
                    "operator_user_id": request[CALLER].user_id,
                    "source": source,
                    "removed": response.removed,
                },
            )
            payload = {
                "source": source,
                "removed": response.removed,
                "not_listed": list(response.not_listed),
            }
            return StoredResponse(status=HTTPStatus.OK, body=encode_json(payload))

        return await self._idempotency.respond(
            user_id=request[CALLER].user_id,
            key=key,
            operation_id=OPERATION_REMOVE,
            body=body.fields_sent(),
            operation=remove,
        )

    async def blacklist_status(self, request: web.Request) -> web.Response:
        resident_id_hash = request.match_info["resident_id_hash"]
        if not RESIDENT_ID_HASH.fullmatch(resident_id_hash):
            raise NotFound(
                "there is no such resident-id hash (a lower-case hex sha256 digest)",
                metadata={"resident_id_hash": resident_id_hash[:64]},
            )
        status = await self._credit.get_blacklist_status(
            cpb.GetBlacklistStatusRequest(
                caller=callers.operator(request), resident_id_hash=resident_id_hash
            )
        )
        return json_response(
            {
                "resident_id_hash": resident_id_hash,
                "blacklisted": status.blacklisted,
                "entries": [blacklist_entry_json(e) for e in status.entries],
                "changes": [blacklist_change_json(c) for c in status.changes],
            }
        )

    async def feeds(self, request: web.Request) -> web.Response:
        feeds = await self._credit.get_feed_status()
        return json_response({"feeds": [feed_status_json(feed) for feed in feeds]})

    async def scorecard(self, request: web.Request) -> web.Response:
        active = await self._credit.get_scorecard()
        return json_response(
            {
                "model_version": active.model_version,
                "loaded_at": timestamp_json(active.loaded_at),
                "model": json.loads(active.model_json),
            }
        )

    async def load_scorecard(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, CreditScorecardLoadRequest)
        model = body.model
        # One canonical text per model: the same model sent again is the same version's content.
        model_json = json.dumps(model, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        caller = callers.operator(request)

        async def load(grpc_key: str) -> StoredResponse:
            response = await self._credit.load_scorecard(
                cpb.LoadScorecardRequest(
                    idempotency_key=grpc_key, caller=caller, model_json=model_json
                )
            )
            log.info(
                "credit scorecard loaded",
                extra={
                    "operator_user_id": request[CALLER].user_id,
                    "model_version": response.model_version,
                },
            )
            payload = {
                "model_version": response.model_version,
                "newcomer_score": response.newcomer_score,
            }
            return StoredResponse(status=HTTPStatus.CREATED, body=encode_json(payload))

        return await self._idempotency.respond(
            user_id=request[CALLER].user_id,
            key=key,
            operation_id=OPERATION_LOAD_SCORECARD,
            body=body.fields_sent(),
            operation=load,
        )
