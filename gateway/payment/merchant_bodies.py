"""The request bodies of the merchant API (gateway.payment.routes.merchant), declared once.

Each model validates its route's body and renders the request schema of the OpenAPI
document (gateway.edge.bodies). What the payment service owns — the payment window's one
minute to 15 days, a code's validity, who a phone belongs to — is checked there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

from pydantic import Field

from gateway.edge.api_keys import API_KEY_SCOPES, LIFETIME_DAYS_DEFAULT, LIFETIME_DAYS_MAX
from gateway.edge.bodies import (
    MONEY_REASONS,
    AmountFen,
    Body,
    Currency,
    Distinct,
    Phone,
    one_of,
    parse_body,
)
from gateway.payment.requests import ACCOUNT_ID_LENGTH_MAX, Memo, parse_with_phone, text

# Transport bounds only; the service holds the real limits.
DESCRIPTION_LENGTH_MAX = 512
PAYMENT_CODE_LENGTH_MAX = 32
# The proto's int32; the service allows one minute to 15 days.
PAYMENT_WINDOW_SECONDS_MAX = 2**31 - 1

API_KEY_SCOPES_DESCRIPTION = (
    "read: GET routes; write: other changes; money: routes that move money "
    "(they take an Idempotency-Key)."
)


class CreateApiKeyRequest(Body):
    """What a new API key may do and for how long (an empty body: every scope, the default
    lifetime)."""

    scopes: Annotated[
        list[Annotated[str, one_of(API_KEY_SCOPES)]],
        Distinct,
        Field(
            min_length=1,
            json_schema_extra={"uniqueItems": True},
            description=API_KEY_SCOPES_DESCRIPTION,
        ),
    ] = list(API_KEY_SCOPES)
    expires_in_days: Annotated[int, Field(ge=1, le=LIFETIME_DAYS_MAX)] = LIFETIME_DAYS_DEFAULT

    def scopes_in_order(self) -> tuple[str, ...]:
        """The scopes asked for, in the platform's order."""
        return tuple(scope for scope in API_KEY_SCOPES if scope in self.scopes)


class _CreateTrade(Body):
    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: AmountFen
    currency: Currency = "CNY"
    description: Annotated[str, text(DESCRIPTION_LENGTH_MAX, "What the buyer is paying for.")]
    payment_window_seconds: (
        Annotated[
            int,
            Field(
                ge=1,
                le=PAYMENT_WINDOW_SECONDS_MAX,
                description="How long the buyer has to pay (one minute to 15 days: the "
                "payment service's rule); one day when absent or null.",
            ),
        ]
        | None
    ) = None


class TradeForPhone(_CreateTrade):
    """A trade for the buyer registered with this phone."""

    buyer_phone: Phone


class TradeForAccount(_CreateTrade):
    """A trade for the buyer with this account."""

    buyer_account_id: Annotated[str, text(ACCOUNT_ID_LENGTH_MAX, "The buyer's account (2088…).")]


def parse_create_trade(body: object) -> TradeForPhone | TradeForAccount:
    """Exactly one of buyer_phone and buyer_account_id: the body is one of the two models."""
    if isinstance(body, dict) and "buyer_phone" in body:
        return parse_with_phone(TradeForPhone, body, "buyer_phone")
    return parse_body(TradeForAccount, body)


class RefundDecisionRequest(Body):
    approve: Annotated[
        bool,
        Field(
            description="true refunds the requested amount to the buyer; false rejects the "
            "request and the trade carries on."
        ),
    ]


class PaymentCodeChargeRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {
        **MONEY_REASONS,
        "code": "INVALID_PAYMENT_CODE",
    }

    code: Annotated[
        str,
        Field(
            pattern=r"^28[0-9]{16}$",
            description="The 18 digits scanned from the payer's screen (they start with 28).",
        ),
    ]
    amount_fen: AmountFen
    currency: Currency = "CNY"
    memo: Memo = ""
