"""Every error answer is RFC 9457 problem+json, made here and nowhere else.

Handlers and the service clients raise chassis DomainErrors (a service's gRPC status is
turned into one in gateway.clients); the one middleware below renders them, aiohttp's own
404/405/413, and anything unexpected, which is logged and answered without internals.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web, web_server
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from pymongo.errors import ConnectionFailure

from chassis.errors import DomainError, ErrorKind
from gateway.edge.observability import TRACE_ID, replayed_trace_id
from gateway.edge.routing import methods_of_concrete_path

log = logging.getLogger("colony.gateway")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:colony:problem:"

# The one translation of error kinds to HTTP (DESIGN.md "Contracts"). A business refusal
# (insufficient funds, an illegal transition) is 422: the request was understood and refused.
HTTP_STATUS_BY_KIND = {
    ErrorKind.INVALID_ARGUMENT: HTTPStatus.BAD_REQUEST,
    ErrorKind.OUT_OF_RANGE: HTTPStatus.BAD_REQUEST,
    ErrorKind.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
    ErrorKind.PERMISSION_DENIED: HTTPStatus.FORBIDDEN,
    ErrorKind.NOT_FOUND: HTTPStatus.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: HTTPStatus.CONFLICT,
    ErrorKind.ABORTED: HTTPStatus.CONFLICT,
    ErrorKind.FAILED_PRECONDITION: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorKind.RESOURCE_EXHAUSTED: HTTPStatus.TOO_MANY_REQUESTS,
    ErrorKind.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    ErrorKind.DEADLINE_EXCEEDED: HTTPStatus.SERVICE_UNAVAILABLE,
}

# Reasons only the HTTP edge produces; the rest come from colony.common.v1.ErrorReason.
REASON_BY_HTTP_STATUS = {
    HTTPStatus.BAD_REQUEST: "INVALID_ARGUMENT",
    HTTPStatus.NOT_FOUND: "NOT_FOUND",
    HTTPStatus.METHOD_NOT_ALLOWED: "METHOD_NOT_ALLOWED",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "PAYLOAD_TOO_LARGE",
}
REASON_INTERNAL = "INTERNAL"
# PHONE_NOT_VERIFIED: a registration without a live, matching SMS code (edge.phone_verification);
# LOGIN_PASSWORD_WRONG: a re-authentication that failed (edge.reauthentication);
# MALFORMED_REQUEST: what aiohttp's HTTP parser refuses (ProblemRequestHandler below);
# PAYEE_NOT_CONFIRMED: a transfer by phone whose phone and payee name are no account's.
GATEWAY_ONLY_REASONS = (
    "METHOD_NOT_ALLOWED",
    "PAYLOAD_TOO_LARGE",
    REASON_INTERNAL,
    "PHONE_NOT_VERIFIED",
    "LOGIN_PASSWORD_WRONG",
    "MALFORMED_REQUEST",
    "PAYEE_NOT_CONFIRMED",
)


def http_status_of(error: DomainError) -> int:
    """The HTTP status that answers a domain error; an unmapped code is a server fault."""
    return HTTP_STATUS_BY_KIND.get(error.kind, HTTPStatus.INTERNAL_SERVER_ERROR)


def problem_response(
    request: web.Request,
    status: int,
    reason: str,
    detail: str,
    metadata: dict[str, str] | None = None,
    *,
    trace_id: str | None = None,
) -> web.Response:
    """A problem+json answer. Deterministic: the same inputs (and trace id) give the same bytes."""
    problem: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + reason.lower().replace("_", "-"),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "reason": reason,
        "instance": request.path,
    }
    if metadata:
        problem["metadata"] = dict(sorted(metadata.items()))
    trace_id = trace_id or request.get(TRACE_ID)
    if trace_id:
        problem["trace_id"] = trace_id  # the trace to look up (gateway.edge.observability)
    headers = {}
    if status == HTTPStatus.UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Bearer realm="colony"'
    if metadata and "retry_after_seconds" in metadata:
        headers["Retry-After"] = metadata["retry_after_seconds"]
    return web.Response(
        status=status,
        body=json.dumps(problem, ensure_ascii=False, separators=(",", ":")).encode(),
        content_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render whatever went wrong below as problem+json (the outermost middleware)."""
    try:
        allowed = methods_of_concrete_path(request)
        if allowed is not None and request.method not in allowed:
            # Before authentication, as aiohttp's own 405: the path's methods, exactly.
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        return await handler(request)
    except DomainError as error:
        status = http_status_of(error)
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            log.error("unmapped domain error %s: %s", error.kind.name, error.reason)
            return problem_response(request, status, REASON_INTERNAL, "internal error")
        return problem_response(
            request,
            status,
            error.reason,
            error.message,
            error.metadata,
            trace_id=replayed_trace_id(error),
        )
    except web.HTTPException as error:
        if error.status < HTTPStatus.BAD_REQUEST:
            raise  # a redirect or a success raised as an exception is not a problem
        response = problem_response(
            request,
            error.status,
            REASON_BY_HTTP_STATUS.get(HTTPStatus(error.status), f"HTTP_{error.status}"),
            _routing_detail(request, error),
        )
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except ConnectionFailure as error:
        log.warning("gateway database unavailable: %s", error)
        return problem_response(
            request,
            HTTPStatus.SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "the gateway database is unavailable; retry",
        )
    except Exception:
        # The last line of defence: the traceback goes to the log, never to the client.
        log.exception("unhandled error in %s %s", request.method, request.path)
        return problem_response(
            request, HTTPStatus.INTERNAL_SERVER_ERROR, REASON_INTERNAL, "internal error"
        )


def _routing_detail(request: web.Request, error: web.HTTPException) -> str:
    if error.status == HTTPStatus.NOT_FOUND:
        return f"there is no resource at {request.path}"
    if error.status == HTTPStatus.METHOD_NOT_ALLOWED:
        return f"{request.method} is not allowed on {request.path}"
    return error.text or error.reason


# Before any middleware runs: what aiohttp's HTTP parser refuses (a request line or header
# over 8190 bytes, a NUL or other control byte in a header, a request that is no HTTP).
MALFORMED_REQUEST_DETAIL = "the request is not well-formed HTTP (its request line or headers)"


class ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering its own low-level errors as problem+json.

    A request the HTTP parser refuses never reaches the application or its middlewares:
    aiohttp's ``handle_error`` answers it on the connection, as text/plain. This override
    keeps aiohttp's logging and connection handling (the answer closes the connection) and
    gives the answer the platform's one error shape (issue 21 item 13).
    """

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        plain = super().handle_error(request, status, exc, message)
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            reason, detail = REASON_INTERNAL, "internal error"
        elif status == HTTPStatus.BAD_REQUEST:
            reason, detail = "MALFORMED_REQUEST", MALFORMED_REQUEST_DETAIL
        else:
            reason = REASON_BY_HTTP_STATUS.get(HTTPStatus(status), f"HTTP_{status}")
            detail = HTTPStatus(status).phrase
        response = problem_response(request, status, reason, detail)  # type: ignore[arg-type]
        response.headers.update(
            (name, value) for name, value in plain.headers.items() if name.startswith("Allow")
        )
        response.force_close()
        return response


def answer_low_level_errors_as_problems() -> None:
    """Make every aiohttp server of this process use ProblemRequestHandler (idempotent).

    aiohttp has no public hook for the answers its parser gives (a middleware never sees
    them; Application(handler_args=...) only passes limits): its ``Server`` makes one
    ``RequestHandler`` per connection by that module-level name, so the gateway names its
    subclass there once, before serving (gateway.app does, when imported).
    """
    web_server.RequestHandler = ProblemRequestHandler  # type: ignore[attr-defined]
