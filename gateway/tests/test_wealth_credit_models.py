"""The wealth and credit body models and their JSON Schemas agree on what is a valid body.

For each model, a valid body and a few hundred variations of it (each field replaced by an
awkward value, left out, or an unknown field added) are judged twice: by a JSON Schema
validator (Draft 2020-12, as the OpenAPI 3.1 document is read) against the schema the model
renders, and by the model itself. They must agree: no body the document calls valid is
refused, none it calls invalid is accepted (issue 21 item 13).

One rule stated rather than expressed: a whole-number float (12.0) is a JSON Schema integer
but is refused (money and counts are JSON integers, AmountFen's description says so), so
such values are not among the variations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from chassis.errors import InvalidArgument
from gateway.credit.routes.admin import (
    CreditBlacklistImportRequest,
    CreditBlacklistRemovalRequest,
    CreditScorecardLoadRequest,
)
from gateway.credit.routes.consents import CreditConsentRequest
from gateway.credit.routes.merchant import DepositWaiverForAccount, DepositWaiverForPhone
from gateway.credit.routes.score import CreditDeclarationRequest
from gateway.edge.bodies import Body, parse_body
from gateway.wealth.bodies import (
    FundBuyRequest,
    FundSellRequest,
    NoOptions,
    PriceRequest,
    ProductSubscriptionRequest,
    ReservationRequest,
    RiskQuestionnaire,
    YuebaoAmountRequest,
)
from gateway.wealth.routes.admin import (
    CreateFundRequest,
    CreateProductRequest,
    PublishNavRequest,
    WealthJobsRequest,
)

_LATER = (datetime.now(UTC) + timedelta(days=30)).isoformat()

VALID: list[tuple[type[Body], dict[str, Any]]] = [
    (YuebaoAmountRequest, {"amount_fen": 100}),
    (ProductSubscriptionRequest, {"amount_fen": 100_000, "currency": "CNY"}),
    (PriceRequest, {"price_fen": 100_000}),
    (ReservationRequest, {"amount_fen": 1, "annual_yield_min": "0.04", "term_days_max": 180}),
    (NoOptions, {}),
    (RiskQuestionnaire, {"answer_scores": [1, 2, 3, 4, 5, 5, 4, 3, 2, 1]}),
    (FundBuyRequest, {"amount_fen": 10_000, "risk_acknowledged": False}),
    (FundSellRequest, {"units": "100.25"}),
    (WealthJobsRequest, {"business_date": "2025-03-03"}),
    (
        CreateProductRequest,
        {
            "product_id": "ztb-1",
            "issuer": "浙商小贷",
            "insurer": "国泰财险",
            "term_days": 91,
            "expected_annual_yield": "0.0420",
            "amount_min_fen": 100_000,
            "quota_fen": 10_000_000,
            "sale_starts_at": "2025-03-01T00:00:00+08:00",
            "sale_ends_at": "2025-04-01T00:00:00Z",
        },
    ),
    (CreateFundRequest, {"fund_id": "f-1", "name": "Bond", "category": "bond", "risk_level": "R2"}),
    (PublishNavRequest, {"nav_date": "2025-03-03", "nav_per_unit": "1.0234"}),
    (CreditDeclarationRequest, {"monthly_income_fen": 0, "education": "bachelor"}),
    (CreditConsentRequest, {"merchant_id": "2188", "purpose": "score", "expires_at": _LATER}),
    (
        CreditBlacklistImportRequest,
        {"source": "court:x", "listings": [{"resident_id_hash": "a" * 64, "case_reference": "c"}]},
    ),
    (
        CreditBlacklistRemovalRequest,
        {"source": "partner:y", "case_references": ["c"], "reason": "settled", "note": "n"},
    ),
    (CreditScorecardLoadRequest, {"model": {"version": "v2"}}),
    (DepositWaiverForAccount, {"person_account_id": "2088", "amount_fen": 100}),
    (DepositWaiverForPhone, {"person_phone": "13900000000", "amount_fen": 100}),
]
AWKWARD: list[Any] = [
    "",
    " ",
    "x",
    "x" * 201,
    "0",
    "0.0420",
    "1.5",
    "-1",
    "1e5",
    "NaN",
    "CNY",
    "USD",
    "R1",
    "R6",
    "bond",
    "crypto",
    "score",
    "settled",
    "bachelor",
    "court:x",
    "gossip",
    "2025-03-03",
    "2025-3-3",
    "2025-02-30",
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00",
    "13900000000",
    "139",
    "a" * 64,
    0,
    1,
    -1,
    5,
    6,
    3650,
    3651,
    10**12,
    10**12 + 1,
    1.5,
    True,
    False,
    None,
    [],
    [3] * 10,
    [3] * 9,
    ["c"],
    [""],
    [{"resident_id_hash": "b" * 64, "case_reference": "d"}],
    [{"resident_id_hash": "B" * 64, "case_reference": "d"}],
    {},
    {"version": "v"},
]


def _variations(body: dict[str, Any]) -> list[dict[str, Any]]:
    variations = [body, {**body, "unknown": 1}]
    for field in body:
        variations.append({name: value for name, value in body.items() if name != field})
        variations.extend({**body, field: value} for value in AWKWARD)
    return variations


def _model_accepts(model: type[Body], body: dict[str, Any]) -> bool:
    try:
        parse_body(model, body)
    except InvalidArgument:
        return False
    return True


@pytest.mark.parametrize(("model", "valid"), VALID, ids=[model.__name__ for model, _ in VALID])
def test_the_schema_and_the_model_agree(model: type[Body], valid: dict[str, Any]) -> None:
    validator = Draft202012Validator(
        model.model_json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    assert validator.is_valid(valid) and _model_accepts(model, valid)
    disagreements = [
        (body, validator.is_valid(body))
        for body in _variations(valid)
        if validator.is_valid(body) != _model_accepts(model, body)
    ]
    assert disagreements == []
