"""The wallet (DOMAIN.md §6): the caller's balance and statement, read from the ledger.

Both read the caller's own account, taken from their identity; no route takes an
account id to read, so no user can read another's money.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chassis.errors import InvalidArgument
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from gateway.authentication import CALLER
from gateway.clients import PaymentClient
from gateway.openapi import schema_ref
from gateway.representations import json_response, statement_entry_json, wallet_json
from gateway.routing import AuthScheme, QueryParameter, Route

STATEMENT_PAGE_SIZE_DEFAULT = 20
STATEMENT_PAGE_SIZE_MAX = 100
PAGE_TOKEN_LENGTH_MAX = 512

SCHEMAS: dict[str, dict[str, Any]] = {
    "Wallet": {
        "type": "object",
        "required": ["account_id", "balance", "available"],
        "properties": {
            "account_id": {"type": "string"},
            "balance": {**schema_ref("Money"), "description": "Posted balance."},
            "available": {**schema_ref("Money"), "description": "Balance less open holds."},
        },
    },
    "StatementEntry": {
        "type": "object",
        "required": [
            "entry_id",
            "posting_id",
            "kind",
            "amount",
            "balance_after",
            "counterpart_account_id",
            "counterpart_name",
            "memo",
            "posted_at",
        ],
        "properties": {
            "entry_id": {"type": "string"},
            "posting_id": {"type": "string"},
            "kind": {
                "type": "string",
                "example": "transfer",
                "description": "top_up, withdrawal or transfer.",
            },
            "amount": {**schema_ref("Money"), "description": "Signed: negative is money out."},
            "balance_after": {
                **schema_ref("Money"),
                "description": "The running balance right after this entry.",
            },
            "counterpart_account_id": {"type": "string"},
            "counterpart_name": {"type": "string"},
            "memo": {"type": "string"},
            "posted_at": {"type": "string", "format": "date-time"},
        },
    },
    "Statement": {
        "type": "object",
        "required": ["entries", "next_page_token"],
        "properties": {
            "entries": {
                "type": "array",
                "items": schema_ref("StatementEntry"),
                "description": "Newest first.",
            },
            "next_page_token": {
                "type": "string",
                "description": "Pass as page_token for the next page; empty "
                "when there are no more entries.",
            },
        },
    },
}


def parse_page_size(text: str | None) -> int:
    """page_size from the query: a whole number from 1 to 100, 20 when absent."""
    if text is None:
        return STATEMENT_PAGE_SIZE_DEFAULT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= STATEMENT_PAGE_SIZE_MAX:
        raise InvalidArgument(
            f"page_size must be a whole number from 1 to {STATEMENT_PAGE_SIZE_MAX}",
            metadata={"field": "page_size"},
        )
    return int(text)


def parse_page_token(text: str | None) -> str:
    if text is not None and len(text) > PAGE_TOKEN_LENGTH_MAX:
        raise InvalidArgument(
            "page_token is not a token this API issued", reason="INVALID_PAGE_TOKEN"
        )
    return text or ""


class WalletRoutes:
    """GET /v1/wallet, GET /v1/statement."""

    def __init__(self, payment: PaymentClient) -> None:
        self._payment = payment

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/v1/wallet",
                self.wallet,
                operation_id="getWallet",
                summary="The caller's balance and available balance",
                tag="wallet",
                auth=(AuthScheme.BEARER,),
                response_schema="Wallet",
            ),
            Route(
                "GET",
                "/v1/statement",
                self.statement,
                operation_id="listStatement",
                summary="The caller's ledger entries, newest first, with running balances",
                tag="wallet",
                auth=(AuthScheme.BEARER,),
                response_schema="Statement",
                query_parameters=(
                    QueryParameter(
                        "page_size",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": STATEMENT_PAGE_SIZE_MAX,
                            "default": STATEMENT_PAGE_SIZE_DEFAULT,
                        },
                        "Entries per page.",
                    ),
                    QueryParameter(
                        "page_token",
                        {"type": "string", "maxLength": PAGE_TOKEN_LENGTH_MAX},
                        "next_page_token of the previous page.",
                    ),
                ),
                problems={400: ("INVALID_PAGE_TOKEN",)},
            ),
        ]

    async def wallet(self, request: web.Request) -> web.Response:
        account = await self._payment.get_account(request[CALLER].account_id)
        return json_response(wallet_json(account))

    async def statement(self, request: web.Request) -> web.Response:
        page = paging_pb2.PageRequest(
            page_size=parse_page_size(request.query.get("page_size")),
            page_token=parse_page_token(request.query.get("page_token")),
        )
        response = await self._payment.list_statement(
            pb.ListStatementRequest(account_id=request[CALLER].account_id, page=page)
        )
        return json_response(
            {
                "entries": [statement_entry_json(entry) for entry in response.entries],
                "next_page_token": response.page.next_page_token,
            }
        )
