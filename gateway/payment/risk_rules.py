"""The risk rules' request body, declared once (issue 21 item 13).

``PUT /v1/admin/risk-rules`` takes the whole list of rules as a JSON array: one model per
rule kind, told apart by ``kind`` (a discriminated union), each strict and closed. The same
declaration validates the body and renders the ``RiskRules`` schema of the OpenAPI document.
The payment service's parser (services/payment/risk.py) stays the authority: it checks
again, and what no JSON Schema can say — that rule ids are distinct across the list — is
checked only there (400 INVALID_RISK_RULE, as any other bad rule).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chassis.errors import InvalidArgument
from gateway.edge.bodies import (
    SCHEMA_REF_TEMPLATE,
    Distinct,
    NonNegativeAmountFen,
    Schema,
    untitled,
)

# The payment service's bounds (services/payment/risk.py).
RULES_MAX = 1_000
COUNT_MAX = 1_000_000
DESCRIPTION_LENGTH_MAX = 200
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class _Closed(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


PaymentKinds = Annotated[
    list[Literal["transfer", "payment", "withdrawal"]],
    Distinct,
    Field(
        min_length=1,
        json_schema_extra={"uniqueItems": True},
        description="The payments the rule looks at (absent: all of them).",
    ),
]
Parties = Annotated[
    list[Literal["payer", "payee"]],
    Distinct,
    Field(
        min_length=1,
        json_schema_extra={"uniqueItems": True},
        description="Whose blacklisting fires the rule (absent: either).",
    ),
]


class _Rule(_Closed):
    rule_id: Annotated[
        str, Field(pattern=RULE_ID_PATTERN, description="1-64 of a-z, 0-9, '.', '_', '-'.")
    ]
    action: Literal["ALLOW", "CHALLENGE", "DENY"]
    enabled: bool = True
    payment_kinds: PaymentKinds | None = None
    description: Annotated[str, Field(max_length=DESCRIPTION_LENGTH_MAX)] = ""


class KycAmounts(_Closed):
    """A limit in fen for each KYC level: "1" phone verified, "2" real name, "3" bank card."""

    phone_verified: NonNegativeAmountFen = Field(alias="1")
    real_name: NonNegativeAmountFen = Field(alias="2")
    bank_card_verified: NonNegativeAmountFen = Field(alias="3")


class SingleTransactionLimit(_Rule):
    kind: Literal["single_transaction_limit"]
    amount_fen_max_by_kyc_level: KycAmounts


class DailyLimit(_Rule):
    kind: Literal["daily_limit"]
    amount_fen_max_by_kyc_level: KycAmounts


class VelocityCount(_Rule):
    kind: Literal["velocity_count"]
    count_max: Annotated[int, Field(ge=0, le=COUNT_MAX)]


class VelocityAmount(_Rule):
    kind: Literal["velocity_amount"]
    amount_fen_max: NonNegativeAmountFen


class NewPayee(_Rule):
    kind: Literal["new_payee"]
    amount_fen_max: NonNegativeAmountFen


class BlacklistedParty(_Rule):
    kind: Literal["blacklisted_party"]
    parties: Parties | None = None


class UnknownDevice(_Rule):
    kind: Literal["unknown_device"]
    amount_fen_max: NonNegativeAmountFen


class DishonestDebtor(_Rule):
    kind: Literal["dishonest_debtor"]
    amount_fen_max: NonNegativeAmountFen


RiskRule = Annotated[
    SingleTransactionLimit
    | DailyLimit
    | VelocityCount
    | VelocityAmount
    | NewPayee
    | BlacklistedParty
    | UnknownDevice
    | DishonestDebtor,
    Field(discriminator="kind"),
]
RISK_RULES = TypeAdapter(
    Annotated[
        list[RiskRule],
        Field(
            max_length=RULES_MAX,
            description="The risk rules as data, evaluated in order (services/payment/risk.py); "
            "rule ids are distinct across the list.",
        ),
    ]
)


def parse_risk_rules(body: object) -> list[dict[str, Any]]:
    """The rules as sent (JSON values), or a 400 INVALID_RISK_RULE naming the first problem."""
    try:
        RISK_RULES.validate_python(body)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidArgument(
            f"{field}: {first['msg']}", reason="INVALID_RISK_RULE", metadata={"field": field}
        ) from None
    assert isinstance(body, list)
    return body


def risk_rules_schemas() -> dict[str, Schema]:
    """The RiskRules schema and each rule model's, by name (the document's components)."""
    schema = RISK_RULES.json_schema(ref_template=SCHEMA_REF_TEMPLATE)
    definitions: dict[str, Schema] = schema.pop("$defs", {})
    return untitled({**definitions, "RiskRules": schema})  # type: ignore[no-any-return]
