"""Liveness and readiness for orchestrators (DESIGN.md "Cross-cutting").

/readyz is public (a load balancer asks it without credentials) and cheap: requests that
arrive while a check is in flight share it rather than start their own, so however many
ask at once the gateway runs one check at a time (a database ping and one health RPC per
service), and every answer is fresh (issue 21, item 11; docs/security.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from chassis.errors import Unavailable
from chassis.mongo import MongoClient, ping
from gateway.clients import ServiceChannels
from gateway.edge.representations import json_response
from gateway.edge.routing import Route

SERVING = "SERVING"
DATABASE_CHECK = "database"

SCHEMAS: dict[str, dict[str, Any]] = {
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
    },
    "Readiness": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ready"]},
            "checks": {
                "type": "object",
                "description": "database and each service by name: SERVING when usable.",
                "additionalProperties": {"type": "string"},
            },
        },
    },
}


class SystemRoutes:
    """GET /healthz (the process is up), GET /readyz (it can serve: database and services)."""

    def __init__(
        self, client: MongoClient, channels: ServiceChannels, deadline_seconds: float
    ) -> None:
        self._client = client
        self._channels = channels
        self._deadline_seconds = deadline_seconds
        self._checking: asyncio.Task[dict[str, str]] | None = None

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/healthz",
                self.healthz,
                operation_id="getHealth",
                summary="200 while the process is up",
                tag="system",
                response_schema="Health",
            ),
            Route(
                "GET",
                "/readyz",
                self.readyz,
                operation_id="getReadiness",
                summary="200 when the database and all five services answer, else 503",
                tag="system",
                response_schema="Readiness",
                problems={503: ("UNAVAILABLE",)},
            ),
        ]

    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if self._checking is None or self._checking.done():
            self._checking = asyncio.create_task(self._check())
        # shield: a client that hangs up does not cancel the check the others wait for.
        checks = await asyncio.shield(self._checking)
        failing = sorted(name for name, status in checks.items() if status != SERVING)
        if failing:
            raise Unavailable(f"not ready: {', '.join(failing)}", metadata=checks)
        return json_response({"status": "ready", "checks": checks})

    async def _check(self) -> dict[str, str]:
        database_ok, services = await asyncio.gather(
            self._database_answers(), self._channels.check_health(self._deadline_seconds)
        )
        return {DATABASE_CHECK: SERVING if database_ok else "UNREACHABLE", **services}

    async def _database_answers(self) -> bool:
        try:
            return await asyncio.wait_for(ping(self._client), self._deadline_seconds)
        except TimeoutError:
            return False
