"""ABS pools (docs/loans.md "ABS pools"): the operator's pools, an investor's units.

- POST /v1/admin/loans/abs-pools: a pool with its coupon, revolving period and eligibility
  rules (CreateAbsPool, keyed by the caller's Idempotency-Key);
- GET  /v1/admin/loans/abs-pools/{pool_id}: the pool, the loans it holds, its investors'
  holdings and its periods (every fen collected and where it went);
- POST /v1/admin/loans/abs-pools/{pool_id}/purchases: the pool buys eligible loans, the
  price paid to the lender (an operation: the abs_purchase saga);
- POST /v1/admin/loans/abs-pools/{pool_id}/pass-through: a period's collections pass
  through to investors, lender and new loans (an operation: the abs_pass_through saga);
- POST /v1/abs-pools/{pool_id}/units: a person buys units with wallet money while the pool
  is open (until its revolving period ends; an operation: the abs_units saga).
The sagas are gateway.loans.merchant.abs_sagas; a person's holdings show in GET /v1/wallet.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from aiohttp import web

from chassis.clock import Clock, business_date_of
from chassis.errors import FailedPrecondition
from colony.loan.v1 import merchant_lending_pb2 as mpb
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import read_body
from gateway.edge.idempotency import derive_grpc_idempotency_key, require_idempotency_key
from gateway.edge.identities import Role
from gateway.edge.ownership import path_id
from gateway.edge.representations import json_response
from gateway.edge.routing import AuthScheme, Route, route_factory
from gateway.loans.merchant.abs_representations import abs_pool_json
from gateway.loans.merchant.abs_sagas import pool_input, units_input
from gateway.loans.merchant.bodies import AbsPoolRequest, LoanAmountRequest
from gateway.loans.merchant.wiring import MerchantLending
from gateway.operations.answers import OPERATION_RESPONSES
from gateway.operations.start import Operations
from gateway.sagas.definition import JsonObject

POOL_ID_LENGTH_MAX = 64
UNAVAILABLE = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}


class AbsPoolRoutes:
    def __init__(self, lending: MerchantLending, operations: Operations, clock: Clock) -> None:
        self._lending = lending.client
        self._sagas = lending.sagas.abs
        self._operations = operations
        self._clock = clock

    def routes(self, operator: Callable[..., Route]) -> list[Route]:
        person = route_factory("abs", (AuthScheme.BEARER,), Role.CUSTOMER)
        operation = {
            "idempotency_key_required": True,
            "response_schema": "Operation",
            "response_status": HTTPStatus.CREATED,
            "other_responses": OPERATION_RESPONSES,
        }
        return [
            person(
                "POST",
                "/v1/abs-pools/{pool_id}/units",
                self.buy_units,
                "buyAbsUnits",
                "Buy units of an open ABS pool with wallet money (1 unit = 1 fen of "
                "principal; interest at the pool's coupon; an operation)",
                request_schema="LoanAmountRequest",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT", "INVALID_AMOUNT"),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("POOL_CLOSED", "INSUFFICIENT_FUNDS"),
                    **UNAVAILABLE,
                },
                **operation,
            ),
            operator(
                "POST",
                "/v1/admin/loans/abs-pools/{pool_id}/purchases",
                self.purchase,
                "buyAbsPoolLoans",
                "The pool buys, at par, every eligible loan its cash covers; the price goes "
                "to the lender (platform:loan:capital), so its capacity returns (an operation)",
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("POOL_NOT_REVOLVING",),
                    **UNAVAILABLE,
                },
                **operation,
            ),
            operator(
                "POST",
                "/v1/admin/loans/abs-pools/{pool_id}/pass-through",
                self.pass_through,
                "passThroughAbsPool",
                "One period (since the last, to today) of the pooled loans' collections: the "
                "coupon to investors pro rata by units, the rest excess spread to the lender, "
                "principal buying new loans in the revolving period, else returned (an "
                "operation)",
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("POOL_PERIOD_NOT_OVER",),
                    **UNAVAILABLE,
                },
                **operation,
            ),
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
        body = await read_body(request, AbsPoolRequest)
        rules = body.eligibility
        response = await self._lending.create_abs_pool(
            mpb.CreateAbsPoolRequest(
                idempotency_key=key,
                pool_id=body.pool_id,
                coupon_rate=body.coupon_rate,
                revolving_until=body.revolving_until,
                eligibility=mpb.AbsEligibility(
                    require_current=rules.require_current,
                    min_remaining_days=rules.min_remaining_days,
                    max_borrower_share=rules.max_borrower_share,
                ),
            )
        )
        return json_response(abs_pool_json(response.pool), status=HTTPStatus.CREATED)

    async def get(self, request: web.Request) -> web.Response:
        pool_id = path_id(request, "pool_id", "ABS pool", POOL_ID_LENGTH_MAX)
        response = await self._lending.get_abs_pool(mpb.GetAbsPoolRequest(pool_id=pool_id))
        return json_response(abs_pool_json(response.pool))

    async def buy_units(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)
        pool_id = path_id(request, "pool_id", "ABS pool", POOL_ID_LENGTH_MAX)
        body = await read_body(request, LoanAmountRequest)
        amount = body.amount
        investor_id = request[CALLER].account_id

        async def saga_input() -> JsonObject:
            pool = (await self._lending.get_abs_pool(mpb.GetAbsPoolRequest(pool_id=pool_id))).pool
            if business_date_of(self._clock.now()).isoformat() > pool.revolving_until:
                raise FailedPrecondition(
                    f"pool {pool_id} sells no units after its revolving period",
                    reason="POOL_CLOSED",
                    metadata={"revolving_until": pool.revolving_until},
                )
            return units_input(pool_id=pool_id, investor_id=investor_id, amount=amount)

        return await self._operations.start(
            request,
            self._sagas.units,
            operation_id="buyAbsUnits",
            body={**body.fields_sent(), "pool_id": pool_id},
            saga_input=saga_input,
        )

    async def _pool_operation(self, request: web.Request, which: str) -> web.Response:
        require_idempotency_key(request)
        pool_id = path_id(request, "pool_id", "ABS pool", POOL_ID_LENGTH_MAX)

        async def saga_input() -> JsonObject:
            await self._lending.get_abs_pool(mpb.GetAbsPoolRequest(pool_id=pool_id))  # 404
            return pool_input(pool_id=pool_id)

        definition = self._sagas.purchase if which == "purchase" else self._sagas.pass_through
        return await self._operations.start(
            request,
            definition,
            operation_id="buyAbsPoolLoans" if which == "purchase" else "passThroughAbsPool",
            body={"pool_id": pool_id},
            saga_input=saga_input,
        )

    async def purchase(self, request: web.Request) -> web.Response:
        return await self._pool_operation(request, "purchase")

    async def pass_through(self, request: web.Request) -> web.Response:
        return await self._pool_operation(request, "pass_through")
