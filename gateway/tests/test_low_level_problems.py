"""aiohttp's own low-level 400s are problem+json (issue 21 item 13).

A request the HTTP parser refuses never reaches the gateway's middlewares; these tests talk
to a real gateway over a raw socket, so nothing in between can tidy the request up.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.edge.problems import MALFORMED_REQUEST_DETAIL, PROBLEM_MEDIA_TYPE


async def raw_exchange(
    gateway: TestClient[Any, Any], request: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Send request bytes as they are; the status, headers and body of the answer."""
    assert gateway.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.server.port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=10)  # the answer closes the connection
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    return int(status_line.split()[1]), headers, body


MALFORMED = {
    "request line over 8190 bytes": b"GET /v1/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header over 8190 bytes": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    + b"b" * 9000
    + b"\r\n\r\n",
    "NUL byte in a header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
    "no HTTP at all": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_request_the_parser_refuses_is_a_400_problem(
    gateway: TestClient[Any, Any], request_bytes: bytes
) -> None:
    status, headers, body = await raw_exchange(gateway, request_bytes)
    assert status == 400
    assert headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    problem = json.loads(body)
    assert problem["status"] == 400
    assert problem["reason"] == "MALFORMED_REQUEST"
    assert problem["detail"] == MALFORMED_REQUEST_DETAIL
    assert problem["type"] == "urn:colony:problem:malformed-request"
    # raw_exchange read to the end: the answer closed the connection, as aiohttp's does.


async def test_a_well_formed_raw_request_is_still_answered_normally(
    gateway: TestClient[Any, Any],
) -> None:
    status, _headers, body = await raw_exchange(
        gateway, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200, body
