"""The gateway's trace ids and HTTP metrics with tracing off (no OTLP endpoint, as in tests).

A small app with the gateway's own middlewares in the gateway's order (trace id, HTTP metrics,
problem+json): every answer names a trace in X-Trace-Id, a problem carries the same id in its
body, an incoming W3C traceparent is continued, the handler's log lines carry the id, and
requests are counted by route template (``unmatched`` for unknown paths).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chassis.errors import FailedPrecondition
from chassis.metrics import REGISTRY
from chassis.telemetry import JsonFormatter
from gateway.edge.observability import (
    TRACE_ID_HEADER,
    http_metrics_middleware,
    trace_id_middleware,
)
from gateway.edge.problems import problem_middleware

INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{INCOMING_TRACE}-00f067aa0ba902b7-01"


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter("colony-test"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def hello(request: web.Request) -> web.Response:
    logging.getLogger("colony.test").info("handling %s", request.match_info["name"])
    return web.json_response({"hello": request.match_info["name"]})


async def refuse(request: web.Request) -> web.Response:
    raise FailedPrecondition("not today", reason="INSUFFICIENT_FUNDS")


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application(
        middlewares=[trace_id_middleware, http_metrics_middleware(), problem_middleware]
    )
    app.router.add_get("/v1/hello/{name}", hello)
    app.router.add_post("/v1/refuse", refuse)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_each_answer_has_a_fresh_trace_id_and_the_handlers_log_lines_carry_it(
    client: TestClient[Any, Any],
) -> None:
    captured = Captured()
    logging.getLogger("colony.test").addHandler(captured)
    logging.getLogger("colony.test").setLevel(logging.INFO)
    try:
        first = await client.get("/v1/hello/ada")
        second = await client.get("/v1/hello/bob")
    finally:
        logging.getLogger("colony.test").removeHandler(captured)
    ids = [first.headers[TRACE_ID_HEADER], second.headers[TRACE_ID_HEADER]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", trace_id) for trace_id in ids)
    assert ids[0] != ids[1]
    assert len(captured.lines) == 2
    for line, trace_id in zip(captured.lines, ids, strict=True):
        assert f'"trace_id": "{trace_id}"' in line


async def test_an_incoming_traceparent_is_continued(client: TestClient[Any, Any]) -> None:
    response = await client.get("/v1/hello/ada", headers={"traceparent": TRACEPARENT})
    assert response.headers[TRACE_ID_HEADER] == INCOMING_TRACE
    malformed = await client.get("/v1/hello/ada", headers={"traceparent": "00-nonsense"})
    assert re.fullmatch(r"[0-9a-f]{32}", malformed.headers[TRACE_ID_HEADER])


async def test_a_problem_carries_the_trace_id_of_its_header(client: TestClient[Any, Any]) -> None:
    for response in (await client.post("/v1/refuse"), await client.get("/no/such/path")):
        problem = await response.json(content_type="application/problem+json")
        assert problem["trace_id"] == response.headers[TRACE_ID_HEADER]


async def test_requests_are_counted_and_timed_by_route_template(
    client: TestClient[Any, Any],
) -> None:
    route = {"route": "/v1/hello/{name}", "method": "GET"}
    before = sample("colony_http_server_requests_total", **route, status="200")
    timed = sample("colony_http_server_duration_seconds_count", **route)
    unmatched = sample(
        "colony_http_server_requests_total", route="unmatched", method="GET", status="404"
    )
    refused = sample(
        "colony_http_server_requests_total", route="/v1/refuse", method="POST", status="422"
    )
    for name in ("a", "b", "c"):
        assert (await client.get(f"/v1/hello/{name}")).status == 200
    assert (await client.get("/v1/hello-there/x/y")).status == 404
    assert (await client.post("/v1/refuse")).status == 422
    assert sample("colony_http_server_requests_total", **route, status="200") == before + 3
    assert sample("colony_http_server_duration_seconds_count", **route) == timed + 3
    assert (
        sample("colony_http_server_requests_total", route="unmatched", method="GET", status="404")
        == unmatched + 1
    )
    assert (
        sample("colony_http_server_requests_total", route="/v1/refuse", method="POST", status="422")
        == refused + 1
    )
