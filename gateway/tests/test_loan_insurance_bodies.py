"""The loan and insurance request bodies are declared once (issue 21 item 13).

As for wealth and credit (test_wealth_credit_bodies, test_wealth_credit_models): every
request schema of the Huabei, cash-loan, repayment, loan-job and insurance routes is what its
model renders (an "exactly one of" is oneOf of the models); through the real gateway a
schema-valid body gets past the body check while a schema-violating one is a 400 naming the
field, with its reason; and a JSON Schema validator and each model judge a valid body and
its variations alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from gateway.edge.bodies import Body, body_schemas
from gateway.insurance.routes.admin import (
    AfterSalesRefundRequest,
    InsuranceClaimApproval,
    InsuranceClaimRejection,
    InsuranceJobsRequest,
    UnauthorisedDebitConfirmation,
)
from gateway.insurance.routes.claims import InsuranceClaimRequest
from gateway.insurance.routes.policies import InsuranceBuyRequest, InsuranceQuoteRequest
from gateway.loans.bodies import (
    AutoDebitRequest,
    CashLoanRepayment,
    CashLoanRequest,
    HuabeiRepayment,
    InstallmentPlanRepayment,
    InstallmentsRequest,
    LoanJobsRequest,
)
from gateway.settings import GatewaySettings
from gateway.tests.conftest import User, gateway_settings
from gateway.tests.saga_support import new_key
from gateway.tests.test_wealth_credit_bodies import _refused_for_the_body
from gateway.tests.test_wealth_credit_models import AWKWARD, _model_accepts, _variations

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]

MODELS: tuple[type[Body], ...] = (
    CashLoanRequest,
    InstallmentsRequest,
    HuabeiRepayment,
    InstallmentPlanRepayment,
    CashLoanRepayment,
    AutoDebitRequest,
    LoanJobsRequest,
    InsuranceQuoteRequest,
    InsuranceBuyRequest,
    InsuranceClaimRequest,
    InsuranceClaimApproval,
    InsuranceClaimRejection,
    UnauthorisedDebitConfirmation,
    AfterSalesRefundRequest,
    InsuranceJobsRequest,
)
ONE_OF = {
    "RepaymentRequest": ("HuabeiRepayment", "InstallmentPlanRepayment", "CashLoanRepayment"),
    "InsuranceClaimReview": ("InsuranceClaimApproval", "InsuranceClaimRejection"),
}
# The operations of the loan and insurance route modules that take a body (merchant lending
# is another module's); the two whose body is no options at all document none.
OPERATIONS = {
    "applyForCashLoan",
    "convertHuabeiBillToInstallments",
    "convertHuabeiPurchaseToInstallments",
    "createLoanRepayment",
    "setLoanAutoDebit",
    "runLoanJobs",
    "createInsuranceQuote",
    "buyInsurancePolicy",
    "submitInsuranceClaim",
    "reviewInsuranceClaim",
    "confirmUnauthorisedDebit",
    "refundSettledTrade",
    "runInsuranceJobs",
}
NO_OPTIONS = {"quoteReturnShippingInsurance", "cancelInsurancePolicy"}
BILL, PURCHASE, CLAIM, TRADE = "bill-none", "0" * 32, "clm_none", "trade-none"

# (who, method, path, a schema-valid body, [(a schema-violating body, its field, its reason)])
Case = tuple[str, str, str, dict[str, Any], list[tuple[dict[str, Any], str, str]]]
CASES: list[Case] = [
    (
        "user",
        "POST",
        "/v1/loans/cash-loans",
        {"amount_fen": 100_000, "term_months": 12},
        [
            ({"amount_fen": 9_999, "term_months": 12}, "amount_fen", "INVALID_AMOUNT"),
            ({"amount_fen": 100_000.5, "term_months": 12}, "amount_fen", "INVALID_AMOUNT"),
            ({"amount_fen": 100_000, "term_months": 3}, "term_months", "INVALID_ARGUMENT"),
            ({"amount_fen": 100_000, "term_months": "6"}, "term_months", "INVALID_ARGUMENT"),
            (
                {"amount_fen": 100_000, "term_months": 6, "method": "monthly"},
                "method",
                "INVALID_ARGUMENT",
            ),
            (
                {"amount_fen": 100_000, "term_months": 6, "currency": "USD"},
                "currency",
                "UNSUPPORTED_CURRENCY",
            ),
        ],
    ),
    (
        "user",
        "POST",
        f"/v1/loans/huabei/bills/{BILL}/installments",
        {"months": 3},  # an unknown bill: 404, past the body check
        [
            ({"months": 4}, "months", "INVALID_ARGUMENT"),
            ({"months": True}, "months", "INVALID_ARGUMENT"),
            ({}, "months", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "user",
        "POST",
        f"/v1/loans/huabei/purchases/{PURCHASE}/installments",
        {"months": 12},
        [({"months": 12, "fee": 0}, "fee", "INVALID_ARGUMENT")],
    ),
    (
        "user",
        "POST",
        "/v1/loans/repayments",
        {"target": "huabei", "amount_fen": 100, "methods": ["yuebao"], "split": True},
        [
            (
                {"target": "huabei", "amount_fen": 100, "plan_id": "p"},
                "plan_id",
                "INVALID_ARGUMENT",
            ),
            ({"target": "cash_loan", "amount_fen": 100}, "loan_id", "INVALID_ARGUMENT"),
            (
                {"target": "installment_plan", "amount_fen": 100, "plan_id": " "},
                "plan_id",
                "INVALID_ARGUMENT",
            ),
            ({"target": "card", "amount_fen": 100}, "target", "INVALID_ARGUMENT"),
            ({"amount_fen": 100}, "target", "INVALID_ARGUMENT"),
            ({"target": "huabei", "amount_fen": 0}, "amount_fen", "INVALID_AMOUNT"),
            (
                {"target": "huabei", "amount_fen": 100, "methods": ["huabei"]},
                "methods",
                "INVALID_ARGUMENT",
            ),
            (
                {"target": "huabei", "amount_fen": 100, "methods": ["balance", "balance"]},
                "methods",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "user",
        "PUT",
        "/v1/loans/auto-debit",
        {"enabled": False},
        [
            ({"enabled": "false"}, "enabled", "INVALID_ARGUMENT"),
            ({"enabled": True, "sources": []}, "sources", "INVALID_ARGUMENT"),
            ({"enabled": True, "sources": ["card"]}, "sources", "INVALID_ARGUMENT"),
            ({"enabled": True, "sources": ["yuebao", "yuebao"]}, "sources", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "operator",
        "POST",
        "/v1/admin/jobs/loans",
        {"business_date": "2099-01-01"},  # not begun: a 400 about the date, not the body
        [
            ({"business_date": "2025-02-30"}, "business_date", "INVALID_BUSINESS_DATE"),
            ({"business_date": "2025-3-3"}, "business_date", "INVALID_BUSINESS_DATE"),
        ],
    ),
    (
        "user",
        "POST",
        "/v1/insurance/quotes",
        {"product_id": "travel", "insured_age": 30, "duration_days": 7},
        [
            ({"product_id": "travel", "insured_age": 0}, "insured_age", "INVALID_ARGUMENT"),
            ({"product_id": "travel", "insured_age": 151}, "insured_age", "INVALID_ARGUMENT"),
            ({"product_id": " "}, "product_id", "INVALID_ARGUMENT"),
            ({"product_id": "return-shipping", "trade_id": ""}, "trade_id", "INVALID_ARGUMENT"),
            ({"product_id": "merchant-deposit", "cover_fen": 0}, "cover_fen", "INVALID_ARGUMENT"),
            ({"product_id": "travel", "duration_days": 367}, "duration_days", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "user",
        "POST",
        "/v1/insurance/policies",
        {"quote_id": "quote-none", "methods": ["huabei", "balance"]},  # unknown: 404
        [
            ({"quote_id": ""}, "quote_id", "INVALID_ARGUMENT"),
            ({"quote_id": "q", "methods": []}, "methods", "INVALID_ARGUMENT"),
            ({"quote_id": "q", "methods": ["card"]}, "methods", "INVALID_ARGUMENT"),
            ({"quote_id": "q", "split": "yes"}, "split", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "user",
        "POST",
        "/v1/insurance/claims",
        {"policy_id": "policy-none", "event_reference": "trip-1", "amount_fen": 100},
        [
            ({"policy_id": "p", "amount_fen": 0}, "amount_fen", "INVALID_ARGUMENT"),
            ({"policy_id": "p", "amount_fen": 10**10 + 1}, "amount_fen", "INVALID_ARGUMENT"),
            ({"policy_id": "p", "note": ""}, "note", "INVALID_ARGUMENT"),
            (
                {"policy_id": "p", "event_reference": "e" * 201},
                "event_reference",
                "INVALID_ARGUMENT",
            ),
            ({"event_reference": "e"}, "policy_id", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "operator",
        "POST",
        f"/v1/admin/insurance/claims/{CLAIM}/review",
        {"decision": "reject", "reason": "no receipt"},
        [
            ({"decision": "reject"}, "reason", "INVALID_ARGUMENT"),
            ({"decision": "reject", "reason": " "}, "reason", "INVALID_ARGUMENT"),
            ({"decision": "maybe"}, "decision", "INVALID_ARGUMENT"),
            ({"decision": "approve", "reason": "r" * 501}, "reason", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "operator",
        "POST",
        f"/v1/admin/insurance/claims/{CLAIM}/evidence",
        {"posting_id": "posting-none", "note": "called the holder"},
        [
            ({"posting_id": ""}, "posting_id", "INVALID_ARGUMENT"),
            ({"posting_id": "p", "note": ""}, "note", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "operator",
        "POST",
        f"/v1/admin/trades/{TRADE}/after-sales-refund",
        {"amount_fen": 100, "reason": "broken on arrival"},
        [
            ({"amount_fen": 0, "reason": "r"}, "amount_fen", "INVALID_AMOUNT"),
            (
                {"amount_fen": 1, "reason": "r", "currency": "EUR"},
                "currency",
                "UNSUPPORTED_CURRENCY",
            ),
            ({"amount_fen": 1}, "reason", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "operator",
        "POST",
        "/v1/admin/jobs/insurance",
        {"business_date": "2099-01-01"},
        [({"business_date": 20250303}, "business_date", "INVALID_BUSINESS_DATE")],
    ),
]

VALID: list[tuple[type[Body], dict[str, Any]]] = [
    (CashLoanRequest, {"amount_fen": 100_000, "term_months": 6, "method": "equal_installment"}),
    (InstallmentsRequest, {"months": 6}),
    (HuabeiRepayment, {"target": "huabei", "amount_fen": 1, "methods": ["balance"]}),
    (InstallmentPlanRepayment, {"target": "installment_plan", "plan_id": "p", "amount_fen": 5}),
    (CashLoanRepayment, {"target": "cash_loan", "loan_id": "cl_1", "amount_fen": 5, "split": True}),
    (AutoDebitRequest, {"enabled": True, "sources": ["yuebao", "balance"]}),
    (LoanJobsRequest, {"business_date": "2025-03-03"}),
    (InsuranceQuoteRequest, {"product_id": "travel", "insured_age": 30, "duration_days": 5}),
    (InsuranceQuoteRequest, {"product_id": "merchant-deposit", "cover_fen": 100_000}),
    (InsuranceQuoteRequest, {"product_id": "return-shipping", "trade_id": "t"}),
    (InsuranceBuyRequest, {"quote_id": "q", "methods": ["huabei"], "split": False}),
    (InsuranceClaimRequest, {"policy_id": "p", "event_reference": "e", "amount_fen": 1}),
    (InsuranceClaimRequest, {"policy_id": "p", "note": "n"}),
    (InsuranceClaimApproval, {"decision": "approve", "reason": "ok"}),
    (InsuranceClaimRejection, {"decision": "reject", "reason": "no"}),
    (UnauthorisedDebitConfirmation, {"posting_id": "p", "note": "n"}),
    (AfterSalesRefundRequest, {"amount_fen": 1, "currency": "CNY", "reason": "r"}),
    (InsuranceJobsRequest, {"business_date": "2024-02-29"}),
]
# Values of these bodies' own vocabularies, beside the wealth and credit ones.
MORE_AWKWARD: list[Any] = [
    3,
    4,
    12,
    150,
    151,
    366,
    367,
    10**10,
    10**10 + 1,
    9_999,
    10_000,
    "by_day",
    "monthly",
    "huabei",
    "cash_loan",
    "approve",
    "reject",
    "r" * 500,
    "r" * 501,
    ["balance"],
    ["huabei", "yuebao"],
    ["balance", "balance"],
    ["card"],
]


@pytest.fixture(scope="module")
def service_addresses(insurance_service_addresses: dict[str, str]) -> dict[str, str]:
    return insurance_service_addresses


@pytest.fixture(scope="module")
def settings(
    database_name: str, service_addresses: dict[str, str], operator_phone: str
) -> GatewaySettings:
    return gateway_settings(
        database_name,
        service_addresses,
        COLONY_OPERATOR_PHONES=operator_phone,
        COLONY_RATE_LIMIT_MONEY_PER_MINUTE="0",
        COLONY_RATE_LIMIT_WRITE_PER_MINUTE="0",
    )


async def test_every_request_schema_of_the_loan_and_insurance_routes_is_its_model(
    gateway: Client,
) -> None:
    document = await (await gateway.get("/openapi.json")).json()
    components = document["components"]["schemas"]
    operations = {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for operation in item.values()
        if operation["operationId"] in OPERATIONS | NO_OPTIONS
    }
    assert set(operations) == OPERATIONS | NO_OPTIONS
    assert all("requestBody" not in operations[name] for name in NO_OPTIONS)
    referenced = {
        operations[name]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for name in OPERATIONS
    }
    referenced = {reference.rsplit("/")[-1] for reference in referenced}
    generated = body_schemas(*MODELS)
    members = {member for pair in ONE_OF.values() for member in pair}
    assert referenced == (set(generated) - members) | set(ONE_OF)
    for name in referenced:
        for member in ONE_OF.get(name, (name,)):
            assert components[member] == generated[member], member
            assert components[member]["additionalProperties"] is False, member
    for name, pair in ONE_OF.items():
        listed = [schema["$ref"].rsplit("/")[-1] for schema in components[name]["oneOf"]]
        assert listed == list(pair), name


async def test_a_valid_body_passes_and_a_violating_one_is_a_400_naming_its_field(
    gateway: Client, new_user: NewUser, operator: User
) -> None:
    callers = {"user": await new_user(), "operator": operator}
    for who, method, path, valid, violations in CASES:
        caller = callers[who]
        response = await gateway.request(method, path, json=valid, headers=caller.keyed(new_key()))
        text = await response.text()
        assert response.status < 500, (path, text)
        problem = await response.json() if response.status >= 400 else {}
        assert not _refused_for_the_body(response.status, problem), (path, valid, text)
        for body, field, reason in violations:
            refused = await gateway.request(
                method, path, json=body, headers=caller.keyed(new_key())
            )
            problem = await refused.json()
            assert refused.status == 400, (path, body, problem)
            # An item of a list is named by its place: methods.0.
            assert problem["metadata"]["field"].split(".")[0] == field, (path, body, problem)
            assert problem["reason"] == reason, (path, body, problem)


@pytest.mark.parametrize(
    ("model", "valid"), VALID, ids=[f"{model.__name__}-{i}" for i, (model, _) in enumerate(VALID)]
)
def test_the_schema_and_the_model_agree(model: type[Body], valid: dict[str, Any]) -> None:
    validator = Draft202012Validator(
        model.model_json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    assert validator.is_valid(valid) and _model_accepts(model, valid)
    variations = _variations(valid) + [
        {**valid, field: value}
        for field in (*valid, *model.model_fields)
        for value in (*AWKWARD, *MORE_AWKWARD)
    ]
    disagreements = [
        (body, validator.is_valid(body))
        for body in variations
        if validator.is_valid(body) != _model_accepts(model, body)
    ]
    assert disagreements == []
    assert len(variations) > len(AWKWARD)


async def test_the_idempotency_fingerprint_is_the_fields_sent(
    gateway: Client, new_user: NewUser
) -> None:
    """A replay of the same body under the same key is the first answer; a body that differs
    in a field it sends — even one naming a default — is another request (as before the
    models: the fingerprint is what the caller sent, not what the model filled in)."""
    user, key = await new_user(), new_key()
    body = {"amount_fen": 100_000, "term_months": 12}
    first = await gateway.post("/v1/loans/cash-loans", json=body, headers=user.keyed(key))
    assert first.status < 500, await first.text()
    again = await gateway.post("/v1/loans/cash-loans", json=body, headers=user.keyed(key))
    answered, replayed = await first.json(), await again.json()
    assert first.status in (201, 422), answered  # an operation, or its refusal
    operation_id = answered.get("operation_id") or answered["metadata"]["operation_id"]
    assert again.status == first.status, replayed
    assert (replayed.get("operation_id") or replayed["metadata"]["operation_id"]) == operation_id
    for other in ({**body, "method": "by_day"}, {**body, "term_months": 6}):
        reused = await gateway.post("/v1/loans/cash-loans", json=other, headers=user.keyed(key))
        problem = await reused.json()
        assert (reused.status, problem["reason"]) == (422, "IDEMPOTENCY_KEY_REUSED"), problem
