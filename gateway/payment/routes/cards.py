"""Bank cards bound to the caller's wallet (绑卡): bind, list, unbind.

Binding asks the payment service, which asks the bank channel to confirm the card is held in
the account's real name (422 CARD_HOLDER_NOT_CONFIRMED otherwise); a bound card raises the
account to KYC level 3 and is the only kind of card a withdrawal may go to. Every route acts
on the caller's own account; someone else's card id answers like a missing one (404).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

from aiohttp import web

from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import Body, body_schemas, read_body
from gateway.edge.openapi import schema_ref
from gateway.edge.representations import json_response, timestamp_json, wallet_json
from gateway.edge.routing import AuthScheme, Route
from gateway.payment.routes.money_movement import BankCardNumber


class BindCardRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {}

    bank_card_number: BankCardNumber


def card_json(card: pb.BoundCard) -> dict[str, Any]:
    return {
        "card_id": card.card_id,
        "card_last4": card.card_last4,
        "bound_at": timestamp_json(card.bound_at),
    }


_CARD = {
    "type": "object",
    "required": ["card_id", "card_last4", "bound_at"],
    "properties": {
        "card_id": {"type": "string", "description": "Stable id of the binding (card_…)."},
        "card_last4": {"type": "string"},
        "bound_at": {"type": "string", "format": "date-time"},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(BindCardRequest),
    "BoundCard": _CARD,
    "BoundCardList": {
        "type": "object",
        "required": ["cards"],
        "properties": {"cards": {"type": "array", "items": schema_ref("BoundCard")}},
    },
    "CardBinding": {
        "type": "object",
        "required": ["card", "wallet"],
        "properties": {
            "card": schema_ref("BoundCard"),
            "wallet": {"type": "object", "description": "The wallet after binding (kyc_level 3)."},
        },
    },
}


class CardRoutes:
    """POST/GET /v1/wallet/cards, DELETE /v1/wallet/cards/{card_id}."""

    def __init__(self, payment: PaymentClient) -> None:
        self._payment = payment

    def routes(self) -> list[Route]:
        common: dict[str, Any] = {"tag": "wallet", "auth": (AuthScheme.BEARER,)}
        return [
            Route(
                "POST",
                "/v1/wallet/cards",
                self.bind,
                operation_id="bindBankCard",
                summary="Bind a bank card in the caller's real name (the bank confirms it)",
                request_schema="BindCardRequest",
                response_schema="CardBinding",
                response_status=HTTPStatus.CREATED,
                response_description="Bound (binding the same card again answers the same).",
                problems={
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "CARD_HOLDER_NOT_CONFIRMED",
                        "BANK_DECLINED",
                        "CARD_LIMIT_REACHED",
                        "ACCOUNT_NOT_ACTIVE",
                    )
                },
                **common,
            ),
            Route(
                "GET",
                "/v1/wallet/cards",
                self.list_cards,
                operation_id="listBankCards",
                summary="The caller's bound bank cards, oldest first",
                response_schema="BoundCardList",
                **common,
            ),
            Route(
                "DELETE",
                "/v1/wallet/cards/{card_id}",
                self.unbind,
                operation_id="unbindBankCard",
                summary="Unbind one of the caller's bank cards",
                response_status=HTTPStatus.NO_CONTENT,
                response_description="Unbound.",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
                **common,
            ),
        ]

    async def bind(self, request: web.Request) -> web.Response:
        body = await read_body(request, BindCardRequest)
        account_id = request[CALLER].account_id
        # Binding is idempotent by (account, card): the same pair is the same binding.
        key = hashlib.sha256(f"{account_id}:{body.bank_card_number}".encode()).hexdigest()
        response = await self._payment.bind_card(
            pb.BindCardRequest(
                idempotency_key=key, account_id=account_id, bank_card_number=body.bank_card_number
            )
        )
        payload = {"card": card_json(response.card), "wallet": wallet_json(response.account)}
        return json_response(payload, status=HTTPStatus.CREATED)

    async def list_cards(self, request: web.Request) -> web.Response:
        cards = await self._payment.list_bound_cards(request[CALLER].account_id)
        return json_response({"cards": [card_json(card) for card in cards]})

    async def unbind(self, request: web.Request) -> web.Response:
        await self._payment.unbind_card(request[CALLER].account_id, request.match_info["card_id"])
        return web.Response(status=HTTPStatus.NO_CONTENT)
