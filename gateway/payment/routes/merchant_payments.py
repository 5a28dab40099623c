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

from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any, ClassVar

from aiohttp import web

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import MONEY_REASONS, AmountFen, Body, Currency, body_schemas, read_body
from gateway.edge.idempotency import require_idempotency_key
from gateway.edge.risk_signals import device_id_of
from gateway.edge.routing import AuthScheme, Route
from gateway.operations.start import Operations
from gateway.payment.requests import (
    ACCOUNT_ID_LENGTH_MAX,
    PASSWORD_REASONS,
    Memo,
    PaymentPassword,
    text,
)
from gateway.payment.sagas.merchant_payment import merchant_payment_input
from gateway.sagas.definition import JsonObject

OPERATION_PAY_MERCHANT = "createMerchantPayment"


class MerchantPaymentRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {**MONEY_REASONS, **PASSWORD_REASONS}

    to_account_id: Annotated[str, text(ACCOUNT_ID_LENGTH_MAX, "The merchant's account (2188…).")]
    amount_fen: AmountFen
    currency: Currency = "CNY"
    memo: Memo = ""
    payment_password: PaymentPassword = ""


SCHEMAS: dict[str, dict[str, Any]] = body_schemas(MerchantPaymentRequest)


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
        body = await read_body(request, MerchantPaymentRequest)
        amount = Money(body.amount_fen, body.currency)
        merchant_account_id, memo = body.to_account_id, body.memo
        sent = body.fields_sent()
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
                    sent, payer_account_id, amount
                ),
            )

        return await self._operations.start(
            request,
            self._operations.sagas.merchant_payment,
            operation_id=OPERATION_PAY_MERCHANT,
            body=sent,
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
