"""Cash loans within the lending capacity, through the gateway (issue 19, funding): real
payment, wealth, credit and loan services.

The operator pays in 1,500 yuan of capital (capacity 1,500: no bank borrowing). A borrower
the score advises 5,000 yuan borrows 1,000; a second application of 500.01 yuan, approved by
the decision, is refused 422 LENDING_CAPACITY with the 500 yuan available, lends nothing and
leaves no loan; 500 yuan pass, exactly up to the capacity. The operator sees it all used by
consumer lending, and `colony audit` is clean.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.tests.conftest import User, balance_fen, problem_of, top_up
from gateway.tests.lending_support import fund_lending
from gateway.tests.saga_support import new_key
from gateway.tests.test_credit import score_when
from gateway.tests.test_merchant_lending import colony_audit
from gateway.tests.wealth_support import completed, fen

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
ADVISED_CASH_SCORE = 600
SAVINGS_FEN = 5_000 * YUAN


@pytest.fixture(scope="module")
def service_addresses(loan_service_addresses: dict[str, str]) -> dict[str, str]:
    return loan_service_addresses


async def apply(gateway: Client, borrower: User, amount_fen: int) -> Any:
    return await gateway.post(
        "/v1/loans/cash-loans",
        json={"amount_fen": amount_fen, "term_months": 6, "method": "by_day"},
        headers=borrower.keyed(new_key()),
    )


async def test_a_cash_loan_beyond_the_capacity_is_refused_and_lends_nothing(
    gateway: Client,
    new_user: NewUser,
    operator: User,
    mongo_url: str,
    database_name: str,
) -> None:
    await fund_lending(gateway, operator, 1_500 * YUAN)
    borrower = await new_user()
    await top_up(gateway, borrower, SAVINGS_FEN, new_key())
    await score_when(gateway, borrower, lambda score: score["score"] >= ADVISED_CASH_SCORE)
    first = await completed(await apply(gateway, borrower, 1_000 * YUAN))
    assert first["decision"] == "approved"

    refused = await apply(gateway, borrower, 500 * YUAN + 1)
    problem = await problem_of(refused, 422, "LENDING_CAPACITY")
    assert (problem["metadata"]["capacity_fen"], problem["metadata"]["available_fen"]) == (
        str(1_500 * YUAN),
        str(500 * YUAN),
    )
    assert await balance_fen(gateway, borrower) == SAVINGS_FEN + 1_000 * YUAN
    listed = await (await gateway.get("/v1/loans/cash-loans", headers=borrower.headers)).json()
    assert [loan["loan_id"] for loan in listed["loans"]] == [first["loan_id"]]

    last = await completed(await apply(gateway, borrower, 500 * YUAN))
    assert last["decision"] == "approved"
    assert await balance_fen(gateway, borrower) == SAVINGS_FEN + 1_500 * YUAN
    capacity = await (await gateway.get("/v1/admin/loans/funding", headers=operator.headers)).json()
    assert (fen(capacity["consumer_used"]), fen(capacity["available"])) == (1_500 * YUAN, 0)
    assert await colony_audit(mongo_url, database_name) == []
