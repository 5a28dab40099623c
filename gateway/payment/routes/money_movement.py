"""Money movement: top-up from a bank card, withdrawal to one, transfer to another user.

Every movement starts from the caller's own account, taken from their identity; the body
names only the other side. Outgoing movements pass real-time risk control with the
request's signals (gateway.edge.risk_signals) and may be challenged for the payment password.
Each runs once per Idempotency-Key (gateway.edge.idempotency), and the service receives a key
derived from it, so no retry can move money twice.
"""

from __future__ import annotations

import hmac
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Annotated, Any, ClassVar

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import Field

from chassis.errors import DomainError, ErrorKind, FailedPrecondition
from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import (
    MONEY_REASONS,
    AmountFen,
    Body,
    Currency,
    Phone,
    body_schemas,
    parse_body,
    read_body,
)
from gateway.edge.idempotency import (
    IdempotentRequests,
    StoredResponse,
    fingerprint_request,
    require_idempotency_key,
)
from gateway.edge.openapi import schema_ref
from gateway.edge.payloads import read_json
from gateway.edge.representations import encode_json, money_to_proto, movement_json
from gateway.edge.risk_signals import risk_signals
from gateway.edge.routing import AuthScheme, Route
from gateway.payment.requests import (
    ACCOUNT_ID_LENGTH_MAX,
    PASSWORD_REASONS,
    Memo,
    PaymentPassword,
    parse_with_phone,
    text,
)

OPERATION_TOP_UP = "createTopUp"
OPERATION_WITHDRAWAL = "createWithdrawal"
OPERATION_TRANSFER = "createTransfer"

PAYEE_NOT_CONFIRMED_DETAIL = (
    "no account can take this transfer: check the payee's phone and their name in full"
)


def names_match(registered: str, given: str) -> bool:
    """The same name, whatever the Unicode form, case or surrounding and inner spaces."""

    def canonical(name: str) -> str:
        return "".join(unicodedata.normalize("NFKC", name).casefold().split())

    return hmac.compare_digest(canonical(registered).encode(), canonical(given).encode())


BankCardNumber = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{12,19}$",
        description="12 to 19 digits passing the Luhn check (the Luhn digit is the payment "
        "service's check: INVALID_ARGUMENT).",
    ),
]


class TopUpRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = MONEY_REASONS

    amount_fen: AmountFen
    currency: Currency = "CNY"
    bank_card_number: BankCardNumber


class WithdrawalRequest(TopUpRequest):
    field_reasons: ClassVar[Mapping[str, str]] = {**MONEY_REASONS, **PASSWORD_REASONS}

    payment_password: PaymentPassword = ""


class _Transfer(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {**MONEY_REASONS, **PASSWORD_REASONS}

    amount_fen: AmountFen
    currency: Currency = "CNY"
    memo: Memo = ""
    payment_password: PaymentPassword = ""


PAYEE_NAME_LENGTH_MAX = 64


class TransferToPhone(_Transfer):
    """A transfer to the user registered with this phone, confirmed by the payee's name."""

    to_phone: Annotated[Phone, Field(description="The payee's registered phone.")]
    payee_name: Annotated[
        str,
        text(
            PAYEE_NAME_LENGTH_MAX,
            "The payee's registered name in full (a merchant's trading name), as the payer "
            "knows it. A phone and a name that are no account's, an unregistered phone and "
            "a name that is not the phone's holder's are one answer: 422 PAYEE_NOT_CONFIRMED.",
        ),
    ]


class TransferToAccount(_Transfer):
    """A transfer to this account."""

    to_account_id: Annotated[str, text(ACCOUNT_ID_LENGTH_MAX, "The payee's account (2088…).")]


def parse_transfer(body: object) -> TransferToPhone | TransferToAccount:
    """Exactly one of to_phone and to_account_id: the body is one of the two models."""
    if isinstance(body, dict) and "to_phone" in body:
        return parse_with_phone(TransferToPhone, body, "to_phone")
    return parse_body(TransferToAccount, body)


SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(TopUpRequest, WithdrawalRequest, TransferToPhone, TransferToAccount),
    "TransferRequest": {
        "description": "Exactly one of to_phone and to_account_id names the payee.",
        "oneOf": [schema_ref("TransferToPhone"), schema_ref("TransferToAccount")],
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
                "description": (
                    "The payee of a transfer; the bank's clearing account for a top-up; "
                    "platform:withdrawals_in_transit for a withdrawal (passed on to the bank's "
                    "clearing account once the bank has paid out)"
                ),
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
                problems={
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "BANK_DECLINED",
                        "ACCOUNT_NOT_ACTIVE",
                        "TOP_UP_LIMIT_EXCEEDED",
                        "TOP_UP_DAY_LIMIT_EXCEEDED",
                    )
                },
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
                        "CARD_NOT_BOUND",
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
                        "PAYEE_NOT_CONFIRMED",
                        "INSUFFICIENT_FUNDS",
                        "ACCOUNT_NOT_ACTIVE",
                        "ACCOUNT_KIND_NOT_ALLOWED",
                    ),
                },
            ),
        ]

    async def top_up(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, TopUpRequest)
        amount = Money(body.amount_fen, body.currency)
        card_number = body.bank_card_number
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

        return await self._once(request, key, OPERATION_TOP_UP, body.fields_sent(), top_up)

    async def withdraw(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, WithdrawalRequest)
        amount = Money(body.amount_fen, body.currency)
        card_number = body.bank_card_number
        sent = body.fields_sent()
        risk = risk_signals(request, sent)
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

        return await self._once(request, key, OPERATION_WITHDRAWAL, sent, withdraw)

    async def transfer(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = parse_transfer(await read_json(request))
        amount = Money(body.amount_fen, body.currency)
        to_account_id = body.to_account_id if isinstance(body, TransferToAccount) else None
        memo = body.memo
        sent = body.fields_sent()
        risk = risk_signals(request, sent)
        payer_account_id = request[CALLER].account_id

        async def transfer(grpc_key: str) -> StoredResponse:
            payee_account_id = to_account_id or ""
            if isinstance(body, TransferToPhone):
                payee_account_id = await self._confirmed_payee(body.to_phone, body.payee_name)
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

        return await self._once(request, key, OPERATION_TRANSFER, sent, transfer)

    async def _confirmed_payee(self, phone: str, name: str) -> str:
        """The account of phone's holder when name is theirs; one refusal otherwise.

        No answer tells a registered phone from an unregistered one (issue 21 item 5):
        an unknown phone and a wrong name make the same one lookup and get the same
        problem, byte for byte, so only a payer who already knows both learns anything.
        """
        try:
            payee: pb.Account | None = await self._payment.find_account_by_phone(phone)
        except DomainError as error:
            if error.kind is not ErrorKind.NOT_FOUND:
                raise
            payee = None
        if payee is None or not names_match(payee.display_name, name):
            raise FailedPrecondition(
                PAYEE_NOT_CONFIRMED_DETAIL,
                reason="PAYEE_NOT_CONFIRMED",
                metadata={"field": "payee_name"},
            )
        return payee.account_id

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
