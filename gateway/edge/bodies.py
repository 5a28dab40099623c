"""Request bodies declared once, as pydantic models: the same declaration validates and documents.

A body model is strict (a JSON integer is an integer: ``12.0``, ``"12"`` and ``true`` are
refused for one) and forbids fields it does not name. ``read_body`` turns the first thing
wrong into a 400 problem naming the field (``metadata.field``) with the field's reason code
(``INVALID_AMOUNT`` for money, ``INVALID_PHONE`` …, else ``INVALID_ARGUMENT``), before any
work is done. ``body_schemas`` renders the models as the OpenAPI document's component schemas,
so every constraint a handler relies on — lengths, patterns, ranges, enums, required fields —
is stated in the contract exactly as it is enforced (issue 21 item 13).

What no JSON Schema can say (a resident id's checksum, a rule across services) is checked
after the model, and the field's description says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
        description="Whole fen as a JSON integer (1234 is 12.34 yuan); 12.5 and 12.0 are refused.",
    ),
]
Phone = Annotated[str, Field(pattern=PHONE_PATTERN, description="11-digit mainland mobile number.")]


class Body(BaseModel):
    """A request body: strict types, no unknown fields, immutable once read."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    # A field's refusal reason when it is not the generic INVALID_ARGUMENT.
    field_reasons: ClassVar[Mapping[str, str]] = {}


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
            schemas[name] = _untitled(nested)
        schemas[model.__name__] = _untitled(schema)
    return schemas


def _untitled(schema: Any) -> Any:
    """Drop pydantic's generated titles ("Amount Fen"): the field names say it already."""
    if isinstance(schema, dict):
        return {
            key: _untitled(value)
            for key, value in schema.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [_untitled(item) for item in schema]
    return schema
