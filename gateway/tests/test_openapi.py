"""The OpenAPI document describes every route, and /docs serves Swagger UI offline."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests.conftest import problem_of

Client = TestClient[Any, Any]


async def _document(gateway: Client) -> dict[str, Any]:
    response = await gateway.get("/openapi.json")
    assert response.status == 200
    return dict(await response.json())


async def test_every_registered_route_is_documented_and_nothing_else(gateway: Client) -> None:
    document = await _document(gateway)
    registered = {
        (route.method.lower(), route.resource.canonical)
        for route in gateway.app.router.routes()
        if route.resource is not None
    }
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert registered == documented
    assert ("post", "/v1/transfers") in documented


async def test_document_is_openapi_3_1_with_security_and_problems(gateway: Client) -> None:
    document = await _document(gateway)
    assert document["openapi"] == "3.1.0"
    components = document["components"]
    assert components["securitySchemes"]["bearerAuth"]["bearerFormat"] == "JWT"
    assert components["parameters"]["IdempotencyKey"]["in"] == "header"
    reasons = components["schemas"]["Problem"]["properties"]["reason"]["enum"]
    assert {"INSUFFICIENT_FUNDS", "IDEMPOTENCY_KEY_REUSED", "UNAUTHENTICATED"} <= set(reasons)
    me = document["paths"]["/v1/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert "401" in me["responses"]
    transfer = document["paths"]["/v1/transfers"]["post"]
    assert set(transfer["responses"]) >= {"201", "400", "401", "409", "422", "default"}
    assert document["paths"]["/v1/auth/login"]["post"]["security"] == []


async def test_every_reference_in_the_document_resolves(gateway: Client) -> None:
    document = await _document(gateway)
    text = str(document)
    references = set(re.findall(r"'\$ref': '#/([^']+)'", text))
    assert references
    for reference in references:
        node: Any = document
        for part in reference.split("/"):
            assert part in node, reference
            node = node[part]


async def test_operation_ids_are_unique(gateway: Client) -> None:
    document = await _document(gateway)
    operation_ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    ]
    assert len(operation_ids) == len(set(operation_ids))


async def test_swagger_ui_variant_differs_only_in_its_version(gateway: Client) -> None:
    document = await _document(gateway)
    compatible = await (await gateway.get("/openapi.json", params={"version": "3.0"})).json()
    assert compatible["openapi"] == "3.0.3"
    assert {**compatible, "openapi": document["openapi"]} == document
    bad = await gateway.get("/openapi.json", params={"version": "2.0"})
    await problem_of(bad, 400, "INVALID_ARGUMENT")


async def test_docs_page_and_its_assets_are_served_without_a_cdn(gateway: Client) -> None:
    page = await gateway.get("/docs")
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    assert "http://" not in html and "https://" not in html
    # The page's own script is a file (its Content-Security-Policy allows no inline script).
    own_script = await gateway.get("/docs/assets/colony-docs.js")
    assert "/openapi.json" in await own_script.text()
    for asset in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', html):
        response = await gateway.get(asset)
        assert response.status == 200, asset
        assert len(await response.read()) > 0
    script = await gateway.get("/docs/assets/swagger-ui-bundle.js")
    assert script.content_type == "application/javascript"


async def test_files_outside_the_docs_assets_are_not_served(gateway: Client) -> None:
    for asset in ("index.html", "..%2F__init__.py", "swagger-ui.js.map"):
        response = await gateway.get(f"/docs/assets/{asset}")
        await problem_of(response, 404, "NOT_FOUND")


async def test_merchant_risk_and_operator_routes_document_their_schemes_and_refusals(
    gateway: Client,
) -> None:
    document = await _document(gateway)
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKeyAuth"] == {**schemes["apiKeyAuth"], "type": "apiKey", "in": "header"}
    assert document["components"]["parameters"]["DeviceId"]["name"] == "X-Device-Id"
    paths = document["paths"]

    create_trade = paths["/v1/merchant/trades"]["post"]
    assert create_trade["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert {"201", "400", "401", "403", "409", "422"} <= set(create_trade["responses"])
    assert paths["/v1/merchant/api-keys"]["post"]["security"] == [{"bearerAuth": []}]

    for path in ("/v1/transfers", "/v1/withdrawals", "/v1/trades/{trade_id}/pay"):
        operation = paths[path]["post"]
        assert {"$ref": "#/components/parameters/DeviceId"} in operation["parameters"], path
        assert "RISK_CHALLENGE_REQUIRED" in operation["responses"]["422"]["description"], path
    assert {"$ref": "#/components/parameters/DeviceId"} not in paths["/v1/topups"]["post"][
        "parameters"
    ]

    assert "403" in paths["/v1/admin/risk-rules"]["put"]["responses"]
    revoke = paths["/v1/merchant/api-keys/{key_id}"]["delete"]["responses"]["204"]
    assert "content" not in revoke
