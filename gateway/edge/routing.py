"""The route table: each route's handler and its documentation, declared together.

Route groups (each package's ``routes``) return Route values; register_routes adds them to aiohttp
and gateway.edge.openapi describes the same values, so a route cannot exist undocumented.
Middlewares read a request's Route (route_of) to know how it is authenticated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.edge.identities import Role


class AuthScheme(StrEnum):
    """How a caller proves who they are, by the Authorization header's scheme word."""

    # "Authorization: Bearer <access token>" from POST /v1/auth/login.
    BEARER = "bearer"
    # "Authorization: ApiKey <key>": a merchant's server-to-server key (gateway.edge.api_keys).
    API_KEY = "apikey"


@dataclass(frozen=True, slots=True)
class QueryParameter:
    name: str
    schema: Mapping[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """One operation: method and path, its handler, and what OpenAPI says about it."""

    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    # Any one of these schemes admits the caller; empty means the route is public.
    auth: tuple[AuthScheme, ...] = ()
    # The caller must hold this role (else 403 PERMISSION_DENIED); None admits any caller.
    required_role: Role | None = None
    # Money-moving routes take an Idempotency-Key header (gateway.edge.idempotency).
    idempotency_key_required: bool = False
    # Outgoing payments pass real-time risk control: they read the X-Device-Id header and
    # may be challenged for the payment password (gateway.edge.risk_signals).
    risk_checked: bool = False
    # Names of schemas in the OpenAPI components.
    request_schema: str | None = None
    # False for a body of options only, which may be left out (an empty body: the defaults).
    request_body_required: bool = True
    response_schema: str | None = None
    response_status: int = 200
    response_media_type: str = "application/json"
    response_description: str = "OK"
    query_parameters: tuple[QueryParameter, ...] = ()
    # Other successful answers: status -> (schema name, description), such as a saga's
    # 202 Accepted when it could not finish in time (gateway.operations.routes).
    other_responses: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    # Error statuses this route answers on purpose, each with the reasons it may carry.
    problems: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))


class RouteFactory(Protocol):
    def __call__(
        self, method: str, path: str, handler: Any, operation_id: str, summary: str, **options: Any
    ) -> Route: ...


def route_factory(
    tag: str, auth: tuple[AuthScheme, ...], required_role: Role | None = None
) -> RouteFactory:
    """A Route constructor for one group of routes sharing a tag, auth and role."""

    def route(
        method: str, path: str, handler: Any, operation_id: str, summary: str, **options: Any
    ) -> Route:
        return Route(
            method,
            path,
            handler,
            operation_id=operation_id,
            summary=summary,
            tag=tag,
            auth=auth,
            required_role=required_role,
            **options,
        )

    return route


_ROUTES = web.AppKey("colony_routes", dict[web.AbstractRoute, Route])
# The methods of each path without parameters ("/v1/admin/credit/blacklist/removals").
_CONCRETE_PATHS = web.AppKey("colony_concrete_paths", dict[str, frozenset[str]])


def register_routes(app: web.Application, routes: Iterable[Route]) -> None:
    """Add every route to the app's router and remember its Route for the middlewares."""
    by_aiohttp_route: dict[web.AbstractRoute, Route] = {}
    concrete: dict[str, set[str]] = {}
    for route in routes:
        added = app.router.add_route(route.method, route.path, route.handler)
        by_aiohttp_route[added] = route
        if not route.path_parameters:
            concrete.setdefault(route.path, set()).add(route.method)
    app[_ROUTES] = by_aiohttp_route
    app[_CONCRETE_PATHS] = {path: frozenset(methods) for path, methods in concrete.items()}


def methods_of_concrete_path(request: web.Request) -> frozenset[str] | None:
    """The methods of the request's path if it is a path without parameters, else None.

    OpenAPI matches a concrete path before a templated one, so the document's
    ``/v1/admin/credit/blacklist/removals`` has only its POST, although aiohttp would also
    match it to ``GET /v1/admin/credit/blacklist/{resident_id_hash}`` (and answer an
    OPTIONS or DELETE there with both methods in ``Allow``). The problem middleware answers
    any other method on a concrete path 405 with exactly these (gateway.edge.problems).
    """
    return request.app.get(_CONCRETE_PATHS, {}).get(request.path)


def route_of(request: web.Request) -> Route | None:
    """The Route a request matched; None for aiohttp's own answers (404, 405)."""
    return request.app[_ROUTES].get(request.match_info.route)
