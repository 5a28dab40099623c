"""The operator's ABS pools through the gateway (issue 19): real payment and loan services.

The operator creates a pool and reads it back; the same request again answers the same
pool, another key with the same id is a 409 POOL_EXISTS; bad terms are 400s naming the field
and create nothing; an unknown pool is a 404; a customer may not create one. Units recorded
by the loan service show in the pool's report.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.settings import SERVICE_NAMES
from colony.common.v1 import money_pb2
from colony.loan.v1 import merchant_lending_pb2 as mpb
from gateway.clients import ServiceChannels
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.tests.conftest import User, problem_of
from gateway.tests.saga_support import new_key
from gateway.tests.wealth_support import fen

Client = TestClient[Any, Any]
YUAN = 100


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, unreachable_address: str, manual_loan_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return {**addresses, "payment": payment_address, "loan": manual_loan_address}


def pool_body(pool_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pool_id": pool_id,
        "coupon_rate": "0.045",
        "revolving_until": "2025-06-30",
        "eligibility": {
            "require_current": True,
            "min_remaining_days": 30,
            "max_borrower_share": "0.2",
        },
    }
    return {**body, **changes}


async def test_the_operator_creates_a_pool_and_reads_its_report(
    gateway: Client, operator: User, channels: ServiceChannels
) -> None:
    key = new_key()
    created = await gateway.post(
        "/v1/admin/loans/abs-pools", json=pool_body("abs-2025-a"), headers=operator.keyed(key)
    )
    assert created.status == 201, await created.text()
    pool = await created.json()
    assert (pool["pool_id"], pool["coupon_rate"], pool["revolving_until"]) == (
        "abs-2025-a",
        "0.045",
        "2025-06-30",
    )
    assert pool["eligibility"]["max_borrower_share"] == "0.2"
    assert fen(pool["units"]) == fen(pool["cash"]) == 0 and pool["loans"] == []
    replayed = await gateway.post(
        "/v1/admin/loans/abs-pools", json=pool_body("abs-2025-a"), headers=operator.keyed(key)
    )
    assert replayed.status == 201 and await replayed.json() == pool
    taken = await gateway.post(
        "/v1/admin/loans/abs-pools", json=pool_body("abs-2025-a"), headers=operator.keyed(new_key())
    )
    await problem_of(taken, 409, "POOL_EXISTS")

    # Units the loan service recorded show in the report.
    lending = MerchantLendingClient(channels.loan, 5.0)
    # The loan service's RPC directly (test_abs_money buys units with wallet money).
    await lending.record_abs_units_sold(
        mpb.RecordAbsUnitsSoldRequest(
            idempotency_key=new_key(),
            pool_id="abs-2025-a",
            amount=money_pb2.Money(amount_fen=150_000 * YUAN, currency="CNY"),
            payment_posting_id="posting-units-1",
            investor_id="investor-1",
        )
    )
    read = await gateway.get("/v1/admin/loans/abs-pools/abs-2025-a", headers=operator.headers)
    assert read.status == 200, await read.text()
    report = await read.json()
    assert fen(report["units_sold"]) == fen(report["cash"]) == 150_000 * YUAN
    assert fen(report["purchases"]) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pool_id": ""}, "pool_id"),
        ({"pool_id": "abs/2025"}, "pool_id"),
        ({"coupon_rate": "six percent"}, "coupon_rate"),
        ({"coupon_rate": "1.5"}, "coupon_rate"),
        ({"revolving_until": "next spring"}, "revolving_until"),
        ({"revolving_until": "2025-02-30"}, "revolving_until"),
        (
            {"eligibility": {"require_current": True, "min_remaining_days": 30}},
            "eligibility.max_borrower_share",
        ),
        (
            {
                "eligibility": {
                    "require_current": True,
                    "min_remaining_days": -1,
                    "max_borrower_share": "0.2",
                }
            },
            "eligibility.min_remaining_days",
        ),
        (
            {
                "eligibility": {
                    "require_current": True,
                    "min_remaining_days": 30,
                    "max_borrower_share": "1.5",
                }
            },
            "eligibility.max_borrower_share",
        ),
        (
            {
                "eligibility": {
                    "require_current": True,
                    "min_remaining_days": 30,
                    "max_borrower_share": "0.2",
                    "loan_kinds": ["facility"],
                }
            },
            "eligibility.loan_kinds",
        ),
    ],
)
async def test_bad_terms_are_refused_naming_the_field_and_create_nothing(
    gateway: Client, operator: User, changes: dict[str, Any], field: str
) -> None:
    pool_id = f"abs-bad-{field.rsplit('.', maxsplit=1)[-1]}"
    refused = await gateway.post(
        "/v1/admin/loans/abs-pools",
        json={**pool_body(pool_id), **changes},
        headers=operator.keyed(new_key()),
    )
    problem = await problem_of(refused, 400, "INVALID_ARGUMENT")
    assert problem["metadata"]["field"] == field
    missing = await gateway.get(f"/v1/admin/loans/abs-pools/{pool_id}", headers=operator.headers)
    await problem_of(missing, 404, "NOT_FOUND")


async def test_pools_are_the_operators(gateway: Client, new_user: Any) -> None:
    customer = await new_user()
    refused = await gateway.post(
        "/v1/admin/loans/abs-pools", json=pool_body("abs-mine"), headers=customer.keyed(new_key())
    )
    assert refused.status == 403, await refused.text()
