"""Merchant payments: pay a merchant from the balance, as a saga.

The saga is gateway.payment.sagas.merchant_payment.

The money is first reserved on the caller's account (a hold), then captured into the
merchant's account. The saga's id derives from the caller's Idempotency-Key, so a retried
request finds the same payment, whatever became of the first: finished, refused and
undone, or still going on (a crash, the payment service away) — then 202 with the
operation's URL, where it can be followed until the recovery loop finishes it.

The hold is screened by real-time risk control as a payment to the merchant. A challenge
(RISK_CHALLENGE_REQUIRED) undoes the operation; the same request with the same key and
``payment_password`` answers it (gateway.operations.start: the password is exchanged for a
single-use payment authorization, which is all the saga log keeps).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import FailedPrecondition, InvalidArgument
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.idempotency import require_idempotency_key
from gateway.edge.payloads import AMOUNT_PROPERTIES, read_json_object, require_amount, require_text
from gateway.edge.risk_signals import (
    PAYMENT_PASSWORD_FIELD,
    PAYMENT_PASSWORD_PROPERTY,
    device_id_of,
)
from gateway.edge.routing import AuthScheme, Route
from gateway.operations.start import Operations
from gateway.payment.requests import (
    ACCOUNT_ID_LENGTH_MAX,
    MEMO_LENGTH_MAX,
    parse_memo,
)
from gateway.payment.sagas.merchant_payment import merchant_payment_input
from gateway.sagas.definition import JsonObject

OPERATION_PAY_MERCHANT = "createMerchantPayment"
MERCHANT_PAYMENT_FIELDS = (
    "to_account_id",
    "amount_fen",
    "currency",
    "memo",
    PAYMENT_PASSWORD_FIELD,
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "MerchantPaymentRequest": {
        "type": "object",
        "required": ["to_account_id", "amount_fen"],
        "additionalProperties": False,
        "properties": {
            "to_account_id": {
                "type": "string",
                "maxLength": ACCOUNT_ID_LENGTH_MAX,
                "description": "The merchant's account (2188…).",
            },
            **AMOUNT_PROPERTIES,
            "memo": {"type": "string", "maxLength": MEMO_LENGTH_MAX},
            PAYMENT_PASSWORD_FIELD: PAYMENT_PASSWORD_PROPERTY,
        },
    },
}


class MerchantPaymentRoutes:
    """POST /v1/merchant-payments."""

    def __init__(self, payment: PaymentClient, operations: Operations) -> None:
        self._payment = payment
        self._operations = operations

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/v1/merchant-payments",
                self.pay_merchant,
                operation_id=OPERATION_PAY_MERCHANT,
                summary="Pay a merchant from the caller's balance (a saga: hold, then capture)",
                tag="payments",
                auth=(AuthScheme.BEARER,),
                idempotency_key_required=True,
                risk_checked=True,
                request_schema="MerchantPaymentRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                response_description="Paid: the completed operation, its result and Location.",
                other_responses={
                    HTTPStatus.ACCEPTED: (
                        "Operation",
                        "Not finished in time: it goes on in the background; follow the "
                        "Location (GET /v1/operations/{operation_id}).",
                    )
                },
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT", "SAME_ACCOUNT"),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "INSUFFICIENT_FUNDS",
                        "ACCOUNT_NOT_ACTIVE",
                        "ACCOUNT_KIND_NOT_ALLOWED",
                        "HOLD_EXPIRED",
                    ),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            ),
        ]

    async def pay_merchant(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        body = await read_json_object(request, MERCHANT_PAYMENT_FIELDS)
        amount = require_amount(body)
        merchant_account_id = require_text(body, "to_account_id", ACCOUNT_ID_LENGTH_MAX)
        memo = parse_memo(body)
        device_id = device_id_of(request)
        payer_account_id = request[CALLER].account_id

        async def saga_input() -> JsonObject:
            await self._require_payable_merchant(merchant_account_id, payer_account_id)
            return merchant_payment_input(
                payer_account_id=payer_account_id,
                merchant_account_id=merchant_account_id,
                amount=amount,
                memo=memo,
                device_id=device_id,
                payment_authorization=await self._operations.authorize(
                    body, payer_account_id, amount
                ),
            )

        return await self._operations.start(
            request,
            self._operations.sagas.merchant_payment,
            operation_id=OPERATION_PAY_MERCHANT,
            body=body,
            saga_input=saga_input,
        )

    async def _require_payable_merchant(self, merchant_account_id: str, payer_id: str) -> None:
        if merchant_account_id == payer_id:
            raise InvalidArgument(
                "a payment cannot go to the payer's own account", reason="SAME_ACCOUNT"
            )
        account = await self._payment.get_account(merchant_account_id)
        if account.kind != pb.ACCOUNT_KIND_MERCHANT:
            raise FailedPrecondition(
                "only a merchant account can be paid here; use a transfer to pay a person",
                reason="ACCOUNT_KIND_NOT_ALLOWED",
            )
        if account.status != pb.ACCOUNT_STATUS_ACTIVE:
            raise FailedPrecondition(
                f"merchant account {merchant_account_id} cannot take payments now",
                reason="ACCOUNT_NOT_ACTIVE",
                metadata={"account_id": merchant_account_id},
            )
