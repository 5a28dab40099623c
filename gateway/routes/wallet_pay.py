"""Wallet pay (DOMAIN.md §6): pay an escrow trade with the caller's ordered payment methods.

``POST /v1/wallet/payments`` takes the trade and, optionally, the methods in the caller's
order (default: balance, then Yu'e Bao) and ``split``. What each method can give is read
now (the available balance; Yu'e Bao shares up to today's fast redemption allowance) and
gateway.payment_methods decides who pays what: the first method that covers the whole
amount, or with ``split`` the methods in order until it is covered. The payment itself is
the wallet_trade_payment saga (gateway.sagas.wallet_payment): a Yu'e Bao part is redeemed
fast into the balance, then PayTrade pays from the balance through risk control; anything
refused on the way is undone, shares included.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.authentication import CALLER
from gateway.clients import PaymentClient, WealthClient
from gateway.idempotency import require_idempotency_key
from gateway.payloads import read_json_object, require_text
from gateway.payment_methods import (
    METHODS_DEFAULT,
    PaymentMethod,
    parse_methods,
    plan_funding,
)
from gateway.risk_signals import device_id_of
from gateway.routes.wealth_requests import OPERATION_RESPONSES
from gateway.routing import AuthScheme, Route
from gateway.saga_requests import Operations
from gateway.sagas.wallet_payment import wallet_trade_payment_input
from gateway.trade_access import TRADE_ID_LENGTH_MAX, TradeParty, require_own_trade
from gateway.wealth_ledger import WealthLedger

OPERATION_WALLET_PAY = "createWalletPayment"
WALLET_PAY_FIELDS = ("trade_id", "methods", "split")

SCHEMAS: dict[str, dict[str, Any]] = {
    "WalletPaymentRequest": {
        "type": "object",
        "required": ["trade_id"],
        "additionalProperties": False,
        "properties": {
            "trade_id": {
                "type": "string",
                "maxLength": TRADE_ID_LENGTH_MAX,
                "description": "The escrow trade to pay (the caller is its buyer).",
            },
            "methods": {
                "type": "array",
                "items": {"type": "string", "enum": [method.value for method in PaymentMethod]},
                "minItems": 1,
                "uniqueItems": True,
                "default": [method.value for method in METHODS_DEFAULT],
                "description": "The caller's payment methods in order of preference. Yu'e "
                "Bao pays up to today's fast redemption allowance; huabei is not available "
                "yet (it joins with the consumer-credit line).",
            },
            "split": {
                "type": "boolean",
                "default": False,
                "description": "false: the first method that covers the whole amount pays. "
                "true: the methods are drawn in order until the amount is covered.",
            },
        },
    },
}


class WalletPayRoutes:
    """POST /v1/wallet/payments."""

    def __init__(
        self,
        payment: PaymentClient,
        wealth: WealthClient,
        ledger: WealthLedger,
        operations: Operations,
    ) -> None:
        self._payment = payment
        self._wealth = wealth
        self._ledger = ledger
        self._operations = operations

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/v1/wallet/payments",
                self.pay,
                operation_id=OPERATION_WALLET_PAY,
                summary="Pay an escrow trade with the caller's payment methods in order "
                "(balance, Yu'e Bao), or split across them (a saga)",
                tag="wallet",
                auth=(AuthScheme.BEARER,),
                idempotency_key_required=True,
                risk_checked=True,
                request_schema="WalletPaymentRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                response_description="Paid: the operation, with what each method paid.",
                other_responses=OPERATION_RESPONSES,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT",),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "INSUFFICIENT_FUNDS",
                        "ILLEGAL_TRANSITION",
                        "TRADE_EXPIRED",
                        "FAST_REDEMPTION_LIMIT_EXCEEDED",
                        "FAILED_PRECONDITION",
                    ),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            )
        ]

    async def pay(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        body = await read_json_object(request, WALLET_PAY_FIELDS)
        trade_id = require_text(body, "trade_id", TRADE_ID_LENGTH_MAX)
        methods = parse_methods(body.get("methods"))
        split = body.get("split", False)
        if not isinstance(split, bool):
            raise InvalidArgument("split must be true or false", metadata={"field": "split"})
        device_id = device_id_of(request)
        buyer_account_id = request[CALLER].account_id

        async def saga_input() -> dict[str, Any]:
            trade = await require_own_trade(
                self._payment, trade_id, buyer_account_id, TradeParty.BUYER
            )
            if trade.state != pb.TRADE_STATE_CREATED:
                # Refused before any money moves (PayTrade would, after a redemption).
                raise FailedPrecondition(
                    f"trade {trade_id} is not waiting to be paid",
                    reason="ILLEGAL_TRANSITION",
                    metadata={"trade_id": trade_id},
                )
            amount = Money(trade.amount.amount_fen, trade.amount.currency or "CNY")
            funding = plan_funding(
                amount.fen,
                methods,
                await self._available_fen(buyer_account_id, methods),
                split=split,
            )
            if funding.fen_of(PaymentMethod.YUEBAO):
                await self._ledger.ensure_accounts()
            return wallet_trade_payment_input(
                buyer_account_id=buyer_account_id,
                trade_id=trade_id,
                amount=amount,
                funding=funding,
                device_id=device_id,
            )

        return await self._operations.start(
            request,
            self._operations.sagas.wallet_trade_payment,
            operation_id=OPERATION_WALLET_PAY,
            body=body,
            saga_input=saga_input,
        )

    async def _available_fen(
        self, account_id: str, methods: tuple[PaymentMethod, ...]
    ) -> dict[PaymentMethod, int]:
        """What each asked-for method can pay now."""
        available: dict[PaymentMethod, int] = {}
        if PaymentMethod.BALANCE in methods:
            account = await self._payment.get_account(account_id)
            available[PaymentMethod.BALANCE] = account.available.amount_fen
        if PaymentMethod.YUEBAO in methods:
            response = await self._wealth.get_yuebao_account(
                wpb.GetYuebaoAccountRequest(investor_id=account_id)
            )
            holding = response.account
            available[PaymentMethod.YUEBAO] = min(
                holding.shares.amount_fen, holding.fast_redemption_allowance.amount_fen
            )
        return available
