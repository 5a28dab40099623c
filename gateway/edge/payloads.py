"""Reading request bodies strictly: a JSON object, known fields, exact types.

Every check here refuses with a 400 problem before anything is written or called, so bad
input changes nothing. Business validation (a resident id's checksum, a card's Luhn digit)
stays with the service that owns the rule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from aiohttp import web

from chassis.errors import InvalidArgument
from chassis.money import AMOUNT_FEN_MAX, CURRENCY_CNY, Money, require_positive_amount


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# A number literal spelling a whole number (12.0, 1.2e3) with at most this many digits
# before the point is read as that integer; a bigger one stays a float (no integer field
# takes it, and a 10^999999 integer is not built from a few bytes of input).
WHOLE_NUMBER_DIGITS_MAX = 30


def parse_number(literal: str) -> int | float:
    """A JSON number with a fraction or exponent: an int when it is a whole number.

    One rule everywhere (issue 21 item 13), JSON Schema's own: ``12.0`` is the integer 12,
    so a field the OpenAPI document declares ``"type": "integer"`` takes ``12.0`` and
    ``1.2e1`` like ``12``. The literal is judged exactly, as a decimal, never through a
    binary float: ``12.000000000000000001`` is no whole number and stays a float (refused
    where an integer is wanted); ``12.5`` stays a float.
    """
    number = Decimal(literal)
    if number == number.to_integral_value() and number.adjusted() < WHOLE_NUMBER_DIGITS_MAX:
        return int(number)
    value = float(literal)
    if math.isinf(value):
        raise ValueError("the number is too large to be JSON")  # 1e400: no Infinity either
    return value


def parse_json(text: str) -> object:
    """JSON text as Python values: whole-number literals are ints, NaN and Infinity refused."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=parse_number)


async def read_json(request: web.Request) -> object:
    """The body as JSON of any shape (NaN and Infinity refused; 12.0 is the integer 12)."""
    raw = await request.read()
    try:
        return parse_json(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidArgument("the request body must be valid UTF-8 JSON") from None
    except RecursionError:
        # 60,000 "[" parse to arrays nested deeper than Python's stack allows.
        raise InvalidArgument("the request body is nested too deeply to be a request") from None


async def read_optional_json_object(
    request: web.Request, allowed_fields: Iterable[str]
) -> dict[str, Any]:
    """As read_json_object, but an empty body is an empty object (an action with no options)."""
    if not (await request.read()).strip():
        return {}
    return await read_json_object(request, allowed_fields)


async def read_json_object(request: web.Request, allowed_fields: Iterable[str]) -> dict[str, Any]:
    """The body as a JSON object with no fields beyond allowed_fields."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    unknown = sorted(set(body) - set(allowed_fields))
    if unknown:
        raise InvalidArgument(
            f"unknown fields: {', '.join(unknown)}", metadata={"field": unknown[0]}
        )
    return body


def _missing(field: str) -> InvalidArgument:
    return InvalidArgument(f"{field} is required", metadata={"field": field})


def require_text(body: dict[str, Any], field: str, length_max: int) -> str:
    """A non-empty string field of at most length_max characters."""
    value = body.get(field)
    if value is None:
        raise _missing(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{field} must be a non-empty string", metadata={"field": field})
    if len(value) > length_max:
        raise InvalidArgument(
            f"{field} must be at most {length_max} characters", metadata={"field": field}
        )
    return value


def optional_text(body: dict[str, Any], field: str, length_max: int) -> str | None:
    """A string field that may be absent (or null); if present, as require_text."""
    if body.get(field) is None:
        return None
    return require_text(body, field, length_max)


def require_bool(body: dict[str, Any], field: str) -> bool:
    """A JSON true or false (not 0, 1 or "true")."""
    value = body.get(field)
    if value is None:
        raise _missing(field)
    if not isinstance(value, bool):
        raise InvalidArgument(f"{field} must be true or false", metadata={"field": field})
    return value


def optional_whole_number(body: dict[str, Any], field: str, maximum: int) -> int | None:
    """A JSON integer from 1 to maximum, or None when absent (or null)."""
    value = body.get(field)
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= maximum:
        raise InvalidArgument(
            f"{field} must be a whole number from 1 to {maximum}", metadata={"field": field}
        )
    return value


def require_amount(body: dict[str, Any]) -> Money:
    """``amount_fen`` (a JSON integer, positive, within the platform's maximum) and currency.

    A fraction such as 12.5, a string, or a boolean is refused, never rounded: money
    arrives as integer fen precisely so that nothing is rounded on the way in (12.0 is the
    integer 12: read_json reads whole-number literals as integers).
    """
    amount_fen = body.get("amount_fen")
    if type(amount_fen) is not int:
        detail = "amount_fen is required" if amount_fen is None else "amount_fen must be an integer"
        raise InvalidArgument(
            f"{detail}: a whole number of fen, e.g. 1234 for 12.34 yuan",
            reason="INVALID_AMOUNT",
            metadata={"field": "amount_fen"},
        )
    require_positive_amount(amount_fen, "amount_fen")
    return Money(amount_fen, require_currency(body))


def require_currency(body: dict[str, Any]) -> str:
    """``currency`` (default CNY): a supported currency code."""
    currency = body.get("currency", CURRENCY_CNY)
    if not isinstance(currency, str):
        raise InvalidArgument(
            'currency must be a string such as "CNY"', metadata={"field": "currency"}
        )
    return Money(0, currency).currency


AMOUNT_PROPERTIES: dict[str, Any] = {
    "amount_fen": {
        "type": "integer",
        "format": "int64",
        "minimum": 1,
        "maximum": AMOUNT_FEN_MAX,
        "description": (
            "Whole fen as a JSON integer (1234 is 12.34 yuan; 1234.0 is the same number); "
            "12.5 is refused."
        ),
    },
    "currency": {"type": "string", "enum": ["CNY"], "default": "CNY"},
}
