"""Everyday payments from the wallet: payment codes, utility bills, the payment password.

- Payment code (付款码): the caller gets a one-time code to show a merchant, who charges
  it (POST /v1/merchant/payment-code-charges). The code is a bearer secret for its short
  life, so its answer is never cached and never logged. The caller may say which payment
  methods pay for it (default: balance, then Yu'e Bao; gateway.payment.code_wallets).
- Bills (水电煤缴费): pay a utility biller; the service validates the reference on the bill.
- Payment password (支付密码): the six digits that answer a risk challenge. The rules (six
  digits, not guessable, lockout) are the service's (services/payment/payment_password.py).
"""

from __future__ import annotations

from datetime import UTC
from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import InvalidArgument
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.idempotency import IdempotentRequests, StoredResponse, require_idempotency_key
from gateway.edge.openapi import schema_ref
from gateway.edge.passwords import PASSWORD_LENGTH_MAX
from gateway.edge.payloads import (
    optional_text,
    read_json_object,
    read_optional_json_object,
    require_amount,
    require_text,
)
from gateway.edge.reauthentication import Reauthentication
from gateway.edge.representations import (
    biller_json,
    encode_json,
    json_response,
    money_to_proto,
    movement_json,
    timestamp_json,
)
from gateway.edge.risk_signals import (
    PAYMENT_PASSWORD_FIELD,
    PAYMENT_PASSWORD_LENGTH_MAX,
    PAYMENT_PASSWORD_PROPERTY,
    optional_payment_password,
    risk_signals,
)
from gateway.edge.routing import AuthScheme, Route
from gateway.payment.code_wallets import CodeWallet, PaymentCodeWallets
from gateway.payment.methods import METHODS_PROPERTY, SPLIT_PROPERTY, parse_methods, parse_split
from gateway.payment.requests import (
    BILL_PROPERTIES,
    BILL_REFERENCE_LENGTH_MAX,
    BILLER_ID_LENGTH_MAX,
)

OPERATION_PAY_BILL = "createBillPayment"
BILL_PAYMENT_FIELDS = ("biller_id", "reference", "amount_fen", "currency", PAYMENT_PASSWORD_FIELD)
PAYMENT_PASSWORD_FIELDS = ("login_password", "new_password", "current_password")
PAYMENT_CODE_FIELDS = ("methods", "split", "amount_limit_fen", PAYMENT_PASSWORD_FIELD)

_PASSWORD_PROPERTY: dict[str, Any] = {
    "type": "string",
    "format": "password",
    "maxLength": PAYMENT_PASSWORD_LENGTH_MAX,
}


SCHEMAS: dict[str, dict[str, Any]] = {
    "PaymentCodeRequest": {
        "type": "object",
        "additionalProperties": False,
        "description": "Optional: how the charge of this code is paid.",
        "properties": {
            "methods": METHODS_PROPERTY,
            "split": SPLIT_PROPERTY,
            PAYMENT_PASSWORD_FIELD: {
                **PAYMENT_PASSWORD_PROPERTY,
                "description": "Confirm up front, for a charge that risk control would "
                "challenge (a large amount): with amount_limit_fen, the most it may be.",
            },
            "amount_limit_fen": {
                "type": "integer",
                "minimum": 1,
                "description": "With payment_password: the most the password answers for.",
            },
        },
    },
    "PaymentCode": {
        "type": "object",
        "required": ["code", "expires_at"],
        "properties": {
            "code": {
                "type": "string",
                "description": "18 digits starting with 28, for one charge: show it only to "
                "the merchant scanning it.",
                "example": "281234567890123456",
            },
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "Biller": {
        "type": "object",
        "required": ["biller_id", "name", "category", "reference_hint"],
        "properties": {
            "biller_id": {"type": "string"},
            "name": {"type": "string"},
            "category": {"type": "string", "enum": ["water", "electricity", "gas", "telecom"]},
            "reference_hint": {
                "type": "string",
                "description": "What the customer number on the bill looks like.",
            },
        },
    },
    "BillerList": {
        "type": "object",
        "required": ["billers"],
        "properties": {"billers": {"type": "array", "items": schema_ref("Biller")}},
    },
    "BillPaymentRequest": {
        "type": "object",
        "required": ["biller_id", "reference", "amount_fen"],
        "additionalProperties": False,
        "properties": {
            **BILL_PROPERTIES,
            PAYMENT_PASSWORD_FIELD: PAYMENT_PASSWORD_PROPERTY,
        },
    },
    "PaymentPasswordRequest": {
        "type": "object",
        "required": ["login_password", "new_password"],
        "additionalProperties": False,
        "properties": {
            "login_password": {
                "type": "string",
                "minLength": 1,
                "maxLength": PASSWORD_LENGTH_MAX,
                "format": "password",
                "description": "The log-in password: the token alone cannot set or change "
                "the payment password.",
            },
            "new_password": {
                **_PASSWORD_PROPERTY,
                "description": "Six digits, not a run (123456) or a repeat (111111).",
            },
            "current_password": {
                **_PASSWORD_PROPERTY,
                "description": "Required when a payment password is already set.",
            },
        },
    },
}


class PaymentRoutes:
    """POST /v1/payment-codes, GET /v1/billers, POST /v1/bill-payments, PUT /v1/payment-password."""

    def __init__(
        self,
        payment: PaymentClient,
        idempotency: IdempotentRequests,
        code_wallets: PaymentCodeWallets,
        reauthentication: Reauthentication,
    ) -> None:
        self._payment = payment
        self._idempotency = idempotency
        self._code_wallets = code_wallets
        self._reauthentication = reauthentication

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/v1/payment-codes",
                self.issue_payment_code,
                operation_id="issuePaymentCode",
                summary="A one-time payment code (付款码) for a merchant to scan and charge",
                tag="payments",
                auth=(AuthScheme.BEARER,),
                request_schema="PaymentCodeRequest",
                request_body_required=False,
                response_schema="PaymentCode",
                response_status=HTTPStatus.CREATED,
                problems={
                    HTTPStatus.BAD_REQUEST: (
                        "INVALID_ARGUMENT",
                        "INVALID_AMOUNT",
                        "INVALID_PAYMENT_PASSWORD",
                    ),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "ACCOUNT_NOT_ACTIVE",
                        "PAYMENT_PASSWORD_WRONG",
                        "PAYMENT_PASSWORD_LOCKED",
                        "PAYMENT_PASSWORD_NOT_SET",
                    ),
                },
            ),
            Route(
                "GET",
                "/v1/billers",
                self.list_billers,
                operation_id="listBillers",
                summary="The utility companies whose bills can be paid (水电煤缴费)",
                tag="payments",
                auth=(AuthScheme.BEARER,),
                response_schema="BillerList",
            ),
            Route(
                "POST",
                "/v1/bill-payments",
                self.pay_bill,
                operation_id=OPERATION_PAY_BILL,
                summary="Pay a utility bill from the caller's balance",
                tag="payments",
                auth=(AuthScheme.BEARER,),
                idempotency_key_required=True,
                risk_checked=True,
                request_schema="BillPaymentRequest",
                response_schema="Movement",
                response_status=HTTPStatus.CREATED,
                response_description="Paid; a replay of the same key returns this same answer.",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT", "INVALID_BILL_REFERENCE"),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("INSUFFICIENT_FUNDS", "ACCOUNT_NOT_ACTIVE"),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            ),
            Route(
                "PUT",
                "/v1/payment-password",
                self.set_payment_password,
                operation_id="setPaymentPassword",
                summary="Set or change the 6-digit payment password (支付密码)",
                tag="payments",
                auth=(AuthScheme.BEARER,),
                request_schema="PaymentPasswordRequest",
                response_status=HTTPStatus.NO_CONTENT,
                response_description="Set.",
                problems={
                    HTTPStatus.BAD_REQUEST: (
                        "INVALID_PAYMENT_PASSWORD",
                        "WEAK_PAYMENT_PASSWORD",
                    ),
                    HTTPStatus.FORBIDDEN: ("LOGIN_PASSWORD_WRONG",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "PAYMENT_PASSWORD_WRONG",
                        "PAYMENT_PASSWORD_LOCKED",
                    ),
                    HTTPStatus.TOO_MANY_REQUESTS: ("RATE_LIMITED",),
                },
            ),
        ]

    async def issue_payment_code(self, request: web.Request) -> web.Response:
        body = await read_optional_json_object(request, PAYMENT_CODE_FIELDS)
        caller = request[CALLER]
        methods, split = parse_methods(body.get("methods")), parse_split(body)
        # A wrong password is refused before a code is issued.
        authorization = await self._authorize_code(caller.account_id, body)
        issued = await self._payment.issue_payment_code(caller.account_id)
        wallet = CodeWallet(
            account_id=caller.account_id,
            user_id=caller.user_id,
            methods=methods,
            split=split,
            payment_authorization=authorization,
        )
        await self._code_wallets.remember(
            issued.code, wallet, issued.expires_at.ToDatetime(tzinfo=UTC)
        )
        response = json_response(
            {"code": issued.code, "expires_at": timestamp_json(issued.expires_at)},
            status=HTTPStatus.CREATED,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _authorize_code(self, account_id: str, body: dict[str, Any]) -> str:
        """The payment authorization for a code issued with the payment password, or ""."""
        password = optional_payment_password(body)
        limit = body.get("amount_limit_fen")
        if not password:
            if limit is not None:
                raise InvalidArgument(
                    "amount_limit_fen goes with payment_password",
                    metadata={"field": "amount_limit_fen"},
                )
            return ""
        if limit is None:
            raise InvalidArgument(
                "amount_limit_fen is required with payment_password",
                metadata={"field": "amount_limit_fen"},
            )
        response = await self._payment.authorize_payment(
            pb.AuthorizePaymentRequest(
                account_id=account_id,
                payment_password=password,
                amount=money_to_proto(require_amount({"amount_fen": limit})),
            )
        )
        return response.authorization

    async def list_billers(self, request: web.Request) -> web.Response:
        billers = await self._payment.list_billers()
        return json_response({"billers": [biller_json(biller) for biller in billers]})

    async def pay_bill(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_json_object(request, BILL_PAYMENT_FIELDS)
        biller_id = require_text(body, "biller_id", BILLER_ID_LENGTH_MAX)
        reference = require_text(body, "reference", BILL_REFERENCE_LENGTH_MAX)
        amount = require_amount(body)
        risk = risk_signals(request, body)
        caller = request[CALLER]

        async def pay(grpc_key: str) -> StoredResponse:
            response = await self._payment.pay_bill(
                pb.PayBillRequest(
                    idempotency_key=grpc_key,
                    account_id=caller.account_id,
                    biller_id=biller_id,
                    reference=reference,
                    amount=money_to_proto(amount),
                    risk=risk,
                )
            )
            return StoredResponse(
                status=HTTPStatus.CREATED,
                body=encode_json(movement_json(response.posting, amount, response.account)),
            )

        return await self._idempotency.respond(
            user_id=caller.user_id,
            key=key,
            operation_id=OPERATION_PAY_BILL,
            body=body,
            operation=pay,
        )

    async def set_payment_password(self, request: web.Request) -> web.Response:
        body = await read_json_object(request, PAYMENT_PASSWORD_FIELDS)
        login_password = require_text(body, "login_password", PASSWORD_LENGTH_MAX)
        new_password = require_text(body, "new_password", PAYMENT_PASSWORD_LENGTH_MAX)
        current_password = optional_text(body, "current_password", PAYMENT_PASSWORD_LENGTH_MAX)
        await self._reauthentication.require(request, request[CALLER], login_password)
        await self._payment.set_payment_password(
            pb.SetPaymentPasswordRequest(
                account_id=request[CALLER].account_id,
                new_password=new_password,
                current_password=current_password or "",
            )
        )
        return web.Response(status=HTTPStatus.NO_CONTENT)
