"""Lending needs capital: consumer and merchant loans are lent within capital + allowed bank
borrowing (docs/loans.md "Funding"). Test modules that take loans pay some in first, through
the operator's route, so the money moves too and `colony audit` stays clean."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests.conftest import User
from gateway.tests.saga_support import new_key

# 10,000,000 yuan: more than any test module lends.
TEST_CAPITAL_FEN = 1_000_000_000


async def fund_lending(
    gateway: TestClient[Any, Any], operator: User, amount_fen: int = TEST_CAPITAL_FEN
) -> None:
    response = await gateway.post(
        "/v1/admin/loans/funding/capital",
        json={"amount_fen": amount_fen},
        headers=operator.keyed(new_key()),
    )
    assert response.status == 201, await response.text()
    assert (await response.json())["state"] == "completed"


async def create_pool(
    gateway: TestClient[Any, Any],
    operator: User,
    pool_id: str,
    *,
    revolving_until: date,
    min_remaining_days: int,
    coupon_rate: str = "0.06",
    max_borrower_share: str = "1",
) -> None:
    """An ABS pool of current loans (POST /v1/admin/loans/abs-pools, as the operator)."""
    created = await gateway.post(
        "/v1/admin/loans/abs-pools",
        json={
            "pool_id": pool_id,
            "coupon_rate": coupon_rate,
            "revolving_until": revolving_until.isoformat(),
            "eligibility": {
                "require_current": True,
                "min_remaining_days": min_remaining_days,
                "max_borrower_share": max_borrower_share,
            },
        },
        headers=operator.keyed(new_key()),
    )
    assert created.status == 201, await created.text()
