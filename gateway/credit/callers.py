"""The credit ``Caller`` of a request: taken from the authenticated identity, never the body.

- OWNER: a personal user acting for self; id = their own payment account id (the person key
  of the credit service, docs/credit.md "The person key"). Every personal route reads and
  changes the caller's own credit data only: no route takes another person's id.
- MERCHANT: a merchant user (access token or API key); id = its payment merchant account id.
- OPERATOR: a platform operator (the operator role of the access token); id = their gateway
  user id, as the credit service records who administered it.
"""

from __future__ import annotations

from aiohttp import web

from colony.credit.v1 import credit_pb2 as cpb
from gateway.edge.authentication import CALLER


def owner(request: web.Request) -> cpb.Caller:
    """The caller as the owner of their own credit data."""
    return cpb.Caller(kind=cpb.CALLER_KIND_OWNER, id=person_of(request))


def person_of(request: web.Request) -> str:
    """The person the caller's own credit data is about: their payment account id."""
    return request[CALLER].account_id


def merchant(request: web.Request) -> cpb.Caller:
    """The caller as the merchant whose account the access token or API key belongs to."""
    return cpb.Caller(kind=cpb.CALLER_KIND_MERCHANT, id=request[CALLER].account_id)


def operator(request: web.Request) -> cpb.Caller:
    """The caller as a platform operator (the route required the operator role)."""
    return cpb.Caller(kind=cpb.CALLER_KIND_OPERATOR, id=request[CALLER].user_id)
