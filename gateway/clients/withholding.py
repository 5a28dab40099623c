"""The payment service's withholding client (colony.payment.v1.WithholdingService)."""

from __future__ import annotations

import grpc

from colony.payment.v1 import withholding_pb2 as wpb
from colony.payment.v1 import withholding_pb2_grpc
from gateway.clients.base import ServiceClient


class WithholdingClient(ServiceClient):
    """Instructions to withhold from a merchant's settlements (served by the payment process,
    on its channel): order loans and post-loan control (gateway.loans.merchant)."""

    service_name = "payment"

    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float) -> None:
        super().__init__(deadline_seconds)
        self._stub = withholding_pb2_grpc.WithholdingServiceStub(channel)

    async def set_withholding(
        self, request: wpb.SetWithholdingRequest
    ) -> wpb.SetWithholdingResponse:
        return await self._call(self._stub.SetWithholding, request)

    async def release_withholding(
        self, request: wpb.ReleaseWithholdingRequest
    ) -> wpb.ReleaseWithholdingResponse:
        return await self._call(self._stub.ReleaseWithholding, request)

    async def list_withholdings(
        self, request: wpb.ListWithholdingsRequest
    ) -> wpb.ListWithholdingsResponse:
        return await self._call(self._stub.ListWithholdings, request)

    async def set_store_freeze(
        self, request: wpb.SetStoreFreezeRequest
    ) -> wpb.SetStoreFreezeResponse:
        return await self._call(self._stub.SetStoreFreeze, request)

    async def get_store_freeze(
        self, request: wpb.GetStoreFreezeRequest
    ) -> wpb.GetStoreFreezeResponse:
        return await self._call(self._stub.GetStoreFreeze, request)
