"""A 405 names exactly the methods the document gives the path (issue 21 item 13).

``POST /v1/admin/credit/blacklist/removals`` shares its shape with
``GET /v1/admin/credit/blacklist/{resident_id_hash}``. OpenAPI matches the concrete path
first, so the document gives ``…/removals`` its POST and nothing else; aiohttp alone would
also route a GET there (as the hash "removals") and answer an OPTIONS or a DELETE with
``Allow: GET,POST``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests.conftest import User, problem_of

Client = TestClient[Any, Any]
REMOVALS = "/v1/admin/credit/blacklist/removals"


async def test_a_concrete_path_answers_other_methods_405_with_only_its_own(
    gateway: Client, operator: User
) -> None:
    for method in ("OPTIONS", "DELETE", "GET", "PUT", "PATCH", "HEAD"):
        for headers in ({}, operator.headers):
            response = await gateway.request(method, REMOVALS, headers=headers)
            assert response.status == 405, (method, await response.text())
            assert response.headers["Allow"] == "POST", method
            if method != "HEAD":
                problem = await problem_of(response, 405, "METHOD_NOT_ALLOWED")
                assert problem["instance"] == REMOVALS


async def test_the_templated_path_beside_it_keeps_its_own_method(gateway: Client) -> None:
    status_path = "/v1/admin/credit/blacklist/" + hashlib.sha256(b"x").hexdigest()
    # GET is routed (to authentication); any other method is refused with GET allowed.
    await problem_of(await gateway.get(status_path), 401, "UNAUTHENTICATED")
    for method in ("OPTIONS", "POST", "DELETE"):
        response = await gateway.request(method, status_path)
        await problem_of(response, 405, "METHOD_NOT_ALLOWED")
        assert response.headers["Allow"] == "GET"
    # The concrete paths' other methods are unchanged.
    response = await gateway.delete("/v1/transfers")
    await problem_of(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "POST"
