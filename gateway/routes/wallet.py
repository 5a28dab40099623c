"""The wallet (DOMAIN.md §6): the caller's balance and statement, read from the ledger.

Both read the caller's own account, taken from their identity; no route takes an
account id to read, so no user can read another's money.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from colony.payment.v1 import payment_pb2 as pb
from gateway.authentication import CALLER
from gateway.clients import PaymentClient
from gateway.openapi import schema_ref
from gateway.paging import PAGING_QUERY_PARAMETERS, page_request
from gateway.representations import json_response, statement_entry_json, wallet_json
from gateway.routing import AuthScheme, Route

SCHEMAS: dict[str, dict[str, Any]] = {
    "Wallet": {
        "type": "object",
        "required": [
            "account_id",
            "balance",
            "available",
            "in_escrow",
            "kyc_level",
            "payment_password_set",
        ],
        "properties": {
            "account_id": {"type": "string"},
            "balance": {**schema_ref("Money"), "description": "Posted balance."},
            "available": {**schema_ref("Money"), "description": "Balance less open holds."},
            "in_escrow": {
                **schema_ref("Money"),
                "description": "Paid into escrow trades not yet settled or refunded; not "
                "part of the balance, which it already left.",
            },
            "kyc_level": {
                "type": "integer",
                "minimum": 1,
                "maximum": 3,
                "description": "1 phone verified, 2 real-name, 3 bank card verified.",
            },
            "payment_password_set": {
                "type": "boolean",
                "description": "Whether a 6-digit payment password has been set.",
            },
        },
    },
    "StatementEntry": {
        "type": "object",
        "required": [
            "entry_id",
            "posting_id",
            "kind",
            "amount",
            "counterpart_account_id",
            "counterpart_name",
            "memo",
            "reference",
            "posted_at",
        ],
        "properties": {
            "entry_id": {"type": "string"},
            "posting_id": {"type": "string"},
            "kind": {
                "type": "string",
                "example": "transfer",
                "description": "top_up, withdrawal, transfer, hold_capture, trade_payment, "
                "trade_settlement, trade_refund, code_payment or bill_payment.",
            },
            "amount": {**schema_ref("Money"), "description": "Signed: negative is money out."},
            "balance_after": {
                **schema_ref("Money"),
                "description": "The running balance right after this entry. Absent on a hot "
                "account's statement, whose sub-accounts move concurrently.",
            },
            "counterpart_account_id": {"type": "string"},
            "counterpart_name": {"type": "string"},
            "memo": {"type": "string"},
            "reference": {
                "type": "string",
                "description": "The trade, hold or bill reference the entry belongs to, if any.",
            },
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
                summary="The caller's balance, available balance and money in escrow",
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
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={400: ("INVALID_PAGE_TOKEN",)},
            ),
        ]

    async def wallet(self, request: web.Request) -> web.Response:
        account = await self._payment.get_account(request[CALLER].account_id)
        return json_response(wallet_json(account))

    async def statement(self, request: web.Request) -> web.Response:
        response = await self._payment.list_statement(
            pb.ListStatementRequest(
                account_id=request[CALLER].account_id, page=page_request(request)
            )
        )
        return json_response(
            {
                "entries": [statement_entry_json(entry) for entry in response.entries],
                "next_page_token": response.page.next_page_token,
            }
        )
