"""What the payment routes' request bodies share, declared once (gateway.edge.bodies): ids,
memos, bills, the payment password, the payment methods.

Each type validates a field and states it in the OpenAPI document alike. Lengths are
transport bounds (an id or text longer than this cannot be right); the payment service holds
the real limits (a biller's reference format, a password's six digits) and refuses the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from aiohttp import web
from pydantic import AfterValidator, Field

from chassis.errors import InvalidArgument
from gateway.edge.bodies import MONEY_REASONS, AmountFen, B, Body, Currency, one_of, parse_body
from gateway.edge.payloads import read_json
from gateway.edge.risk_signals import PAYMENT_PASSWORD_FIELD, PAYMENT_PASSWORD_LENGTH_MAX
from gateway.payment.methods import (
    METHODS_DEFAULT,
    METHODS_PROPERTY,
    SPLIT_PROPERTY,
    PaymentMethod,
)

ACCOUNT_ID_LENGTH_MAX = 64
MEMO_LENGTH_MAX = 64
BILLER_ID_LENGTH_MAX = 64
# The biller's own format is checked by the service.
BILL_REFERENCE_LENGTH_MAX = 64


async def read_optional_json(request: web.Request) -> object:
    """The request's JSON body, or {} when it is empty (an action whose options are optional)."""
    if not (await request.read()).strip():
        return {}
    return await read_json(request)


# Declared body fields (gateway.edge.bodies): each validates and documents at once.
def text(length_max: int, description: str | None = None) -> Any:
    """A non-empty string with something besides spaces, at most length_max characters."""
    return Field(
        min_length=1, max_length=length_max, pattern=r"[^\s\u0085\ufeff]", description=description
    )


PaymentPassword = Annotated[
    str,
    Field(
        max_length=PAYMENT_PASSWORD_LENGTH_MAX,
        json_schema_extra={"format": "password"},
        description=(
            "The 6-digit payment password: send it when a previous attempt was refused with "
            "RISK_CHALLENGE_REQUIRED, retrying with the same Idempotency-Key (or up front)."
        ),
    ),
]
# A body's payment_password refusal reason (its six digits are the service's rule).
PASSWORD_REASONS: Mapping[str, str] = {PAYMENT_PASSWORD_FIELD: "INVALID_PAYMENT_PASSWORD"}
Memo = Annotated[
    str,
    Field(max_length=MEMO_LENGTH_MAX, description="A note for both sides; may be empty."),
]


def _distinct(methods: list[str]) -> list[str]:
    if len(set(methods)) != len(methods):
        raise ValueError("each payment method may be listed once")
    return methods


Methods = Annotated[
    list[Annotated[str, one_of(method.value for method in PaymentMethod)]],
    Field(
        min_length=1,
        json_schema_extra={"uniqueItems": True},
        description=METHODS_PROPERTY["description"],
    ),
    AfterValidator(_distinct),
]
METHODS_DEFAULT_NAMES = [method.value for method in METHODS_DEFAULT]
Split = Annotated[bool, Field(description=SPLIT_PROPERTY["description"])]


# The reasons of a nested bill's money fields (a body's field_reasons name top-level fields).
NESTED_REASONS: Mapping[str, str] = {
    "bill.amount_fen": "INVALID_AMOUNT",
    "bill.currency": "UNSUPPORTED_CURRENCY",
}


def parse_nested(model: type[B], body: object) -> B:
    """As parse_body, with the reason of a nested money field (bill.amount_fen) kept."""
    try:
        return parse_body(model, body)
    except InvalidArgument as refusal:
        refusal.reason = NESTED_REASONS.get(refusal.metadata.get("field", ""), refusal.reason)
        raise


def parse_with_phone(model: type[B], body: dict[str, Any], field: str) -> B:
    """As parse_body, but a string in field that is no phone is INVALID_PHONE (a value that
    is not a string at all stays INVALID_ARGUMENT), as the payment service says of it."""
    try:
        return parse_body(model, body)
    except InvalidArgument as refusal:
        if refusal.metadata.get("field") == field and isinstance(body.get(field), str):
            refusal.reason = "INVALID_PHONE"
        raise


class NoTradeOptions(Body):
    """A trade action that takes no options: no body, or {}."""


class BillRequest(Body):
    """Which bill is paid, and how much."""

    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    biller_id: Annotated[str, text(BILLER_ID_LENGTH_MAX, "A biller of GET /v1/billers.")]
    reference: Annotated[
        str,
        text(
            BILL_REFERENCE_LENGTH_MAX,
            "The customer number on the bill (its format is the biller's: INVALID_BILL_REFERENCE).",
        ),
    ]
    amount_fen: AmountFen
    currency: Currency = "CNY"
