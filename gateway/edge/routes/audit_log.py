"""GET /v1/admin/audit-log: operators read what operators did (gateway.edge.audit_log).

There is no route to change or remove an entry: the log is append-only.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chassis.errors import InvalidArgument
from gateway.edge.audit_log import OperatorAuditLog
from gateway.edge.identities import Role
from gateway.edge.representations import json_response
from gateway.edge.routing import AuthScheme, QueryParameter, Route

LIMIT_DEFAULT = 50
LIMIT_MAX = 200

SCHEMAS: dict[str, dict[str, Any]] = {
    "AuditLogEntry": {
        "type": "object",
        "required": ["request_id", "phase", "user_id", "phone", "at"],
        "properties": {
            "request_id": {"type": "string", "description": "Pairs a request with its answer."},
            "phase": {"type": "string", "enum": ["requested", "answered"]},
            "user_id": {"type": "string"},
            "phone": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "method": {"type": "string"},
            "path": {"type": "string"},
            "query": {"type": "string"},
            "body": {"type": "string", "description": "At most 4,096 characters."},
            "body_truncated": {"type": "boolean"},
            "outcome": {"type": "string", "description": 'e.g. "HTTP 200", "refused REASON"'},
        },
    },
    "AuditLog": {
        "type": "object",
        "required": ["entries", "next_page_token"],
        "properties": {
            "entries": {"type": "array", "items": {"$ref": "#/components/schemas/AuditLogEntry"}},
            "next_page_token": {
                "type": "string",
                "description": "Pass as ?page_token= for older entries; empty on the last page.",
            },
        },
    },
}


class AuditLogRoutes:
    def __init__(self, audit_log: OperatorAuditLog) -> None:
        self._audit_log = audit_log

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/v1/admin/audit-log",
                self.read,
                operation_id="getOperatorAuditLog",
                summary="What operators changed, newest first (append-only; read-only here)",
                tag="admin",
                auth=(AuthScheme.BEARER,),
                required_role=Role.OPERATOR,
                response_schema="AuditLog",
                query_parameters=(
                    QueryParameter(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX},
                        f"Entries per page (default {LIMIT_DEFAULT}).",
                    ),
                    QueryParameter(
                        "page_token", {"type": "string"}, "The previous page's next_page_token."
                    ),
                ),
                problems={400: ("INVALID_ARGUMENT", "INVALID_PAGE_TOKEN")},
            )
        ]

    async def read(self, request: web.Request) -> web.Response:
        limit_text = request.query.get("limit", str(LIMIT_DEFAULT))
        if not (limit_text.isascii() and limit_text.isdigit()) or not (
            1 <= int(limit_text) <= LIMIT_MAX
        ):
            raise InvalidArgument(
                f"limit must be a whole number from 1 to {LIMIT_MAX}", metadata={"field": "limit"}
            )
        entries, next_page_token = await self._audit_log.entries(
            int(limit_text), request.query.get("page_token", "")
        )
        return json_response(
            {
                "entries": [{**entry, "at": entry["at"].isoformat()} for entry in entries],
                "next_page_token": next_page_token,
            }
        )
