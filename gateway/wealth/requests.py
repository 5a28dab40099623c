"""What the wealth routes read from bodies and document alike: amounts under other names.

The investor of every wealth request is the caller's payment account (the wealth service's
investor ids are payment account ids); ids in the path and someone else's holdings, orders
and reservations are gateway.edge.ownership's.
"""

from __future__ import annotations

from typing import Any

from chassis.errors import InvalidArgument
from chassis.money import Money
from gateway.edge.payloads import require_amount


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
