"""Security headers on every answer, errors and aiohttp's own 404/405 included.

The API answers JSON that no browser should render, frame, sniff or cache: the defaults
below say so. A page that must run in a browser (Swagger UI at /docs) sets its own
Content-Security-Policy and Cache-Control, which are kept. Strict-Transport-Security only
has an effect over HTTPS (a TLS-terminating ingress in front); browsers ignore it over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": API_CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: set each header the handler did not set itself."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def install_security_headers(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
