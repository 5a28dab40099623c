"""Yu'e Bao (余额宝, DOMAIN.md §2): the caller's holding, income, the fund, subscribe, redeem.

Every route reads or moves the caller's own holding: the investor is always the caller's
payment account, taken from their identity, never from the request. Subscribing and
redeeming are sagas (gateway.wealth.sagas.yuebao_subscription, .yuebao_redemption) answered as
operations: 201 when done, the refusal when undone, 202 while going on.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import WealthClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import body_schemas, read_body
from gateway.edge.idempotency import require_idempotency_key
from gateway.edge.openapi import schema_ref
from gateway.edge.ownership import list_own
from gateway.edge.paging import NEXT_PAGE_TOKEN_PROPERTY, PAGING_QUERY_PARAMETERS
from gateway.edge.representations import json_response
from gateway.edge.routing import AuthScheme, Route, route_factory
from gateway.operations.answers import OPERATION_RESPONSES
from gateway.operations.start import Operations
from gateway.wealth.bodies import YuebaoAmountRequest
from gateway.wealth.ledger import WealthLedger
from gateway.wealth.representations import (
    yuebao_account_json,
    yuebao_fund_json,
    yuebao_income_json,
)
from gateway.wealth.sagas.yuebao_redemption import yuebao_redemption_input
from gateway.wealth.sagas.yuebao_subscription import yuebao_subscription_input

OPERATION_SUBSCRIBE = "subscribeYuebao"
OPERATION_REDEEM = "redeemYuebao"


_MONEY = schema_ref("Money")
_RATE = {"type": "string", "description": 'A decimal fraction: "0.0175" is 1.75%.'}

SCHEMAS: dict[str, dict[str, Any]] = {
    "YuebaoHolding": {
        "type": "object",
        "description": "The caller's Yu'e Bao: 1 share = 1 fen at NAV 1.00.",
        "required": [
            "shares",
            "pending_subscriptions",
            "yesterday_income",
            "cumulative_income",
            "last_income_date",
            "fast_redemption_allowance",
            "seven_day_annualised_yield",
        ],
        "properties": {
            "shares": {**_MONEY, "description": "Shares held: they earn and can be redeemed."},
            "pending_subscriptions": {
                **_MONEY,
                "description": "Subscriptions being paid for, not yet shares.",
            },
            "yesterday_income": _MONEY,
            "cumulative_income": _MONEY,
            "last_income_date": {
                "type": "string",
                "description": 'The latest business date income was credited for ("" if never).',
            },
            "fast_redemption_allowance": {
                **_MONEY,
                "description": "What can still be redeemed fast today (10,000 yuan a day).",
            },
            "seven_day_annualised_yield": {
                **_RATE,
                "description": 'The fund\'s 7-day annualised yield; "" before 7 days of income.',
            },
        },
    },
    "YuebaoIncome": {
        "type": "object",
        "required": [
            "business_date",
            "income",
            "shares_before",
            "income_per_10k_shares",
            "cumulative_income",
        ],
        "properties": {
            "business_date": {"type": "string", "format": "date"},
            "income": {**_MONEY, "description": "Rounded down to the fen."},
            "shares_before": {**_MONEY, "description": "The shares it was earned on."},
            "income_per_10k_shares": {
                "type": "string",
                "description": "万份收益: yuan earned by 10,000 shares that day.",
            },
            "cumulative_income": _MONEY,
        },
    },
    "YuebaoIncomeList": {
        "type": "object",
        "required": ["income", "next_page_token"],
        "properties": {
            "income": {
                "type": "array",
                "items": schema_ref("YuebaoIncome"),
                "description": "Newest first.",
            },
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "YuebaoFund": {
        "type": "object",
        "description": "The fund: its portfolio, fees taken, yields, residue, size.",
        "required": [
            "allocations",
            "gross_annual_rate",
            "net_annual_rate",
            "income_per_10k_shares",
            "seven_day_annualised_yield",
            "recent_quotes",
            "residue_fen",
            "shares_outstanding",
        ],
        "properties": {
            "allocations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["asset_class", "weight", "annual_rate"],
                    "properties": {
                        "asset_class": {"type": "string"},
                        "weight": _RATE,
                        "annual_rate": _RATE,
                    },
                },
            },
            "gross_annual_rate": _RATE,
            "net_annual_rate": {
                **_RATE,
                "description": "After the 0.63% a year of management, custody and sales fees.",
            },
            "income_per_10k_shares": {"type": "string"},
            "seven_day_annualised_yield": _RATE,
            "recent_quotes": {
                "type": "array",
                "description": "The last published days, newest first (at most 7).",
                "items": {
                    "type": "object",
                    "required": ["business_date", "income_per_10k_shares"],
                    "properties": {
                        "business_date": {"type": "string", "format": "date"},
                        "income_per_10k_shares": {"type": "string"},
                    },
                },
            },
            "residue_fen": {
                "type": "string",
                "description": "Fractions of a fen earned and not yet paid to any holder: "
                "carried into the next day's distribution, never lost.",
            },
            "shares_outstanding": _MONEY,
        },
    },
    **body_schemas(YuebaoAmountRequest),
}


class YuebaoRoutes:
    """The caller's Yu'e Bao under /v1/wealth/yuebao."""

    def __init__(
        self,
        wealth: WealthClient,
        ledger: WealthLedger,
        operations: Operations,
    ) -> None:
        self._wealth = wealth
        self._ledger = ledger
        self._operations = operations

    def routes(self) -> list[Route]:
        route = route_factory("yuebao", (AuthScheme.BEARER,))

        return [
            route(
                "GET",
                "/v1/wealth/yuebao",
                self.holding,
                "getYuebaoHolding",
                "The caller's Yu'e Bao: shares, yesterday's and cumulative income, 7-day yield",
                response_schema="YuebaoHolding",
            ),
            route(
                "GET",
                "/v1/wealth/yuebao/income",
                self.income,
                "listYuebaoIncome",
                "The caller's daily Yu'e Bao income, newest first",
                response_schema="YuebaoIncomeList",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
            route(
                "GET",
                "/v1/wealth/yuebao/fund",
                self.fund,
                "getYuebaoFund",
                "The Yu'e Bao fund: portfolio, income per 10,000 shares, 7-day yield",
                response_schema="YuebaoFund",
            ),
            route(
                "POST",
                "/v1/wealth/yuebao/subscriptions",
                self.subscribe,
                OPERATION_SUBSCRIBE,
                "Move money from the balance into Yu'e Bao (a saga: hold, issue shares, "
                "capture to the fund's omnibus account, confirm)",
                idempotency_key_required=True,
                request_schema="YuebaoAmountRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                response_description="Subscribed: the operation, with amount and shares held.",
                other_responses=OPERATION_RESPONSES,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "INSUFFICIENT_FUNDS",
                        "ACCOUNT_NOT_ACTIVE",
                        "PURCHASE_CANCELLED",
                    ),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            ),
            route(
                "POST",
                "/v1/wealth/yuebao/redemptions",
                self.redeem,
                OPERATION_REDEEM,
                "Redeem Yu'e Bao to the balance: up to 10,000 yuan a day at once, the rest "
                "on the next business date (a saga)",
                idempotency_key_required=True,
                request_schema="YuebaoAmountRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                response_description="Redeemed: the operation, with what is paid now and later.",
                other_responses=OPERATION_RESPONSES,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("INSUFFICIENT_FUNDS",),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            ),
        ]

    async def holding(self, request: web.Request) -> web.Response:
        response = await self._wealth.get_yuebao_account(
            wpb.GetYuebaoAccountRequest(investor_id=request[CALLER].account_id)
        )
        return json_response(yuebao_account_json(response.account))

    async def income(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "income",
            lambda investor_id, page: self._wealth.list_yuebao_income(
                wpb.ListYuebaoIncomeRequest(investor_id=investor_id, page=page)
            ),
            yuebao_income_json,
        )

    async def fund(self, request: web.Request) -> web.Response:
        return json_response(
            yuebao_fund_json(await self._wealth.get_yuebao_fund(wpb.GetYuebaoFundRequest()))
        )

    async def subscribe(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        body = await read_body(request, YuebaoAmountRequest)
        amount = Money(body.amount_fen, body.currency)
        account_id = request[CALLER].account_id

        async def saga_input() -> dict[str, Any]:
            await self._ledger.ensure_accounts()
            return yuebao_subscription_input(account_id, amount)

        return await self._operations.start(
            request,
            self._operations.sagas.yuebao_subscription,
            operation_id=OPERATION_SUBSCRIBE,
            body=body.fields_sent(),
            saga_input=saga_input,
        )

    async def redeem(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        body = await read_body(request, YuebaoAmountRequest)
        amount = Money(body.amount_fen, body.currency)
        account_id = request[CALLER].account_id

        async def saga_input() -> dict[str, Any]:
            await self._ledger.ensure_accounts()
            return yuebao_redemption_input(account_id, amount)

        return await self._operations.start(
            request,
            self._operations.sagas.yuebao_redemption,
            operation_id=OPERATION_REDEEM,
            body=body.fields_sent(),
            saga_input=saga_input,
        )
