"""Insurance for the caller: products, quotes, buying, their policies and cancelling one.

``POST /v1/insurance/quotes`` prices a product for the caller (valid 15 minutes, bound to
its inputs: gateway.insurance.quoting fills in what the platform knows). ``POST
/v1/insurance/policies`` buys a quote with the wallet (balance, Yu'e Bao and/or Huabei, as
wallet pay chooses: gateway.payment.methods) by the policy_premium saga. ``POST
/v1/insurance/policies/{policy_id}/cancellation`` cancels one of the caller's policies and
refunds the premium by the policy_refund saga (in full in the 15-day cooling-off period,
later pro rata by days). Nobody sees or acts on another's quote or policy: it answers 404
like one that does not exist.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from chassis.errors import ErrorKind, InvalidArgument
from colony.insurance.v1 import insurance_pb2 as ipb
from gateway.clients import InsuranceClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import (
    NON_BLANK_PATTERN,
    Body,
    Distinct,
    body_schemas,
    read_body,
    read_optional_body,
)
from gateway.edge.idempotency import require_idempotency_key
from gateway.edge.identities import Role
from gateway.edge.ownership import get_own, list_own, path_id
from gateway.edge.paging import PAGING_QUERY_PARAMETERS
from gateway.edge.representations import json_response
from gateway.edge.routing import AuthScheme, Route, route_factory
from gateway.insurance.purchases import Purchases
from gateway.insurance.quoting import (
    AGE_MAX,
    COVER_FEN_MAX,
    DURATION_DAYS_MAX,
    PRODUCT_ID_LENGTH_MAX,
    TRADE_ID_LENGTH_MAX,
)
from gateway.insurance.representations import policy_json, product_json, quote_json
from gateway.insurance.sagas.refund import refund_input
from gateway.operations.answers import OPERATION_RESPONSES
from gateway.operations.start import Operations
from gateway.payment.methods import PaymentMethod
from gateway.payment.trade_access import trade_id_of
from gateway.sagas.definition import JsonObject
from gateway.wealth.bodies import NoOptions

OPERATION_BUY = "buyInsurancePolicy"
OPERATION_CANCEL = "cancelInsurancePolicy"
QUOTE_ID_LENGTH_MAX = 64
RETURN_SHIPPING_PRODUCT_ID = "return-shipping"
UNAVAILABLE = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}


def _text(length_max: int, description: str) -> Any:
    return Field(
        min_length=1, max_length=length_max, pattern=NON_BLANK_PATTERN, description=description
    )


def _count(maximum: int, description: str) -> Any:
    return Field(ge=1, le=maximum, description=description)


class InsuranceQuoteRequest(Body):
    """A product and what only the caller knows; which fields a product needs is its kind's
    (a missing one is a 400 naming it, after the product is looked up)."""

    product_id: Annotated[str, _text(PRODUCT_ID_LENGTH_MAX, "The product to price.")]
    trade_id: (
        Annotated[
            str,
            _text(
                TRADE_ID_LENGTH_MAX, "return-shipping: the caller's trade (as its buyer) to insure."
            ),
        ]
        | None
    ) = None
    cover_fen: (
        Annotated[
            int,
            _count(
                COVER_FEN_MAX,
                "merchant-deposit: the cover tier (100000, 500000, 1000000 or 5000000 fen).",
            ),
            Field(json_schema_extra={"format": "int64"}),
        ]
        | None
    ) = None
    insured_age: Annotated[int, _count(AGE_MAX, "travel and health: the insured's age.")] | None = (
        None
    )
    duration_days: (
        Annotated[
            int, _count(DURATION_DAYS_MAX, "travel: the trip's days (1-30); health: 180 or 365.")
        ]
        | None
    ) = None


class InsuranceBuyRequest(Body):
    quote_id: Annotated[str, _text(QUOTE_ID_LENGTH_MAX, "The caller's quote, unused and valid.")]
    methods: Annotated[
        list[Literal["balance", "yuebao", "huabei"]],
        Distinct,
        Field(
            min_length=1,
            json_schema_extra={"uniqueItems": True},
            description="balance, yuebao and/or huabei, in the caller's order (as wallet "
            "pay); a method that runs out between choosing and paying falls through to the "
            "next.",
        ),
    ] = ["balance", "yuebao"]
    split: Annotated[
        bool,
        Field(
            description="false: the first method that covers the whole amount pays. true: "
            "the methods are drawn in order until the amount is covered."
        ),
    ] = False


SCHEMAS: dict[str, dict[str, Any]] = {**body_schemas(InsuranceQuoteRequest, InsuranceBuyRequest)}


class InsurancePolicyRoutes:
    """/v1/insurance/products, /quotes, /policies."""

    def __init__(
        self, insurance: InsuranceClient, purchases: Purchases, operations: Operations
    ) -> None:
        self._insurance = insurance
        self._purchases = purchases
        self._operations = operations

    def routes(self) -> list[Route]:
        route = route_factory("insurance", (AuthScheme.BEARER,))
        refusals = (
            "NOT_INSURABLE",
            "QUOTE_EXPIRED",
            "QUOTE_ALREADY_USED",
            "QUOTE_INPUTS_MISMATCH",
            "INSUFFICIENT_FUNDS",
            "FAST_REDEMPTION_LIMIT_EXCEEDED",
            "HUABEI_LINE_EXCEEDED",
            "FAILED_PRECONDITION",
        )
        return [
            route(
                "GET",
                "/v1/insurance/products",
                self.list_products,
                "listInsuranceProducts",
                "The insurance products on sale, each with its partner insurer and pricing rule",
                response_schema="InsuranceProducts",
                problems=UNAVAILABLE,
            ),
            route(
                "POST",
                "/v1/insurance/quotes",
                self.quote,
                "createInsuranceQuote",
                "Price a product for the caller: a quote valid 15 minutes, bound to its inputs",
                request_schema="InsuranceQuoteRequest",
                response_schema="InsuranceQuote",
                response_status=HTTPStatus.CREATED,
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("NOT_INSURABLE", "FAILED_PRECONDITION"),
                    **UNAVAILABLE,
                },
            ),
            route(
                "POST",
                "/v1/trades/{trade_id}/return-shipping-quote",
                self.trade_quote,
                "quoteReturnShippingInsurance",
                "Return-shipping insurance (退货运费险) offered for one of the caller's trades: "
                "a quote to accept with POST /v1/wallet/payments return_shipping_quote_id",
                request_body_required=False,
                response_schema="InsuranceQuote",
                response_status=HTTPStatus.CREATED,
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("NOT_INSURABLE",),
                    **UNAVAILABLE,
                },
            ),
            route(
                "POST",
                "/v1/insurance/policies",
                self.buy,
                OPERATION_BUY,
                "Buy a quote: the premium from the balance, Yu'e Bao and/or Huabei (a saga); "
                "the policy is active when the operation completes",
                idempotency_key_required=True,
                request_schema="InsuranceBuyRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: refusals,
                    **UNAVAILABLE,
                },
            ),
            route(
                "GET",
                "/v1/insurance/policies",
                self.list_policies,
                "listInsurancePolicies",
                "The caller's policies, newest first",
                response_schema="InsurancePolicies",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",), **UNAVAILABLE},
            ),
            route(
                "GET",
                "/v1/insurance/policies/{policy_id}",
                self.get_policy,
                "getInsurancePolicy",
                "One of the caller's policies",
                response_schema="InsurancePolicy",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **UNAVAILABLE},
            ),
            route(
                "POST",
                "/v1/insurance/policies/{policy_id}/cancellation",
                self.cancel,
                OPERATION_CANCEL,
                "Cancel one of the caller's policies: the premium back in full within the "
                "15-day cooling-off period, later pro rata by days left (rounded down)",
                idempotency_key_required=True,
                request_body_required=False,
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("POLICY_NOT_ACTIVE", "CLAIM_OPEN"),
                    **UNAVAILABLE,
                },
            ),
        ]

    async def list_products(self, request: web.Request) -> web.Response:
        products = (await self._insurance.list_products()).products
        return json_response({"products": [product_json(product) for product in products]})

    async def quote(self, request: web.Request) -> web.Response:
        body = await read_body(request, InsuranceQuoteRequest)
        product = await self._purchases.product(body.product_id)
        caller = request[CALLER]
        merchant_product = product.kind == ipb.PRODUCT_KIND_MERCHANT_DEPOSIT
        if merchant_product != caller.has_role(Role.MERCHANT):
            raise InvalidArgument(
                f"{product.product_id} is for {'merchants' if merchant_product else 'people'}",
                metadata={"field": "product_id", "product_id": product.product_id},
            )
        quote = await self._purchases.quote(product, caller.account_id, body.fields_sent())
        return json_response(quote_json(quote), status=HTTPStatus.CREATED)

    async def trade_quote(self, request: web.Request) -> web.Response:
        await read_optional_body(request, NoOptions)
        trade_id = trade_id_of(request)
        product = await self._purchases.product(RETURN_SHIPPING_PRODUCT_ID)
        quote = await self._purchases.quote(
            product, request[CALLER].account_id, {"trade_id": trade_id}
        )
        return json_response(quote_json(quote), status=HTTPStatus.CREATED)

    async def buy(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        body = await read_body(request, InsuranceBuyRequest)
        quote_id, split = body.quote_id, body.split
        methods = tuple(PaymentMethod(method) for method in body.methods)
        payer_id = request[CALLER].account_id

        async def saga_input() -> JsonObject:
            return await self._purchases.premium_input(payer_id, quote_id, methods, split)

        return await self._operations.start(
            request,
            self._operations.sagas.policy_premium,
            operation_id=OPERATION_BUY,
            body=body.fields_sent(),
            saga_input=saga_input,
        )

    async def list_policies(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "policies",
            lambda holder_id, page: self._insurance.list_policies(
                ipb.ListPoliciesRequest(holder_id=holder_id, page=page)
            ),
            policy_json,
        )

    async def own_policy(self, request: web.Request) -> ipb.Policy:
        policy_id = path_id(request, "policy_id", "policy")
        return await own_policy(self._insurance, policy_id, request[CALLER].account_id)

    async def get_policy(self, request: web.Request) -> web.Response:
        return json_response(policy_json(await self.own_policy(request)))

    async def cancel(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)
        options = await read_optional_body(request, NoOptions)
        policy = await self.own_policy(request)

        async def saga_input() -> JsonObject:
            return refund_input(policy)

        return await self._operations.start(
            request,
            self._operations.sagas.policy_refund,
            operation_id=OPERATION_CANCEL,
            body={**options.fields_sent(), "policy_id": policy.policy_id},
            saga_input=saga_input,
        )


async def own_policy(insurance: InsuranceClient, policy_id: str, holder_id: str) -> ipb.Policy:
    """The policy if holder_id holds it (and it was bought); 404 otherwise."""
    return await get_own(
        insurance.get_policy(policy_id),
        lambda policy: (
            policy.holder_id == holder_id
            and policy.state not in (ipb.POLICY_STATE_VOID, ipb.POLICY_STATE_UNSPECIFIED)
        ),
        what="policy",
        object_id=policy_id,
        unknown_kinds=(ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT),
    )
