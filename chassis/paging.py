"""Page tokens: one opaque cursor format for every list RPC of every service.

A token names the position after the last item returned, as the values of the list's
stable sort key (for example ``(created_at, _id)``), never an offset: items that arrive
between two pages do not shift the next one. A token is bound to the query that issued it
(the list and its filters), so a token from one list, or one account's list, is refused by
another. Tokens are not secrets (ownership is checked by the query itself); they are opaque
so that clients do not build them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from chassis.errors import InvalidArgument

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
PAGE_TOKEN_LENGTH_MAX = 512
_QUERY_DIGEST_BYTES = 8


def _query_digest(query: str) -> str:
    return hashlib.blake2b(query.encode(), digest_size=_QUERY_DIGEST_BYTES).hexdigest()


def invalid_page_token() -> InvalidArgument:
    return InvalidArgument("page_token is not valid", reason="INVALID_PAGE_TOKEN")


def encode_page_token(query: str, *position: str) -> str:
    """The token for the page after `position` (the last item's sort key) of `query`."""
    cursor = {"q": _query_digest(query), "p": list(position)}
    raw = json.dumps(cursor, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, query: str, parts: int) -> tuple[str, ...] | None:
    """The sort-key values a token continues after (None for the first page).

    Refuses with INVALID_PAGE_TOKEN a token that is malformed, has another number of parts,
    or was issued for another query.
    """
    if not token:
        return None
    if len(token) > PAGE_TOKEN_LENGTH_MAX:
        raise invalid_page_token()
    try:
        padded = token + "=" * (-len(token) % 4)
        cursor = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid_page_token() from None
    if not isinstance(cursor, dict) or cursor.get("q") != _query_digest(query):
        raise invalid_page_token()
    position = cursor.get("p")
    if not isinstance(position, list) or len(position) != parts:
        raise invalid_page_token()
    if not all(isinstance(part, str) for part in position):
        raise invalid_page_token()
    return tuple(position)


def page_size_within(
    requested: int, default: int = PAGE_SIZE_DEFAULT, cap: int = PAGE_SIZE_MAX
) -> int:
    """The page size to serve: the default for 0, refused outside 1..cap."""
    page_size = requested or default
    if not 1 <= page_size <= cap:
        raise InvalidArgument(
            f"page_size must be between 1 and {cap}", metadata={"field": "page_size"}
        )
    return page_size
