"""Merchant lending's request bodies, declared once (issue 21 item 13).

Each model validates its route's body and renders the JSON Schema the OpenAPI document
shows (gateway.edge.bodies): strict types, unknown fields refused, every bound stated. The
ABS pools' bodies are here too: AbsPoolRequest (with AbsEligibilityRules) and, for units,
LoanAmountRequest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from chassis.money import Money
from gateway.edge.bodies import (
    MONEY_REASONS,
    NON_BLANK_PATTERN,
    AmountFen,
    Body,
    CalendarDate,
    Currency,
    body_schemas,
)

# A facility is 50,000 to 1,000,000 yuan (the loan service's bounds).
FACILITY_FEN_MIN = 5_000_000
FACILITY_FEN_MAX = 100_000_000
STORE_FREEZE_REASON_LENGTH_MAX = 200
DECIMAL_LENGTH_MAX = 16
# A decimal from 0 to 1 ("0.045"), and one above 0, at most 1 ("0.2").
ZERO_TO_ONE_PATTERN = r"^(0(\.[0-9]{1,12})?|1(\.0{1,12})?)$"
ABOVE_ZERO_TO_ONE_PATTERN = r"^(0\.0{0,10}[1-9][0-9]{0,10}|1(\.0{1,12})?)$"
# An ABS pool id: a path segment and part of its ledger account id (platform:loan:abs:<id>).
POOL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MIN_REMAINING_DAYS_MAX = 3660


class FacilityRequest(Body):
    """Apply for a facility: its whole amount and the fixed-term part of it."""

    field_reasons: ClassVar[Mapping[str, str]] = {
        **MONEY_REASONS,
        "fixed_amount_fen": "INVALID_AMOUNT",
    }

    amount_fen: Annotated[
        int,
        Field(
            ge=FACILITY_FEN_MIN,
            le=FACILITY_FEN_MAX,
            json_schema_extra={"format": "int64"},
            description="The facility in whole fen: 50,000.00 to 1,000,000.00 yuan.",
        ),
    ]
    fixed_amount_fen: Annotated[
        int,
        Field(
            ge=FACILITY_FEN_MIN,
            le=FACILITY_FEN_MAX,
            json_schema_extra={"format": "int64"},
            description="The fixed-term part, at most amount_fen (a rule across two fields, "
            "which JSON Schema cannot state: more is 400 INVALID_AMOUNT); the rest revolves.",
        ),
    ]
    currency: Currency = "CNY"

    @property
    def amount(self) -> Money:
        return Money(self.amount_fen, self.currency)

    @property
    def fixed(self) -> Money:
        return Money(self.fixed_amount_fen, self.currency)


class LoanAmountRequest(Body):
    """An amount of money: a draw, an order loan, capital paid in, a bank borrowing."""

    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: AmountFen
    currency: Currency = "CNY"

    @property
    def amount(self) -> Money:
        return Money(self.amount_fen, self.currency)


class FacilityRepaymentRequest(LoanAmountRequest):
    """Repay one part of a facility."""

    part: Literal["fixed", "revolving"]


class MerchantCreditPolicyRequest(Body):
    """The operator's merchant credit policy (the loan service's bounds, stated here)."""

    min_months_with_settlements: Annotated[int, Field(ge=0, le=12)]
    max_refund_rate: Annotated[
        str,
        Field(
            pattern=r"^(0(\.[0-9]{1,12})?|1(\.0{1,12})?)$",
            max_length=DECIMAL_LENGTH_MAX,
            examples=["0.05"],
            description="A decimal from 0 to 1.",
        ),
    ]
    max_share_of_sales: Annotated[
        str,
        Field(
            pattern=r"^(0\.0{0,10}[1-9][0-9]{0,10}|[1-9][0-9]?(\.[0-9]{1,12})?|100(\.0{1,12})?)$",
            max_length=DECIMAL_LENGTH_MAX,
            examples=["0.5"],
            description="A decimal above 0, at most 100.",
        ),
    ]


class StoreFreezeRequest(Body):
    """Freeze a merchant's store (its order loans withheld) or reopen it; a freeze says why."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"frozen": {"const": True}}},
            "then": {
                "required": ["reason"],
                "properties": {"reason": {"minLength": 1, "pattern": NON_BLANK_PATTERN}},
            },
        }
    )

    frozen: bool
    reason: Annotated[str, Field(max_length=STORE_FREEZE_REASON_LENGTH_MAX)] = ""

    @model_validator(mode="after")
    def _a_freeze_says_why(self) -> StoreFreezeRequest:
        if self.frozen and not re.search(NON_BLANK_PATTERN, self.reason):
            raise ValueError("a freeze needs a reason")
        return self


class AbsEligibilityRules(Body):
    """What a pool may buy (the product rule, merchant loans only, is not chosen here)."""

    require_current: bool
    min_remaining_days: Annotated[
        int,
        Field(
            ge=0,
            le=MIN_REMAINING_DAYS_MAX,
            description="Days of term a loan must have left (an order loan runs 30).",
        ),
    ]
    max_borrower_share: Annotated[
        str,
        Field(
            pattern=ABOVE_ZERO_TO_ONE_PATTERN,
            max_length=DECIMAL_LENGTH_MAX,
            examples=["0.2"],
            description="The most of the investors' units one borrower's loans may be: a "
            "decimal above 0, at most 1.",
        ),
    ]


class AbsPoolRequest(Body):
    """An ABS pool: its id, coupon, the last day it buys loans, its eligibility rules."""

    pool_id: Annotated[
        str,
        Field(
            pattern=POOL_ID_PATTERN,
            examples=["abs-2025-a"],
            description="1 to 64 of letters, digits, '-', '_' and '.', starting with a letter "
            "or digit (it names the pool's path and ledger account).",
        ),
    ]
    coupon_rate: Annotated[
        str,
        Field(
            pattern=ZERO_TO_ONE_PATTERN,
            max_length=DECIMAL_LENGTH_MAX,
            examples=["0.045"],
            description="Annual, simple: a decimal from 0 to 1.",
        ),
    ]
    revolving_until: Annotated[
        CalendarDate, Field(description="The last day the pool buys loans (YYYY-MM-DD).")
    ]
    eligibility: AbsEligibilityRules


SCHEMAS = body_schemas(
    FacilityRequest,
    LoanAmountRequest,
    FacilityRepaymentRequest,
    MerchantCreditPolicyRequest,
    StoreFreezeRequest,
    AbsPoolRequest,
)
