"""Wallet pay (DOMAIN.md §6): pay a trade or a bill with the caller's ordered payment methods.

``POST /v1/wallet/payments`` takes what to pay (an escrow trade by ``trade_id``, or a
``bill``) and, optionally, the methods in the caller's order (default: balance, then Yu'e
Bao) and ``split``. What each method can give is read now (the available balance; Yu'e Bao
shares up to today's fast redemption allowance) and gateway.payment.methods decides who
pays what: the first method that covers the whole amount, or with ``split`` the methods in
order until it is covered. The payment itself is the wallet_payment saga
(gateway.payment.sagas.wallet_payment): a Yu'e Bao part is redeemed fast into the balance, then
the trade or bill is paid from the balance through risk control; anything refused on the
way is undone, shares included. A risk challenge is answered by the same request, same
key, with ``payment_password`` (gateway.operations.start).

The third thing wallet pay covers, a payment code, is charged by the merchant: the payer
chooses its methods when the code is issued (gateway.payment.routes.payments), and the merchant's
charge runs the same saga (gateway.payment.routes.merchant).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, ClassVar

from aiohttp import web

from chassis.errors import InvalidArgument
from chassis.money import Money
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import Body, body_schemas, parse_body
from gateway.edge.idempotency import require_idempotency_key
from gateway.edge.openapi import schema_ref
from gateway.edge.payloads import read_json
from gateway.edge.risk_signals import device_id_of
from gateway.edge.routing import AuthScheme, Route
from gateway.insurance.trade_cover import (
    QUOTE_ID_LENGTH_MAX,
    RETURN_SHIPPING_QUOTE_PROPERTY,
    ReturnShippingCover,
)
from gateway.operations.answers import OPERATION_RESPONSES
from gateway.operations.start import Operations
from gateway.payment.methods import PaymentMethod, parse_methods
from gateway.payment.requests import (
    METHODS_DEFAULT_NAMES,
    PASSWORD_REASONS,
    BillRequest,
    Methods,
    PaymentPassword,
    Split,
    parse_nested,
    text,
)
from gateway.payment.sagas.wallet_payment import (
    BillTarget,
    PaymentTarget,
    TradeTarget,
    WalletPaymentInput,
)
from gateway.payment.trade_access import TRADE_ID_LENGTH_MAX, require_payable_trade
from gateway.payment.wallet_funding import WalletFunding
from gateway.sagas.definition import JsonObject

OPERATION_WALLET_PAY = "createWalletPayment"


class _WalletPayment(Body):
    field_reasons: ClassVar[Mapping[str, str]] = PASSWORD_REASONS

    methods: Methods = METHODS_DEFAULT_NAMES
    split: Split = False
    payment_password: PaymentPassword = ""


class TradeWalletPayment(_WalletPayment):
    """Pay an escrow trade (the caller is its buyer)."""

    trade_id: Annotated[
        str, text(TRADE_ID_LENGTH_MAX, "An escrow trade to pay (the caller is its buyer).")
    ]
    return_shipping_quote_id: Annotated[
        str, text(QUOTE_ID_LENGTH_MAX, RETURN_SHIPPING_QUOTE_PROPERTY["description"])
    ] = ""


class BillWalletPayment(_WalletPayment):
    """Pay a utility bill (GET /v1/billers)."""

    bill: BillRequest


def parse_wallet_payment(body: object) -> TradeWalletPayment | BillWalletPayment:
    """Exactly one of trade_id and bill: the body is one of the two models."""
    if isinstance(body, dict) and "bill" in body and "trade_id" not in body:
        return parse_nested(BillWalletPayment, body)
    if isinstance(body, dict) and "bill" in body:
        raise InvalidArgument("give exactly one of trade_id and bill", metadata={"field": "bill"})
    return parse_body(TradeWalletPayment, body)


SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(TradeWalletPayment, BillWalletPayment),
    "WalletPaymentRequest": {
        "description": "Exactly one of trade_id and bill.",
        "oneOf": [schema_ref("TradeWalletPayment"), schema_ref("BillWalletPayment")],
    },
}


class WalletPayRoutes:
    """POST /v1/wallet/payments."""

    def __init__(
        self,
        payment: PaymentClient,
        funding: WalletFunding,
        operations: Operations,
        return_shipping: ReturnShippingCover | None = None,
    ) -> None:
        self._payment = payment
        self._funding = funding
        self._operations = operations
        # The return-shipping insurance offered with a trade (gateway.insurance.trade_cover).
        self._return_shipping = return_shipping

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/v1/wallet/payments",
                self.pay,
                operation_id=OPERATION_WALLET_PAY,
                summary="Pay an escrow trade or a bill with the caller's payment methods in "
                "order (balance, Yu'e Bao), or split across them (a saga)",
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
                    HTTPStatus.BAD_REQUEST: (
                        "INVALID_ARGUMENT",
                        "INVALID_AMOUNT",
                        "INVALID_BILL_REFERENCE",
                    ),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "INSUFFICIENT_FUNDS",
                        "ILLEGAL_TRANSITION",
                        "TRADE_EXPIRED",
                        "FAST_REDEMPTION_LIMIT_EXCEEDED",
                        "HUABEI_LINE_EXCEEDED",
                        "HUABEI_LINE_FROZEN",
                        "LOAN_OVERDUE",
                        "FAILED_PRECONDITION",
                    ),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            )
        ]

    async def pay(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        body = parse_wallet_payment(await read_json(request))
        trade_id = body.trade_id if isinstance(body, TradeWalletPayment) else ""
        bill = _bill_of(body.bill) if isinstance(body, BillWalletPayment) else None
        methods, split = parse_methods(body.methods), body.split
        cover_quote_id = (
            body.return_shipping_quote_id if isinstance(body, TradeWalletPayment) else ""
        )
        sent = body.fields_sent()
        device_id = device_id_of(request)
        payer_account_id = request[CALLER].account_id

        async def saga_input() -> JsonObject:
            target: PaymentTarget
            if bill is None:
                target = TradeTarget(trade_id)
                amount = await self._payable_trade(trade_id, payer_account_id)
            else:
                target, amount = BillTarget(bill.biller_id, bill.reference), bill.amount
                await self._require_payable_bill(bill)
            return WalletPaymentInput.planned(
                payer_account_id=payer_account_id,
                target=target,
                amount=amount,
                funding=await self._funding.plan(payer_account_id, amount, methods, split=split),
                device_id=device_id,
                payment_authorization=await self._operations.authorize(
                    sent, payer_account_id, amount
                ),
            ).to_json()

        async def fall_through(refused: Mapping[str, Any]) -> JsonObject | None:
            order = WalletPaymentInput.from_json(refused)
            following = methods_after(methods, order.funding, split=split)
            if not following:
                return None
            return WalletPaymentInput.planned(
                payer_account_id=payer_account_id,
                target=order.target,
                amount=order.amount,
                funding=await self._funding.plan(
                    payer_account_id, order.amount, following, split=split
                ),
                device_id=order.device_id,
                payment_authorization=order.payment_authorization,
            ).to_json()

        paid = await self._operations.start(
            request,
            self._operations.sagas.wallet_payment,
            operation_id=OPERATION_WALLET_PAY,
            body=sent,
            saga_input=saga_input,
            fall_through=fall_through,
        )
        if cover_quote_id and self._return_shipping is not None:
            return await self._return_shipping.after_payment(
                request, paid, cover_quote_id, methods, split
            )
        return paid

    async def _payable_trade(self, trade_id: str, buyer_account_id: str) -> Money:
        """The amount of the caller's trade, refused (by the payment service's escrow rules)
        unless it can be paid now: before any money moves, as PayTrade would after a
        redemption."""
        trade = await require_payable_trade(self._payment, trade_id, buyer_account_id)
        return Money(trade.amount.amount_fen, trade.amount.currency or "CNY")

    async def _require_payable_bill(self, bill: _Bill) -> None:
        """Refuse an unknown biller or a bad reference before any money moves (PayBill would
        refuse them too, but after the Yu'e Bao part was redeemed)."""
        await self._payment.check_bill_reference(bill.biller_id, bill.reference)


def methods_after(
    methods: tuple[PaymentMethod, ...],
    refused_funding: tuple[tuple[PaymentMethod, int], ...],
    *,
    split: bool,
) -> tuple[PaymentMethod, ...]:
    """The methods a refused payment falls through to: without a split, those after the one
    that ran out; with one, all of them again (what each holds is read afresh)."""
    if split:
        return methods
    ran_out = refused_funding[0][0]
    return methods[methods.index(ran_out) + 1 :]


@dataclass(frozen=True, slots=True)
class _Bill:
    biller_id: str
    reference: str
    amount: Money


def _bill_of(bill: BillRequest) -> _Bill:
    return _Bill(bill.biller_id, bill.reference, Money(bill.amount_fen, bill.currency))
