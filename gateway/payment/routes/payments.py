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

from collections.abc import Mapping
from datetime import UTC
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
    AmountFen,
    Body,
    body_schemas,
    parse_body,
    read_body,
)
from gateway.edge.idempotency import IdempotentRequests, StoredResponse, require_idempotency_key
from gateway.edge.openapi import schema_ref
from gateway.edge.passwords import PASSWORD_LENGTH_MAX
from gateway.edge.reauthentication import Reauthentication
from gateway.edge.representations import (
    biller_json,
    encode_json,
    json_response,
    money_to_proto,
    movement_json,
    timestamp_json,
)
from gateway.edge.risk_signals import PAYMENT_PASSWORD_LENGTH_MAX, risk_signals
from gateway.edge.routing import AuthScheme, Route
from gateway.payment.code_wallets import CodeWallet, PaymentCodeWallets
from gateway.payment.methods import parse_methods
from gateway.payment.requests import (
    METHODS_DEFAULT_NAMES,
    PASSWORD_REASONS,
    BillRequest,
    Methods,
    PaymentPassword,
    Split,
    read_optional_json,
    text,
)

OPERATION_PAY_BILL = "createBillPayment"


class PaymentCodeOptions(Body):
    """How the charge of this code is paid (all optional; an empty body takes the defaults)."""

    methods: Methods = METHODS_DEFAULT_NAMES
    split: Split = False


class AuthorizedPaymentCodeOptions(PaymentCodeOptions):
    """As PaymentCodeOptions, confirmed up front with the payment password for a charge that
    risk control would challenge (a large amount): amount_limit_fen is the most it may be."""

    field_reasons: ClassVar[Mapping[str, str]] = {
        **PASSWORD_REASONS,
        "amount_limit_fen": "INVALID_AMOUNT",
    }

    payment_password: Annotated[PaymentPassword, Field(min_length=1)]
    amount_limit_fen: Annotated[
        AmountFen, Field(description="The most the payment password answers for, in fen.")
    ]


def parse_code_options(body: object) -> PaymentCodeOptions:
    """A payment code's options: with payment_password or amount_limit_fen, both are due."""
    if isinstance(body, dict) and ("payment_password" in body or "amount_limit_fen" in body):
        return parse_body(AuthorizedPaymentCodeOptions, body)
    return parse_body(PaymentCodeOptions, body)


class BillPaymentRequest(BillRequest):
    field_reasons: ClassVar[Mapping[str, str]] = {**MONEY_REASONS, **PASSWORD_REASONS}

    payment_password: PaymentPassword = ""


LoginPassword = Annotated[
    str,
    Field(
        min_length=1,
        max_length=PASSWORD_LENGTH_MAX,
        json_schema_extra={"format": "password"},
        description="The log-in password: the token alone cannot set or change the payment "
        "password.",
    ),
]


class PaymentPasswordRequest(Body):
    login_password: LoginPassword
    new_password: Annotated[
        str,
        text(PAYMENT_PASSWORD_LENGTH_MAX, "Six digits, not a run (123456) or a repeat (111111)."),
        Field(json_schema_extra={"format": "password"}),
    ]
    current_password: (
        Annotated[
            str,
            text(PAYMENT_PASSWORD_LENGTH_MAX, "Required when a payment password is already set."),
            Field(json_schema_extra={"format": "password"}),
        ]
        | None
    ) = None


SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(PaymentCodeOptions, AuthorizedPaymentCodeOptions),
    "PaymentCodeRequest": {
        "description": "Optional: how the charge of this code is paid; payment_password and "
        "amount_limit_fen go together.",
        "oneOf": [
            schema_ref("PaymentCodeOptions"),
            schema_ref("AuthorizedPaymentCodeOptions"),
        ],
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
    **body_schemas(BillPaymentRequest, PaymentPasswordRequest),
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
        body = parse_code_options(await read_optional_json(request))
        caller = request[CALLER]
        methods, split = parse_methods(body.methods), body.split
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

    async def _authorize_code(self, account_id: str, body: PaymentCodeOptions) -> str:
        """The payment authorization for a code issued with the payment password, or ""."""
        if not isinstance(body, AuthorizedPaymentCodeOptions):
            return ""
        response = await self._payment.authorize_payment(
            pb.AuthorizePaymentRequest(
                account_id=account_id,
                payment_password=body.payment_password,
                amount=money_to_proto(Money(body.amount_limit_fen)),
            )
        )
        return response.authorization

    async def list_billers(self, request: web.Request) -> web.Response:
        billers = await self._payment.list_billers()
        return json_response({"billers": [biller_json(biller) for biller in billers]})

    async def pay_bill(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, BillPaymentRequest)
        biller_id, reference = body.biller_id, body.reference
        amount = Money(body.amount_fen, body.currency)
        risk = risk_signals(request, body.fields_sent())
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
            body=body.fields_sent(),
            operation=pay,
        )

    async def set_payment_password(self, request: web.Request) -> web.Response:
        body = await read_body(request, PaymentPasswordRequest)
        await self._reauthentication.require(request, request[CALLER], body.login_password)
        await self._payment.set_payment_password(
            pb.SetPaymentPasswordRequest(
                account_id=request[CALLER].account_id,
                new_password=body.new_password,
                current_password=body.current_password or "",
            )
        )
        return web.Response(status=HTTPStatus.NO_CONTENT)
