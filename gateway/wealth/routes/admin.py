"""Operator endpoints of the wealth line: the business-date job, the audit, the catalog.

- POST /v1/admin/jobs/wealth runs the wealth jobs of a business date and posts the money
  they owe (gateway.wealth.jobs); idempotent, so it may be run again after any failure.
- GET /v1/admin/wealth/audit sets each omnibus account's payment balance beside what the
  wealth service's records say it must be (equal at rest, when no saga is in flight).
- Products, funds and NAVs are created or published here, and the demo catalog loaded.
Only operators get past the middleware; every change is logged with the operator's id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from http import HTTPStatus
from typing import Annotated, Any, ClassVar, Literal

from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AfterValidator, Field

from chassis.clock import Clock, business_date_of, parse_business_date
from chassis.errors import InvalidArgument
from chassis.money import Money
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, WealthClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import (
    DATE_PATTERN,
    DECIMAL_PATTERN,
    AmountFen,
    Body,
    Currency,
    Moment,
    body_schemas,
    one_of,
    read_body,
)
from gateway.edge.identities import Role
from gateway.edge.openapi import schema_ref
from gateway.edge.ownership import path_id
from gateway.edge.representations import json_response, money_json, money_proto_json, money_to_proto
from gateway.edge.routing import AuthScheme, Route, route_factory
from gateway.wealth.jobs import WealthJobs
from gateway.wealth.ledger import WealthLedger
from gateway.wealth.representations import (
    enum_names,
    enum_value,
    fund_json,
    jobs_report_json,
    nav_json,
    product_json,
)
from gateway.wealth.reservations import AllocationOutcome, ReservationMatching

log = logging.getLogger("colony.gateway.admin")

# Transport bounds only: the wealth service holds the rules.
TEXT_LENGTH_MAX = 200
DECIMAL_LENGTH_MAX = 32
TERM_DAYS_MAX = 3650
FUND_CATEGORIES = enum_names(wpb.FundCategory, "FUND_CATEGORY_")
RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")

Text = Annotated[str, Field(min_length=1, max_length=TEXT_LENGTH_MAX, pattern=r"[^\s\u0085\ufeff]")]


def _real_date(text: str) -> str:
    date.fromisoformat(text)  # 2025-02-30 matches the pattern but is no date: ValueError
    return text


DateText = Annotated[
    str,
    Field(pattern=DATE_PATTERN, json_schema_extra={"format": "date"}),
    AfterValidator(_real_date),
]
DecimalText = Annotated[str, Field(pattern=DECIMAL_PATTERN, max_length=DECIMAL_LENGTH_MAX)]


class WealthJobsRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {"business_date": "INVALID_BUSINESS_DATE"}

    business_date: Annotated[
        DateText,
        Field(
            description="The business date (CST) the jobs run for; it must have begun. "
            "The Yu'e Bao income distributed is that of the day before."
        ),
    ]


class CreateProductRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {
        "amount_min_fen": "INVALID_AMOUNT",
        "quota_fen": "INVALID_AMOUNT",
        "currency": "UNSUPPORTED_CURRENCY",
    }

    product_id: Annotated[
        Text, Field(description="Chosen by the operator: creating it again is the same call.")
    ]
    issuer: Text
    insurer: Text
    term_days: Annotated[int, Field(ge=1, le=TERM_DAYS_MAX)]
    expected_annual_yield: Annotated[DecimalText, Field(examples=["0.0420"])]
    amount_min_fen: AmountFen
    quota_fen: AmountFen
    currency: Currency = "CNY"
    sale_starts_at: Moment
    sale_ends_at: Moment


class CreateFundRequest(Body):
    fund_id: Text
    name: Text
    category: Annotated[str, one_of(FUND_CATEGORIES)]
    risk_level: Literal["R1", "R2", "R3", "R4", "R5"]


class PublishNavRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {"nav_date": "INVALID_BUSINESS_DATE"}

    nav_date: DateText
    nav_per_unit: Annotated[DecimalText, Field(examples=["1.0234"])]


_MONEY = schema_ref("Money")
_DATE = {"type": "string", "format": "date"}

SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(WealthJobsRequest, CreateProductRequest, CreateFundRequest, PublishNavRequest),
    "WealthJobsRun": {
        "type": "object",
        "required": ["business_date", "income", "income_skipped", "fixed_term", "payouts"],
        "properties": {
            "business_date": _DATE,
            "income": {
                "type": ["object", "null"],
                "description": "The Yu'e Bao income run of the day before.",
                "additionalProperties": True,
            },
            "income_skipped": {
                "type": "string",
                "description": "Why the income was not run (a later date already started).",
            },
            "fixed_term": {
                "type": "object",
                "required": ["holdings_matured", "reservations_expired"],
                "properties": {
                    "holdings_matured": {"type": "integer"},
                    "reservations_expired": {"type": "integer"},
                },
            },
            "payouts": {
                "type": "object",
                "required": ["paid", "paid_fen", "failed", "failures"],
                "properties": {
                    "paid": {"type": "integer"},
                    "paid_fen": {"type": "integer", "format": "int64"},
                    "failed": {"type": "integer"},
                    "failures": {
                        "type": "array",
                        "items": {"type": "object", "additionalProperties": True},
                    },
                },
            },
        },
    },
    "WealthAudit": {
        "type": "object",
        "required": ["omnibus", "breaches"],
        "properties": {
            "omnibus": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "account_id",
                        "balance",
                        "expected_balance",
                        "reconciled",
                        "liabilities",
                        "payouts_owed",
                        "receivable",
                        "pending_purchases",
                    ],
                    "properties": {
                        "account_id": {"type": "string"},
                        "balance": {**_MONEY, "description": "The payment ledger's balance."},
                        "expected_balance": {
                            **_MONEY,
                            "description": "liabilities + payouts_owed - receivable, from the "
                            "wealth service's records.",
                        },
                        "reconciled": {
                            "type": "boolean",
                            "description": "balance == expected_balance (holds at rest).",
                        },
                        "liabilities": _MONEY,
                        "payouts_owed": _MONEY,
                        "receivable": _MONEY,
                        "pending_purchases": {
                            **_MONEY,
                            "description": "Purchases in flight, not in the figures.",
                        },
                    },
                },
            },
            "breaches": {"type": "array", "items": {"type": "string"}},
        },
    },
    "ReservationMatching": {
        "type": "object",
        "required": ["reservation_purchases"],
        "properties": {
            "reservation_purchases": {
                "type": "array",
                "description": "Each matching reservation's share, and its purchase (an "
                "operation its investor can follow).",
                "items": {
                    "type": "object",
                    "required": [
                        "reservation_id",
                        "investor_account_id",
                        "amount",
                        "operation_id",
                        "state",
                    ],
                    "properties": {
                        "reservation_id": {"type": "string"},
                        "investor_account_id": {"type": "string"},
                        "amount": _MONEY,
                        "operation_id": {"type": "string"},
                        "state": {"type": "string"},
                    },
                },
            }
        },
    },
    "ListedProduct": {
        "type": "object",
        "required": ["product", "reservation_purchases"],
        "properties": {
            "product": schema_ref("Product"),
            "reservation_purchases": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": True},
                "description": "As in ReservationMatching.",
            },
        },
    },
    "NavPublished": {
        "type": "object",
        "required": ["nav", "orders_priced"],
        "properties": {"nav": schema_ref("NavPoint"), "orders_priced": {"type": "integer"}},
    },
    "DemoCatalogLoaded": {
        "type": "object",
        "required": ["products_created", "funds_created", "navs_published"],
        "properties": {
            "products_created": {"type": "integer"},
            "funds_created": {"type": "integer"},
            "navs_published": {"type": "integer"},
        },
    },
}


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _outcomes_json(outcomes: list[AllocationOutcome]) -> list[dict[str, Any]]:
    return [
        {
            "reservation_id": outcome.reservation_id,
            "investor_account_id": outcome.investor_id,
            "amount": money_json(Money(outcome.amount_fen)),
            "operation_id": outcome.operation_id,
            "state": outcome.state.value,
        }
        for outcome in outcomes
    ]


class WealthAdminRoutes:
    """The wealth line's operator endpoints."""

    def __init__(
        self,
        payment: PaymentClient,
        wealth: WealthClient,
        ledger: WealthLedger,
        jobs: WealthJobs,
        matching: ReservationMatching,
        *,
        clock: Clock,
    ) -> None:
        self._payment = payment
        self._wealth = wealth
        self._ledger = ledger
        self._jobs = jobs
        self._matching = matching
        self._clock = clock

    def routes(self) -> list[Route]:
        route = route_factory("admin", (AuthScheme.BEARER,), Role.OPERATOR)

        return [
            route(
                "POST",
                "/v1/admin/jobs/wealth",
                self.run_jobs,
                "runWealthJobs",
                "Run the wealth jobs of a business date (Yu'e Bao income of the day before, "
                "maturities, reservations) and pay every payout due, idempotently",
                request_schema="WealthJobsRequest",
                response_schema="WealthJobsRun",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_BUSINESS_DATE",),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
            ),
            route(
                "GET",
                "/v1/admin/wealth/audit",
                self.audit,
                "getWealthAudit",
                "Each wealth omnibus account's payment balance against what the wealth "
                "records say it must be",
                response_schema="WealthAudit",
            ),
            route(
                "POST",
                "/v1/admin/wealth/products",
                self.create_product,
                "createWealthProduct",
                "Add a fixed-term product to the catalog (idempotent by its product_id); "
                "the matching reservations buy it at once",
                request_schema="CreateProductRequest",
                response_schema="ListedProduct",
                response_status=HTTPStatus.CREATED,
                problems={HTTPStatus.CONFLICT: ("ALREADY_EXISTS",)},
            ),
            route(
                "POST",
                "/v1/admin/wealth/products/{product_id}/reservation-matching",
                self.match_reservations,
                "matchReservations",
                "Run a product's reservation matching again (after a failure; idempotent "
                "for unchanged balances)",
                response_schema="ReservationMatching",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            route(
                "POST",
                "/v1/admin/wealth/products/{product_id}/close",
                self.close_product,
                "closeWealthProduct",
                "Stop a fixed-term product's sale (holdings are unaffected)",
                response_schema="Product",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            route(
                "POST",
                "/v1/admin/wealth/funds",
                self.create_fund,
                "createFund",
                "Add a fund to the marketplace (idempotent by its fund_id)",
                request_schema="CreateFundRequest",
                response_schema="Fund",
                response_status=HTTPStatus.CREATED,
                problems={HTTPStatus.CONFLICT: ("ALREADY_EXISTS",)},
            ),
            route(
                "POST",
                "/v1/admin/wealth/funds/{fund_id}/navs",
                self.publish_nav,
                "publishNav",
                "Publish a fund's NAV for a trading day; orders waiting for it are priced",
                request_schema="PublishNavRequest",
                response_schema="NavPublished",
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("NAV_ALREADY_PUBLISHED",),
                },
            ),
            route(
                "POST",
                "/v1/admin/wealth/demo-catalog",
                self.seed_demo_catalog,
                "seedDemoCatalog",
                "Load the demo products, funds and a year of NAV history (idempotent)",
                response_schema="DemoCatalogLoaded",
            ),
        ]

    async def run_jobs(self, request: web.Request) -> web.Response:
        body = await read_body(request, WealthJobsRequest)
        business_date = parse_business_date(body.business_date)
        if business_date > business_date_of(self._clock.now()):
            raise InvalidArgument(
                f"business date {business_date} has not begun",
                reason="INVALID_BUSINESS_DATE",
                metadata={"business_date": business_date.isoformat()},
            )
        report = await self._jobs.run(business_date)
        log.info(
            "wealth jobs run by an operator",
            extra={
                "operator_user_id": request[CALLER].user_id,
                "business_date": business_date.isoformat(),
            },
        )
        return json_response(jobs_report_json(report))

    async def audit(self, request: web.Request) -> web.Response:
        await self._ledger.ensure_accounts()
        audit = await self._wealth.get_wealth_audit(wpb.GetWealthAuditRequest())
        lines = []
        for figures in audit.omnibus:
            account = await self._payment.get_account(figures.account_id)
            lines.append(
                {
                    "account_id": figures.account_id,
                    "balance": money_proto_json(account.balance),
                    "expected_balance": money_proto_json(figures.expected_balance),
                    "reconciled": account.balance.amount_fen == figures.expected_balance.amount_fen,
                    "liabilities": money_proto_json(figures.liabilities),
                    "payouts_owed": money_proto_json(figures.payouts_owed),
                    "receivable": money_proto_json(figures.receivable),
                    "pending_purchases": money_proto_json(figures.pending_purchases),
                }
            )
        return json_response({"omnibus": lines, "breaches": list(audit.breaches)})

    async def create_product(self, request: web.Request) -> web.Response:
        body = await read_body(request, CreateProductRequest)
        product_id = body.product_id
        await self._wealth.create_product(
            wpb.CreateProductRequest(
                # The operator names the product: the same product again is the same call.
                idempotency_key=f"create-product:{product_id}",
                product_id=product_id,
                issuer=body.issuer,
                insurer=body.insurer,
                term_days=body.term_days,
                expected_annual_yield=body.expected_annual_yield,
                amount_min=money_to_proto(Money(body.amount_min_fen, body.currency)),
                quota=money_to_proto(Money(body.quota_fen, body.currency)),
                sale_starts_at=_timestamp(body.sale_starts_at),
                sale_ends_at=_timestamp(body.sale_ends_at),
            )
        )
        log.info(
            "wealth product created",
            extra={"operator_user_id": request[CALLER].user_id, "product_id": product_id},
        )
        # Newly listed: every matching reservation buys its share now (预约). A failure here
        # leaves the product listed; sending the same request again runs the match again.
        outcomes = await self._matching.run(product_id)
        listed = await self._wealth.get_product(wpb.GetProductRequest(product_id=product_id))
        return json_response(
            {
                "product": product_json(listed.product),
                "reservation_purchases": _outcomes_json(outcomes),
            },
            status=HTTPStatus.CREATED,
        )

    async def match_reservations(self, request: web.Request) -> web.Response:
        product_id = path_id(request, "product_id", "product")
        outcomes = await self._matching.run(product_id)
        log.info(
            "reservations matched by an operator",
            extra={"operator_user_id": request[CALLER].user_id, "product_id": product_id},
        )
        return json_response({"reservation_purchases": _outcomes_json(outcomes)})

    async def close_product(self, request: web.Request) -> web.Response:
        product_id = path_id(request, "product_id", "product")
        response = await self._wealth.close_product(
            wpb.CloseProductRequest(idempotency_key=f"close:{product_id}", product_id=product_id)
        )
        log.info(
            "wealth product closed",
            extra={"operator_user_id": request[CALLER].user_id, "product_id": product_id},
        )
        return json_response(product_json(response.product))

    async def create_fund(self, request: web.Request) -> web.Response:
        body = await read_body(request, CreateFundRequest)
        fund_id = body.fund_id
        response = await self._wealth.create_fund(
            wpb.CreateFundRequest(
                idempotency_key=f"create-fund:{fund_id}",
                fund_id=fund_id,
                name=body.name,
                category=enum_value(  # type: ignore[arg-type]
                    wpb.FundCategory, body.category, "FUND_CATEGORY_"
                ),
                risk_level=RISK_LEVELS.index(body.risk_level) + 1,
            )
        )
        log.info(
            "fund created",
            extra={"operator_user_id": request[CALLER].user_id, "fund_id": response.fund.fund_id},
        )
        return json_response(fund_json(response.fund), status=HTTPStatus.CREATED)

    async def publish_nav(self, request: web.Request) -> web.Response:
        body = await read_body(request, PublishNavRequest)
        fund_id = path_id(request, "fund_id", "fund")
        nav_date = parse_business_date(body.nav_date, "nav_date")
        nav_per_unit = body.nav_per_unit
        # Publishing the same NAV again changes nothing; a different one is refused.
        response = await self._wealth.publish_nav(
            wpb.PublishNavRequest(
                idempotency_key=f"nav:{fund_id}:{nav_date.isoformat()}:{nav_per_unit}",
                fund_id=fund_id,
                nav_date=nav_date.isoformat(),
                nav_per_unit=nav_per_unit,
            )
        )
        log.info(
            "NAV published",
            extra={
                "operator_user_id": request[CALLER].user_id,
                "fund_id": fund_id,
                "nav_date": nav_date.isoformat(),
            },
        )
        return json_response(
            {"nav": nav_json(response.nav), "orders_priced": response.orders_priced}
        )

    async def seed_demo_catalog(self, request: web.Request) -> web.Response:
        response = await self._wealth.seed_demo_catalog(
            wpb.SeedDemoCatalogRequest(idempotency_key="demo-catalog")
        )
        return json_response(
            {
                "products_created": response.products_created,
                "funds_created": response.funds_created,
                "navs_published": response.navs_published,
            }
        )
