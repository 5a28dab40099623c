"""The OpenAPI 3.1 document, built from the route table (gateway.edge.routing).

Schemas stay inside the subset OpenAPI 3.0 and 3.1 read alike (no type arrays, no const),
so the same document can be announced as 3.0 to the bundled Swagger UI 4, which predates
3.1 support (see gateway.edge.routes.documentation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from colony.common.v1 import errors_pb2
from gateway.edge.idempotency import IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_LENGTH_MAX
from gateway.edge.problems import GATEWAY_ONLY_REASONS, PROBLEM_MEDIA_TYPE
from gateway.edge.risk_signals import DEVICE_ID_HEADER, DEVICE_ID_LENGTH_MAX, RISK_REFUSAL_REASONS
from gateway.edge.routing import AuthScheme, Route

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
_REASON_PREFIX = "ERROR_REASON_"

Schema = dict[str, Any]


def schema_ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def error_reasons() -> list[str]:
    """Every reason a problem can carry: the shared catalogue plus the HTTP edge's own."""
    catalogue = [
        name.removeprefix(_REASON_PREFIX)
        for name in errors_pb2.ErrorReason.keys()  # noqa: SIM118 - a protobuf enum, not a dict
        if name != f"{_REASON_PREFIX}UNSPECIFIED"
    ]
    return [*catalogue, *GATEWAY_ONLY_REASONS]


COMMON_SCHEMAS: dict[str, Schema] = {
    "Money": {
        "type": "object",
        "description": "An amount as integer fen (1 yuan = 100 fen), never a float.",
        "required": ["amount_fen", "currency", "yuan"],
        "properties": {
            "amount_fen": {"type": "integer", "format": "int64", "example": 1234},
            "currency": {"type": "string", "enum": ["CNY"]},
            "yuan": {
                "type": "string",
                "description": "The same amount in yuan with two decimals.",
                "example": "12.34",
            },
        },
    },
    "Problem": {
        "type": "object",
        "description": "An RFC 9457 problem: every error answer has this shape.",
        "required": ["type", "title", "status", "detail", "reason", "instance"],
        "properties": {
            "type": {"type": "string", "example": "urn:colony:problem:insufficient-funds"},
            "title": {"type": "string", "example": "Unprocessable Entity"},
            "status": {"type": "integer", "example": 422},
            "detail": {"type": "string"},
            "reason": {
                "type": "string",
                "description": "Machine-readable reason; stable across releases.",
                "enum": error_reasons(),
            },
            "instance": {
                "type": "string",
                "description": "The request path.",
                "example": "/v1/transfers",
            },
            "metadata": {
                "type": "object",
                "description": "Details of the refusal (for example the available amount).",
                "additionalProperties": {"type": "string"},
            },
            "trace_id": {
                "type": "string",
                "description": "The request's trace id (as in the X-Trace-Id header).",
                "example": "4bf92f3577b34da6a3ce929d0e0e4736",
            },
        },
    },
}


def _problem_response(description: str) -> Schema:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": schema_ref("Problem")}},
    }


def _documented_problems(route: Route) -> dict[int, tuple[str, ...]]:
    """The route's own problems plus those every route of its kind can answer."""
    problems: dict[int, list[str]] = {}

    def add(status: int, reasons: Iterable[str]) -> None:
        known = problems.setdefault(status, [])
        known.extend(reason for reason in reasons if reason not in known)

    if route.request_schema or route.query_parameters or route.idempotency_key_required:
        add(HTTPStatus.BAD_REQUEST, ["INVALID_ARGUMENT"])
    if route.idempotency_key_required:
        add(HTTPStatus.BAD_REQUEST, ["IDEMPOTENCY_KEY_MISSING"])
        add(HTTPStatus.CONFLICT, ["REQUEST_IN_PROGRESS"])
        add(HTTPStatus.UNPROCESSABLE_ENTITY, ["IDEMPOTENCY_KEY_REUSED"])
    if route.auth:
        add(HTTPStatus.UNAUTHORIZED, ["UNAUTHENTICATED"])
    if route.required_role is not None:
        add(HTTPStatus.FORBIDDEN, ["PERMISSION_DENIED"])
    if route.risk_checked:
        add(HTTPStatus.BAD_REQUEST, ["INVALID_PAYMENT_PASSWORD"])
        add(HTTPStatus.UNPROCESSABLE_ENTITY, RISK_REFUSAL_REASONS)
    for status, reasons in route.problems.items():
        add(status, reasons)
    return {status: tuple(reasons) for status, reasons in sorted(problems.items())}


def _operation(route: Route) -> Schema:
    parameters: list[Schema] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.path_parameters
    ]
    parameters += [
        {
            "name": parameter.name,
            "in": "query",
            "required": parameter.required,
            "description": parameter.description,
            "schema": dict(parameter.schema),
        }
        for parameter in route.query_parameters
    ]
    if route.idempotency_key_required:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if route.risk_checked:
        parameters.append({"$ref": "#/components/parameters/DeviceId"})

    success: Schema = {"description": route.response_description}
    if route.response_schema is not None:
        success["content"] = {
            route.response_media_type: {"schema": schema_ref(route.response_schema)}
        }
    elif route.response_status != HTTPStatus.NO_CONTENT:
        success["content"] = {route.response_media_type: {"schema": {"type": "string"}}}
    responses: Schema = {str(route.response_status): success}
    for status, (schema_name, description) in sorted(route.other_responses.items()):
        responses[str(status)] = {
            "description": description,
            "content": {route.response_media_type: {"schema": schema_ref(schema_name)}},
        }
    for status, reasons in _documented_problems(route).items():
        responses[str(status)] = _problem_response(
            f"{HTTPStatus(status).phrase}; reason {' or '.join(reasons)}."
        )
    responses["default"] = {"$ref": "#/components/responses/Problem"}

    operation: Schema = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "security": [{_SECURITY_SCHEME_NAMES[scheme]: []} for scheme in route.auth],
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if route.request_schema is not None:
        operation["requestBody"] = {
            "required": route.request_body_required,
            "content": {"application/json": {"schema": schema_ref(route.request_schema)}},
        }
    return operation


_SECURITY_SCHEME_NAMES = {AuthScheme.BEARER: "bearerAuth", AuthScheme.API_KEY: "apiKeyAuth"}
_SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /v1/auth/login.",
    },
    "apiKeyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": (
            "A merchant API key from POST /v1/merchant/api-keys, sent as "
            "`Authorization: ApiKey ck_live_...` (merchant endpoints only)."
        ),
    },
}


def build_openapi_document(routes: Iterable[Route], schemas: Mapping[str, Schema]) -> Schema:
    """The OpenAPI document describing exactly the given routes."""
    routes = tuple(routes)
    paths: dict[str, Schema] = {}
    for route in routes:
        path_item = paths.setdefault(route.path, {})
        method = route.method.lower()
        assert method not in path_item, f"{route.method} {route.path} is declared twice"
        path_item[method] = _operation(route)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Colony gateway",
            "version": API_VERSION,
            "description": (
                "The public REST API of Colony, an open digital-finance platform. Money is "
                "integer fen. Every error is application/problem+json with a stable `reason`. "
                f"Money-moving requests need an `{IDEMPOTENCY_KEY_HEADER}` header: the same key "
                "and body get the same answer and move money once."
            ),
        },
        "tags": [{"name": tag} for tag in dict.fromkeys(route.tag for route in routes)],
        "paths": paths,
        "components": {
            "schemas": {**COMMON_SCHEMAS, **schemas},
            "securitySchemes": _SECURITY_SCHEMES,
            "parameters": {
                "IdempotencyKey": {
                    "name": IDEMPOTENCY_KEY_HEADER,
                    "in": "header",
                    "required": True,
                    "description": (
                        "A unique key per intended operation (a UUID is a good choice). "
                        "Retrying with the same key and body returns the first answer; the "
                        "same key with a different body is refused (IDEMPOTENCY_KEY_REUSED)."
                    ),
                    "schema": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": IDEMPOTENCY_KEY_LENGTH_MAX,
                        # Printable ASCII, as gateway.edge.idempotency checks it.
                        "pattern": "^[\\x20-\\x7e]+$",
                    },
                },
                "DeviceId": {
                    "name": DEVICE_ID_HEADER,
                    "in": "header",
                    "required": False,
                    "description": (
                        "The payer's device (app installation) id, for real-time risk "
                        "control: a device never seen before may be challenged for the "
                        "payment password."
                    ),
                    # Printable ASCII, as gateway.edge.risk_signals checks it.
                    "schema": {
                        "type": "string",
                        "maxLength": DEVICE_ID_LENGTH_MAX,
                        "pattern": "^[\\x20-\\x7e]*$",
                    },
                },
            },
            "responses": {"Problem": _problem_response("An error, as problem+json.")},
        },
    }
