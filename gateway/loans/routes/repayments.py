"""The caller's repayments (还款) and auto-debit setting.

``POST /v1/loans/repayments`` repays what the caller owes on their Huabei bills
(``target: huabei``), an installment plan settled early (``installment_plan``) or a cash
loan (``cash_loan``), any amount up to the payoff (more is refused:
REPAYMENT_EXCEEDS_OWED), from the balance and, if named, Yu'e Bao (methods and split as
wallet pay: gateway.payment.methods). The loan_repayment saga moves the money into the
loan ledger account the loan service names and applies it by the waterfall.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from aiohttp import web

from chassis.errors import NotFound
from chassis.money import Money
from colony.loan.v1 import loan_pb2 as lpb
from gateway.clients import LoanClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import body_schemas, read_body
from gateway.edge.idempotency import require_idempotency_key
from gateway.edge.identities import Role
from gateway.edge.ownership import list_own
from gateway.edge.paging import PAGING_QUERY_PARAMETERS
from gateway.edge.payloads import read_json
from gateway.edge.representations import json_response
from gateway.edge.routing import AuthScheme, Route, route_factory
from gateway.loans.bodies import (
    REPAYMENT_SCHEMAS,
    REPAYMENT_TARGETS,
    AutoDebitRequest,
    CashLoanRepayment,
    InstallmentPlanRepayment,
    parse_repayment,
)
from gateway.loans.representations import auto_debit_json, owed_json, repayment_json
from gateway.loans.sagas.repayment import repayment_input
from gateway.operations.answers import OPERATION_RESPONSES
from gateway.operations.start import Operations
from gateway.payment.methods import PaymentMethod
from gateway.payment.wallet_funding import WalletFunding
from gateway.sagas.definition import JsonObject

OPERATION_REPAY = "createLoanRepayment"

SCHEMAS: dict[str, dict[str, Any]] = {**REPAYMENT_SCHEMAS, **body_schemas(AutoDebitRequest)}


class RepaymentRoutes:
    """POST/GET /v1/loans/repayments, GET /v1/loans/owed, GET/PUT /v1/loans/auto-debit."""

    def __init__(self, loan: LoanClient, funding: WalletFunding, operations: Operations) -> None:
        self._loan = loan
        self._funding = funding
        self._operations = operations

    def routes(self) -> list[Route]:
        route = route_factory("loans", (AuthScheme.BEARER,), Role.CUSTOMER)
        unavailable = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}
        return [
            route(
                "POST",
                "/v1/loans/repayments",
                self.repay,
                OPERATION_REPAY,
                "Repay Huabei, an installment plan or a cash loan, any amount up to the "
                "payoff, from the balance and/or Yu'e Bao (a saga; applied penalty → fee → "
                "interest → principal, oldest period first)",
                idempotency_key_required=True,
                request_schema="RepaymentRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT", "INVALID_AMOUNT"),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "REPAYMENT_EXCEEDS_OWED",
                        "INSUFFICIENT_FUNDS",
                        "FAST_REDEMPTION_LIMIT_EXCEEDED",
                        "FAILED_PRECONDITION",
                    ),
                    **unavailable,
                },
            ),
            route(
                "GET",
                "/v1/loans/repayments",
                self.list_repayments,
                "listLoanRepayments",
                "The caller's repayments, newest first, with how each was applied",
                response_schema="Repayments",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",), **unavailable},
            ),
            route(
                "GET",
                "/v1/loans/auto-debit",
                self.get_auto_debit,
                "getLoanAutoDebit",
                "The caller's auto-debit setting",
                response_schema="AutoDebitSetting",
                problems=unavailable,
            ),
            route(
                "PUT",
                "/v1/loans/auto-debit",
                self.set_auto_debit,
                "setLoanAutoDebit",
                "Turn automatic repayment on the due date on or off, and its sources in order",
                request_schema="AutoDebitRequest",
                response_schema="AutoDebitSetting",
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT",), **unavailable},
            ),
        ]

    async def repay(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)  # refused before the body is looked at
        body = parse_repayment(await read_json(request))
        target = REPAYMENT_TARGETS[body.target]
        borrower_id = request[CALLER].account_id
        if isinstance(body, InstallmentPlanRepayment):
            account_id = body.plan_id
        elif isinstance(body, CashLoanRepayment):
            account_id = body.loan_id
        else:
            account_id = borrower_id  # Huabei: the caller's own line
        amount = Money(body.amount_fen, body.currency)
        methods = tuple(PaymentMethod(method) for method in body.methods)
        split = body.split

        async def saga_input() -> JsonObject:
            owed = await self._owed(target, account_id, borrower_id)
            return repayment_input(
                repayment_id=f"rp_{uuid.uuid4().hex[:24]}",
                borrower_account_id=borrower_id,
                target=target,
                account_id=account_id,
                ledger_account_id=owed.ledger_account_id,
                amount=amount,
                funding=await self._funding.plan(borrower_id, amount, methods, split=split),
            )

        return await self._operations.start(
            request,
            self._operations.sagas.loan_repayment,
            operation_id=OPERATION_REPAY,
            body=body.fields_sent(),
            saga_input=saga_input,
        )

    async def _owed(
        self, target: lpb.RepaymentTarget.ValueType, account_id: str, borrower_id: str
    ) -> lpb.AmountOwed:
        """What the caller owes on the account; someone else's is a 404 like an unknown one."""
        try:
            response = await self._loan.get_amount_owed(
                lpb.GetAmountOwedRequest(target=target, account_id=account_id)
            )
        except NotFound:
            response = None
        if response is None or response.owed.borrower_id != borrower_id:
            raise NotFound(
                f"there is no loan account {account_id!r} of yours",
                metadata={"account_id": account_id},
            )
        return response.owed

    async def list_repayments(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "repayments",
            lambda account_id, page: self._loan.list_repayments(
                lpb.ListRepaymentsRequest(borrower_id=account_id, page=page)
            ),
            repayment_json,
        )

    async def get_auto_debit(self, request: web.Request) -> web.Response:
        response = await self._loan.get_auto_debit(
            lpb.GetAutoDebitRequest(borrower_id=request[CALLER].account_id)
        )
        return json_response(auto_debit_json(response.setting))

    async def set_auto_debit(self, request: web.Request) -> web.Response:
        body = await read_body(request, AutoDebitRequest)
        enabled, sources = body.enabled, list(body.sources)
        borrower_id = request[CALLER].account_id
        response = await self._loan.set_auto_debit(
            lpb.SetAutoDebitRequest(
                idempotency_key=f"auto-debit:{borrower_id}:{uuid.uuid4().hex}",
                borrower_id=borrower_id,
                enabled=enabled,
                sources=sources,
            )
        )
        return json_response(auto_debit_json(response.setting))


__all__ = ["RepaymentRoutes", "owed_json"]
