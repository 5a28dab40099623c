"""Money movement: top-up from a bank card, withdrawal to one, transfer to another user.

Every movement starts from the caller's own account, taken from their identity; the body
names only the other side. Outgoing movements pass real-time risk control with the
request's signals (gateway.edge.risk_signals) and may be challenged for the payment password.
Each runs once per Idempotency-Key (gateway.edge.idempotency), and the service receives a key
derived from it, so no retry can move money twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from chassis.errors import InvalidArgument
from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.idempotency import (
    IdempotentRequests,
    StoredResponse,
    fingerprint_request,
    require_idempotency_key,
)
from gateway.edge.openapi import schema_ref
from gateway.edge.payloads import (
    AMOUNT_PROPERTIES,
    optional_text,
    read_json_object,
    require_amount,
    require_text,
)
from gateway.edge.representations import encode_json, money_to_proto, movement_json
from gateway.edge.risk_signals import (
    PAYMENT_PASSWORD_FIELD,
    PAYMENT_PASSWORD_PROPERTY,
    risk_signals,
)
from gateway.edge.routing import AuthScheme, Route
from gateway.payment.requests import (
    ACCOUNT_ID_LENGTH_MAX,
    MEMO_LENGTH_MAX,
    PHONE_LENGTH_MAX,
    parse_memo,
)

BANK_CARD_NUMBER_LENGTH_MAX = 32

TOP_UP_FIELDS = ("amount_fen", "currency", "bank_card_number")
WITHDRAWAL_FIELDS = (*TOP_UP_FIELDS, PAYMENT_PASSWORD_FIELD)
TRANSFER_FIELDS = (
    "amount_fen",
    "currency",
    "to_phone",
    "to_account_id",
    "memo",
    PAYMENT_PASSWORD_FIELD,
)

OPERATION_TOP_UP = "createTopUp"
OPERATION_WITHDRAWAL = "createWithdrawal"
OPERATION_TRANSFER = "createTransfer"


_BANK_CARD_NUMBER_PROPERTY: dict[str, Any] = {
    "type": "string",
    "maxLength": BANK_CARD_NUMBER_LENGTH_MAX,
    "description": "12 to 19 digits passing the Luhn check.",
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "TopUpRequest": {
        "type": "object",
        "required": ["amount_fen", "bank_card_number"],
        "additionalProperties": False,
        "properties": {**AMOUNT_PROPERTIES, "bank_card_number": _BANK_CARD_NUMBER_PROPERTY},
    },
    "WithdrawalRequest": {
        "type": "object",
        "required": ["amount_fen", "bank_card_number"],
        "additionalProperties": False,
        "properties": {
            **AMOUNT_PROPERTIES,
            "bank_card_number": _BANK_CARD_NUMBER_PROPERTY,
            PAYMENT_PASSWORD_FIELD: PAYMENT_PASSWORD_PROPERTY,
        },
    },
    "TransferRequest": {
        "type": "object",
        "description": "Give exactly one of to_phone and to_account_id.",
        "required": ["amount_fen"],
        "additionalProperties": False,
        "properties": {
            **AMOUNT_PROPERTIES,
            "to_phone": {"type": "string", "description": "The payee's registered phone."},
            "to_account_id": {"type": "string", "maxLength": ACCOUNT_ID_LENGTH_MAX},
            "memo": {"type": "string", "maxLength": MEMO_LENGTH_MAX},
            PAYMENT_PASSWORD_FIELD: PAYMENT_PASSWORD_PROPERTY,
        },
    },
    "Movement": {
        "type": "object",
        "description": "The posting that moved the money, and the caller's balances after it.",
        "required": [
            "posting_id",
            "kind",
            "amount",
            "counterpart_account_id",
            "memo",
            "posted_at",
            "balance",
            "available",
        ],
        "properties": {
            "posting_id": {"type": "string"},
            "kind": {
                "type": "string",
                "example": "transfer",
                "description": "top_up, withdrawal, transfer, bill_payment, ...",
            },
            "amount": {**schema_ref("Money"), "description": "The amount moved (positive)."},
            "counterpart_account_id": {
                "type": "string",
                "description": "The payee of a transfer; the bank's clearing account otherwise.",
            },
            "memo": {"type": "string"},
            "posted_at": {"type": "string", "format": "date-time"},
            "balance": {**schema_ref("Money"), "description": "The caller's balance after it."},
            "available": {
                **schema_ref("Money"),
                "description": "The caller's available balance after it.",
            },
        },
    },
}

_MOVEMENT_PROBLEMS: dict[int, tuple[str, ...]] = {
    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT", "UNSUPPORTED_CURRENCY"),
    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
}


def _created(payload: dict[str, Any]) -> StoredResponse:
    return StoredResponse(status=HTTPStatus.CREATED, body=encode_json(payload))


def _movement_route(
    *,
    path: str,
    handler: Handler,
    operation_id: str,
    summary: str,
    request_schema: str,
    problems: dict[int, tuple[str, ...]],
    risk_checked: bool = True,
) -> Route:
    return Route(
        "POST",
        path,
        handler,
        operation_id=operation_id,
        summary=summary,
        tag="money movement",
        auth=(AuthScheme.BEARER,),
        idempotency_key_required=True,
        risk_checked=risk_checked,
        request_schema=request_schema,
        response_schema="Movement",
        response_status=HTTPStatus.CREATED,
        response_description="Moved; a replay of the same key returns this same answer.",
        problems={
            status: _MOVEMENT_PROBLEMS.get(status, ()) + problems.get(status, ())
            for status in sorted({*_MOVEMENT_PROBLEMS, *problems})
        },
    )


class MoneyMovementRoutes:
    """POST /v1/topups, POST /v1/withdrawals, POST /v1/transfers."""

    def __init__(self, payment: PaymentClient, idempotency: IdempotentRequests) -> None:
        self._payment = payment
        self._idempotency = idempotency

    def routes(self) -> list[Route]:
        return [
            _movement_route(
                path="/v1/topups",
                handler=self.top_up,
                operation_id=OPERATION_TOP_UP,
                summary="Top up the caller's balance from a bank card (快捷支付)",
                request_schema="TopUpRequest",
                risk_checked=False,  # money coming in: nothing to challenge
                problems={HTTPStatus.UNPROCESSABLE_ENTITY: ("BANK_DECLINED", "ACCOUNT_NOT_ACTIVE")},
            ),
            _movement_route(
                path="/v1/withdrawals",
                handler=self.withdraw,
                operation_id=OPERATION_WITHDRAWAL,
                summary="Withdraw from the caller's balance to a bank card",
                request_schema="WithdrawalRequest",
                problems={
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "INSUFFICIENT_FUNDS",
                        "BANK_DECLINED",
                        "ACCOUNT_NOT_ACTIVE",
                    )
                },
            ),
            _movement_route(
                path="/v1/transfers",
                handler=self.transfer,
                operation_id=OPERATION_TRANSFER,
                summary="Transfer from the caller's balance to another user (转账)",
                request_schema="TransferRequest",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_PHONE", "SAME_ACCOUNT"),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "INSUFFICIENT_FUNDS",
                        "ACCOUNT_NOT_ACTIVE",
                        "ACCOUNT_KIND_NOT_ALLOWED",
                    ),
                },
            ),
        ]

    async def top_up(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_json_object(request, TOP_UP_FIELDS)
        amount = require_amount(body)
        card_number = require_text(body, "bank_card_number", BANK_CARD_NUMBER_LENGTH_MAX)
        account_id = request[CALLER].account_id

        async def top_up(grpc_key: str) -> StoredResponse:
            response = await self._payment.top_up(
                pb.TopUpRequest(
                    idempotency_key=grpc_key,
                    account_id=account_id,
                    amount=money_to_proto(amount),
                    bank_card_number=card_number,
                )
            )
            return _created(movement_json(response.posting, amount, response.account))

        return await self._once(request, key, OPERATION_TOP_UP, body, top_up)

    async def withdraw(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_json_object(request, WITHDRAWAL_FIELDS)
        amount = require_amount(body)
        card_number = require_text(body, "bank_card_number", BANK_CARD_NUMBER_LENGTH_MAX)
        risk = risk_signals(request, body)
        account_id = request[CALLER].account_id

        async def withdraw(grpc_key: str) -> StoredResponse:
            response = await self._payment.withdraw(
                pb.WithdrawRequest(
                    idempotency_key=grpc_key,
                    account_id=account_id,
                    amount=money_to_proto(amount),
                    bank_card_number=card_number,
                    risk=risk,
                )
            )
            return _created(movement_json(response.posting, amount, response.account))

        return await self._once(request, key, OPERATION_WITHDRAWAL, body, withdraw)

    async def transfer(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_json_object(request, TRANSFER_FIELDS)
        amount: Money = require_amount(body)
        to_phone = optional_text(body, "to_phone", PHONE_LENGTH_MAX)
        to_account_id = optional_text(body, "to_account_id", ACCOUNT_ID_LENGTH_MAX)
        if (to_phone is None) == (to_account_id is None):
            raise InvalidArgument("give exactly one of to_phone and to_account_id")
        memo = parse_memo(body)
        risk = risk_signals(request, body)
        payer_account_id = request[CALLER].account_id

        async def transfer(grpc_key: str) -> StoredResponse:
            payee_account_id = to_account_id or ""
            if to_phone is not None:
                payee_account_id = (await self._payment.find_account_by_phone(to_phone)).account_id
            response = await self._payment.transfer(
                pb.TransferRequest(
                    idempotency_key=grpc_key,
                    from_account_id=payer_account_id,
                    to_account_id=payee_account_id,
                    amount=money_to_proto(amount),
                    memo=memo,
                    risk=risk,
                )
            )
            return _created(movement_json(response.posting, amount, response.account))

        return await self._once(request, key, OPERATION_TRANSFER, body, transfer)

    async def _once(
        self,
        request: web.Request,
        key: str,
        operation_id: str,
        body: dict[str, Any],
        operation: Callable[[str], Awaitable[StoredResponse]],
    ) -> web.Response:
        """Run operation at most once for the caller's Idempotency-Key; replay otherwise."""
        stored = await self._idempotency.run(
            user_id=request[CALLER].user_id,
            key=key,
            fingerprint=fingerprint_request(operation_id, body),
            operation=operation,
        )
        return stored.to_response()
