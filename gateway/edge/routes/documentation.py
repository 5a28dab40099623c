"""The API's own description: /openapi.json and Swagger UI at /docs, served offline.

Swagger UI comes from the swagger-ui-bundle package (no CDN). Its bundled version (4.15)
renders OpenAPI 3.0 but not 3.1, so /docs asks for ``/openapi.json?version=3.0``: the same
document announced as 3.0.3, which it reads correctly because gateway.edge.openapi keeps its
schemas in the subset both versions share.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from chassis.errors import InvalidArgument
from gateway.edge.routing import QueryParameter, Route

SWAGGER_UI_COMPATIBLE_VERSION = "3.0.3"
DOCS_SCRIPT_ASSET = "colony-docs.js"
# The Swagger UI files /docs needs; nothing else in the package directory is served.
DOCS_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "application/javascript",
    "favicon-32x32.png": "image/png",
}

_DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Colony gateway API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/colony-docs.js"></script>
</body>
</html>
"""

# The page's own script is a file, not inline, so its policy needs no 'unsafe-inline' for
# scripts; Swagger UI sets style attributes, hence the one for styles.
_DOCS_SCRIPT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json?version=3.0",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'"
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "OpenApiDocument": {
        "type": "object",
        "description": "This document.",
        "additionalProperties": True,
    },
}


class DocumentationRoutes:
    """GET /openapi.json, and where configured GET /docs with its files under /docs/assets/.

    Swagger UI is a convenience for developers: a deployment publishes it only when it says
    so (COLONY_API_DOCS; on by default in dev only). The document itself is the API's public
    contract and is always served (its operator part only where configured, gateway.app).
    """

    def __init__(self, docs_published: bool = True) -> None:
        self._document: dict[str, Any] | None = None
        self._assets_directory = Path(str(swagger_ui_path))
        self._docs_published = docs_published

    def publish(self, document: dict[str, Any]) -> None:
        """Set the document to serve: built from every route, these included."""
        self._document = document

    def routes(self) -> list[Route]:
        document = Route(
            "GET",
            "/openapi.json",
            self.openapi,
            operation_id="getOpenApiDocument",
            summary="This API's OpenAPI 3.1 document",
            tag="documentation",
            response_schema="OpenApiDocument",
            query_parameters=(
                QueryParameter(
                    "version",
                    {"type": "string", "enum": ["3.1", "3.0"], "default": "3.1"},
                    "3.0 announces the same document as OpenAPI 3.0.3 for older tools.",
                ),
            ),
        )
        if not self._docs_published:
            return [document]
        return [
            document,
            Route(
                "GET",
                "/docs",
                self.docs,
                operation_id="getDocs",
                summary="Interactive documentation (Swagger UI)",
                tag="documentation",
                response_media_type="text/html",
            ),
            Route(
                "GET",
                "/docs/assets/{asset}",
                self.docs_asset,
                operation_id="getDocsAsset",
                summary="A static file of the interactive documentation",
                tag="documentation",
                response_media_type="application/octet-stream",
                problems={404: ("NOT_FOUND",)},
            ),
        ]

    async def openapi(self, request: web.Request) -> web.Response:
        assert self._document is not None, "the OpenAPI document was never published"
        version = request.query.get("version", "3.1")
        if version not in {"3.1", "3.0"}:
            raise InvalidArgument('version must be "3.1" or "3.0"', metadata={"field": "version"})
        document = self._document
        if version == "3.0":
            document = {**document, "openapi": SWAGGER_UI_COMPATIBLE_VERSION}
        return web.Response(
            body=json.dumps(document, ensure_ascii=False).encode(),
            content_type="application/json",
        )

    async def docs(self, request: web.Request) -> web.Response:
        return web.Response(
            text=_DOCS_PAGE,
            content_type="text/html",
            headers={"Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY},
        )

    async def docs_asset(self, request: web.Request) -> web.StreamResponse:
        asset = request.match_info["asset"]
        if asset == DOCS_SCRIPT_ASSET:
            return web.Response(text=_DOCS_SCRIPT, content_type="application/javascript")
        if asset not in DOCS_ASSETS:
            raise web.HTTPNotFound()
        return web.FileResponse(
            self._assets_directory / asset, headers={"Content-Type": DOCS_ASSETS[asset]}
        )
