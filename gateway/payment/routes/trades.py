"""Escrow trades (担保交易, DOMAIN.md §1), the buyer's side: see, pay, confirm, ask a refund.

The buyer is always the caller; a trade that is not theirs answers 404 as if it did not
exist (gateway.payment.trade_access). The state machine and its refusals are the payment service's
(services/payment/escrow.py); an illegal step comes back as 422 ILLEGAL_TRANSITION naming
the trade's state. Paying is an outgoing payment: risk-checked, once per Idempotency-Key.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any, ClassVar

from aiohttp import web
from pydantic import Field

from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import (
    MONEY_REASONS,
    Body,
    Currency,
    NonNegativeAmountFen,
    body_schemas,
    read_body,
    read_optional_body,
)
from gateway.edge.idempotency import IdempotentRequests, StoredResponse, require_idempotency_key
from gateway.edge.openapi import schema_ref
from gateway.edge.paging import NEXT_PAGE_TOKEN_PROPERTY, PAGING_QUERY_PARAMETERS
from gateway.edge.representations import (
    TRADE_STATE_NAMES,
    encode_json,
    json_response,
    money_to_proto,
    trade_json,
)
from gateway.edge.risk_signals import risk_signals
from gateway.edge.routing import AuthScheme, Route
from gateway.payment.requests import PASSWORD_REASONS, NoTradeOptions, PaymentPassword, text
from gateway.payment.trade_access import (
    TRADE_PROBLEMS,
    TRADE_STATE_QUERY,
    TradeParty,
    is_party,
    list_trades_as,
    require_own_trade,
    trade_id_of,
)

# A transport bound only; the service holds the real limit (200 characters).
REFUND_REASON_LENGTH_MAX = 512

OPERATION_PAY_TRADE = "payTrade"


class PayTradeRequest(Body):
    """May be empty; payment_password answers a risk challenge."""

    field_reasons: ClassVar[Mapping[str, str]] = PASSWORD_REASONS

    payment_password: PaymentPassword = ""


class RefundRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: Annotated[
        NonNegativeAmountFen,
        Field(description="At most what is still in escrow; 0 or absent asks all of it."),
    ] = 0
    currency: Currency = "CNY"
    reason: Annotated[str, text(REFUND_REASON_LENGTH_MAX, "Why the buyer wants the money back.")]


def _time(description: str) -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "description": description}


_TRADE_PROPERTIES: dict[str, Any] = {
    "trade_id": {"type": "string"},
    "merchant_account_id": {"type": "string"},
    "buyer_account_id": {"type": "string"},
    "amount": schema_ref("Money"),
    "description": {"type": "string"},
    "state": {
        "type": "string",
        "enum": list(TRADE_STATE_NAMES),
        "description": "created → paid → shipped → settled; refund_requested while a refund "
        "is open; closed (unpaid, cancelled or expired); refunded (all money back).",
    },
    "in_escrow": {**schema_ref("Money"), "description": "Still held by the platform."},
    "refunded": {**schema_ref("Money"), "description": "Refunded to the buyer so far."},
    "refund_requested": {
        **schema_ref("Money"),
        "description": "The open refund request (or the last one decided).",
    },
    "refund_reason": {"type": "string"},
    "settled_by": {
        "type": "string",
        "description": '"buyer" or "auto_confirm" once settled; empty before.',
    },
    "created_at": _time("When the merchant created it."),
    "pay_by": _time("The end of the payment window."),
    "paid_at": _time("Absent until paid."),
    "shipped_at": _time("Absent until shipped."),
    "auto_confirm_at": _time("When a shipped trade confirms itself (10 days after shipping)."),
    "finished_at": _time("Absent until settled, refunded or closed."),
}
_TRADE_REQUIRED = [
    "trade_id",
    "merchant_account_id",
    "buyer_account_id",
    "amount",
    "description",
    "state",
    "in_escrow",
    "refunded",
    "refund_requested",
    "refund_reason",
    "settled_by",
    "created_at",
    "pay_by",
]

SCHEMAS: dict[str, dict[str, Any]] = {
    "Trade": {
        "type": "object",
        "description": "An escrow trade (担保交易) as its buyer sees it.",
        "required": _TRADE_REQUIRED,
        "properties": _TRADE_PROPERTIES,
    },
    "MerchantTrade": {
        "type": "object",
        "description": "An escrow trade as its merchant sees it, with the settlement.",
        "required": [*_TRADE_REQUIRED, "merchant_settled", "acquiring_fee"],
        "properties": {
            **_TRADE_PROPERTIES,
            "merchant_settled": {
                **schema_ref("Money"),
                "description": "Paid to the merchant at settlement (zero before).",
            },
            "acquiring_fee": {
                **schema_ref("Money"),
                "description": "The acquiring fee taken at settlement: 0.6%, half-even.",
            },
        },
    },
    "TradeList": {
        "type": "object",
        "required": ["trades", "next_page_token"],
        "properties": {
            "trades": {"type": "array", "items": schema_ref("Trade")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    **body_schemas(PayTradeRequest, RefundRequest, NoTradeOptions),
}


def _trade_route(
    method: str, path: str, handler: Any, operation_id: str, summary: str, **options: Any
) -> Route:
    settings: dict[str, Any] = {
        "auth": (AuthScheme.BEARER,),
        "response_schema": "Trade",
        "problems": TRADE_PROBLEMS,
        **options,
    }
    return Route(
        method, path, handler, operation_id=operation_id, summary=summary, tag="trades", **settings
    )


class TradeRoutes:
    """The buyer's escrow-trade routes under /v1/trades."""

    def __init__(self, payment: PaymentClient, idempotency: IdempotentRequests) -> None:
        self._payment = payment
        self._idempotency = idempotency

    def routes(self) -> list[Route]:
        return [
            _trade_route(
                "GET",
                "/v1/trades",
                self.list_trades,
                "listTrades",
                "The trades the caller is buying, newest first",
                response_schema="TradeList",
                query_parameters=(TRADE_STATE_QUERY, *PAGING_QUERY_PARAMETERS),
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
            _trade_route(
                "GET",
                "/v1/trades/{trade_id}",
                self.get_trade,
                "getTrade",
                "One trade of the caller's (as buyer, or as its merchant)",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            _trade_route(
                "POST",
                "/v1/trades/{trade_id}/pay",
                self.pay,
                OPERATION_PAY_TRADE,
                "Pay a trade: the money moves from the caller's balance into escrow",
                idempotency_key_required=True,
                risk_checked=True,
                request_schema="PayTradeRequest",
                request_body_required=False,
                response_description="Paid; a replay of the same key returns this same answer.",
                problems={
                    **TRADE_PROBLEMS,
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "ILLEGAL_TRANSITION",
                        "TRADE_EXPIRED",
                        "INSUFFICIENT_FUNDS",
                        "ACCOUNT_NOT_ACTIVE",
                    ),
                },
            ),
            _trade_route(
                "POST",
                "/v1/trades/{trade_id}/confirm-receipt",
                self.confirm_receipt,
                "confirmTradeReceipt",
                "Confirm receipt: escrow settles to the merchant less the acquiring fee",
                request_schema="NoTradeOptions",
                request_body_required=False,
            ),
            _trade_route(
                "POST",
                "/v1/trades/{trade_id}/refund-request",
                self.request_refund,
                "requestTradeRefund",
                "Ask for part or all of the money in escrow back",
                request_schema="RefundRequest",
                problems={
                    **TRADE_PROBLEMS,
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "ILLEGAL_TRANSITION",
                        "REFUND_NOT_ALLOWED",
                    ),
                },
            ),
            _trade_route(
                "POST",
                "/v1/trades/{trade_id}/cancel",
                self.cancel,
                "cancelTrade",
                "Cancel an unpaid trade",
                request_schema="NoTradeOptions",
                request_body_required=False,
            ),
        ]

    async def list_trades(self, request: web.Request) -> web.Response:
        return await list_trades_as(self._payment, request, TradeParty.BUYER)

    async def get_trade(self, request: web.Request) -> web.Response:
        account_id = request[CALLER].account_id
        trade = await require_own_trade(
            self._payment, trade_id_of(request), account_id, TradeParty.BUYER, TradeParty.MERCHANT
        )
        merchant_view = is_party(trade, account_id, TradeParty.MERCHANT)
        return json_response(trade_json(trade, merchant_view=merchant_view))

    async def pay(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        trade_id = trade_id_of(request)
        body = await read_optional_body(request, PayTradeRequest)
        risk = risk_signals(request, body.fields_sent())
        caller = request[CALLER]
        await require_own_trade(self._payment, trade_id, caller.account_id, TradeParty.BUYER)

        async def pay(grpc_key: str) -> StoredResponse:
            response = await self._payment.pay_trade(
                pb.PayTradeRequest(
                    idempotency_key=grpc_key,
                    trade_id=trade_id,
                    buyer_account_id=caller.account_id,
                    risk=risk,
                )
            )
            return StoredResponse(
                status=HTTPStatus.OK,
                body=encode_json(trade_json(response.trade, merchant_view=False)),
            )

        return await self._idempotency.respond(
            user_id=caller.user_id,
            key=key,
            operation_id=OPERATION_PAY_TRADE,
            body={"trade_id": trade_id, **body.fields_sent()},
            operation=pay,
        )

    async def confirm_receipt(self, request: web.Request) -> web.Response:
        trade_id = trade_id_of(request)
        await read_optional_body(request, NoTradeOptions)
        buyer_account_id = request[CALLER].account_id
        await require_own_trade(self._payment, trade_id, buyer_account_id, TradeParty.BUYER)
        trade = await self._payment.confirm_trade_receipt(trade_id, buyer_account_id)
        return json_response(trade_json(trade, merchant_view=False))

    async def request_refund(self, request: web.Request) -> web.Response:
        trade_id = trade_id_of(request)
        body = await read_body(request, RefundRequest)
        amount, reason = Money(body.amount_fen, body.currency), body.reason
        buyer_account_id = request[CALLER].account_id
        await require_own_trade(self._payment, trade_id, buyer_account_id, TradeParty.BUYER)
        trade = await self._payment.request_trade_refund(
            pb.RequestTradeRefundRequest(
                trade_id=trade_id,
                buyer_account_id=buyer_account_id,
                amount=money_to_proto(amount),
                reason=reason,
            )
        )
        return json_response(trade_json(trade, merchant_view=False))

    async def cancel(self, request: web.Request) -> web.Response:
        trade_id = trade_id_of(request)
        await read_optional_body(request, NoTradeOptions)
        buyer_account_id = request[CALLER].account_id
        await require_own_trade(self._payment, trade_id, buyer_account_id, TradeParty.BUYER)
        trade = await self._payment.cancel_trade(trade_id, buyer_account_id)
        return json_response(trade_json(trade, merchant_view=False))
