"""Request bodies declared once, as pydantic models: the same declaration validates and documents.

A body model is strict (a JSON integer is an integer: ``"12"``, ``12.5`` and ``true`` are
refused for one; ``12.0`` is the integer 12, as in JSON Schema — gateway.edge.payloads reads
whole-number literals as integers, one rule for every body) and forbids fields it does not
name. ``read_body`` turns the first thing wrong into a 400 problem naming the field
(``metadata.field``) with the field's reason code (``INVALID_AMOUNT`` for money,
``INVALID_PHONE`` …, else ``INVALID_ARGUMENT``), before any work is done. ``body_schemas``
renders the models as the OpenAPI document's component schemas, so every constraint a
handler relies on — lengths, patterns, ranges, enums, required fields — is stated in the
contract exactly as it is enforced (issue 21 item 13).

What no JSON Schema can say (a resident id's checksum, a rule across services) is checked
after the model, and the field's description says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    WithJsonSchema,
)

from chassis.errors import InvalidArgument
from chassis.money import AMOUNT_FEN_MAX
from gateway.edge.payloads import read_json

Schema = dict[str, Any]
SCHEMA_REF_TEMPLATE = "#/components/schemas/{model}"

# Shapes the platform's identifiers and amounts take, shared by every body that has one.
PHONE_PATTERN = r"^1[3-9][0-9]{9}$"
RESIDENT_ID_PATTERN = r"^[1-9][0-9]{16}[0-9Xx]$"

AmountFen = Annotated[
    int,
    Field(
        ge=1,
        le=AMOUNT_FEN_MAX,
        json_schema_extra={"format": "int64"},
        description="Whole fen as a JSON integer (1234 is 12.34 yuan; 1234.0 is the same "
        "number); 12.5 is refused.",
    ),
]
Phone = Annotated[str, Field(pattern=PHONE_PATTERN, description="11-digit mainland mobile number.")]
# A plain non-negative decimal as text ("0.0420", "100.25"): no sign, exponent, NaN or spaces.
DECIMAL_PATTERN = r"^(0|[1-9][0-9]{0,15})(\.[0-9]{1,12})?$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# RFC 3339 with its offset (a moment, not a wall-clock time).
DATE_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
DATE_TIME_LENGTH_MAX = 40


def _real_date(text: str) -> str:
    date.fromisoformat(text)  # 2025-02-30 matches the pattern but is no date: ValueError
    return text


# A calendar date as YYYY-MM-DD text (a business date, a NAV date): a real one.
CalendarDate = Annotated[
    str,
    Field(pattern=DATE_PATTERN, json_schema_extra={"format": "date"}),
    AfterValidator(_real_date),
]
# A non-empty string that is not only spaces; add max_length where it is used. Not r"\S":
# pydantic's regex counts U+0085 as a space and U+FEFF as none, JSON Schema's (ECMA-262)
# the other way round, so a bare \S would let the model and its schema judge them apart.
NON_BLANK_PATTERN = r"[^\s\u0085\ufeff]"


def _distinct(items: list[Any]) -> list[Any]:
    if len(set(items)) != len(items):
        raise ValueError("the items must be distinct")
    return items


# A list's items are distinct: Annotated[list[str], Distinct, Field(json_schema_extra=
# {"uniqueItems": True}, ...)] (the schema says it, the validator enforces it).
Distinct = AfterValidator(_distinct)


Currency = Annotated[
    Literal["CNY"], Field(description="ISO 4217 code of the amount; CNY is the one supported.")
]
NonNegativeAmountFen = Annotated[
    int,
    Field(
        ge=0,
        le=AMOUNT_FEN_MAX,
        json_schema_extra={"format": "int64"},
        description="Whole fen as a JSON integer, 0 or more.",
    ),
]
# The reasons of an amount_fen and its currency, for a body's field_reasons.
MONEY_REASONS: Mapping[str, str] = {
    "amount_fen": "INVALID_AMOUNT",
    "currency": "UNSUPPORTED_CURRENCY",
}


def one_of(names: Iterable[str], **field: Any) -> Any:
    """A string field that is one of names: stated as an enum, enforced by a pattern.

    For enums the platform takes from its protos at import time (a Literal must be
    spelled out); use it in Annotated[str, one_of(...)].
    """
    values: list[JsonValue] = list(names)
    return Field(
        pattern=f"^({'|'.join(re.escape(str(value)) for value in values)})$",
        json_schema_extra={"enum": values},
        **field,
    )


def _moment(value: object) -> datetime:
    """An RFC 3339 date-time with its offset, as an aware datetime (nothing else is one)."""
    text = value if isinstance(value, str) else ""
    if len(text) > DATE_TIME_LENGTH_MAX or not re.fullmatch(DATE_TIME_PATTERN, text):
        raise ValueError("must be an RFC 3339 date-time with its offset")
    # fromisoformat takes 6 fraction digits and upper-case T and Z: normalise to that.
    whole, _, rest = text.upper().partition(".")
    if rest:
        digits = re.match(r"[0-9]+", rest)
        assert digits is not None
        fraction = digits.group()
        whole = f"{whole}.{(fraction + '000000')[:6]}{rest[len(fraction) :]}"
    try:
        return datetime.fromisoformat(whole)
    except ValueError:
        raise ValueError("must be a real RFC 3339 date-time") from None


Moment = Annotated[
    datetime,
    BeforeValidator(_moment),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": DATE_TIME_PATTERN,
            "maxLength": DATE_TIME_LENGTH_MAX,
        }
    ),
]


class Body(BaseModel):
    """A request body: strict types, no unknown fields, immutable once read."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    # A field's refusal reason when it is not the generic INVALID_ARGUMENT.
    field_reasons: ClassVar[Mapping[str, str]] = {}

    def fields_sent(self) -> dict[str, Any]:
        """The fields the request sent, as JSON values (a request's idempotency fingerprint)."""
        return self.model_dump(mode="json", exclude_unset=True)


B = TypeVar("B", bound=Body)


def parse_body(model: type[B], body: object) -> B:
    """The body as the model, or a 400 InvalidArgument about its first problem."""
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise _refusal(model, error) from None


async def read_body(request: web.Request, model: type[B]) -> B:
    """The request's JSON body as the model (NaN, Infinity and over-deep JSON refused)."""
    return parse_body(model, await read_json(request))


async def read_optional_body(request: web.Request, model: type[B]) -> B:
    """As read_body, but an empty body is the model's defaults (an action with no options)."""
    if not (await request.read()).strip():
        return parse_body(model, {})
    return await read_body(request, model)


def _refusal(model: type[Body], error: ValidationError) -> InvalidArgument:
    first = error.errors(include_url=False, include_input=False)[0]
    location = [str(part) for part in first["loc"]]
    field = ".".join(location) or "body"
    kind = first["type"]
    if kind == "extra_forbidden":
        detail = f"unknown field: {field}"
    elif kind == "missing":
        detail = f"{field} is required"
    else:
        detail = f"{field}: {first['msg']}"
    top = location[0] if location else ""
    return InvalidArgument(
        detail,
        reason=model.field_reasons.get(top, "INVALID_ARGUMENT"),
        metadata={"field": field},
    )


def body_schemas(*models: type[Body]) -> dict[str, Schema]:
    """The models' JSON Schemas by name, nested models hoisted beside them (components)."""
    schemas: dict[str, Schema] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=SCHEMA_REF_TEMPLATE)
        for name, nested in schema.pop("$defs", {}).items():
            schemas[name] = untitled(nested)
        schemas[model.__name__] = untitled(schema)
    return schemas


def untitled(schema: Any) -> Any:
    """Drop pydantic's generated titles ("Amount Fen"): the field names say it already."""
    if isinstance(schema, dict):
        return {
            key: untitled(value)
            for key, value in schema.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [untitled(item) for item in schema]
    return schema
