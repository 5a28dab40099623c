"""Order-loan routes, composed into MerchantLendingRoutes (docs/loans.md "Order loans").

- GET  /v1/merchant/loans/order-loan-offer: the caller's trades in escrow (paid or shipped)
  not pledged to an open order loan, and the most it may borrow against them (80%);
- POST /v1/merchant/loans/order-loans {amount_fen}: borrow against those trades (the
  merchant_order_loan saga: decide, withhold from each trade's settlement, pay out);
- GET  /v1/merchant/loans/order-loans[/{loan_id}]: the loans, what they owe, overdue;
- POST /v1/admin/jobs/order-loans: the job that relays the withholdings (OrderLoanJobs).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from decimal import ROUND_DOWN, Decimal
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiohttp import web

from chassis.errors import ErrorKind, FailedPrecondition
from chassis.money import Money
from colony.common.v1 import paging_pb2
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import withholding_pb2 as wpb
from gateway.clients import PaymentClient
from gateway.edge.authentication import CALLER
from gateway.edge.bodies import read_body
from gateway.edge.idempotency import derive_grpc_idempotency_key, require_idempotency_key
from gateway.edge.ownership import get_own, list_own, path_id
from gateway.edge.paging import PAGING_QUERY_PARAMETERS
from gateway.edge.representations import (
    json_response,
    money_json,
    money_proto_json,
    optional_timestamp_json,
)
from gateway.edge.routing import Route, RouteFactory
from gateway.loans.merchant.bodies import LoanAmountRequest, StoreFreezeRequest
from gateway.loans.merchant.order_loans import order_loan_input
from gateway.operations.answers import OPERATION_RESPONSES
from gateway.operations.start import Operations
from gateway.sagas.definition import JsonObject

if TYPE_CHECKING:
    from gateway.loans.merchant.wiring import MerchantLending

IN_ESCROW = (pb.TRADE_STATE_PAID, pb.TRADE_STATE_SHIPPED)
OFFER_TRADES_MAX = 200
OPEN = (mpb.ORDER_LOAN_STATE_PENDING_DISBURSEMENT, mpb.ORDER_LOAN_STATE_ACTIVE)
STATES = {
    mpb.ORDER_LOAN_STATE_PENDING_DISBURSEMENT: "pending_disbursement",
    mpb.ORDER_LOAN_STATE_CANCELLED: "cancelled",
    mpb.ORDER_LOAN_STATE_ACTIVE: "active",
    mpb.ORDER_LOAN_STATE_SETTLED: "settled",
}
LOAN_ID_LENGTH_MAX = 64
REASON_LENGTH_MAX = 200
UNAVAILABLE = {HTTPStatus.SERVICE_UNAVAILABLE: ("UNAVAILABLE",)}


def order_loan_json(loan: mpb.OrderLoan) -> dict[str, Any]:
    return {
        "loan_id": loan.loan_id,
        "state": STATES.get(loan.state, "unknown"),
        "amount": money_proto_json(loan.amount),
        "cover": money_proto_json(loan.cover),
        "trades": [
            {
                "trade_id": t.trade_id,
                "in_escrow": money_proto_json(t.in_escrow),
                "finished": t.finished,
            }
            for t in loan.trades
        ],
        "disbursed_on": loan.disbursed_on or None,
        "due_date": loan.due_date or None,
        "principal": money_proto_json(loan.principal),
        "interest_owed": money_proto_json(loan.interest_owed),
        "owed": money_proto_json(loan.owed),
        "collected": money_proto_json(loan.collected),
        "overdue": loan.overdue,
        "overdue_since": loan.overdue_since or None,
        "excess_given_back": [
            {"amount": money_proto_json(e.amount), "returned": e.returned} for e in loan.excess
        ],
    }


class OrderLoanRoutes:
    def __init__(
        self, lending: MerchantLending, payment: PaymentClient, operations: Operations
    ) -> None:
        self._lending = lending.client
        self._withholding = lending.withholding
        self._saga = lending.sagas.order_loan
        self._jobs = lending.order_jobs
        self._ledger = lending.ledger
        self._payment = payment
        self._operations = operations

    def routes(self, merchant: RouteFactory, operator: RouteFactory) -> list[Route]:
        return [
            merchant(
                "GET",
                "/v1/merchant/loans/order-loan-offer",
                self.offer,
                "getOrderLoanOffer",
                "The trades in escrow an order loan may be lent against, and the most it may "
                "be (80% of their amount in escrow)",
                response_schema="OrderLoanOffer",
                problems=UNAVAILABLE,
            ),
            merchant(
                "POST",
                "/v1/merchant/loans/order-loans",
                self.apply,
                "applyForOrderLoan",
                "Borrow against the offer's trades: repaid from their settlements before the "
                "merchant is paid (a saga)",
                idempotency_key_required=True,
                request_schema="LoanAmountRequest",
                response_schema="Operation",
                response_status=HTTPStatus.CREATED,
                other_responses=OPERATION_RESPONSES,
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT", "INVALID_AMOUNT"),
                    HTTPStatus.UNPROCESSABLE_ENTITY: (
                        "FAILED_PRECONDITION",
                        "ORDER_LOAN_COVER",
                        "TRADE_PLEDGED",
                        "LOAN_OVERDUE",
                        "LENDING_CAPACITY",
                    ),
                    **UNAVAILABLE,
                },
            ),
            merchant(
                "GET",
                "/v1/merchant/loans/order-loans",
                self.list_loans,
                "listOrderLoans",
                "The merchant's order loans, newest first",
                response_schema="OrderLoans",
                query_parameters=PAGING_QUERY_PARAMETERS,
                problems={HTTPStatus.BAD_REQUEST: ("INVALID_PAGE_TOKEN",), **UNAVAILABLE},
            ),
            merchant(
                "GET",
                "/v1/merchant/loans/order-loans/{loan_id}",
                self.get_loan,
                "getOrderLoan",
                "One order loan: what it owes today, its trades, overdue and since when",
                response_schema="OrderLoan",
                problems={HTTPStatus.NOT_FOUND: ("NOT_FOUND",), **UNAVAILABLE},
            ),
            merchant(
                "GET",
                "/v1/merchant/loans/store-status",
                self.store_status,
                "getStoreStatus",
                "Whether the platform froze the store (no new trades) and why",
                response_schema="StoreFreeze",
                problems=UNAVAILABLE,
            ),
            operator(
                "PUT",
                "/v1/admin/merchants/{merchant_id}/store-freeze",
                self.freeze_store,
                "setStoreFreeze",
                "Freeze a defaulting merchant's store (no new trades; the reason is shown to "
                "the merchant and in its refusals) or reopen it",
                idempotency_key_required=True,
                request_schema="StoreFreezeRequest",
                response_schema="StoreFreeze",
                problems={
                    HTTPStatus.BAD_REQUEST: ("INVALID_ARGUMENT",),
                    HTTPStatus.NOT_FOUND: ("NOT_FOUND",),
                    HTTPStatus.UNPROCESSABLE_ENTITY: ("ACCOUNT_KIND_NOT_ALLOWED",),
                    **UNAVAILABLE,
                },
            ),
            operator(
                "POST",
                "/v1/admin/jobs/order-loans",
                self.run_job,
                "runOrderLoanJob",
                "Relay the settlements' withholdings to the order loans and overdue "
                "facilities, give back excess, mark refunded trades, withhold an overdue loan "
                "from every later settlement until repaid",
                response_schema="OrderLoanJobRun",
                problems=UNAVAILABLE,
            ),
        ]

    async def _offer(self, merchant_id: str) -> tuple[list[tuple[str, int]], int]:
        pledged: set[str] = set()
        token = ""
        while True:
            page = await self._lending.list_order_loans(
                mpb.ListOrderLoansRequest(
                    merchant_id=merchant_id,
                    page=paging_pb2.PageRequest(page_size=100, page_token=token),
                )
            )
            pledged |= {
                t.trade_id for loan in page.loans if loan.state in OPEN for t in loan.trades
            }
            token = page.page.next_page_token
            if not token:
                break
        found: list[pb.Trade] = []
        for state in IN_ESCROW:
            response = await self._payment.list_trades(
                pb.ListTradesRequest(
                    account_id=merchant_id,
                    state=state,
                    page=paging_pb2.PageRequest(page_size=100),
                )
            )
            found += [
                trade
                for trade in response.trades
                if trade.merchant_account_id == merchant_id
                and trade.trade_id not in pledged
                and trade.in_escrow.amount_fen > 0
            ]
        # Oldest first: the caps of the withholdings follow this order (older trades settle
        # first).
        found.sort(key=lambda trade: (trade.created_at.ToDatetime(), trade.trade_id))
        trades = [(trade.trade_id, trade.in_escrow.amount_fen) for trade in found]
        trades = trades[:OFFER_TRADES_MAX]
        total = Decimal(sum(fen for _, fen in trades)) * Decimal("0.8")
        return trades, int(total.to_integral_value(rounding=ROUND_DOWN))

    async def offer(self, request: web.Request) -> web.Response:
        trades, most = await self._offer(request[CALLER].account_id)
        return json_response(
            {
                "trades": [
                    {"trade_id": trade_id, "in_escrow": money_json(Money(fen))}
                    for trade_id, fen in trades
                ],
                "most": money_json(Money(most)),
            }
        )

    async def apply(self, request: web.Request) -> web.Response:
        require_idempotency_key(request)
        body = await read_body(request, LoanAmountRequest)
        amount = body.amount
        merchant_id = request[CALLER].account_id

        async def saga_input() -> JsonObject:
            trades, _ = await self._offer(merchant_id)
            if not trades:
                # Nothing in escrow to pledge: a business refusal (422), not a bad body.
                raise FailedPrecondition(
                    "there are no trades in escrow to pledge for an order loan",
                    metadata={"field": "trades"},
                )
            await self._ledger.ensure_account()
            return order_loan_input(
                loan_id=f"ol_{uuid.uuid4().hex[:24]}",
                merchant_id=merchant_id,
                amount=amount,
                trades=trades,
            )

        return await self._operations.start(
            request,
            self._saga,
            operation_id="applyForOrderLoan",
            body=body.fields_sent(),
            saga_input=saga_input,
        )

    async def list_loans(self, request: web.Request) -> web.Response:
        return await list_own(
            request,
            "loans",
            lambda account_id, page: self._lending.list_order_loans(
                mpb.ListOrderLoansRequest(merchant_id=account_id, page=page)
            ),
            order_loan_json,
        )

    async def get_loan(self, request: web.Request) -> web.Response:
        loan_id = path_id(request, "loan_id", "order loan", LOAN_ID_LENGTH_MAX)

        async def fetch() -> mpb.OrderLoan:
            response = await self._lending.get_order_loan(mpb.GetOrderLoanRequest(loan_id=loan_id))
            return response.loan

        loan = await get_own(
            fetch(),
            lambda found: found.merchant_id == request[CALLER].account_id,
            what="order loan",
            object_id=loan_id,
            unknown_kinds=(ErrorKind.NOT_FOUND, ErrorKind.INVALID_ARGUMENT),
        )
        return json_response(order_loan_json(loan))

    async def run_job(self, request: web.Request) -> web.Response:
        return json_response(asdict(await self._jobs.run()))

    async def store_status(self, request: web.Request) -> web.Response:
        response = await self._withholding.get_store_freeze(
            wpb.GetStoreFreezeRequest(merchant_account_id=request[CALLER].account_id)
        )
        return json_response(store_freeze_json(response.freeze))

    async def freeze_store(self, request: web.Request) -> web.Response:
        key = derive_grpc_idempotency_key(request[CALLER].user_id, require_idempotency_key(request))
        merchant_id = path_id(request, "merchant_id", "merchant", LOAN_ID_LENGTH_MAX)
        body = await read_body(request, StoreFreezeRequest)
        frozen, reason = body.frozen, body.reason
        response = await self._withholding.set_store_freeze(
            wpb.SetStoreFreezeRequest(
                idempotency_key=key, merchant_account_id=merchant_id, frozen=frozen, reason=reason
            )
        )
        return json_response(store_freeze_json(response.freeze))


def store_freeze_json(freeze: wpb.StoreFreeze) -> dict[str, Any]:
    return {
        "frozen": freeze.frozen,
        "reason": freeze.reason or None,
        "since": optional_timestamp_json(freeze.changed_at) if freeze.frozen else None,
    }
