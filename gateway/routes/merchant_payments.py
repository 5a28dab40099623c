"""Merchant payments: pay a merchant from the balance, as a saga (gateway.sagas.merchant_payment).

The money is first reserved on the caller's account (a hold), then captured into the
merchant's account. The saga's id derives from the caller's Idempotency-Key, so a retried
request finds the same payment, whatever became of the first: finished, refused and
undone, or still going on (a crash, the payment service away) — then 202 with the
operation's URL, where it can be followed until the recovery loop finishes it.

Not yet risk-checked: CreateHold carries no risk signals (unlike Transfer), so this route
does not pass real-time risk control until the payment contract gives holds a risk check.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import FailedPrecondition, InvalidArgument
from colony.payment.v1 import payment_pb2 as pb
from gateway.authentication import CALLER
from gateway.clients import PaymentClient
from gateway.idempotency import fingerprint_request, require_idempotency_key
from gateway.payloads import read_json_object, require_amount, require_text
from gateway.risk_signals import device_id_of
from gateway.routes.money_movement import (
    ACCOUNT_ID_LENGTH_MAX,
    AMOUNT_PROPERTIES,
    MEMO_LENGTH_MAX,
    parse_memo,
)
from gateway.routes.operations import operation_answer
from gateway.routing import AuthScheme, Route
from gateway.sagas.catalogue import Sagas
from gateway.sagas.definition import derive_saga_id
from gateway.sagas.engine import SagaEngine
from gateway.sagas.merchant_payment import merchant_payment_input

OPERATION_PAY_MERCHANT = "createMerchantPayment"
MERCHANT_PAYMENT_FIELDS = ("to_account_id", "amount_fen", "currency", "memo")

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
        },
    },
}


class MerchantPaymentRoutes:
    """POST /v1/merchant-payments."""

    def __init__(
        self, payment: PaymentClient, engine: SagaEngine, sagas: Sagas, wait_seconds: float
    ) -> None:
        self._payment = payment
        self._engine = engine
        self._sagas = sagas
        self._wait_seconds = wait_seconds

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
        key = require_idempotency_key(request)
        body = await read_json_object(request, MERCHANT_PAYMENT_FIELDS)
        amount = require_amount(body)
        merchant_account_id = require_text(body, "to_account_id", ACCOUNT_ID_LENGTH_MAX)
        memo = parse_memo(body)
        caller = request[CALLER]
        saga_id = derive_saga_id(caller.user_id, key)
        if await self._engine.get(saga_id) is None:
            # Checked before the first attempt only: a retry answers with that attempt.
            await self._require_payable_merchant(merchant_account_id, caller.account_id)
        record = await self._engine.start(
            self._sagas.merchant_payment,
            saga_id=saga_id,
            owner_user_id=caller.user_id,
            saga_input=merchant_payment_input(
                payer_account_id=caller.account_id,
                merchant_account_id=merchant_account_id,
                amount=amount,
                memo=memo,
                device_id=device_id_of(request),
            ),
            fingerprint=fingerprint_request(OPERATION_PAY_MERCHANT, body),
            wait_seconds=self._wait_seconds,
        )
        return operation_answer(record)

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
