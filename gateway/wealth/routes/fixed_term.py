"""Zhaocaibao (招财宝) fixed-term products (DOMAIN.md §2): catalog, subscribe, holdings,
early liquidation (变现) and reservations (预约).

Subscribing and buying a listing are sagas (gateway.wealth.sagas.product_subscription,
.transfer_purchase) answered as operations. Listing a holding, withdrawing a listing and
reservations move no money: one idempotent wealth call each, once per Idempotency-Key.
Holdings, listings of one's own and reservations are the caller's only (404 otherwise).
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
from gateway.edge.bodies import read_body, read_optional_body
from gateway.edge.idempotency import IdempotentRequests, StoredResponse, require_idempotency_key
from gateway.edge.ownership import ID_LENGTH_MAX, get_own, list_own, list_page, path_id
from gateway.edge.paging import PAGING_QUERY_PARAMETERS
from gateway.edge.representations import encode_json, json_response, money_to_proto
from gateway.edge.routing import AuthScheme, QueryParameter, Route, route_factory
from gateway.operations.answers import OPERATION_RESPONSES
from gateway.operations.start import Operations
from gateway.wealth.bodies import (
    NoOptions,
    PriceRequest,
    ProductSubscriptionRequest,
    ReservationRequest,
)
from gateway.wealth.ledger import WealthLedger
from gateway.wealth.prechecks import check_listing_purchase, check_subscription
from gateway.wealth.representations import (
    holding_json,
    listing_json,
    product_json,
    reservation_json,
)
from gateway.wealth.routes.fixed_term_schemas import SCHEMAS
from gateway.wealth.sagas.product_subscription import product_subscription_input
from gateway.wealth.sagas.transfer_purchase import transfer_purchase_input

__all__ = ["SCHEMAS", "FixedTermRoutes"]  # SCHEMAS: the answers' and bodies' components

OPERATION_SUBSCRIBE = "subscribeProduct"
OPERATION_LIST_HOLDING = "listHoldingForTransfer"
OPERATION_WITHDRAW_LISTING = "withdrawTransferListing"
OPERATION_BUY_LISTING = "buyTransferListing"
OPERATION_CREATE_RESERVATION = "createReservation"
OPERATION_CANCEL_RESERVATION = "cancelReservation"


ON_SALE_QUERY = QueryParameter(
    "on_sale_only", {"type": "boolean", "default": False}, "Only products on sale now."
)
PRODUCT_QUERY = QueryParameter(
    "product_id", {"type": "string", "maxLength": ID_LENGTH_MAX}, "Only this product's."
)


def _flag(request: web.Request, name: str) -> bool:
    text = request.query.get(name, "false").lower()
    if text not in ("true", "false"):
        raise InvalidArgument(f"{name} must be true or false", metadata={"field": name})
    return text == "true"


class FixedTermRoutes:
    """Zhaocaibao under /v1/wealth: products, holdings, listings, reservations."""

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
        route = route_factory("fixed-term", (AuthScheme.BEARER,))

        saga_answers: dict[str, Any] = {
            "idempotency_key_required": True,
            "response_schema": "Operation",
            "response_status": HTTPStatus.CREATED,
            "other_responses": OPERATION_RESPONSES,
        }
        return [
            route(
                "GET",
                "/v1/wealth/products",
                self.list_products,
                "listProducts",
                "The fixed-term product catalog",
                response_schema="ProductList",
                query_parameters=(ON_SALE_QUERY, *PAGING_QUERY_PARAMETERS),
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
            route(
                "GET",
                "/v1/wealth/products/{product_id}",
                self.get_product,
                "getProduct",
                "One fixed-term product",
                response_schema="Product",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            route(
                "POST",
                "/v1/wealth/products/{product_id}/subscriptions",
                self.subscribe,
                OPERATION_SUBSCRIBE,
                "Subscribe to a fixed-term product from the balance (a saga: hold, take "
                "quota, capture, confirm); never oversold",
                request_schema="ProductSubscriptionRequest",
                response_description="Subscribed: the operation, with the new holding.",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT",),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "INSUFFICIENT_FUNDS",
                        "PRODUCT_NOT_ON_SALE",
                        "BELOW_MINIMUM",
                        "QUOTA_EXCEEDED",
                    ),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
                **saga_answers,
            ),
            route(
                "GET",
                "/v1/wealth/holdings",
                self.list_holdings,
                "listHoldings",
                "The caller's fixed-term holdings",
                response_schema="HoldingList",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
            route(
                "GET",
                "/v1/wealth/holdings/{holding_id}",
                self.get_holding,
                "getHolding",
                "One of the caller's fixed-term holdings",
                response_schema="Holding",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",)},
            ),
            route(
                "POST",
                "/v1/wealth/holdings/{holding_id}/listing",
                self.list_holding,
                OPERATION_LIST_HOLDING,
                "Offer one of the caller's holdings for transfer (变现) at a price",
                idempotency_key_required=True,
                request_schema="PriceRequest",
                response_schema="TransferListing",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT",),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("HOLDING_NOT_TRANSFERABLE",),
                },
            ),
            route(
                "POST",
                "/v1/wealth/holdings/{holding_id}/listing/withdraw",
                self.withdraw_listing,
                OPERATION_WITHDRAW_LISTING,
                "Take the caller's listing off the market",
                idempotency_key_required=True,
                response_schema="Holding",
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("LISTING_RESERVED", "ILLEGAL_TRANSITION"),
                },
            ),
            route(
                "GET",
                "/v1/wealth/listings",
                self.list_listings,
                "listTransferListings",
                "Holdings offered for transfer, with the terms a buyer gets",
                response_schema="TransferListingList",
                query_parameters=(PRODUCT_QUERY, *PAGING_QUERY_PARAMETERS),
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
            route(
                "POST",
                "/v1/wealth/listings/{holding_id}/purchases",
                self.buy_listing,
                OPERATION_BUY_LISTING,
                "Buy a listed holding from the balance at its price (a saga); the buyer "
                "inherits the remaining term",
                request_schema="PriceRequest",
                response_description="Bought: the operation, with the buyer's new holding.",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT", "SAME_ACCOUNT"),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "INSUFFICIENT_FUNDS",
                        "HOLDING_NOT_TRANSFERABLE",
                        "ILLEGAL_TRANSITION",
                        "LISTING_RESERVED",
                        "LISTING_CHANGED",
                    ),
                    HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",),
                },
                **saga_answers,
            ),
            route(
                "POST",
                "/v1/wealth/reservations",
                self.create_reservation,
                OPERATION_CREATE_RESERVATION,
                "Reserve (预约): for 30 days, buy matching new products automatically",
                idempotency_key_required=True,
                request_schema="ReservationRequest",
                response_schema="Reservation",
                response_status=HTTPStatus.CREATED,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_AMOUNT",)},
            ),
            route(
                "GET",
                "/v1/wealth/reservations",
                self.list_reservations,
                "listReservations",
                "The caller's reservations and what they bought",
                response_schema="ReservationList",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",)},
            ),
            route(
                "POST",
                "/v1/wealth/reservations/{reservation_id}/cancel",
                self.cancel_reservation,
                OPERATION_CANCEL_RESERVATION,
                "Cancel one of the caller's reservations",
                idempotency_key_required=True,
                response_schema="Reservation",
                problems={
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("ILLEGAL_TRANSITION",),
                },
            ),
        ]

    # Catalog.

    async def list_products(self, request: web.Request) -> web.Response:
        on_sale_only = _flag(request, "on_sale_only")
        return await list_page(
            request,
            "products",
            lambda page: self._wealth.list_products(
                wpb.ListProductsRequest(on_sale_only=on_sale_only, page=page)
            ),
            product_json,
        )

    async def get_product(self, request: web.Request) -> web.Response:
        product_id = path_id(request, "product_id", "product")
        response = await self._wealth.get_product(wpb.GetProductRequest(product_id=product_id))
        return json_response(product_json(response.product))

    async def subscribe(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        product_id = path_id(request, "product_id", "product")
        body = await read_body(request, ProductSubscriptionRequest)
        amount = Money(body.amount_fen, body.currency)
        account_id = request[CALLER].account_id

        async def saga_input() -> dict[str, Any]:
            await self._ledger.ensure_accounts()
            # Only for a new operation: a refusal here is answered before any hold.
            await check_subscription(self._wealth, product_id, amount)
            return product_subscription_input(account_id, product_id, amount)

        return await self._operations.start(
            request,
            self._operations.sagas.product_subscription,
            operation_id=OPERATION_SUBSCRIBE,
            body={"product_id": product_id, **body.fields_sent()},
            saga_input=saga_input,
        )

    # Holdings and listings.

    async def list_holdings(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "holdings",
            lambda investor_id, page: self._wealth.list_holdings(
                wpb.ListHoldingsRequest(investor_id=investor_id, page=page)
            ),
            holding_json,
        )

    async def get_holding(self, request: web.Request) -> web.Response:
        holding_id = path_id(request, "holding_id", "holding")
        holding = await get_own(
            self._holding(holding_id),
            lambda holding: holding.investor_id == request[CALLER].account_id,
            what="holding",
            object_id=holding_id,
        )
        return json_response(holding_json(holding))

    async def _holding(self, holding_id: str) -> wpb.Holding:
        response = await self._wealth.get_holding(wpb.GetHoldingRequest(holding_id=holding_id))
        return response.holding

    async def list_holding(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        holding_id = path_id(request, "holding_id", "holding")
        body = await read_body(request, PriceRequest)
        price = Money(body.price_fen, body.currency)
        caller = request[CALLER]

        async def offer(grpc_key: str) -> StoredResponse:
            response = await self._wealth.list_holding_for_transfer(
                wpb.ListHoldingForTransferRequest(
                    idempotency_key=grpc_key,
                    holding_id=holding_id,
                    investor_id=caller.account_id,
                    price=money_to_proto(price),
                )
            )
            return StoredResponse(HTTPStatus.OK, encode_json(listing_json(response.listing)))

        return await self._idempotency.respond(
            user_id=caller.user_id,
            key=key,
            operation_id=OPERATION_LIST_HOLDING,
            body={"holding_id": holding_id, **body.fields_sent()},
            operation=offer,
        )

    async def withdraw_listing(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        holding_id = path_id(request, "holding_id", "holding")
        await read_optional_body(request, NoOptions)
        caller = request[CALLER]

        async def withdraw(grpc_key: str) -> StoredResponse:
            response = await self._wealth.withdraw_transfer_listing(
                wpb.WithdrawTransferListingRequest(
                    idempotency_key=grpc_key, holding_id=holding_id, investor_id=caller.account_id
                )
            )
            return StoredResponse(HTTPStatus.OK, encode_json(holding_json(response.holding)))

        return await self._idempotency.respond(
            user_id=caller.user_id,
            key=key,
            operation_id=OPERATION_WITHDRAW_LISTING,
            body={"holding_id": holding_id},
            operation=withdraw,
        )

    async def list_listings(self, request: web.Request) -> web.Response:
        product_id = request.query.get("product_id", "")[:ID_LENGTH_MAX]
        return await list_page(
            request,
            "listings",
            lambda page: self._wealth.list_transfer_listings(
                wpb.ListTransferListingsRequest(product_id=product_id, page=page)
            ),
            listing_json,
        )

    async def buy_listing(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        holding_id = path_id(request, "holding_id", "holding")
        body = await read_body(request, PriceRequest)
        price = Money(body.price_fen, body.currency)
        account_id = request[CALLER].account_id

        async def saga_input() -> dict[str, Any]:
            await self._ledger.ensure_accounts()
            # Only for a new operation: a refusal here is answered before any hold.
            await check_listing_purchase(self._wealth, account_id, holding_id, price)
            return transfer_purchase_input(account_id, holding_id, price)

        return await self._operations.start(
            request,
            self._operations.sagas.transfer_purchase,
            operation_id=OPERATION_BUY_LISTING,
            body={"holding_id": holding_id, **body.fields_sent()},
            saga_input=saga_input,
        )

    # Reservations.

    async def create_reservation(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, ReservationRequest)
        amount = Money(body.amount_fen, body.currency)
        annual_yield_min, term_days_max = body.annual_yield_min, body.term_days_max
        caller = request[CALLER]

        async def create(grpc_key: str) -> StoredResponse:
            response = await self._wealth.create_reservation(
                wpb.CreateReservationRequest(
                    idempotency_key=grpc_key,
                    investor_id=caller.account_id,
                    amount=money_to_proto(amount),
                    annual_yield_min=annual_yield_min,
                    term_days_max=term_days_max,
                )
            )
            return StoredResponse(
                HTTPStatus.CREATED, encode_json(reservation_json(response.reservation))
            )

        return await self._idempotency.respond(
            user_id=caller.user_id,
            key=key,
            operation_id=OPERATION_CREATE_RESERVATION,
            body=body.fields_sent(),
            operation=create,
        )

    async def list_reservations(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "reservations",
            lambda investor_id, page: self._wealth.list_reservations(
                wpb.ListReservationsRequest(investor_id=investor_id, page=page)
            ),
            reservation_json,
        )

    async def cancel_reservation(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        reservation_id = path_id(request, "reservation_id", "reservation")
        await read_optional_body(request, NoOptions)
        caller = request[CALLER]

        async def cancel(grpc_key: str) -> StoredResponse:
            response = await self._wealth.cancel_reservation(
                wpb.CancelReservationRequest(
                    idempotency_key=grpc_key,
                    reservation_id=reservation_id,
                    investor_id=caller.account_id,
                )
            )
            return StoredResponse(
                HTTPStatus.OK, encode_json(reservation_json(response.reservation))
            )

        return await self._idempotency.respond(
            user_id=caller.user_id,
            key=key,
            operation_id=OPERATION_CANCEL_RESERVATION,
            body={"reservation_id": reservation_id},
            operation=cancel,
        )
