"""No existence oracle in wealth (issue 21, item 10): an unknown holding or fund order is
answered exactly as someone else's, through the gateway, on reads and on changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from gateway.edge.ownership import not_yours
from gateway.tests.conftest import User, problem_of
from gateway.tests.saga_support import funded_payer, new_key
from gateway.tests.test_wealth_fixed_term import UNIT_FEN, create_product, subscribe
from gateway.tests.wealth_support import completed

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]


@pytest.fixture(scope="module")
def service_addresses(wealth_service_addresses: dict[str, str]) -> dict[str, str]:
    return wealth_service_addresses


def _without(problem: dict[str, Any], object_id: str) -> dict[str, Any]:
    """The problem with the id it names blanked, so two ids' answers can be compared."""
    shown = {key: value for key, value in problem.items() if key not in ("instance", "trace_id")}
    return {
        key: value.replace(object_id, "<id>") if isinstance(value, str) else value
        for key, value in shown.items()
    } | {"metadata": {k: "<id>" for k in problem.get("metadata", {})}}


async def test_an_unknown_holding_is_answered_as_someone_elses(
    gateway: Client, new_user: NewUser, operator: User, clock: ManualClock
) -> None:
    product = await create_product(gateway, operator, clock, quota_fen=2 * UNIT_FEN)
    owner = await funded_payer(gateway, new_user, UNIT_FEN)
    stranger = await new_user()
    result = await completed(await subscribe(gateway, owner, product["product_id"], UNIT_FEN))
    theirs = result["holding"]["holding_id"]
    unknown = f"{theirs[:-4]}zzzz"

    def get(holding_id: str) -> Any:
        return gateway.get(f"/v1/wealth/holdings/{holding_id}", headers=stranger.headers)

    def offer(holding_id: str) -> Any:
        return gateway.post(
            f"/v1/wealth/holdings/{holding_id}/listing",
            json={"price_fen": UNIT_FEN},
            headers=stranger.keyed(new_key()),
        )

    for call in (get, offer):
        someone_elses = await problem_of(await call(theirs), 404, "NOT_FOUND")
        no_such = await problem_of(await call(unknown), 404, "NOT_FOUND")
        assert _without(no_such, unknown) == _without(someone_elses, theirs)
        assert no_such["detail"] == not_yours("holding", unknown).message


async def test_an_unknown_fund_order_is_answered_as_not_yours(
    gateway: Client, new_user: NewUser
) -> None:
    user = await new_user()
    unknown = f"fo-{new_key()}"
    response = await gateway.get(f"/v1/wealth/fund-orders/{unknown}", headers=user.headers)
    problem = await problem_of(response, 404, "NOT_FOUND")
    expected = not_yours("order", unknown)
    assert problem["detail"] == expected.message
    assert problem.get("metadata", {}) == expected.metadata
