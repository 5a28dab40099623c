"""Products and quotes (products.py, pricing.py and quotes.py hold the rules)."""

from __future__ import annotations

import uuid

from chassis.grpc_server import Context
from chassis.mongo import Session
from colony.insurance.v1 import insurance_pb2 as pb
from services.insurance.pricing import price
from services.insurance.quotes import make_quote
from services.insurance.rpc_base import InsuranceRpcBase
from services.insurance.wire import (
    product_to_proto,
    quote_inputs_from_proto,
    quote_to_proto,
    require_id,
)


class QuotesRpc(InsuranceRpcBase):
    """The catalogue and quotes."""

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: Context
    ) -> pb.ListProductsResponse:
        return pb.ListProductsResponse(
            products=[product_to_proto(product) for product in self._catalogue.products]
        )

    async def CreateQuote(
        self, request: pb.CreateQuoteRequest, context: Context
    ) -> pb.CreateQuoteResponse:
        inputs = quote_inputs_from_proto(request.inputs)
        pricing = price(self._catalogue.product(inputs.product_id), inputs)

        async def create(session: Session) -> pb.CreateQuoteResponse:
            quote = make_quote(f"q-{uuid.uuid4().hex}", inputs, pricing, self._clock.now())
            await self._store.save_quote(session, quote)
            return pb.CreateQuoteResponse(quote=quote_to_proto(quote))

        return await self._idempotent("create-quote", request, pb.CreateQuoteResponse, create)

    async def GetQuote(self, request: pb.GetQuoteRequest, context: Context) -> pb.GetQuoteResponse:
        quote = await self._store.get_quote(require_id(request.quote_id, "quote_id"))
        return pb.GetQuoteResponse(quote=quote_to_proto(quote))
