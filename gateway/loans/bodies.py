"""The request bodies of the consumer-loan routes (Huabei, cash loans, repayments, the loan
job), declared once (gateway.edge.bodies): each model validates its route's body and renders
its request schema in the OpenAPI document.

What depends on the borrower's loans — what is owed, whether a bill may still be converted,
the credit advice behind a cash loan — is the loan service's, checked after the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal, cast

from pydantic import Field

from chassis.errors import InvalidArgument
from colony.loan.v1 import loan_pb2 as lpb
from gateway.edge.bodies import (
    MONEY_REASONS,
    NON_BLANK_PATTERN,
    AmountFen,
    Body,
    CalendarDate,
    Currency,
    Distinct,
    Schema,
    body_schemas,
    parse_body,
)
from gateway.edge.openapi import schema_ref

ID_LENGTH_MAX = 64
# The least cash loan, in fen (the loan service's rule, stated here so it is in the contract).
CASH_LOAN_AMOUNT_FEN_MIN = 100_00
CASH_LOAN_METHODS = {
    "by_day": lpb.REPAYMENT_METHOD_BY_DAY,
    "equal_installment": lpb.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
}
REPAYMENT_TARGETS = {
    "huabei": lpb.REPAYMENT_TARGET_HUABEI,
    "installment_plan": lpb.REPAYMENT_TARGET_INSTALLMENT_PLAN,
    "cash_loan": lpb.REPAYMENT_TARGET_CASH_LOAN,
}
SOURCES = ("balance", "yuebao")

LoanId = Annotated[str, Field(min_length=1, max_length=ID_LENGTH_MAX, pattern=NON_BLANK_PATTERN)]
Source = Literal["balance", "yuebao"]
Sources = Annotated[
    list[Source],
    Distinct,
    Field(min_length=1, json_schema_extra={"uniqueItems": True}),
]


class CashLoanRequest(Body):
    """Borrow amount_fen over term_months, repaid by day or in equal installments."""

    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: Annotated[
        AmountFen,
        Field(
            ge=CASH_LOAN_AMOUNT_FEN_MIN,
            description="Whole fen, at least 100 yuan (10000); at most the credit advice's "
            "ceiling (the loan service's decision).",
        ),
    ]
    currency: Currency = "CNY"
    term_months: Literal[6, 12]
    method: Literal["by_day", "equal_installment"] = "by_day"


class InstallmentsRequest(Body):
    """How many monthly installments a bill or a purchase becomes."""

    months: Literal[3, 6, 12]


class _Repayment(Body):
    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: Annotated[
        AmountFen, Field(description="Any amount up to the payoff (more: REPAYMENT_EXCEEDS_OWED).")
    ]
    currency: Currency = "CNY"
    methods: Annotated[
        Sources,
        Field(
            description="balance and/or yuebao, in the caller's order (a loan is never "
            "repaid with Huabei)."
        ),
    ] = ["balance", "yuebao"]
    split: Annotated[
        bool,
        Field(
            description="false: the first method that covers the whole amount pays. true: "
            "the methods are drawn in order until the amount is covered."
        ),
    ] = False


class HuabeiRepayment(_Repayment):
    """Repay the caller's Huabei bills (oldest first)."""

    target: Literal["huabei"]


class InstallmentPlanRepayment(_Repayment):
    """Settle an installment plan early: exactly its unbilled principal."""

    target: Literal["installment_plan"]
    plan_id: Annotated[LoanId, Field(description="The caller's installment plan.")]


class CashLoanRepayment(_Repayment):
    """Repay one of the caller's cash loans."""

    target: Literal["cash_loan"]
    loan_id: Annotated[LoanId, Field(description="The caller's cash loan.")]


REPAYMENT_MODELS: dict[str, type[_Repayment]] = {
    "huabei": HuabeiRepayment,
    "installment_plan": InstallmentPlanRepayment,
    "cash_loan": CashLoanRepayment,
}
Repayment = HuabeiRepayment | InstallmentPlanRepayment | CashLoanRepayment


def parse_repayment(body: object) -> Repayment:
    """The repayment's model, chosen by its target (one of three, each with its own fields)."""
    if not isinstance(body, dict):
        return parse_body(HuabeiRepayment, body)  # refused: not an object
    target = body.get("target")
    model = REPAYMENT_MODELS.get(target) if isinstance(target, str) else None
    if model is None:
        detail = "target is required" if target is None else "target must be one of "
        raise InvalidArgument(
            detail + ("" if target is None else ", ".join(REPAYMENT_MODELS)),
            metadata={"field": "target"},
        )
    return cast(Repayment, parse_body(model, body))


class AutoDebitRequest(Body):
    """Automatic repayment on the due date, on or off, and where it is taken from."""

    enabled: bool
    sources: Annotated[
        Sources, Field(description="Where the due date's debit is taken from, in order.")
    ] = ["balance", "yuebao"]


class LoanJobsRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {"business_date": "INVALID_BUSINESS_DATE"}

    business_date: Annotated[
        CalendarDate,
        Field(description="The business date (CST) the loan job runs for; it must have begun."),
    ]


REPAYMENT_SCHEMAS: dict[str, Schema] = {
    **body_schemas(HuabeiRepayment, InstallmentPlanRepayment, CashLoanRepayment),
    "RepaymentRequest": {
        "description": "One of three, by target: huabei (the caller's bills), "
        "installment_plan (with plan_id) or cash_loan (with loan_id).",
        "oneOf": [
            schema_ref("HuabeiRepayment"),
            schema_ref("InstallmentPlanRepayment"),
            schema_ref("CashLoanRepayment"),
        ],
    },
}
