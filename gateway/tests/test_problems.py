"""Every error answer is problem+json, made by one middleware; gRPC errors mapped once."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chassis.errors import DomainError, InsufficientFunds, Unavailable
from chassis.grpc_server import error_status
from chassis.grpc_status import kind_of
from gateway.clients import ServiceFault, translate_rpc_error
from gateway.edge.problems import HTTP_STATUS_BY_KIND, problem_middleware
from gateway.tests.conftest import problem_of

Client = TestClient[Any, Any]


async def test_unknown_route_is_a_404_problem(gateway: Client) -> None:
    problem = await problem_of(await gateway.get("/v1/nothing-here"), 404, "NOT_FOUND")
    assert problem["instance"] == "/v1/nothing-here"


async def test_wrong_method_is_a_405_problem_that_names_the_allowed_one(gateway: Client) -> None:
    response = await gateway.delete("/v1/transfers")
    await problem_of(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "POST"


async def test_an_oversized_body_is_a_413_problem(gateway: Client, new_user: Any) -> None:
    user = await new_user()
    response = await gateway.post(
        "/v1/topups",
        data=b'{"memo": "' + b"x" * 100_000 + b'"}',
        headers={**user.keyed("big"), "Content-Type": "application/json"},
    )
    await problem_of(response, 413, "PAYLOAD_TOO_LARGE")


async def test_a_body_nested_too_deeply_is_a_400_problem(gateway: Client, new_user: Any) -> None:
    user = await new_user()
    for body in (b"[" * 60_000, b'{"a":' * 12_000):
        response = await gateway.post(
            "/v1/transfers",
            data=body,
            headers={**user.keyed(f"deep-{len(body)}"), "Content-Type": "application/json"},
        )
        await problem_of(response, 400, "INVALID_ARGUMENT")


async def test_an_unexpected_failure_is_a_500_problem_that_reveals_nothing() -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("password=hunter2 at mongodb://10.0.0.7")

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/broken", broken)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/broken")
        problem = await problem_of(response, 500, "INTERNAL")
    assert "hunter2" not in str(problem) and "10.0.0.7" not in str(problem)


def _rpc_error(code: grpc.StatusCode, details: str, error: DomainError | None = None) -> Any:
    trailing = grpc.aio.Metadata()
    if error is not None:
        for key, value in error_status(error, "colony.payment").trailing_metadata:
            trailing.add(key, value)
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details)


def test_a_refusal_keeps_its_code_reason_message_and_metadata() -> None:
    refusal = InsufficientFunds("2088000000000001", needed_fen=500, available_fen=100)
    translated = translate_rpc_error(
        _rpc_error(grpc.StatusCode.FAILED_PRECONDITION, refusal.message, refusal), "payment"
    )
    assert isinstance(translated, DomainError)
    assert translated.kind is kind_of(grpc.StatusCode.FAILED_PRECONDITION)
    assert translated.reason == "INSUFFICIENT_FUNDS"
    assert translated.message == refusal.message
    assert translated.metadata["available_fen"] == "100"


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ],
)
def test_transient_failures_become_unavailable_without_transport_details(
    code: grpc.StatusCode,
) -> None:
    translated = translate_rpc_error(
        _rpc_error(code, "failed to connect to all addresses; 10.1.2.3:50051"), "payment"
    )
    assert isinstance(translated, Unavailable)
    assert "10.1.2.3" not in translated.message
    assert HTTP_STATUS_BY_KIND[translated.kind] == 503


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.INTERNAL, None),
        (grpc.StatusCode.UNKNOWN, None),
        (grpc.StatusCode.UNIMPLEMENTED, None),
        # A refusal code without the ErrorInfo every Colony service attaches is not ours.
        (grpc.StatusCode.INVALID_ARGUMENT, None),
    ],
)
def test_answers_no_client_can_act_on_are_service_faults(
    code: grpc.StatusCode, error: DomainError | None
) -> None:
    assert isinstance(translate_rpc_error(_rpc_error(code, "boom", error), "payment"), ServiceFault)


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.FAILED_PRECONDITION, 422),
        (grpc.StatusCode.ALREADY_EXISTS, 409),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 503),
        (grpc.StatusCode.ABORTED, 409),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
    ],
)
def test_grpc_codes_map_to_http_statuses(code: grpc.StatusCode, http_status: int) -> None:
    assert HTTP_STATUS_BY_KIND[kind_of(code)] == http_status
