"""GET /v1/wallet calls the wealth service a bounded number of times (issue 21, item 11).

An investor with positions in eight funds: the overview values them all, from one page of
the fund catalogue, with no GetFund per position; the wealth calls of one overview do not
grow with the number of positions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from gateway.clients import ServiceChannels
from gateway.settings import GatewaySettings
from gateway.tests.conftest import User
from gateway.tests.saga_support import funded_payer
from gateway.tests.test_wealth_funds import (
    CAUTIOUS_ANSWERS,
    CST_MORNING,
    FIRST_TRADING_DAY,
    YUAN,
    answer_questionnaire,
    buy,
)
from gateway.tests.wealth_support import completed, fen, relog

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
FUNDS = 8


@pytest.fixture(scope="module")
def service_addresses(wealth_service_addresses: dict[str, str]) -> dict[str, str]:
    return wealth_service_addresses


class CountingInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Counts the unary calls made on a channel, by method name."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        method = client_call_details.method
        name = method.decode() if isinstance(method, bytes) else str(method)
        self.calls[name.rsplit("/", 1)[-1]] += 1
        return await continuation(client_call_details, request)


async def test_the_overview_values_every_position_with_bounded_calls(
    gateway: Client,
    new_user: NewUser,
    *,
    operator: User,
    clock: ManualClock,
    settings: GatewaySettings,
    channels: ServiceChannels,
    service_addresses: dict[str, str],
    start_gateway: Callable[[GatewaySettings, ServiceChannels], Awaitable[Client]],
) -> None:
    investor = await funded_payer(gateway, new_user, FUNDS * 100 * YUAN)
    await answer_questionnaire(gateway, investor, CAUTIOUS_ANSWERS)
    fund_ids = [f"fund-fan-out-{n}" for n in range(FUNDS)]
    for fund_id in fund_ids:
        created = await gateway.post(
            "/v1/admin/wealth/funds",
            json={
                "fund_id": fund_id,
                "name": fund_id,
                "category": "money_market",
                "risk_level": "R1",
            },
            headers=operator.headers,
        )
        assert created.status == 201, await created.text()
        await completed(await buy(gateway, investor, fund_id, 100 * YUAN))
    clock.advance(datetime.combine(FIRST_TRADING_DAY, CST_MORNING) - clock.now())
    await relog(gateway, investor, operator)
    for fund_id in fund_ids:
        published = await gateway.post(
            f"/v1/admin/wealth/funds/{fund_id}/navs",
            json={"nav_date": FIRST_TRADING_DAY.isoformat(), "nav_per_unit": "1.2500"},
            headers=operator.headers,
        )
        assert published.status == 200, await published.text()

    counter = CountingInterceptor()
    counted = grpc.aio.insecure_channel(service_addresses["wealth"], interceptors=[counter])
    watched = await start_gateway(
        settings, ServiceChannels({**channels.by_service, "wealth": counted})
    )
    try:
        response = await watched.get("/v1/wallet", headers=investor.headers)
        assert response.status == 200, await response.text()
        wallet = await response.json()
    finally:
        await counted.close()
    # 100 yuan at 1.2500 a unit is 80 units, worth 100 yuan, in each fund.
    assert fen(wallet["wealth"]["fund_positions_value"]) == FUNDS * 100 * YUAN
    assert counter.calls["GetFund"] == 0
    assert counter.calls["ListFunds"] == 1
    assert sum(counter.calls.values()) <= 4, counter.calls
