"""Operator endpoints: risk rules, the blacklist, risk decisions, platform refund decisions, jobs.

Only callers with the operator role (phones in COLONY_OPERATOR_PHONES, at log-in) get past
the middleware; everyone else is refused with 403. Each change is logged with the
operator's user id for the audit trail. The rules themselves are data the payment service
validates (services/payment/risk.py, parse_rules): the gateway passes the JSON list through.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any, ClassVar

from aiohttp import web
from pydantic import Field

from chassis.errors import InvalidArgument, NotFound
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient, ServiceFault
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import Body, CalendarDate, body_schemas, read_body
from gateway.edge.identities import Role
from gateway.edge.openapi import schema_ref
from gateway.edge.ownership import list_page
from gateway.edge.paging import NEXT_PAGE_TOKEN_PROPERTY, PAGING_QUERY_PARAMETERS
from gateway.edge.payloads import read_json
from gateway.edge.representations import json_response, risk_decision_json, trade_json
from gateway.edge.routing import AuthScheme, QueryParameter, Route, route_factory
from gateway.payment.merchant_bodies import RefundDecisionRequest
from gateway.payment.risk_rules import parse_risk_rules, risk_rules_schemas
from gateway.payment.trade_access import trade_id_of

log = logging.getLogger("colony.gateway.admin")

ACCOUNT_ID_LENGTH_MAX = 64
BLACKLIST_REASON_LENGTH_MAX = 200
# The payment service's bound on sub-accounts: more is refused here, before it travels.
HOT_SHARDS_MAX = 64


class BlacklistRequest(Body):
    blacklisted: bool
    reason: Annotated[
        str, Field(max_length=BLACKLIST_REASON_LENGTH_MAX, description="Why; may be empty.")
    ] = ""


class HotAccountRequest(Body):
    hot_shards: Annotated[
        int,
        Field(
            ge=0,
            le=HOT_SHARDS_MAX,
            description="Sub-accounts that take its credits (0: an ordinary account).",
        ),
    ]


class TradeJobsRequest(Body):
    field_reasons: ClassVar[Mapping[str, str]] = {"business_date": "INVALID_BUSINESS_DATE"}

    business_date: Annotated[
        CalendarDate,
        Field(
            description="YYYY-MM-DD, China Standard Time; it must have begun (the payment "
            "service's rule).",
            examples=["2025-03-11"],
        ),
    ]


SCHEMAS: dict[str, dict[str, Any]] = {
    # The rules' models render it (one per kind, told apart by kind).
    **risk_rules_schemas(),
    "RiskRulesReplaced": {
        "type": "object",
        "required": ["rule_count"],
        "properties": {"rule_count": {"type": "integer"}},
    },
    **body_schemas(BlacklistRequest, HotAccountRequest, TradeJobsRequest),
    "HotAccount": {
        "type": "object",
        "required": ["account_id", "hot_shards"],
        "properties": {
            "account_id": {"type": "string"},
            "hot_shards": {"type": "integer"},
        },
    },
    "BlacklistEntry": {
        "type": "object",
        "required": ["account_id", "blacklisted", "reason"],
        "properties": {
            "account_id": {"type": "string"},
            "blacklisted": {"type": "boolean"},
            "reason": {"type": "string"},
        },
    },
    "RiskDecision": {
        "type": "object",
        "required": [
            "decision_id",
            "payer_account_id",
            "payee_account_id",
            "amount",
            "payment_kind",
            "action",
            "rule_ids",
            "reasons",
            "proceeded",
            "decided_at",
        ],
        "properties": {
            "decision_id": {"type": "string"},
            "payer_account_id": {"type": "string"},
            "payee_account_id": {"type": "string"},
            "amount": schema_ref("Money"),
            "payment_kind": {"type": "string", "enum": ["transfer", "payment", "withdrawal"]},
            "action": {"type": "string", "enum": ["ALLOW", "CHALLENGE", "DENY"]},
            "rule_ids": {"type": "array", "items": {"type": "string"}},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "proceeded": {
                "type": "boolean",
                "description": "Whether the payment went ahead (a challenge answered).",
            },
            "decided_at": {"type": "string", "format": "date-time"},
        },
    },
    "RiskDecisionList": {
        "type": "object",
        "required": ["decisions", "next_page_token"],
        "properties": {
            "decisions": {"type": "array", "items": schema_ref("RiskDecision")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "TradeJobsRun": {
        "type": "object",
        "required": ["business_date", "auto_confirmed", "expired", "already_run"],
        "properties": {
            "business_date": {"type": "string", "format": "date"},
            "auto_confirmed": {"type": "integer"},
            "expired": {"type": "integer"},
            "already_run": {
                "type": "boolean",
                "description": "The date had been run before: nothing was done again.",
            },
        },
    },
}


_admin_route = route_factory("admin", (AuthScheme.BEARER,), Role.OPERATOR)


def _account_id_of(request: web.Request) -> str:
    account_id = request.match_info["account_id"]
    if len(account_id) > ACCOUNT_ID_LENGTH_MAX:
        # No account has so long an id: unknown, as any other (the path allows any string).
        raise NotFound(f"there is no account {account_id[:ACCOUNT_ID_LENGTH_MAX]!r}")
    return account_id


class AdminRoutes:
    """Everything under /v1/admin/ (operators only)."""

    def __init__(self, payment: PaymentClient) -> None:
        self._payment = payment

    def routes(self) -> list[Route]:
        return [
            _admin_route(
                "GET",
                "/v1/admin/risk-rules",
                self.get_risk_rules,
                "getRiskRules",
                "The risk rules in force, as data",
                response_schema="RiskRules",
            ),
            _admin_route(
                "PUT",
                "/v1/admin/risk-rules",
                self.set_risk_rules,
                "setRiskRules",
                "Replace the risk rules (validated as a whole; nothing changes if one is bad)",
                request_schema="RiskRules",
                response_schema="RiskRulesReplaced",
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_RISK_RULE",)},
            ),
            _admin_route(
                "PUT",
                "/v1/admin/blacklist/{account_id}",
                self.set_blacklisted,
                "setBlacklisted",
                "Put an account on the risk blacklist, or take it off",
                request_schema="BlacklistRequest",
                response_schema="BlacklistEntry",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            _admin_route(
                "PUT",
                "/v1/admin/accounts/{account_id}/hot",
                self.set_account_hot,
                "setAccountHot",
                "Split an account's credits over sub-accounts (a big merchant on Double 11)",
                request_schema="HotAccountRequest",
                response_schema="HotAccount",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT",),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                },
            ),
            _admin_route(
                "GET",
                "/v1/admin/risk-decisions",
                self.list_risk_decisions,
                "listRiskDecisions",
                "Recorded risk decisions (the audit trail), newest first",
                response_schema="RiskDecisionList",
                query_parameters=(
                    QueryParameter(
                        "payer_account_id",
                        {"type": "string", "maxLength": ACCOUNT_ID_LENGTH_MAX},
                        "Only this payer's decisions.",
                    ),
                    *PAGING_QUERY_PARAMETERS,
                ),
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
            _admin_route(
                "POST",
                "/v1/admin/trades/{trade_id}/refund-decision",
                self.decide_refund,
                "decidePlatformTradeRefund",
                "The platform decides a disputed refund (approve or reject)",
                request_schema="RefundDecisionRequest",
                response_schema="MerchantTrade",
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("ILLEGAL_TRANSITION",),
                },
            ),
            _admin_route(
                "POST",
                "/v1/admin/jobs/trade-jobs",
                self.run_trade_jobs,
                "runTradeJobs",
                "Run the daily trade jobs for a business date (auto-confirm, expiry); "
                "a date already run does nothing",
                request_schema="TradeJobsRequest",
                response_schema="TradeJobsRun",
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_BUSINESS_DATE",)},
            ),
        ]

    async def get_risk_rules(self, request: web.Request) -> web.Response:
        rules_json = await self._payment.get_risk_rules()
        try:
            rules = json.loads(rules_json)
        except ValueError as error:
            raise ServiceFault(f"payment answered rules that are not JSON: {error}") from error
        return json_response(rules)

    async def set_risk_rules(self, request: web.Request) -> web.Response:
        rules = parse_risk_rules(await read_json(request))
        rule_count = await self._payment.set_risk_rules(
            json.dumps(rules, ensure_ascii=False, separators=(",", ":"))
        )
        log.info(
            "risk rules replaced",
            extra={"operator_user_id": request[CALLER].user_id, "rule_count": rule_count},
        )
        return json_response({"rule_count": rule_count})

    async def set_blacklisted(self, request: web.Request) -> web.Response:
        account_id = _account_id_of(request)
        body = await read_body(request, BlacklistRequest)
        blacklisted, reason = body.blacklisted, body.reason
        await self._payment.set_blacklisted(
            pb.SetBlacklistedRequest(account_id=account_id, blacklisted=blacklisted, reason=reason)
        )
        log.info(
            "blacklist changed",
            extra={
                "operator_user_id": request[CALLER].user_id,
                "account_id": account_id,
                "blacklisted": blacklisted,
            },
        )
        return json_response(
            {"account_id": account_id, "blacklisted": blacklisted, "reason": reason}
        )

    async def set_account_hot(self, request: web.Request) -> web.Response:
        account_id = _account_id_of(request)
        hot_shards = (await read_body(request, HotAccountRequest)).hot_shards
        account = await self._payment.set_account_hot(account_id, hot_shards)
        log.info(
            "account hot shards set",
            extra={
                "operator_user_id": request[CALLER].user_id,
                "account_id": account_id,
                "hot_shards": account.hot_shards,
            },
        )
        return json_response({"account_id": account_id, "hot_shards": account.hot_shards})

    async def list_risk_decisions(self, request: web.Request) -> web.Response:
        payer_account_id = request.query.get("payer_account_id", "")
        if len(payer_account_id) > ACCOUNT_ID_LENGTH_MAX:
            raise InvalidArgument(
                f"payer_account_id must be at most {ACCOUNT_ID_LENGTH_MAX} characters",
                metadata={"field": "payer_account_id"},
            )
        return await list_page(
            request,
            "decisions",
            lambda page: self._payment.list_risk_decisions(
                pb.ListRiskDecisionsRequest(payer_account_id=payer_account_id, page=page)
            ),
            risk_decision_json,
        )

    async def decide_refund(self, request: web.Request) -> web.Response:
        trade_id = trade_id_of(request)
        approve = (await read_body(request, RefundDecisionRequest)).approve
        # An empty merchant_account_id is the platform deciding (DecideTradeRefundRequest).
        trade = await self._payment.decide_trade_refund(
            pb.DecideTradeRefundRequest(trade_id=trade_id, merchant_account_id="", approve=approve)
        )
        log.info(
            "platform refund decision",
            extra={
                "operator_user_id": request[CALLER].user_id,
                "trade_id": trade_id,
                "approve": approve,
            },
        )
        return json_response(trade_json(trade, merchant_view=True))

    async def run_trade_jobs(self, request: web.Request) -> web.Response:
        business_date = (await read_body(request, TradeJobsRequest)).business_date
        response = await self._payment.run_trade_jobs(business_date)
        log.info(
            "trade jobs run",
            extra={
                "operator_user_id": request[CALLER].user_id,
                "business_date": business_date,
                "already_run": response.already_run,
            },
        )
        return json_response(
            {
                "business_date": business_date,
                "auto_confirmed": response.auto_confirmed,
                "expired": response.expired,
                "already_run": response.already_run,
            }
        )
