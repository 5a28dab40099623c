"""The caller's cash loans (借呗): apply (a saga: decide, disburse into the balance), list,
and one loan with its schedule.

``POST /v1/loans/cash-loans`` fetches the caller's credit advice and starts the
cash_loan_disbursement saga (gateway.loans.sagas.cash_loan_disbursement): the automatic
"310" decision, then, approved, the money into the balance. The operation's result names
the loan and the decision; a declined loan's reasons are on GET /v1/loans/cash-loans/{id}.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus

from aiohttp import web

from chassis.errors import ErrorKind
from chassis.money import Money
from colony.loan.v1 import loan_pb2 as lpb
from gateway.clients import CreditClient, LoanClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import read_body
from gateway.edge.idempotency import require_idempotency_key
from gateway.edge.identities import Role
from gateway.edge.ownership import get_own, list_own, path_id
from gateway.edge.paging import PAGING_QUERY_PARAMETERS
from gateway.edge.representations import json_response
from gateway.edge.routing import AuthScheme, Route, route_factory
from gateway.loans.bodies import CASH_LOAN_METHODS, CashLoanRequest
from gateway.loans.ledger import LoanLedger
from gateway.loans.lines import credit_advice
from gateway.loans.representations import cash_loan_json, owed_json
from gateway.loans.sagas.cash_loan_disbursement import cash_loan_input
from gateway.operations.answers import OPERATION_RESPONSES
from gateway.operations.start import Operations
from gateway.sagas.definition import JsonObject

OPERATION_APPLY = "applyForCashLoan"
LOAN_ID_LENGTH_MAX = 64


class CashLoanRoutes:
    """POST/GET /v1/loans/cash-loans, GET /v1/loans/cash-loans/{loan_id}."""

    def __init__(
        self,
        loan: LoanClient,
        credit: CreditClient,
        ledger: LoanLedger,
        operations: Operations,
    ) -> None:
        self._loan = loan
        self._credit = credit
        self._ledger = ledger
        self._operations = operations

    def routes(self) -> list[Route]:
        route = route_factory("loans", (AuthScheme.BEARER,), Role.CUSTOMER)
        unavailable = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}
        return [
            route(
                "POST",
                "/v1/loans/cash-loans",
                self.apply,
                OPERATION_APPLY,
                "Apply for a cash loan: decided at once from the credit advice (reasons when "
                "declined) and, approved, disbursed into the balance (a saga)",
                idempotency_key_required=True,
                request_schema="CashLoanRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT", "INVALID_AMOUNT"),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "BELOW_MINIMUM",
                        "FAILED_PRECONDITION",
                        "LENDING_CAPACITY",
                    ),
                    **unavailable,
                },
            ),
            route(
                "GET",
                "/v1/loans/cash-loans",
                self.list_loans,
                "listCashLoans",
                "The caller's cash loans, newest first",
                response_schema="CashLoans",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",), **unavailable},
            ),
            route(
                "GET",
                "/v1/loans/cash-loans/{loan_id}",
                self.get_loan,
                "getCashLoan",
                "One of the caller's cash loans with its schedule (each period's charges, "
                "paid and unpaid)",
                response_schema="CashLoan",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **unavailable},
            ),
        ]

    async def apply(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        body = await read_body(request, CashLoanRequest)
        amount = Money(body.amount_fen, body.currency)
        term_months, method = body.term_months, CASH_LOAN_METHODS[body.method]
        borrower_id = request[CALLER].account_id

        async def saga_input() -> JsonObject:
            advice = await credit_advice(self._credit, borrower_id)
            await self._ledger.ensure_accounts()
            return cash_loan_input(
                loan_id=f"cl_{uuid.uuid4().hex[:24]}",
                borrower_account_id=borrower_id,
                amount=amount,
                term_months=term_months,
                method=method,
                advice=advice,
            )

        return await self._operations.start(
            request,
            self._operations.sagas.cash_loan_disbursement,
            operation_id=OPERATION_APPLY,
            body=body.fields_sent(),
            saga_input=saga_input,
        )

    async def list_loans(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "loans",
            lambda account_id, page: self._loan.list_cash_loans(
                lpb.ListCashLoansRequest(borrower_id=account_id, page=page)
            ),
            lambda loan: cash_loan_json(loan, schedule=False),
        )

    async def get_loan(self, request: web.Request) -> web.Response:
        loan_id = path_id(request, "loan_id", "loan", LOAN_ID_LENGTH_MAX)

        async def fetch() -> lpb.CashLoan:
            return (await self._loan.get_cash_loan(lpb.GetCashLoanRequest(loan_id=loan_id))).loan

        loan = await get_own(
            fetch(),
            lambda found: found.borrower_id == request[CALLER].account_id,
            what="loan",
            object_id=loan_id,
            unknown_kinds=(ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT),
        )
        shown = cash_loan_json(loan)
        if loan.state == lpb.CASH_LOAN_STATE_ACTIVE:
            owed = await self._loan.get_amount_owed(
                lpb.GetAmountOwedRequest(target=lpb.REPAYMENT_TARGET_CASH_LOAN, account_id=loan_id)
            )
            shown["owed"] = owed_json(owed.owed)
        return json_response(shown)
