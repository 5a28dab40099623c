"""The caller's Huabei (花呗): the line, bills, installment offers and conversion.

Every route is the caller's own: the borrower is the caller's payment account (the credit
service's person id), never a body or path field; a bill of someone else's is a 404 like
an unknown one. Reading the line first syncs it with today's credit advice
(gateway.loans.lines), so a new score shows at once.
"""

from __future__ import annotations

import re
from http import HTTPStatus

from aiohttp import web

from chassis.errors import ErrorKind
from colony.common.v1 import paging_pb2
from colony.loan.v1 import loan_pb2 as lpb
from gateway.clients import CreditClient, LoanClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import read_body
from gateway.edge.idempotency import IdempotentRequests, StoredResponse, require_idempotency_key
from gateway.edge.identities import Role
from gateway.edge.ownership import get_own, list_own, not_yours, path_id
from gateway.edge.paging import PAGING_QUERY_PARAMETERS
from gateway.edge.representations import encode_json, json_response
from gateway.edge.routing import AuthScheme, Route, route_factory
from gateway.loans.bodies import InstallmentsRequest
from gateway.loans.lines import synced_line
from gateway.loans.representations import (
    bill_json,
    line_json,
    offer_json,
    plan_json,
    purchase_json,
)
from gateway.payment.sagas.wallet_payment import RESERVE_HUABEI
from gateway.sagas.definition import step_key

OPERATION_CONVERT = "convertHuabeiBillToInstallments"
OPERATION_CONVERT_PURCHASE = "convertHuabeiPurchaseToInstallments"
# A purchase is named by the operation id of the wallet payment that made it.
OPERATION_ID = re.compile(r"[0-9a-f]{32}")
BILL_ID_LENGTH_MAX = 64


class HuabeiRoutes:
    """GET /v1/loans/huabei, its bills, installment offers and conversion."""

    def __init__(
        self, loan: LoanClient, credit: CreditClient, idempotency: IdempotentRequests
    ) -> None:
        self._loan = loan
        self._credit = credit
        self._idempotency = idempotency

    def routes(self) -> list[Route]:
        route = route_factory("loans", (AuthScheme.BEARER,), Role.CUSTOMER)
        unavailable = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}
        not_found = {HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **unavailable}
        return [
            route(
                "GET",
                "/v1/loans/huabei",
                self.overview,
                "getHuabei",
                "The caller's Huabei line (line, used, available; synced with today's credit "
                "advice, opened on first read) and current bill",
                response_schema="HuabeiOverview",
                problems=unavailable,
            ),
            route(
                "GET",
                "/v1/loans/huabei/bills",
                self.bills,
                "listHuabeiBills",
                "The caller's Huabei bills, newest statement first",
                response_schema="HuabeiBills",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",), **unavailable},
            ),
            route(
                "GET",
                "/v1/loans/huabei/bills/{bill_id}",
                self.bill,
                "getHuabeiBill",
                "One of the caller's Huabei bills: charges, paid, unpaid, minimum payment",
                response_schema="HuabeiBill",
                problems=not_found,
            ),
            route(
                "GET",
                "/v1/loans/huabei/bills/{bill_id}/installment-offers",
                self.offers,
                "listInstallmentOffers",
                "What converting the bill into 3, 6 or 12 monthly installments would cost, "
                "part by part",
                response_schema="InstallmentOffers",
                problems={
                    **not_found,
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("INSTALLMENT_NOT_ALLOWED",),
                },
            ),
            route(
                "POST",
                "/v1/loans/huabei/bills/{bill_id}/installments",
                self.convert,
                OPERATION_CONVERT,
                "Convert the bill (before its due date, nothing paid) into 3, 6 or 12 monthly "
                "installments",
                idempotency_key_required=True,
                request_schema="InstallmentsRequest",
                response_schema="InstallmentPlan",
                response_status=HTTPStatus.CREATED,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT",),
                    **not_found,
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("INSTALLMENT_NOT_ALLOWED",),
                },
            ),
            *self.purchase_routes(),
        ]

    def purchase_routes(self) -> list[Route]:
        """A single unbilled purchase converted into installments (not only a whole bill)."""
        route = route_factory("loans", (AuthScheme.BEARER,), Role.CUSTOMER)
        unavailable = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}
        not_found = {HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **unavailable}
        return [
            route(
                "GET",
                "/v1/loans/huabei/purchases",
                self.purchases,
                "listHuabeiPurchases",
                "The caller's Huabei purchases, newest first",
                response_schema="HuabeiPurchases",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",), **unavailable},
            ),
            route(
                "GET",
                "/v1/loans/huabei/purchases/{purchase_id}/installment-offers",
                self.purchase_offers,
                "listPurchaseInstallmentOffers",
                "What converting one unbilled purchase into 3, 6 or 12 monthly installments "
                "would cost, part by part",
                response_schema="InstallmentOffers",
                problems={
                    **not_found,
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("INSTALLMENT_NOT_ALLOWED",),
                },
            ),
            route(
                "POST",
                "/v1/loans/huabei/purchases/{purchase_id}/installments",
                self.convert_purchase,
                OPERATION_CONVERT_PURCHASE,
                "Convert one unbilled purchase into 3, 6 or 12 monthly installments",
                idempotency_key_required=True,
                request_schema="InstallmentsRequest",
                response_schema="InstallmentPlan",
                response_status=HTTPStatus.CREATED,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT",),
                    **not_found,
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("INSTALLMENT_NOT_ALLOWED",),
                },
            ),
        ]

    async def purchases(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "purchases",
            lambda account_id, page: self._loan.list_huabei_purchases(
                lpb.ListHuabeiPurchasesRequest(borrower_id=account_id, page=page)
            ),
            purchase_json,
        )

    @staticmethod
    def _purchase_id(request: web.Request) -> str:
        """The reservation id of the purchase the path names by its payment's operation id."""
        operation_id = request.match_info["purchase_id"]
        if not OPERATION_ID.fullmatch(operation_id):
            raise not_yours("purchase", operation_id[:BILL_ID_LENGTH_MAX])
        return step_key(operation_id, RESERVE_HUABEI)

    async def purchase_offers(self, request: web.Request) -> web.Response:
        response = await self._loan.get_installment_offers(
            lpb.GetInstallmentOffersRequest(
                borrower_id=request[CALLER].account_id, purchase_id=self._purchase_id(request)
            )
        )
        return json_response({"offers": [offer_json(offer) for offer in response.offers]})

    async def convert_purchase(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, InstallmentsRequest)
        months = body.months
        purchase_id = self._purchase_id(request)
        borrower_id = request[CALLER].account_id

        async def convert(grpc_key: str) -> StoredResponse:
            response = await self._loan.convert_to_installments(
                lpb.ConvertToInstallmentsRequest(
                    idempotency_key=grpc_key,
                    borrower_id=borrower_id,
                    purchase_id=purchase_id,
                    months=months,
                )
            )
            return StoredResponse(
                status=HTTPStatus.CREATED, body=encode_json(plan_json(response.plan))
            )

        return await self._idempotency.respond(
            user_id=request[CALLER].user_id,
            key=key,
            operation_id=OPERATION_CONVERT_PURCHASE,
            body={**body.fields_sent(), "purchase_id": purchase_id},
            operation=convert,
        )

    async def overview(self, request: web.Request) -> web.Response:
        borrower_id = request[CALLER].account_id
        line = await synced_line(self._credit, self._loan, borrower_id)
        bills = await self._loan.list_bills(
            lpb.ListBillsRequest(borrower_id=borrower_id, page=paging_pb2.PageRequest(page_size=1))
        )
        return json_response(
            {
                "line": line_json(line),
                "current_bill": bill_json(bills.bills[0]) if bills.bills else None,
            }
        )

    async def bills(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "bills",
            lambda account_id, page: self._loan.list_bills(
                lpb.ListBillsRequest(borrower_id=account_id, page=page)
            ),
            bill_json,
        )

    async def _own_bill(self, request: web.Request) -> lpb.Bill:
        bill_id = path_id(request, "bill_id", "bill", BILL_ID_LENGTH_MAX)

        async def fetch() -> lpb.Bill:
            return (await self._loan.get_bill(lpb.GetBillRequest(bill_id=bill_id))).bill

        return await get_own(
            fetch(),
            lambda bill: bill.borrower_id == request[CALLER].account_id,
            what="bill",
            object_id=bill_id,
            unknown_kinds=(ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT),
        )

    async def bill(self, request: web.Request) -> web.Response:
        return json_response(bill_json(await self._own_bill(request)))

    async def offers(self, request: web.Request) -> web.Response:
        bill = await self._own_bill(request)
        response = await self._loan.get_installment_offers(
            lpb.GetInstallmentOffersRequest(borrower_id=bill.borrower_id, bill_id=bill.bill_id)
        )
        return json_response({"offers": [offer_json(offer) for offer in response.offers]})

    async def convert(self, request: web.Request) -> web.Response:
        key = require_idempotency_key(request)
        body = await read_body(request, InstallmentsRequest)
        months = body.months
        bill = await self._own_bill(request)

        async def convert(grpc_key: str) -> StoredResponse:
            response = await self._loan.convert_to_installments(
                lpb.ConvertToInstallmentsRequest(
                    idempotency_key=grpc_key,
                    borrower_id=bill.borrower_id,
                    bill_id=bill.bill_id,
                    months=months,
                )
            )
            return StoredResponse(
                status=HTTPStatus.CREATED, body=encode_json(plan_json(response.plan))
            )

        return await self._idempotency.respond(
            user_id=request[CALLER].user_id,
            key=key,
            operation_id=OPERATION_CONVERT,
            body={**body.fields_sent(), "bill_id": bill.bill_id},
            operation=convert,
        )
