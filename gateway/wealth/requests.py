"""What the wealth routes share: ids from the path, amounts in bodies, operation answers.

The investor of every wealth request is the caller's payment account (the wealth service's
investor ids are payment account ids); a holding, order or reservation of someone else's
answers 404 as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chassis.errors import InvalidArgument, NotFound
from chassis.money import Money
from gateway.edge.payloads import require_amount

# Ids the wealth service issues are at most 200 characters; anything else cannot exist.
WEALTH_ID_LENGTH_MAX = 200


def path_id(request: web.Request, name: str, what: str) -> str:
    """A {name} of the path; an id that cannot exist is a 404 like an unknown one."""
    value = request.match_info[name]
    if len(value) > WEALTH_ID_LENGTH_MAX or not (value.isascii() and value.isprintable()):
        raise not_yours(what, value[:WEALTH_ID_LENGTH_MAX])
    return value


def not_yours(what: str, value: str) -> NotFound:
    """The answer for someone else's object: exactly that for one that does not exist."""
    return NotFound(f"there is no {what} {value!r} of yours", metadata={f"{what}_id": value})


def require_amount_field(body: dict[str, Any], field: str) -> Money:
    """A money field named other than amount_fen (price_fen, ...), with the same rules."""
    try:
        return require_amount(
            {"amount_fen": body.get(field), "currency": body.get("currency", "CNY")}
        )
    except InvalidArgument as error:
        raise InvalidArgument(
            error.message.replace("amount_fen", field),
            reason=error.reason,
            metadata={"field": field},
        ) from None


def money_property(description: str) -> dict[str, Any]:
    return {
        "type": "integer",
        "format": "int64",
        "minimum": 1,
        "description": f"{description} Whole fen as a JSON integer.",
    }
