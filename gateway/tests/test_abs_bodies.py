"""The ABS routes' request bodies are declared once (issue 21 item 13, issue 19).

Creating a pool (createAbsPool) and buying units (buyAbsUnits) read their bodies through
pydantic models like every other route: the OpenAPI document's request schemas are what the
models render; a JSON Schema validator and each model judge a valid body and its variations
(nested eligibility rules included) alike, so the schemathesis run holds createAbsPool to
its schema like every other operation (tests/test_contract_schemathesis.py). The refusals
through the gateway, each naming its field, are in test_abs_pools.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from chassis.settings import SERVICE_NAMES
from gateway.edge.bodies import Body, body_schemas
from gateway.loans.merchant.bodies import AbsEligibilityRules, AbsPoolRequest, LoanAmountRequest
from gateway.tests.test_wealth_credit_models import _model_accepts, _variations

Client = TestClient[Any, Any]

RULES = {"require_current": True, "min_remaining_days": 30, "max_borrower_share": "0.2"}
POOL = {
    "pool_id": "abs-2025-a",
    "coupon_rate": "0.045",
    "revolving_until": "2025-06-30",
    "eligibility": RULES,
}
VALID: list[tuple[type[Body], dict[str, Any]]] = [
    (AbsPoolRequest, POOL),
    (AbsPoolRequest, {**POOL, "pool_id": "A", "coupon_rate": "0", "revolving_until": "2024-02-29"}),
    (
        AbsPoolRequest,
        {**POOL, "coupon_rate": "1.000", "eligibility": {**RULES, "max_borrower_share": "1"}},
    ),
    (AbsEligibilityRules, RULES),
    (AbsEligibilityRules, {**RULES, "min_remaining_days": 0, "max_borrower_share": "0.0001"}),
    (LoanAmountRequest, {"amount_fen": 100, "currency": "CNY"}),
]
# Values of these bodies' own vocabularies.
AWKWARD_HERE: list[Any] = [
    "",
    "a" * 64,
    "a" * 65,
    "-abs",
    "abs/1",
    "abs 1",
    "abs.1_2-3",
    "0",
    "0.0",
    "1",
    "1.0",
    "1.5",
    "0.2",
    "00.2",
    ".2",
    "2025-02-29",
    "2024-02-29",
    "2025-13-01",
    -1,
    0,
    3660,
    3661,
    True,
    None,
    RULES,
    {**RULES, "loan_kinds": ["facility"]},
    {"require_current": True},
]


@pytest.fixture(scope="module")
def service_addresses(payment_address: str, unreachable_address: str) -> dict[str, str]:
    return {**{name: unreachable_address for name in SERVICE_NAMES}, "payment": payment_address}


async def test_the_abs_request_schemas_are_their_models(gateway: Client) -> None:
    document = await (await gateway.get("/openapi.json")).json()
    components = document["components"]["schemas"]
    operations = {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for operation in item.values()
    }
    generated = body_schemas(AbsPoolRequest, LoanAmountRequest)
    for operation_id, name in (
        ("createAbsPool", "AbsPoolRequest"),
        ("buyAbsUnits", "LoanAmountRequest"),
    ):
        body = operations[operation_id]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"] == f"#/components/schemas/{name}"
        assert components[name] == generated[name]
        assert components[name]["additionalProperties"] is False
    assert components["AbsEligibilityRules"] == generated["AbsEligibilityRules"]
    assert "AbsUnitsRequest" not in components


@pytest.mark.parametrize(
    ("model", "valid"), VALID, ids=[f"{model.__name__}-{i}" for i, (model, _) in enumerate(VALID)]
)
def test_the_schema_and_the_model_agree(model: type[Body], valid: dict[str, Any]) -> None:
    schema = body_schemas(model)[model.__name__]
    schema["$defs"] = body_schemas(AbsEligibilityRules)
    schema = _local_refs(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert validator.is_valid(valid) and _model_accepts(model, valid)
    variations = [
        *_variations(valid),
        *[{**valid, field: value} for field in valid for value in AWKWARD_HERE],
    ]
    disagreements = [
        body for body in variations if validator.is_valid(body) != _model_accepts(model, body)
    ]
    assert disagreements == []


def _local_refs(schema: Any) -> Any:
    """The component references as local ones ($defs), for a validator of one schema."""
    if isinstance(schema, dict):
        return {
            key: value.replace("#/components/schemas/", "#/$defs/")
            if key == "$ref"
            else _local_refs(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_local_refs(item) for item in schema]
    return schema
