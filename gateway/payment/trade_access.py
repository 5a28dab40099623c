"""Object-level authorisation of escrow trades: a caller sees and acts on their own trades only.

A trade that is not the caller's answers exactly like one that does not exist (404, the
same message), so trade ids cannot be probed. The service checks the parties again on
every action (services/payment/escrow.py, ACTION_ROLES); this check is the gateway's part,
"every request for an account checked against the caller" (DESIGN.md "Security"), and it
runs before any state is revealed.
"""

from __future__ import annotations

from enum import StrEnum
from http import HTTPStatus

from aiohttp import web

from chassis.errors import DomainError, ErrorKind, InvalidArgument, NotFound
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.paging import page_request
from gateway.edge.representations import (
    TRADE_STATE_NAMES,
    json_response,
    trade_json,
    trade_state_value,
)
from gateway.edge.routing import QueryParameter

TRADE_ID_LENGTH_MAX = 64


class TradeParty(StrEnum):
    BUYER = "buyer"
    MERCHANT = "merchant"


def _no_such_trade(trade_id: str) -> NotFound:
    return NotFound(f"there is no trade {trade_id!r} of yours", metadata={"trade_id": trade_id})


def trade_id_of(request: web.Request) -> str:
    """The {trade_id} of the path; an id that cannot exist is a 404 like any unknown one."""
    trade_id = request.match_info["trade_id"]
    if len(trade_id) > TRADE_ID_LENGTH_MAX or not (trade_id.isascii() and trade_id.isprintable()):
        raise _no_such_trade(trade_id[:TRADE_ID_LENGTH_MAX])
    return trade_id


def is_party(trade: pb.Trade, account_id: str, party: TradeParty) -> bool:
    if party is TradeParty.BUYER:
        return trade.buyer_account_id == account_id
    return trade.merchant_account_id == account_id


async def require_own_trade(
    payment: PaymentClient, trade_id: str, account_id: str, *parties: TradeParty
) -> pb.Trade:
    """The trade if account_id is one of its given parties; 404 otherwise, as for no trade."""
    assert parties, "name the parties that may see the trade"
    try:
        trade = await payment.get_trade(trade_id)
    except DomainError as error:
        # An id the service cannot parse is as unknown as one it cannot find.
        if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT):
            raise _no_such_trade(trade_id) from None
        raise
    if any(is_party(trade, account_id, party) for party in parties):
        return trade
    raise _no_such_trade(trade_id)


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
    payment: PaymentClient, request: web.Request, party: TradeParty
) -> web.Response:
    """A page of the caller's trades in which it is `party` (buyer or merchant)."""
    state = parse_trade_state(request.query.get("state"))
    account_id = request[CALLER].account_id
    response = await payment.list_trades(
        pb.ListTradesRequest(account_id=account_id, state=state, page=page_request(request))
    )
    return json_response(
        {
            "trades": [
                trade_json(trade, merchant_view=party is TradeParty.MERCHANT)
                for trade in response.trades
                if is_party(trade, account_id, party)
            ],
            "next_page_token": response.page.next_page_token,
        }
    )
