"""The fund marketplace (Ant Fortune, 蚂蚁聚宝, DOMAIN.md §2): funds and their NAV history,
the risk questionnaire, buying and selling, orders, positions, recommendations.

Buying is a saga (gateway.wealth.sagas.fund_purchase): suitability is the wealth service's rule,
so a fund above the caller's risk level is refused with 422 SUITABILITY unless the request
says ``risk_acknowledged: true``. Selling moves no money now (the proceeds are a payout once
the order's NAV is published, paid by the wealth job): one idempotent call. Orders and
positions are the caller's only.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import InvalidArgument
from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import WealthClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import (
    body_schemas,
    read_body,
)
from gateway.edge.idempotency import IdempotentRequests, StoredResponse, require_idempotency_key
from gateway.edge.openapi import schema_ref
from gateway.edge.ownership import get_own, list_own, list_page, path_id
from gateway.edge.paging import NEXT_PAGE_TOKEN_PROPERTY, PAGING_QUERY_PARAMETERS, page_request
from gateway.edge.representations import encode_json, json_response, money_json
from gateway.edge.routing import AuthScheme, QueryParameter, Route, route_factory
from gateway.operations.answers import OPERATION_RESPONSES
from gateway.operations.start import Operations
from gateway.wealth.bodies import FundBuyRequest, FundSellRequest, RiskQuestionnaire
from gateway.wealth.ledger import WealthLedger
from gateway.wealth.positions import fund_positions
from gateway.wealth.prechecks import check_fund_purchase
from gateway.wealth.representations import (
    enum_names,
    enum_value,
    fund_json,
    fund_order_json,
    nav_json,
    risk_profile_json,
)
from gateway.wealth.sagas.fund_purchase import fund_purchase_input

OPERATION_BUY = "buyFund"
OPERATION_SELL = "sellFund"
OPERATION_SUBMIT_PROFILE = "submitRiskProfile"
RECOMMENDATIONS_MAX = 20
FUND_CATEGORIES = enum_names(wpb.FundCategory, "FUND_CATEGORY_")


_MONEY = schema_ref("Money")
_DATE = {"type": "string", "format": "date"}
_TIME = {"type": "string", "format": "date-time"}
_UNITS = {
    "type": "string",
    "description": "Fund units, a decimal with 2 places.",
    "example": "100.25",
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Fund": {
        "type": "object",
        "required": [
            "fund_id",
            "name",
            "category",
            "risk_level",
            "latest_nav",
            "latest_nav_date",
            "one_year_return",
        ],
        "properties": {
            "fund_id": {"type": "string"},
            "name": {"type": "string"},
            "category": {"type": "string", "enum": FUND_CATEGORIES},
            "risk_level": {"type": "string", "enum": ["R1", "R2", "R3", "R4", "R5"]},
            "latest_nav": {"type": "string", "description": 'Yuan per unit; "" if none yet.'},
            "latest_nav_date": {"type": "string"},
            "one_year_return": {
                "type": "string",
                "description": 'NAV growth over 365 days as a fraction; "" without a year.',
            },
        },
    },
    "FundList": {
        "type": "object",
        "required": ["funds", "next_page_token"],
        "properties": {
            "funds": {"type": "array", "items": schema_ref("Fund")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "NavPoint": {
        "type": "object",
        "required": ["nav_date", "nav_per_unit"],
        "properties": {"nav_date": _DATE, "nav_per_unit": {"type": "string"}},
    },
    "FundDetail": {
        "type": "object",
        "required": ["fund", "navs", "next_page_token"],
        "properties": {
            "fund": schema_ref("Fund"),
            "navs": {
                "type": "array",
                "items": schema_ref("NavPoint"),
                "description": "NAV history, newest first (page_size, page_token).",
            },
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "RiskProfile": {
        "type": "object",
        "required": ["score", "level", "valid"],
        "properties": {
            "score": {"type": "integer"},
            "level": {"type": "string", "enum": ["C1", "C2", "C3", "C4", "C5"]},
            "assessed_at": _TIME,
            "expires_at": _TIME,
            "valid": {"type": "boolean", "description": "False a year after assessment."},
        },
    },
    **body_schemas(RiskQuestionnaire, FundBuyRequest, FundSellRequest),
    "FundOrder": {
        "type": "object",
        "required": [
            "order_id",
            "fund_id",
            "side",
            "state",
            "amount",
            "units",
            "nav_date",
            "nav_per_unit",
            "risk_acknowledged",
        ],
        "properties": {
            "order_id": {"type": "string"},
            "fund_id": {"type": "string"},
            "side": {"type": "string", "enum": enum_names(wpb.OrderSide, "ORDER_SIDE_")},
            "state": {
                "type": "string",
                "enum": enum_names(wpb.FundOrderState, "FUND_ORDER_STATE_"),
            },
            "amount": {**_MONEY, "description": "A buy's amount; a sale's proceeds once priced."},
            "units": _UNITS,
            "placed_at": _TIME,
            "nav_date": {
                **_DATE,
                "description": "The trading day whose NAV prices it (15:00 CST cut-off).",
            },
            "nav_per_unit": {"type": "string"},
            "priced_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "null while the order waits for its NAV.",
            },
            "risk_acknowledged": {"type": "boolean"},
        },
    },
    "FundOrderList": {
        "type": "object",
        "required": ["orders", "next_page_token"],
        "properties": {
            "orders": {"type": "array", "items": schema_ref("FundOrder")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "FundPositionList": {
        "type": "object",
        "required": ["positions", "total_value"],
        "properties": {
            "positions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["fund_id", "units", "value"],
                    "properties": {
                        "fund_id": {"type": "string"},
                        "name": {"type": "string"},
                        "units": _UNITS,
                        "latest_nav": {"type": "string"},
                        "latest_nav_date": {"type": "string"},
                        "value": {
                            **_MONEY,
                            "description": "units x the latest NAV, rounded down to the fen.",
                        },
                    },
                },
            },
            "total_value": _MONEY,
        },
    },
    "FundRecommendations": {
        "type": "object",
        "required": ["recommendations", "ranking_rule"],
        "properties": {
            "recommendations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["fund", "risk_distance"],
                    "properties": {
                        "fund": schema_ref("Fund"),
                        "risk_distance": {
                            "type": "integer",
                            "description": "The caller's level less the fund's: 0 fits best.",
                        },
                    },
                },
            },
            "ranking_rule": {"type": "string"},
        },
    },
}

CATEGORY_QUERY = QueryParameter(
    "category", {"type": "string", "enum": FUND_CATEGORIES}, "Only funds of this category."
)
LIMIT_QUERY = QueryParameter(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": RECOMMENDATIONS_MAX, "default": 10},
    "At most this many.",
)


class FundRoutes:
    """The fund marketplace under /v1/wealth."""

    def __init__(
        self,
        wealth: WealthClient,
        ledger: WealthLedger,
        idempotency: IdempotentRequests,
        operations: Operations,
    ) -> None:
        self._wealth = wealth
        self._ledger = ledger
        self._idempotency = idempotency
        self._operations = operations

    def routes(self) -> list[Route]:
        route = route_factory("funds", (AuthScheme.BEARER,))

        return [
            route(
                "GET",
                "/v1/wealth/funds",
                self.list_funds,
                "listFunds",
                "The marketplace's funds with their risk level and latest NAV",
                response_schema="FundList",
                query_parameters=(CATEGORY_QUERY, *PAGING_QUERY_PARAMETERS),
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
            route(
                "GET",
                "/v1/wealth/funds/{fund_id}",
                self.get_fund,
                "getFund",
                "One fund and its NAV history, newest first",
                response_schema="FundDetail",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            route(
                "GET",
                "/v1/wealth/risk-profile",
                self.get_risk_profile,
                "getRiskProfile",
                "The caller's risk profile (C1-C5), valid a year",
                response_schema="RiskProfile",
                problems={HTTPStatus.NOT_FOUND: ("RISK_PROFILE_REQUIRED",)},
            ),
            route(
                "POST",
                "/v1/wealth/risk-profile",
                self.submit_risk_profile,
                OPERATION_SUBMIT_PROFILE,
                "Answer the 10-question risk questionnaire: scored to C1-C5",
                idempotency_key_required=True,
                request_schema="RiskQuestionnaire",
                response_schema="RiskProfile",
                response_status=HTTPStatus.CREATED,
            ),
            route(
                "POST",
                "/v1/wealth/funds/{fund_id}/purchases",
                self.buy,
                OPERATION_BUY,
                "Buy a fund from the balance at the NAV of the business date (a saga; "
                "suitability checked)",
                idempotency_key_required=True,
                request_schema="FundBuyRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                response_description="Bought: the operation, with the order.",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT",),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "INSUFFICIENT_FUNDS",
                        "SUITABILITY",
                        "RISK_PROFILE_REQUIRED",
                        "RISK_PROFILE_EXPIRED",
                        "BELOW_MINIMUM",
                        "PURCHASE_CANCELLED",
                    ),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            ),
            route(
                "POST",
                "/v1/wealth/funds/{fund_id}/sales",
                self.sell,
                OPERATION_SELL,
                "Sell fund units: priced at the NAV of the business date, the proceeds paid "
                "to the balance once priced",
                idempotency_key_required=True,
                request_schema="FundSellRequest",
                response_schema="FundOrder",
                response_status=HTTPStatus.CREATED,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("INSUFFICIENT_UNITS",),
                },
            ),
            route(
                "GET",
                "/v1/wealth/fund-orders",
                self.list_orders,
                "listFundOrders",
                "The caller's fund orders, newest first",
                response_schema="FundOrderList",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
            route(
                "GET",
                "/v1/wealth/fund-orders/{order_id}",
                self.get_order,
                "getFundOrder",
                "One of the caller's fund orders",
                response_schema="FundOrder",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            route(
                "GET",
                "/v1/wealth/fund-positions",
                self.positions,
                "listFundPositions",
                "The caller's fund units and their value at the latest NAV",
                response_schema="FundPositionList",
            ),
            route(
                "GET",
                "/v1/wealth/fund-recommendations",
                self.recommendations,
                "recommendFunds",
                "Funds matching the caller's risk profile, ranked by a stated rule",
                response_schema="FundRecommendations",
                query_parameters=(LIMIT_QUERY,),
            ),
        ]

    async def list_funds(self, request: web.Request) -> web.Response:
        category_text = request.query.get("category")
        category = 0
        if category_text is not None:
            if category_text not in FUND_CATEGORIES:
                raise InvalidArgument(
                    f"category is one of {', '.join(FUND_CATEGORIES)}",
                    metadata={"field": "category"},
                )
            category = enum_value(wpb.FundCategory, category_text, "FUND_CATEGORY_")
        return await list_page(
            request,
            "funds",
            lambda page: self._wealth.list_funds(
                wpb.ListFundsRequest(category=category, page=page)  # type: ignore[arg-type]
            ),
            fund_json,
        )

    async def get_fund(self, request: web.Request) -> web.Response:
        fund_id = path_id(request, "fund_id", "fund")
        fund = await self._wealth.get_fund(wpb.GetFundRequest(fund_id=fund_id))
        navs = await self._wealth.list_nav_history(
            wpb.ListNavHistoryRequest(fund_id=fund_id, page=page_request(request))
        )
        return json_response(
            {
                "fund": fund_json(fund.fund),
                "navs": [nav_json(nav) for nav in navs.navs],
                "next_page_token": navs.page.next_page_token,
            }
        )

    async def get_risk_profile(self, request: web.Request) -> web.Response:
        response = await self._wealth.get_risk_profile(
            wpb.GetRiskProfileRequest(investor_id=request[CALLER].account_id)
        )
        return json_response(risk_profile_json(response.profile, valid=response.valid))

    async def submit_risk_profile(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, RiskQuestionnaire)
        scores = body.answer_scores
        caller = request[CALLER]

        async def submit(grpc_key: str) -> StoredResponse:
            response = await self._wealth.submit_risk_profile(
                wpb.SubmitRiskProfileRequest(
                    idempotency_key=grpc_key, investor_id=caller.account_id, answer_scores=scores
                )
            )
            return StoredResponse(
                HTTPStatus.CREATED, encode_json(risk_profile_json(response.profile, valid=True))
            )

        return await self._idempotency.respond(
            user_id=caller.user_id,
            key=key,
            operation_id=OPERATION_SUBMIT_PROFILE,
            body=body.fields_sent(),
            operation=submit,
        )

    async def buy(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        fund_id = path_id(request, "fund_id", "fund")
        body = await read_body(request, FundBuyRequest)
        amount = Money(body.amount_fen, body.currency)
        acknowledged = body.risk_acknowledged
        account_id = request[CALLER].account_id

        async def saga_input() -> dict[str, Any]:
            await self._ledger.ensure_accounts()
            # Only for a new operation: a refusal here is answered before any hold.
            await check_fund_purchase(
                self._wealth, account_id, fund_id, amount, risk_acknowledged=acknowledged
            )
            return fund_purchase_input(account_id, fund_id, amount, risk_acknowledged=acknowledged)

        return await self._operations.start(
            request,
            self._operations.sagas.fund_purchase,
            operation_id=OPERATION_BUY,
            body={"fund_id": fund_id, **body.fields_sent()},
            saga_input=saga_input,
        )

    async def sell(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        fund_id = path_id(request, "fund_id", "fund")
        body = await read_body(request, FundSellRequest)
        units = body.units
        caller = request[CALLER]

        async def sell(grpc_key: str) -> StoredResponse:
            response = await self._wealth.sell_fund(
                wpb.SellFundRequest(
                    idempotency_key=grpc_key,
                    investor_id=caller.account_id,
                    fund_id=fund_id,
                    units=units,
                )
            )
            return StoredResponse(HTTPStatus.CREATED, encode_json(fund_order_json(response.order)))

        return await self._idempotency.respond(
            user_id=caller.user_id,
            key=key,
            operation_id=OPERATION_SELL,
            body={"fund_id": fund_id, **body.fields_sent()},
            operation=sell,
        )

    async def list_orders(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "orders",
            lambda investor_id, page: self._wealth.list_fund_orders(
                wpb.ListFundOrdersRequest(investor_id=investor_id, page=page)
            ),
            fund_order_json,
        )

    async def get_order(self, request: web.Request) -> web.Response:
        order_id = path_id(request, "order_id", "order")
        order = await get_own(
            self._fund_order(order_id),
            lambda order: order.investor_id == request[CALLER].account_id,
            what="order",
            object_id=order_id,
        )
        return json_response(fund_order_json(order))

    async def _fund_order(self, order_id: str) -> wpb.FundOrder:
        response = await self._wealth.get_fund_order(wpb.GetFundOrderRequest(order_id=order_id))
        return response.order

    async def positions(self, request: web.Request) -> web.Response:
        lines, total_fen = await fund_positions(self._wealth, request[CALLER].account_id)
        return json_response({"positions": lines, "total_value": money_json(Money(total_fen))})

    async def recommendations(self, request: web.Request) -> web.Response:
        limit_text = request.query.get("limit", "10")
        if (
            not (limit_text.isascii() and limit_text.isdigit())
            or not 1 <= int(limit_text) <= RECOMMENDATIONS_MAX
        ):
            raise InvalidArgument(
                f"limit must be a whole number from 1 to {RECOMMENDATIONS_MAX}",
                metadata={"field": "limit"},
            )
        response = await self._wealth.recommend_funds(
            wpb.RecommendFundsRequest(investor_id=request[CALLER].account_id, limit=int(limit_text))
        )
        return json_response(
            {
                "recommendations": [
                    {"fund": fund_json(r.fund), "risk_distance": r.risk_distance}
                    for r in response.recommendations
                ],
                "ranking_rule": response.ranking_rule,
            }
        )
