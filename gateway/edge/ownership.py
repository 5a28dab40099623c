"""The caller's own objects: list them, or get one and answer 404 unless it is theirs.

Object-level authorisation (DESIGN.md "Security"), written once for every business area:
- a "list mine" route asks the service for the caller's account's objects, never for an
  account the request names (list_own);
- a "get one" route fetches the object by the id in the path and shows it only if the
  caller owns it (get_own). Someone else's object answers exactly like one that does not
  exist: 404 NOT_FOUND "there is no <what> '<id>' of yours", metadata ``<what>_id``, so
  ids cannot be probed. So does an id that cannot exist at all (path_id).

list_page is the same page shape for catalogues that belong to nobody (products, funds).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, TypeVar

from aiohttp import web

from chassis.errors import DomainError, ErrorKind, NotFound
from colony.common.v1 import paging_pb2
from gateway.edge.authentication import CALLER
from gateway.edge.paging import page_request
from gateway.edge.representations import json_response

# Ids the services issue are at most 200 characters; anything longer cannot exist.
ID_LENGTH_MAX = 200

T = TypeVar("T")
ListCall = Callable[[paging_pb2.PageRequest], Awaitable[Any]]
OwnListCall = Callable[[str, paging_pb2.PageRequest], Awaitable[Any]]


def not_yours(what: str, object_id: str) -> NotFound:
    """The answer for someone else's object: exactly that for one that does not exist."""
    return NotFound(
        f"there is no {what} {object_id!r} of yours", metadata={f"{what}_id": object_id}
    )


def path_id(request: web.Request, name: str, what: str, length_max: int = ID_LENGTH_MAX) -> str:
    """The {name} of the path; an id that cannot exist is a 404 like an unknown one."""
    value = request.match_info[name]
    if len(value) > length_max or not (value.isascii() and value.isprintable()):
        raise not_yours(what, value[:length_max])
    return value


async def get_own(
    fetch: Awaitable[T | None],
    is_owner: Callable[[T], bool],
    *,
    what: str,
    object_id: str,
    unknown_kinds: Collection[ErrorKind] = (),
) -> T:
    """The fetched object if is_owner says the caller owns it; otherwise not_yours.

    fetch may answer None for no such object; a service refusal of one of unknown_kinds
    (an id the service cannot find, or cannot even parse) is answered as not_yours too.
    """
    try:
        found = await fetch
    except DomainError as error:
        if error.kind in unknown_kinds:
            raise not_yours(what, object_id) from None
        raise
    if found is None or not is_owner(found):
        raise not_yours(what, object_id)
    return found


def page_json(
    items_name: str, items: Iterable[T], item_json: Callable[[T], Any], next_page_token: str
) -> web.Response:
    """{items_name: [...], "next_page_token": ...}: the body of every list route."""
    return json_response(
        {items_name: [item_json(item) for item in items], "next_page_token": next_page_token}
    )


async def list_page(
    request: web.Request,
    items_name: str,
    list_call: ListCall,
    item_json: Callable[[Any], Any],
    *,
    items_field: str | None = None,
) -> web.Response:
    """A page of a list route: list_call with the query's page_size and page_token.

    The service's response carries the items in items_field (default: items_name) and the
    page in ``page``.
    """
    response = await list_call(page_request(request))
    items = getattr(response, items_field or items_name)
    return page_json(items_name, items, item_json, response.page.next_page_token)


async def list_own(
    request: web.Request,
    items_name: str,
    list_call: OwnListCall,
    item_json: Callable[[Any], Any],
    *,
    items_field: str | None = None,
    keep: Callable[[Any, str], bool] | None = None,
) -> web.Response:
    """A page of the caller's objects: list_call gets the caller's account id and the page.

    keep(item, account_id), when given, drops what the service lists for the account but
    the caller may not see here (a merchant's trades in the buyer's list).
    """
    account_id = request[CALLER].account_id
    response = await list_call(account_id, page_request(request))
    items = getattr(response, items_field or items_name)
    if keep is not None:
        items = [item for item in items if keep(item, account_id)]
    return page_json(items_name, items, item_json, response.page.next_page_token)
