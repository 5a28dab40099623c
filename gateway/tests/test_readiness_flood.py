"""/readyz is public but cheap (issue 21, item 11): requests that arrive together share
one check, so a flood of them does not become a flood of health RPCs to the services."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp.test_utils import TestClient

from chassis.settings import SERVICE_NAMES
from gateway.clients import ServiceChannels
from gateway.settings import GatewaySettings

Client = TestClient[Any, Any]
REQUESTS = 100


class CountingInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        method = client_call_details.method
        self.calls[method.decode() if isinstance(method, bytes) else str(method)] += 1
        return await continuation(client_call_details, request)


async def test_a_flood_of_readyz_shares_its_checks(
    settings: GatewaySettings,
    payment_address: str,
    start_gateway: Callable[[GatewaySettings, ServiceChannels], Awaitable[Client]],
) -> None:
    counter = CountingInterceptor()
    # Every line's channel dials the module's payment service, so every check answers.
    channels = ServiceChannels(
        {
            name: grpc.aio.insecure_channel(payment_address, interceptors=[counter])
            for name in SERVICE_NAMES
        }
    )
    gateway = await start_gateway(settings, channels)
    try:
        responses = await asyncio.gather(*(gateway.get("/readyz") for _ in range(REQUESTS)))
        assert [response.status for response in responses] == [200] * REQUESTS
        checks = counter.calls["/grpc.health.v1.Health/Check"]
        # One health RPC per service per shared check; a few checks at most, not 100.
        assert checks % len(SERVICE_NAMES) == 0
        assert checks <= 5 * len(SERVICE_NAMES), checks
        # Each answer is fresh: a request after the flood runs a check of its own.
        assert (await gateway.get("/readyz")).status == 200
        assert counter.calls["/grpc.health.v1.Health/Check"] == checks + len(SERVICE_NAMES)
    finally:
        await channels.close()
