"""A Huabei line is granted within the lending capacity, through the gateway (issue 19,
funding; docs/loans.md): real payment, wealth, credit and loan services.

The operator pays in 300 yuan of capital. A newcomer the credit service advises a 500-yuan
line is granted 300 (the capacity available), `limited_reason` LENDING_CAPACITY, `advised_line`
500. Once 1,000 yuan more capital is paid in, the next read of the line syncs it again and it
stands at its advice, the reason gone. `colony audit` is clean.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.tests.conftest import User
from gateway.tests.lending_support import fund_lending
from gateway.tests.test_loans import OPENED_LINE_FEN, huabei, opened_user
from gateway.tests.test_merchant_lending import colony_audit
from gateway.tests.wealth_support import fen

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100


@pytest.fixture(scope="module")
def service_addresses(loan_service_addresses: dict[str, str]) -> dict[str, str]:
    return loan_service_addresses


async def test_a_line_is_granted_up_to_the_capacity_and_raised_when_it_allows(
    gateway: Client, new_user: NewUser, operator: User, mongo_url: str, database_name: str
) -> None:
    assert OPENED_LINE_FEN == 500 * YUAN
    await fund_lending(gateway, operator, 300 * YUAN)
    user = await opened_user(gateway, new_user)
    line = (await huabei(gateway, user))["line"]
    assert (fen(line["line"]), fen(line["advised_line"])) == (300 * YUAN, 500 * YUAN)
    assert line["limited_reason"] == "LENDING_CAPACITY"
    assert fen(line["available"]) == 300 * YUAN
    await fund_lending(gateway, operator, 1_000 * YUAN)
    line = (await huabei(gateway, user))["line"]
    assert (fen(line["line"]), line["limited_reason"]) == (500 * YUAN, "")
    assert await colony_audit(mongo_url, database_name) == []
