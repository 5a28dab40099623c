"""Merchant lending routes (docs/loans.md "Merchant lending", docs/api.md).

The merchant (an access token or API key of a merchant user; the acting merchant account is
always the caller's):
- GET  /v1/merchant/loans/figures: the last 12 months the credit decision reads;
- POST /v1/merchant/loans/facilities: apply (a saga: decide, pay the fixed part out);
- GET  /v1/merchant/loans/facilities[/{facility_id}];
- POST /v1/merchant/loans/facilities/{facility_id}/draws: a revolving draw (a saga);
- POST /v1/merchant/loans/facilities/{facility_id}/repayments: repay a part (a saga).
The operator: capital, bank borrowing and its repayment (operations: the loan_funding saga
moves the money too, gateway.loans.merchant.funding), the capacity used, the merchant
credit policy, the merchant lending audit, ABS pools (abs_routes.py) (/v1/admin/loans/...).
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.clock import Clock
from chassis.errors import ErrorKind
from chassis.money import Money
from colony.loan.v1 import merchant_lending_pb2 as mpb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import read_body
from gateway.edge.idempotency import derive_grpc_idempotency_key, require_idempotency_key
from gateway.edge.identities import Role
from gateway.edge.ownership import get_own, list_own, path_id
from gateway.edge.paging import PAGING_QUERY_PARAMETERS
from gateway.edge.representations import json_response, money_json
from gateway.edge.routing import AuthScheme, Route, route_factory
from gateway.loans.merchant.abs_routes import AbsPoolRoutes
from gateway.loans.merchant.bodies import SCHEMAS as BODY_SCHEMAS
from gateway.loans.merchant.bodies import (
    FacilityRepaymentRequest,
    FacilityRequest,
    LoanAmountRequest,
    MerchantCreditPolicyRequest,
)
from gateway.loans.merchant.figures import merchant_figures
from gateway.loans.merchant.funding import BORROW, CAPITAL, REPAY, funding_input
from gateway.loans.merchant.order_loan_routes import OrderLoanRoutes
from gateway.loans.merchant.representations import (
    SCHEMAS as REPRESENTATION_SCHEMAS,
)
from gateway.loans.merchant.representations import (
    audit_json,
    capacity_json,
    facility_json,
    policy_json,
)
from gateway.loans.merchant.sagas import (
    draw_input,
    facility_input,
    repayment_input,
)
from gateway.loans.merchant.wiring import MerchantLending
from gateway.operations.answers import OPERATION_RESPONSES
from gateway.operations.start import Operations
from gateway.sagas.definition import JsonObject

FACILITY_ID_LENGTH_MAX = 64
UNAVAILABLE = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}


# The request bodies are the models' (gateway.loans.merchant.bodies), the rest as rendered.
SCHEMAS: dict[str, Any] = {**REPRESENTATION_SCHEMAS, **BODY_SCHEMAS}
__all__ = ["SCHEMAS", "MerchantLendingRoutes"]


class MerchantLendingRoutes:
    def __init__(
        self,
        lending: MerchantLending,
        payment: PaymentClient,
        operations: Operations,
        *,
        clock: Clock,
    ) -> None:
        self._lending = lending.client
        self._payment = payment
        self._ledger = lending.ledger
        self._sagas = lending.sagas
        self._operations = operations
        self._clock = clock
        self._order_loans = OrderLoanRoutes(lending, payment, operations)
        self._abs_pools = AbsPoolRoutes(lending, operations, clock)

    def routes(self) -> list[Route]:
        merchant = route_factory(
            "merchant-loans", (AuthScheme.BEARER, AuthScheme.API_KEY), Role.MERCHANT
        )
        operator = route_factory("admin", (AuthScheme.BEARER,), Role.OPERATOR)
        saga_problems = {
            HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT", "INVALID_AMOUNT", "FACILITY_FIXED_PART"),
            HTTPStatus.UNPROCESSABLE_ENTITY: (
                "LENDING_CAPACITY",
                "FACILITY_EXCEEDED",
                "FACILITY_NOT_ACTIVE",
                "REPAYMENT_EXCEEDS_OWED",
                "INSUFFICIENT_FUNDS",
            ),
            **UNAVAILABLE,
        }
        funding_problems = {
            HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT", "INVALID_AMOUNT"),
            HTTPStatus.UNPROCESSABLE_ENTITY: ("BORROWING_LIMIT", "INVALID_AMOUNT"),
            **UNAVAILABLE,
        }
        return [
            *self._order_loans.routes(merchant, operator),
            *self._abs_pools.routes(operator),
            merchant(
                "GET",
                "/v1/merchant/loans/figures",
                self.figures,
                "getMerchantLoanFigures",
                "The merchant's last 12 months (months with settlements, settled sales, "
                "refunds): what the facility's credit decision reads",
                response_schema="MerchantFigures",
                problems=UNAVAILABLE,
            ),
            merchant(
                "POST",
                "/v1/merchant/loans/facilities",
                self.apply,
                "applyForMerchantFacility",
                "Apply for a facility (50,000-1,000,000 yuan, one year; a fixed part of at "
                "least 20% and 50,000 yuan paid out at once, the rest revolving): decided from "
                "the merchant's figures, then the fixed part paid into the balance (a saga)",
                idempotency_key_required=True,
                request_schema="FacilityRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems=saga_problems,
            ),
            merchant(
                "GET",
                "/v1/merchant/loans/facilities",
                self.list_facilities,
                "listMerchantFacilities",
                "The merchant's facilities, newest first",
                response_schema="MerchantFacilities",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",), **UNAVAILABLE},
            ),
            merchant(
                "GET",
                "/v1/merchant/loans/facilities/{facility_id}",
                self.get_facility,
                "getMerchantFacility",
                "One facility: both parts with interest owed today, what the revolving part "
                "has available, and the credit decision's reasons when declined",
                response_schema="MerchantFacility",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **UNAVAILABLE},
            ),
            merchant(
                "POST",
                "/v1/merchant/loans/facilities/{facility_id}/draws",
                self.draw,
                "drawOnMerchantFacility",
                "Draw on the revolving part into the balance (0.06% a day from tomorrow; a saga)",
                idempotency_key_required=True,
                request_schema="LoanAmountRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **saga_problems},
            ),
            merchant(
                "POST",
                "/v1/merchant/loans/facilities/{facility_id}/repayments",
                self.repay,
                "repayMerchantFacility",
                "Repay a part from the balance: its interest first, then principal (a saga)",
                idempotency_key_required=True,
                request_schema="FacilityRepaymentRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **saga_problems},
            ),
            operator(
                "GET",
                "/v1/admin/loans/funding",
                self.capacity,
                "getLendingCapacity",
                "Capital, bank borrowing (at most 50% of capital), and the lending capacity "
                "used by consumer and merchant loans",
                response_schema="LendingCapacity",
                problems=UNAVAILABLE,
            ),
            operator(
                "POST",
                "/v1/admin/loans/funding/capital",
                self.pay_in_capital,
                "payInLoanCapital",
                "Capital paid into the loan business: the book, and the money from the "
                "shareholders into platform:loan:capital (an operation)",
                idempotency_key_required=True,
                request_schema="LoanAmountRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems=funding_problems,
            ),
            operator(
                "POST",
                "/v1/admin/loans/funding/borrowings",
                self.borrow,
                "borrowFromBank",
                "Bank borrowing (refused beyond 50% of capital: BORROWING_LIMIT): the book, and "
                "the money from the bank lender into platform:loan:capital (an operation)",
                idempotency_key_required=True,
                request_schema="LoanAmountRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems=funding_problems,
            ),
            operator(
                "POST",
                "/v1/admin/loans/funding/borrowing-repayments",
                self.repay_borrowing,
                "repayBankBorrowing",
                "A repayment of bank borrowing: the book, and the money from "
                "platform:loan:capital to the bank lender (an operation)",
                idempotency_key_required=True,
                request_schema="LoanAmountRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems=funding_problems,
            ),
            operator(
                "GET",
                "/v1/admin/loans/merchant-credit-policy",
                self.get_policy,
                "getMerchantCreditPolicy",
                "The merchant facilities' credit policy (data)",
                response_schema="MerchantCreditPolicy",
                problems=UNAVAILABLE,
            ),
            operator(
                "PUT",
                "/v1/admin/loans/merchant-credit-policy",
                self.set_policy,
                "setMerchantCreditPolicy",
                "Set the merchant facilities' credit policy",
                idempotency_key_required=True,
                request_schema="MerchantCreditPolicyRequest",
                response_schema="MerchantCreditPolicy",
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT",), **UNAVAILABLE},
            ),
            operator(
                "GET",
                "/v1/admin/loans/merchant-audit",
                self.audit,
                "getMerchantLendingAudit",
                "Merchant lending's books against themselves, and what each did to "
                "platform:loan:capital (collected - lent)",
                response_schema="MerchantLendingAudit",
                problems=UNAVAILABLE,
            ),
        ]

    # the merchant
    async def figures(self, request: web.Request) -> web.Response:
        found = await merchant_figures(self._payment, request[CALLER].account_id, self._clock.now())
        return json_response(
            {
                "months_with_settlements": found.months_with_settlements,
                "settled_sales": money_json(Money(found.settled_sales_fen)),
                "refunded": money_json(Money(found.refunded_fen)),
            }
        )

    async def apply(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)
        body = await read_body(request, FacilityRequest)
        amount, fixed = body.amount, body.fixed
        merchant_id = request[CALLER].account_id

        async def saga_input() -> JsonObject:
            found = await merchant_figures(self._payment, merchant_id, self._clock.now())
            await self._ledger.ensure_account()
            return facility_input(
                facility_id=f"mf_{uuid.uuid4().hex[:24]}",
                merchant_id=merchant_id,
                amount=amount,
                fixed=fixed,
                figures=found.to_proto(),
            )

        return await self._operations.start(
            request,
            self._sagas.payout,
            operation_id="applyForMerchantFacility",
            body=body.fields_sent(),
            saga_input=saga_input,
        )

    async def list_facilities(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "facilities",
            lambda account_id, page: self._lending.list_facilities(
                mpb.ListFacilitiesRequest(merchant_id=account_id, page=page)
            ),
            facility_json,
        )

    async def _own_facility(self, request: web.Request) -> mpb.Facility:
        facility_id = path_id(request, "facility_id", "facility", FACILITY_ID_LENGTH_MAX)

        async def fetch() -> mpb.Facility:
            response = await self._lending.get_facility(
                mpb.GetFacilityRequest(facility_id=facility_id)
            )
            return response.facility

        return await get_own(
            fetch(),
            lambda found: found.merchant_id == request[CALLER].account_id,
            what="facility",
            object_id=facility_id,
            unknown_kinds=(ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT),
        )

    async def get_facility(self, request: web.Request) -> web.Response:
        return json_response(facility_json(await self._own_facility(request)))

    async def draw(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)
        facility = await self._own_facility(request)
        body = await read_body(request, LoanAmountRequest)
        amount = body.amount

        async def saga_input() -> JsonObject:
            await self._ledger.ensure_account()
            return draw_input(
                draw_id=f"md_{uuid.uuid4().hex[:24]}",
                facility_id=facility.facility_id,
                merchant_id=facility.merchant_id,
                amount=amount,
            )

        return await self._operations.start(
            request,
            self._sagas.payout,
            operation_id="drawOnMerchantFacility",
            body={**body.fields_sent(), "facility_id": facility.facility_id},
            saga_input=saga_input,
        )

    async def repay(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)
        facility = await self._own_facility(request)
        body = await read_body(request, FacilityRepaymentRequest)
        part, amount = body.part, body.amount

        async def saga_input() -> JsonObject:
            await self._ledger.ensure_account()
            return repayment_input(
                repayment_id=f"mr_{uuid.uuid4().hex[:24]}",
                facility_id=facility.facility_id,
                merchant_id=facility.merchant_id,
                part=str(part),
                amount=amount,
            )

        return await self._operations.start(
            request,
            self._sagas.repayment,
            operation_id="repayMerchantFacility",
            body={**body.fields_sent(), "facility_id": facility.facility_id},
            saga_input=saga_input,
        )

    # the operator
    def _key(self, request: web.Request) -> str:
        return derive_grpc_idempotency_key(
            request[CALLER].user_id, require_idempotency_key(request)
        )

    async def capacity(self, request: web.Request) -> web.Response:
        response = await self._lending.get_lending_capacity(mpb.GetLendingCapacityRequest())
        return json_response(capacity_json(response.capacity))

    async def _funding(self, request: web.Request, kind: str, operation_id: str) -> web.Response:
        require_idempotency_key(request)
        body = await read_body(request, LoanAmountRequest)
        amount = body.amount

        async def saga_input() -> JsonObject:
            return funding_input(kind=kind, amount=amount)

        return await self._operations.start(
            request,
            self._sagas.funding,
            operation_id=operation_id,
            body=body.fields_sent(),
            saga_input=saga_input,
        )

    async def pay_in_capital(self, request: web.Request) -> web.Response:
        return await self._funding(request, CAPITAL, "payInLoanCapital")

    async def borrow(self, request: web.Request) -> web.Response:
        return await self._funding(request, BORROW, "borrowFromBank")

    async def repay_borrowing(self, request: web.Request) -> web.Response:
        return await self._funding(request, REPAY, "repayBankBorrowing")

    async def get_policy(self, request: web.Request) -> web.Response:
        response = await self._lending.get_merchant_credit_policy(
            mpb.GetMerchantCreditPolicyRequest()
        )
        return json_response(policy_json(response.policy))

    async def set_policy(self, request: web.Request) -> web.Response:
        key = self._key(request)
        body = await read_body(request, MerchantCreditPolicyRequest)
        response = await self._lending.set_merchant_credit_policy(
            mpb.SetMerchantCreditPolicyRequest(
                idempotency_key=key,
                policy=mpb.MerchantCreditPolicy(
                    min_months_with_settlements=body.min_months_with_settlements,
                    max_refund_rate=body.max_refund_rate,
                    max_share_of_sales=body.max_share_of_sales,
                ),
            )
        )
        return json_response(policy_json(response.policy))

    async def audit(self, request: web.Request) -> web.Response:
        response = await self._lending.get_merchant_lending_audit(
            mpb.GetMerchantLendingAuditRequest()
        )
        return json_response(audit_json(response))
