"""Object-level authorisation of escrow trades: a caller sees and acts on their own trades only.

A trade that is not the caller's answers exactly like one that does not exist (404, the
same message), so trade ids cannot be probed. The service checks the parties again on
every action (services/payment/escrow.py, ACTION_ROLES); this check is the gateway's part,
"every request for an account checked against the caller" (DESIGN.md "Security"), and it
runs before any state is revealed.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import ErrorKind, InvalidArgument
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.ownership import get_own, list_own, path_id
from gateway.edge.representations import (
    TRADE_STATE_NAMES,
    trade_json,
    trade_state_value,
)
from gateway.edge.routing import QueryParameter

TRADE_ID_LENGTH_MAX = 64


class TradeParty(StrEnum):
    BUYER = "buyer"
    MERCHANT = "merchant"


def trade_id_of(request: web.Request) -> str:
    """The {trade_id} of the path; an id that cannot exist is a 404 like any unknown one."""
    return path_id(request, "trade_id", "trade", TRADE_ID_LENGTH_MAX)


def is_party(trade: pb.Trade, account_id: str, party: TradeParty) -> bool:
    if party is TradeParty.BUYER:
        return trade.buyer_account_id == account_id
    return trade.merchant_account_id == account_id


async def require_own_trade(
    payment: PaymentClient, trade_id: str, account_id: str, *parties: TradeParty
) -> pb.Trade:
    """The trade if account_id is one of its given parties; 404 otherwise, as for no trade."""
    assert parties, "name the parties that may see the trade"
    return await get_own(
        payment.get_trade(trade_id),
        lambda trade: any(is_party(trade, account_id, party) for party in parties),
        what="trade",
        object_id=trade_id,
        # An id the service cannot parse is as unknown as one it cannot find.
        unknown_kinds=(ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT),
    )


async def require_payable_trade(
    payment: PaymentClient, trade_id: str, buyer_account_id: str
) -> pb.Trade:
    """The caller's trade if the payment service says it can be paid now; 404 if not theirs."""
    return await get_own(
        payment.check_trade_payable(trade_id, buyer_account_id),
        lambda trade: is_party(trade, buyer_account_id, TradeParty.BUYER),
        what="trade",
        object_id=trade_id,
        unknown_kinds=(ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT),
    )


TRADE_PROBLEMS: dict[int, tuple[str, ...]] = {
    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
    HTTPStatus.UNPROCESSABLE_ENTITY: ("ILLEGAL_TRANSITION",),
    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
}


TRADE_STATE_QUERY = QueryParameter(
    "state", {"type": "string", "enum": list(TRADE_STATE_NAMES)}, "Only trades in this state."
)


def parse_trade_state(text: str | None) -> pb.TradeState.ValueType:
    """The state filter of a trade list; absent means every state."""
    if text is None:
        return pb.TRADE_STATE_UNSPECIFIED
    if text not in TRADE_STATE_NAMES:
        raise InvalidArgument(
            f"state must be one of {', '.join(TRADE_STATE_NAMES)}", metadata={"field": "state"}
        )
    return trade_state_value(text)


async def list_trades_as(
    payment: PaymentClient,
    request: web.Request,
    party: TradeParty,
    trade_json_of: Callable[[pb.Trade], dict[str, Any]] | None = None,
    *,
    state: pb.TradeState.ValueType | None = None,
    items_name: str = "trades",
) -> web.Response:
    """A page of the caller's trades in which it is `party` (buyer or merchant).

    The state filter is the query's ``state`` unless given; trade_json_of defaults to the
    party's view of a trade, listed under items_name.
    """
    wanted = parse_trade_state(request.query.get("state")) if state is None else state
    merchant_view = party is TradeParty.MERCHANT

    async def list_call(account_id: str, page: paging_pb2.PageRequest) -> pb.ListTradesResponse:
        return await payment.list_trades(
            pb.ListTradesRequest(account_id=account_id, state=wanted, page=page)
        )

    return await list_own(
        request,
        items_name,
        list_call,
        trade_json_of or (lambda trade: trade_json(trade, merchant_view=merchant_view)),
        items_field="trades",
        keep=lambda trade, account_id: is_party(trade, account_id, party),
    )
