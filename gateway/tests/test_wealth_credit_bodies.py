"""The wealth and credit request bodies are declared once (issue 21 item 13).

Each body is a strict pydantic model (gateway.edge.bodies): the OpenAPI document's request
schema of every wealth and credit route is exactly what its model renders, and through the
real gateway a schema-valid body gets past the body check (whatever the business then says)
while a schema-violating one — wrong type, unknown field, out of range, off pattern — is a
400 naming the field, with the field's reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.credit.routes.admin import (
    CreditBlacklistImportRequest,
    CreditBlacklistRemovalRequest,
    CreditScorecardLoadRequest,
)
from gateway.credit.routes.consents import CreditConsentRequest
from gateway.credit.routes.merchant import DepositWaiverForAccount, DepositWaiverForPhone
from gateway.credit.routes.score import CreditDeclarationRequest
from gateway.edge.bodies import Body, body_schemas
from gateway.settings import GatewaySettings
from gateway.tests.conftest import User, gateway_settings
from gateway.tests.saga_support import new_key
from gateway.wealth.bodies import (
    FundBuyRequest,
    FundSellRequest,
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

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]

MODELS: tuple[type[Body], ...] = (
    YuebaoAmountRequest,
    ProductSubscriptionRequest,
    PriceRequest,
    ReservationRequest,
    RiskQuestionnaire,
    FundBuyRequest,
    FundSellRequest,
    WealthJobsRequest,
    CreateProductRequest,
    CreateFundRequest,
    PublishNavRequest,
    CreditDeclarationRequest,
    CreditConsentRequest,
    CreditBlacklistImportRequest,
    CreditBlacklistRemovalRequest,
    CreditScorecardLoadRequest,
    DepositWaiverForAccount,
    DepositWaiverForPhone,
)
# Request schemas that are one of two models ("exactly one of" a pair of fields).
ONE_OF = {"CreditDepositWaiverRequest": ("DepositWaiverForAccount", "DepositWaiverForPhone")}
PREFIXES = (
    "/v1/wealth/",
    "/v1/admin/wealth/",
    "/v1/admin/jobs/wealth",
    "/v1/credit/",
    "/v1/merchant/credit/",
    "/v1/admin/credit/",
    "/v1/operations",
    "/v1/admin/operations",
)
HASH = "a" * 64


@pytest.fixture(scope="module")
def service_addresses(credit_service_addresses: dict[str, str]) -> dict[str, str]:
    return credit_service_addresses


@pytest.fixture(scope="module")
def settings(
    database_name: str, service_addresses: dict[str, str], operator_phone: str
) -> GatewaySettings:
    # Every case is a money request of one of three callers: no per-minute budget here.
    return gateway_settings(
        database_name,
        service_addresses,
        COLONY_OPERATOR_PHONES=operator_phone,
        COLONY_RATE_LIMIT_MONEY_PER_MINUTE="0",
        COLONY_RATE_LIMIT_WRITE_PER_MINUTE="0",
    )


def _soon(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _product(**change: Any) -> dict[str, Any]:
    return {
        "product_id": f"ztb-bodies-{new_key()[:8]}",
        "issuer": "浙商小贷",
        "insurer": "国泰财险",
        "term_days": 91,
        "expected_annual_yield": "0.0420",
        "amount_min_fen": 100_000,
        "quota_fen": 1_000_000,
        "sale_starts_at": "2025-03-01T00:00:00+08:00",
        "sale_ends_at": "2025-04-01T00:00:00Z",
        **change,
    }


# (who, path, a schema-valid body, [(a schema-violating body, its field, its reason)])
CASES: list[tuple[str, str, dict[str, Any], list[tuple[dict[str, Any], str, str]]]] = [
    (
        "user",
        "/v1/wealth/yuebao/subscriptions",
        {"amount_fen": 100},
        [
            ({"amount_fen": 100.5}, "amount_fen", "INVALID_AMOUNT"),
            ({"amount_fen": 0}, "amount_fen", "INVALID_AMOUNT"),
            ({}, "amount_fen", "INVALID_AMOUNT"),
        ],
    ),
    (
        "user",
        "/v1/wealth/yuebao/redemptions",
        {"amount_fen": 100, "currency": "CNY"},
        [({"amount_fen": 100, "currency": "USD"}, "currency", "UNSUPPORTED_CURRENCY")],
    ),
    (
        "user",
        "/v1/wealth/products/no-such-product/subscriptions",
        {"amount_fen": 100_000},
        [({"amount_fen": 100_000, "memo": "x"}, "memo", "INVALID_ARGUMENT")],
    ),
    (
        "user",
        "/v1/wealth/holdings/no-such-holding/listing",
        {"price_fen": 100_000},
        [({"price_fen": "100000"}, "price_fen", "INVALID_AMOUNT")],
    ),
    (
        "user",
        "/v1/wealth/listings/no-such-holding/purchases",
        {"price_fen": 100_000},
        [({"price_fen": 10**13}, "price_fen", "INVALID_AMOUNT")],
    ),
    (
        "user",
        "/v1/wealth/holdings/no-such-holding/listing/withdraw",
        {},
        [({"price_fen": 1}, "price_fen", "INVALID_ARGUMENT")],
    ),
    (
        "user",
        "/v1/wealth/reservations",
        {"amount_fen": 100_000, "annual_yield_min": "0.0400", "term_days_max": 180},
        [
            (
                {"amount_fen": 100_000, "annual_yield_min": "4%", "term_days_max": 180},
                "annual_yield_min",
                "INVALID_ARGUMENT",
            ),
            (
                {"amount_fen": 100_000, "annual_yield_min": "0.04", "term_days_max": 3651},
                "term_days_max",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "user",
        "/v1/wealth/reservations/no-such-reservation/cancel",
        {},
        [({"reason": "x"}, "reason", "INVALID_ARGUMENT")],
    ),
    (
        "user",
        "/v1/wealth/risk-profile",
        {"answer_scores": [3] * 10},
        [
            ({"answer_scores": [3] * 9}, "answer_scores", "INVALID_ARGUMENT"),
            ({"answer_scores": [6] + [3] * 9}, "answer_scores.0", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "user",
        "/v1/wealth/funds/no-such-fund/purchases",
        {"amount_fen": 10_000, "risk_acknowledged": True},
        [
            (
                {"amount_fen": 10_000, "risk_acknowledged": "yes"},
                "risk_acknowledged",
                "INVALID_ARGUMENT",
            )
        ],
    ),
    (
        "user",
        "/v1/wealth/funds/no-such-fund/sales",
        {"units": "1.00"},
        [
            ({"units": "-1"}, "units", "INVALID_AMOUNT"),
            ({"units": "NaN"}, "units", "INVALID_AMOUNT"),
        ],
    ),
    (
        "operator",
        "/v1/admin/wealth/products",
        _product(),
        [
            (_product(sale_starts_at="2025-03-01T00:00:00"), "sale_starts_at", "INVALID_ARGUMENT"),
            (_product(issuer=" "), "issuer", "INVALID_ARGUMENT"),
            (_product(quota_fen=12.5), "quota_fen", "INVALID_AMOUNT"),
        ],
    ),
    (
        "operator",
        "/v1/admin/wealth/funds",
        {"fund_id": "fund-bodies", "name": "Bodies Bond", "category": "bond", "risk_level": "R2"},
        [
            (
                {"fund_id": "f", "name": "n", "category": "crypto", "risk_level": "R2"},
                "category",
                "INVALID_ARGUMENT",
            ),
            (
                {"fund_id": "f", "name": "n", "category": "bond", "risk_level": "R6"},
                "risk_level",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "operator",
        "/v1/admin/wealth/funds/no-such-fund/navs",
        {"nav_date": "2025-02-28", "nav_per_unit": "1.0100"},
        [
            (
                {"nav_date": "03/03/2025", "nav_per_unit": "1.0100"},
                "nav_date",
                "INVALID_BUSINESS_DATE",
            ),
            ({"nav_date": "2025-03-03", "nav_per_unit": 1.01}, "nav_per_unit", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "operator",
        "/v1/admin/jobs/wealth",
        {"business_date": "2025-01-01"},
        [({"business_date": "2025-1-1"}, "business_date", "INVALID_BUSINESS_DATE")],
    ),
    (
        "user",
        "/v1/credit/declarations",
        {"monthly_income_fen": 0, "education": None, "employer": "蚂蚁集团"},
        [
            ({"education": "phd"}, "education", "INVALID_ARGUMENT"),
            ({"monthly_income_fen": -1}, "monthly_income_fen", "INVALID_AMOUNT"),
            ({"employer": ""}, "employer", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "user",
        "/v1/credit/consents",
        {"merchant_id": "2188000000000000", "purpose": "score", "expires_at": _soon(30)},
        [
            (
                {"merchant_id": "2188", "purpose": "marketing", "expires_at": _soon(30)},
                "purpose",
                "INVALID_ARGUMENT",
            ),
            (
                {"merchant_id": "2188", "purpose": "score", "expires_at": "next week"},
                "expires_at",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "merchant",
        "/v1/merchant/credit/deposit-waivers",
        {"person_phone": "13900000000", "amount_fen": 100},
        [
            ({"person_phone": "139", "amount_fen": 100}, "person_phone", "INVALID_PHONE"),
            (
                {"person_phone": "13900000000", "person_account_id": "x", "amount_fen": 100},
                "person_account_id",
                "INVALID_ARGUMENT",
            ),
            ({"amount_fen": 100}, "person_account_id", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "operator",
        "/v1/admin/credit/blacklist",
        {
            "source": "court:bodies-test",
            "listings": [{"resident_id_hash": HASH, "case_reference": "(2026)京0108执1号"}],
        },
        [
            (
                {
                    "source": "court:bodies-test",
                    "listings": [{"resident_id_hash": HASH.upper(), "case_reference": "c"}],
                },
                "listings.0.resident_id_hash",
                "INVALID_ARGUMENT",
            ),
            ({"source": "gossip", "listings": []}, "source", "INVALID_ARGUMENT"),
        ],
    ),
    (
        "operator",
        "/v1/admin/credit/blacklist/removals",
        {"source": "court:bodies-test", "case_references": ["unknown"], "reason": "settled"},
        [
            (
                {"source": "court:b", "case_references": ["c"], "reason": "settled", "note": ""},
                "note",
                "INVALID_ARGUMENT",
            ),
            (
                {"source": "court:b", "case_references": [], "reason": "settled"},
                "case_references",
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    (
        "operator",
        "/v1/admin/credit/scorecards",
        # Valid as a body; what makes a scorecard is the credit service's (INVALID_SCORECARD).
        {"model": {"version": "bodies-1"}},
        [({"model": []}, "model", "INVALID_ARGUMENT")],
    ),
]


async def test_every_request_schema_of_the_wealth_and_credit_routes_is_its_model(
    gateway: Client,
) -> None:
    document = await (await gateway.get("/openapi.json")).json()
    components = document["components"]["schemas"]
    referenced = {
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/")[-1]
        for path, item in document["paths"].items()
        if path.startswith(PREFIXES)
        for operation in item.values()
        if "requestBody" in operation
    }
    generated = body_schemas(*MODELS)
    hoisted = {"CreditBlacklistListing"}  # an import's listings, nested in its model
    one_of_members = set(ONE_OF["CreditDepositWaiverRequest"])
    assert referenced == (set(generated) - hoisted - one_of_members) | set(ONE_OF)
    for name in referenced:
        for member in ONE_OF.get(name, (name,)):
            assert components[member] == generated[member], member
            assert components[member]["additionalProperties"] is False, member
    members = [schema["$ref"] for schema in components["CreditDepositWaiverRequest"]["oneOf"]]
    assert [ref.rsplit("/")[-1] for ref in members] == list(ONE_OF["CreditDepositWaiverRequest"])
    assert components["CreditBlacklistListing"] == generated["CreditBlacklistListing"]


def _refused_for_the_body(status: int, problem: dict[str, Any]) -> bool:
    return status == 400 and "field" in problem.get("metadata", {})


async def test_a_valid_body_passes_and_a_violating_one_is_a_400_naming_its_field(
    gateway: Client, new_user: NewUser, new_merchant: NewUser, operator: User
) -> None:
    callers = {"user": await new_user(), "merchant": await new_merchant(), "operator": operator}
    for who, path, valid, violations in CASES:
        caller = callers[who]
        response = await gateway.post(path, json=valid, headers=caller.keyed(new_key()))
        text = await response.text()
        assert response.status < 500, (path, text)
        problem = await response.json() if response.status >= 400 else {}
        assert not _refused_for_the_body(response.status, problem), (path, valid, text)
        for body, field, reason in violations:
            refused = await gateway.post(path, json=body, headers=caller.keyed(new_key()))
            problem = await refused.json()
            assert refused.status == 400, (path, body, problem)
            assert problem["metadata"]["field"] == field, (path, body, problem)
            assert problem["reason"] == reason, (path, body, problem)
