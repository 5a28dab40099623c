"""Cursor paging of list routes: page_size and page_token from the query, passed to the service.

The service caps page_size at 100 and issues opaque tokens (chassis.paging, whose bounds
these are; colony.common.v1.PageRequest); the gateway only refuses shapes that cannot be
right before they travel.
"""

from __future__ import annotations

from aiohttp import web

from chassis.errors import InvalidArgument
from chassis.paging import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAGE_TOKEN_LENGTH_MAX
from colony.common.v1 import paging_pb2
from gateway.edge.routing import QueryParameter


def parse_page_size(text: str | None) -> int:
    """page_size from the query: a whole number from 1 to 100, 20 when absent."""
    if text is None:
        return PAGE_SIZE_DEFAULT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= PAGE_SIZE_MAX:
        raise InvalidArgument(
            f"page_size must be a whole number from 1 to {PAGE_SIZE_MAX}",
            metadata={"field": "page_size"},
        )
    return int(text)


def parse_page_token(text: str | None) -> str:
    if text is not None and len(text) > PAGE_TOKEN_LENGTH_MAX:
        raise InvalidArgument(
            "page_token is not a token this API issued", reason="INVALID_PAGE_TOKEN"
        )
    return text or ""


def page_request(request: web.Request) -> paging_pb2.PageRequest:
    """The PageRequest a list route's query asks for."""
    return paging_pb2.PageRequest(
        page_size=parse_page_size(request.query.get("page_size")),
        page_token=parse_page_token(request.query.get("page_token")),
    )


PAGING_QUERY_PARAMETERS = (
    QueryParameter(
        "page_size",
        {
            "type": "integer",
            "minimum": 1,
            "maximum": PAGE_SIZE_MAX,
            "default": PAGE_SIZE_DEFAULT,
        },
        "Items per page.",
    ),
    QueryParameter(
        "page_token",
        {"type": "string", "maxLength": PAGE_TOKEN_LENGTH_MAX},
        "next_page_token of the previous page.",
    ),
)

NEXT_PAGE_TOKEN_PROPERTY = {
    "type": "string",
    "description": "Pass as page_token for the next page; empty when there are no more items.",
}
