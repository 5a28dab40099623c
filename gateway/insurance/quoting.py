"""What a quote is priced from: the caller's request, completed from what the platform knows.

The caller names the product and what only they know (a trip's days, the insured's age, a
deposit tier, the trade to insure); the gateway fills in the rest from the services, never
from the body: the holder is the caller's own account, the credit score is the credit
service's, the trade's amount is the payment service's, and a merchant's refund rate is
counted from the merchant's own trades (``refund_rate_bps``). The quote is bound to all of it
by hash in the insurance service; the gateway keeps the inputs by quote id
(``insurance_quotes``) so the purchase presents exactly them again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from google.protobuf import json_format
from pymongo.asynchronous.collection import AsyncCollection

from chassis.errors import InvalidArgument, NotFound
from chassis.money import Money
from colony.common.v1 import paging_pb2
from colony.credit.v1 import credit_pb2 as cpb
from colony.insurance.v1 import insurance_pb2 as ipb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import CreditClient, PaymentClient
from gateway.edge.payloads import optional_whole_number, require_text
from gateway.edge.representations import money_to_proto
from gateway.payment.trade_access import TradeParty, require_own_trade

# How many of a merchant's latest trades its refund rate is counted over.
REFUND_RATE_TRADES = 100
# An account younger than this carries the new_account risk signal.
NEW_ACCOUNT_AGE = timedelta(days=30)
PRODUCT_ID_LENGTH_MAX = 64
TRADE_ID_LENGTH_MAX = 64
AGE_MAX = 150
DURATION_DAYS_MAX = 366
COVER_FEN_MAX = 10**10
CURRENCY = "CNY"
_PAID_STATES = frozenset(
    {
        pb.TRADE_STATE_PAID,
        pb.TRADE_STATE_SHIPPED,
        pb.TRADE_STATE_REFUND_REQUESTED,
        pb.TRADE_STATE_SETTLED,
        pb.TRADE_STATE_REFUNDED,
    }
)


def refund_rate_bps(trades: Iterable[pb.Trade]) -> int:
    """Refunded trades per 10,000 trades paid, rounded down (0 for a merchant with none).

    A trade counts as refunded when any part of it was refunded.
    """
    paid = [trade for trade in trades if trade.state in _PAID_STATES]
    if not paid:
        return 0
    refunded = sum(1 for trade in paid if trade.refunded.amount_fen > 0)
    return refunded * 10_000 // len(paid)


def risk_signals(account: pb.Account, now: datetime) -> list[str]:
    """The account's risk signals the platform knows for account-security pricing."""
    signals = []
    if (
        account.HasField("opened_at")
        and now - account.opened_at.ToDatetime(tzinfo=now.tzinfo) < NEW_ACCOUNT_AGE
    ):
        signals.append("new_account")
    return signals


class Quoting:
    """Builds QuoteInputs for the caller, and keeps them by quote id for the purchase."""

    def __init__(
        self,
        payment: PaymentClient,
        credit: CreditClient,
        quotes: AsyncCollection[dict[str, Any]],
    ) -> None:
        self._payment = payment
        self._credit = credit
        self._quotes = quotes

    async def inputs(
        self, product: ipb.Product, holder_id: str, body: dict[str, Any], now: datetime
    ) -> ipb.QuoteInputs:
        inputs = ipb.QuoteInputs(product_id=product.product_id, holder_id=holder_id)
        kind = product.kind
        if kind == ipb.PRODUCT_KIND_ACCOUNT_SECURITY:
            score = await self._credit.get_score(
                cpb.GetScoreRequest(
                    caller=cpb.Caller(kind=cpb.CALLER_KIND_OWNER, id=holder_id),
                    person_id=holder_id,
                )
            )
            inputs.credit_score = score.score
            account = await self._payment.get_account(holder_id)
            inputs.risk_signals.extend(risk_signals(account, now))
        elif kind == ipb.PRODUCT_KIND_RETURN_SHIPPING:
            trade_id = require_text(body, "trade_id", TRADE_ID_LENGTH_MAX)
            trade = await require_own_trade(self._payment, trade_id, holder_id, TradeParty.BUYER)
            inputs.trade_id = trade.trade_id
            inputs.trade_amount.CopyFrom(trade.amount)
            inputs.merchant_refund_rate_bps = await self.merchant_refund_rate_bps(
                trade.merchant_account_id
            )
        elif kind == ipb.PRODUCT_KIND_MERCHANT_DEPOSIT:
            cover_fen = optional_whole_number(body, "cover_fen", COVER_FEN_MAX)
            if cover_fen is None:
                raise InvalidArgument("cover_fen is required", metadata={"field": "cover_fen"})
            inputs.cover.CopyFrom(money_to_proto(Money(cover_fen, CURRENCY)))
            inputs.merchant_refund_rate_bps = await self.merchant_refund_rate_bps(holder_id)
        else:
            for field, maximum in (("insured_age", AGE_MAX), ("duration_days", DURATION_DAYS_MAX)):
                value = optional_whole_number(body, field, maximum)
                if value is None:
                    raise InvalidArgument(f"{field} is required", metadata={"field": field})
                setattr(inputs, field, value)
        return inputs

    async def merchant_refund_rate_bps(self, merchant_id: str) -> int:
        response = await self._payment.list_trades(
            pb.ListTradesRequest(
                account_id=merchant_id,
                page=paging_pb2.PageRequest(page_size=REFUND_RATE_TRADES),
            )
        )
        return refund_rate_bps(t for t in response.trades if t.merchant_account_id == merchant_id)

    async def keep(self, quote: ipb.Quote, inputs: ipb.QuoteInputs) -> None:
        """Remember the inputs a quote was priced from (for its purchase)."""
        await self._quotes.update_one(
            {"_id": quote.quote_id},
            {
                "$setOnInsert": {
                    "holder_id": quote.holder_id,
                    "inputs": json_format.MessageToDict(inputs, preserving_proto_field_name=True),
                }
            },
            upsert=True,
        )

    async def kept_inputs(self, quote_id: str, holder_id: str) -> ipb.QuoteInputs:
        """The inputs of the caller's quote; someone else's quote is unknown (404)."""
        found = await self._quotes.find_one({"_id": quote_id})
        if found is None or found["holder_id"] != holder_id:
            raise NotFound(
                f"there is no quote {quote_id!r} of yours", metadata={"quote_id": quote_id}
            )
        return json_format.ParseDict(found["inputs"], ipb.QuoteInputs())
