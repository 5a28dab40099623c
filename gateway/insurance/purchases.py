"""Pricing and buying for a caller: the product, the quote, the premium saga's input.

Shared by the insurance routes (gateway.insurance.routes.policies) and the return-shipping
cover bought with a trade's payment (gateway.insurance.trade_cover).
"""

from __future__ import annotations

import uuid
from typing import Any

from chassis.clock import Clock
from chassis.errors import NotFound
from chassis.money import Money
from colony.insurance.v1 import insurance_pb2 as ipb
from gateway.clients import InsuranceClient
from gateway.insurance.quoting import Quoting
from gateway.insurance.sagas.premium import premium_input
from gateway.payment.methods import PaymentMethod
from gateway.payment.wallet_funding import WalletFunding
from gateway.sagas.definition import JsonObject


class Purchases:
    def __init__(
        self,
        insurance: InsuranceClient,
        quoting: Quoting,
        funding: WalletFunding,
        clock: Clock,
    ) -> None:
        self._insurance = insurance
        self._quoting = quoting
        self._funding = funding
        self._clock = clock

    async def product(self, product_id: str) -> ipb.Product:
        """The catalogue's product; an unknown one is not found (404, as an unknown fund is).

        The body is well-formed whatever the id: the catalogue, not the schema, knows them.
        """
        for product in (await self._insurance.list_products()).products:
            if product.product_id == product_id:
                return product
        raise NotFound(
            f"there is no insurance product {product_id!r}",
            metadata={"field": "product_id", "product_id": product_id},
        )

    async def quote(self, product: ipb.Product, holder_id: str, body: dict[str, Any]) -> ipb.Quote:
        """A quote for the holder, its inputs kept for the purchase."""
        inputs = await self._quoting.inputs(product, holder_id, body, self._clock.now())
        response = await self._insurance.create_quote(
            ipb.CreateQuoteRequest(idempotency_key=f"quote:{uuid.uuid4().hex}", inputs=inputs)
        )
        await self._quoting.keep(response.quote, inputs)
        return response.quote

    async def premium_input(
        self, payer_id: str, quote_id: str, methods: tuple[PaymentMethod, ...], split: bool
    ) -> JsonObject:
        """The premium saga's input for the payer's quote (theirs, or 404)."""
        inputs = await self._quoting.kept_inputs(quote_id, payer_id)
        quote = await self._insurance.get_quote(quote_id)
        product = await self.product(quote.product_id)
        premium = Money(quote.premium.amount_fen, quote.premium.currency or "CNY")
        return premium_input(
            policy_id=f"pol_{uuid.uuid4().hex[:24]}",
            quote=quote,
            inputs=inputs,
            insurer_account_id=product.insurer_account_id,
            payer_account_id=payer_id,
            funding=await self._funding.plan(payer_id, premium, methods, split=split),
        )
