"""The request bodies of the investor's wealth routes (Yu'e Bao, Zhaocaibao, funds), declared once.

Each model validates its route's body and renders the request schema of the OpenAPI
document (gateway.edge.bodies). What depends on a product, fund or listing — its minimum,
its quota, the investor's suitability — is the wealth service's, checked before anything is
held (gateway.wealth.prechecks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

from pydantic import Field

from gateway.edge.bodies import DECIMAL_PATTERN, MONEY_REASONS, AmountFen, Body, Currency

DECIMAL_LENGTH_MAX = 32
TERM_DAYS_MAX = 3650
QUESTIONS = 10
UNITS_LENGTH_MAX = 32


class YuebaoAmountRequest(Body):
    """How much to subscribe or redeem."""

    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: AmountFen
    currency: Currency = "CNY"


class ProductSubscriptionRequest(Body):
    """How much to subscribe (at least the product's amount_min, within its quota)."""

    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: AmountFen
    currency: Currency = "CNY"


class PriceRequest(Body):
    """A listing's price: what the seller asks, or what the buyer saw."""

    field_reasons: ClassVar[Mapping[str, str]] = {
        "price_fen": "INVALID_AMOUNT",
        "currency": "UNSUPPORTED_CURRENCY",
    }

    price_fen: Annotated[AmountFen, Field(description="The price, in whole fen.")]
    currency: Currency = "CNY"


class ReservationRequest(Body):
    """Buy the first matching product listed later (预约), up to amount_fen."""

    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: AmountFen
    currency: Currency = "CNY"
    annual_yield_min: Annotated[
        str,
        Field(
            # A plain decimal from 0 up to (not including) 0.24.
            pattern=r"^0(\.([01][0-9]{0,11}|2|2[0-3][0-9]{0,10}))?$",
            max_length=DECIMAL_LENGTH_MAX,
            description='The least yield to buy at, a decimal fraction a year: "0.0420" is '
            "4.20% (0 or more, below 0.24: the wealth service's rule).",
        ),
    ]
    term_days_max: Annotated[int, Field(ge=1, le=TERM_DAYS_MAX)]


class NoOptions(Body):
    """An action that takes no options: no body, or {}."""


class RiskQuestionnaire(Body):
    answer_scores: Annotated[
        list[Annotated[int, Field(ge=1, le=5)]],
        Field(
            min_length=QUESTIONS,
            max_length=QUESTIONS,
            description="The 10 answers, each scored 1 (most cautious) to 5.",
        ),
    ]


class FundBuyRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: AmountFen
    currency: Currency = "CNY"
    risk_acknowledged: Annotated[
        bool,
        Field(
            description="The caller accepts a fund above their risk level "
            "(without it such a buy is refused with SUITABILITY)."
        ),
    ] = False


class FundSellRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {"units": "INVALID_AMOUNT"}

    units: Annotated[
        str,
        Field(
            pattern=DECIMAL_PATTERN,
            max_length=UNITS_LENGTH_MAX,
            description="Fund units, a positive decimal with at most 2 places (the wealth "
            "service's rule).",
            examples=["100.25"],
        ),
    ]
