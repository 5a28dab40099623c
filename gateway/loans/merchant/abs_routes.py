"""The operator's ABS pools (docs/loans.md "ABS pools"): create one, read it and its report.

- POST /v1/admin/loans/abs-pools: a pool with its coupon, revolving period and eligibility
  rules (CreateAbsPool, keyed by the caller's Idempotency-Key);
- GET  /v1/admin/loans/abs-pools/{pool_id}: the pool, the loans it holds and its report
  (units sold = cash + purchases).
Investors' units (wallet money) and the pool's purchases with them are not served by the
gateway yet: the loan service records them (RecordAbsUnitsSold, BuyAbsLoans).
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import InvalidArgument
from colony.loan.v1 import merchant_lending_pb2 as mpb
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.edge.authentication import CALLER
from gateway.edge.idempotency import derive_grpc_idempotency_key, require_idempotency_key
from gateway.edge.ownership import path_id
from gateway.edge.payloads import read_json_object, require_bool, require_text
from gateway.edge.representations import json_response
from gateway.edge.routing import Route
from gateway.loans.merchant.representations import abs_pool_json

POOL_ID_LENGTH_MAX = 64
TEXT_LENGTH_MAX = 32
MIN_REMAINING_DAYS_MAX = 3660
UNAVAILABLE = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}


def _eligibility(body: dict[str, Any]) -> mpb.AbsEligibility:
    rules = body.get("eligibility")
    if not isinstance(rules, dict):
        raise InvalidArgument("eligibility must be an object", metadata={"field": "eligibility"})
    unknown = set(rules) - {"require_current", "min_remaining_days", "max_borrower_share"}
    if unknown:
        field = sorted(unknown)[0]
        raise InvalidArgument(f"unknown field eligibility.{field}", metadata={"field": field})
    days = rules.get("min_remaining_days")
    if type(days) is not int or not 0 <= days <= MIN_REMAINING_DAYS_MAX:
        raise InvalidArgument(
            f"min_remaining_days must be a whole number from 0 to {MIN_REMAINING_DAYS_MAX}",
            metadata={"field": "min_remaining_days"},
        )
    return mpb.AbsEligibility(
        require_current=require_bool(rules, "require_current"),
        min_remaining_days=days,
        max_borrower_share=require_text(rules, "max_borrower_share", TEXT_LENGTH_MAX),
    )


class AbsPoolRoutes:
    def __init__(self, lending: MerchantLendingClient) -> None:
        self._lending = lending

    def routes(self, operator: Callable[..., Route]) -> list[Route]:
        return [
            operator(
                "POST",
                "/v1/admin/loans/abs-pools",
                self.create,
                "createAbsPool",
                "Create an ABS pool: its coupon (annual, simple), the last day it buys loans "
                "(revolving period) and its eligibility rules",
                idempotency_key_required=True,
                request_schema="AbsPoolRequest",
                response_schema="AbsPool",
                response_status=HTTPStatus.CREATED,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT",),
                    HTTPStatus.CONFLICT: ("POOL_EXISTS",),
                    **UNAVAILABLE,
                },
            ),
            operator(
                "GET",
                "/v1/admin/loans/abs-pools/{pool_id}",
                self.get,
                "getAbsPool",
                "An ABS pool, the loans it holds and its report (units sold = cash + purchases)",
                response_schema="AbsPool",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **UNAVAILABLE},
            ),
        ]

    async def create(self, request: web.Request) -> web.Response:
        key = derive_grpc_idempotency_key(request[CALLER].user_id, require_idempotency_key(request))
        body = await read_json_object(
            request, ("pool_id", "coupon_rate", "revolving_until", "eligibility")
        )
        response = await self._lending.create_abs_pool(
            mpb.CreateAbsPoolRequest(
                idempotency_key=key,
                pool_id=require_text(body, "pool_id", POOL_ID_LENGTH_MAX),
                coupon_rate=require_text(body, "coupon_rate", TEXT_LENGTH_MAX),
                revolving_until=require_text(body, "revolving_until", TEXT_LENGTH_MAX),
                eligibility=_eligibility(body),
            )
        )
        return json_response(abs_pool_json(response.pool), status=HTTPStatus.CREATED)

    async def get(self, request: web.Request) -> web.Response:
        pool_id = path_id(request, "pool_id", "ABS pool", POOL_ID_LENGTH_MAX)
        response = await self._lending.get_abs_pool(mpb.GetAbsPoolRequest(pool_id=pool_id))
        return json_response(abs_pool_json(response.pool))
