"""The ABS part of the wallet overview (GET /v1/wallet): the caller's units in each pool,
with the interest and principal paid to them."""

from __future__ import annotations

from typing import Any

from chassis.money import Money
from colony.loan.v1 import merchant_lending_pb2 as mpb
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.edge.openapi import schema_ref
from gateway.edge.representations import money_json
from gateway.loans.merchant.abs_representations import abs_holding_json

WALLET_ABS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The caller's ABS units (POST /v1/abs-pools/{pool_id}/units buys them). "
    "Absent when the loan service cannot answer right now, and for merchant accounts.",
    "required": ["holdings", "units"],
    "properties": {
        "holdings": {"type": "array", "items": schema_ref("AbsHolding")},
        "units": {**schema_ref("Money"), "description": "Units held in every pool."},
    },
}


async def abs_summary(lending: MerchantLendingClient, investor_id: str) -> dict[str, Any]:
    response = await lending.list_abs_holdings(mpb.ListAbsHoldingsRequest(investor_id=investor_id))
    units_fen = sum(holding.units.amount_fen for holding in response.holdings)
    return {
        "holdings": [abs_holding_json(holding) for holding in response.holdings],
        "units": money_json(Money(units_fen)),
    }
