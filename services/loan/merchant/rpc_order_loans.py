"""Order-loan RPCs (order_loans.py holds the rules): apply, disburse, cancel, collections
relayed from the payment service's withholdings, excess given back, trades finished."""

from __future__ import annotations

from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import amount_from_proto, money_to_proto, next_page, page_size_of
from colony.loan.v1 import merchant_lending_pb2 as pb
from services.loan.huabei import require_id
from services.loan.merchant.funding import require_capacity
from services.loan.merchant.order_loans import (
    OrderLoan,
    OrderLoanState,
    apply_collection,
    apply_for_order_loan,
    cancel_order_loan,
    disburse_order_loan,
    excess_returned,
    finish_trades,
)
from services.loan.merchant.rpc_base import MerchantRpcBase
from services.loan.merchant.wire import order_loan_to_proto, pledged_from_proto


class OrderLoansRpc(MerchantRpcBase):
    """Order loans against trades in escrow."""

    def _order_view(self, loan: OrderLoan) -> pb.OrderLoan:
        return order_loan_to_proto(loan, self._today())

    async def _save_order(self, session: Session, loan: OrderLoan, event: str) -> pb.OrderLoan:
        await self._store.save_order_loan(session, loan)
        message = self._order_view(loan)
        await self._events.append(session, event, loan.loan_id, message)
        return message

    async def ApplyOrderLoan(
        self, request: pb.ApplyOrderLoanRequest, context: Context
    ) -> pb.ApplyOrderLoanResponse:
        loan_id = require_id(request.loan_id, "loan_id")
        merchant_id = require_id(request.merchant_id, "merchant_id")
        amount_fen = amount_from_proto(request.amount)
        trades = pledged_from_proto(request.trades)

        async def apply(session: Session) -> pb.ApplyOrderLoanResponse:
            existing = await self._store.find_order_loan(loan_id, session)
            if existing is not None:
                return pb.ApplyOrderLoanResponse(loan=self._order_view(existing))
            today = self._today()
            trade_ids = [trade.trade_id for trade in trades]
            loan = apply_for_order_loan(
                loan_id=loan_id,
                merchant_id=merchant_id,
                trades=trades,
                amount_fen=amount_fen,
                pledged_elsewhere=await self._store.pledged_trade_ids(trade_ids, session),
                merchant_overdue=await self._store.merchant_overdue(merchant_id, today, session),
                now=self._clock.now(),
            )
            require_capacity(await self._store.claim_capacity(session), amount_fen)
            message = await self._save_order(session, loan, "loan.order_loan.decided")
            return pb.ApplyOrderLoanResponse(loan=message)

        async with self._facility_locks.hold([merchant_id]):
            return await self._idempotent(
                "apply-order-loan", request, pb.ApplyOrderLoanResponse, apply
            )

    async def ConfirmOrderLoanDisbursement(
        self, request: pb.ConfirmOrderLoanDisbursementRequest, context: Context
    ) -> pb.ConfirmOrderLoanDisbursementResponse:
        loan_id = require_id(request.loan_id, "loan_id")
        posting_id = require_id(request.payment_posting_id, "payment_posting_id")

        async def confirm(session: Session) -> pb.ConfirmOrderLoanDisbursementResponse:
            loan = await self._store.get_order_loan(loan_id, session)
            disbursed = disburse_order_loan(loan, posting_id, self._clock.now())
            if disbursed is loan:
                return pb.ConfirmOrderLoanDisbursementResponse(loan=self._order_view(loan))
            message = await self._save_order(session, disbursed, "loan.order_loan.disbursed")
            return pb.ConfirmOrderLoanDisbursementResponse(loan=message)

        return await self._idempotent(
            "confirm-order-loan", request, pb.ConfirmOrderLoanDisbursementResponse, confirm
        )

    async def CancelOrderLoan(
        self, request: pb.CancelOrderLoanRequest, context: Context
    ) -> pb.CancelOrderLoanResponse:
        loan_id = require_id(request.loan_id, "loan_id")

        async def cancel(session: Session) -> pb.CancelOrderLoanResponse:
            loan = await self._store.find_order_loan(loan_id, session)
            if loan is None:  # a tombstone: the late apply finds it cancelled
                loan = OrderLoan(loan_id, "", (), 0, OrderLoanState.CANCELLED, self._clock.now())
                await self._store.save_order_loan(session, loan)
                return pb.CancelOrderLoanResponse(loan=self._order_view(loan))
            cancelled = cancel_order_loan(loan)
            if cancelled is loan:
                return pb.CancelOrderLoanResponse(loan=self._order_view(loan))
            message = await self._save_order(session, cancelled, "loan.order_loan.cancelled")
            return pb.CancelOrderLoanResponse(loan=message)

        return await self._idempotent(
            "cancel-order-loan", request, pb.CancelOrderLoanResponse, cancel
        )

    async def GetOrderLoan(
        self, request: pb.GetOrderLoanRequest, context: Context
    ) -> pb.GetOrderLoanResponse:
        loan = await self._store.get_order_loan(require_id(request.loan_id, "loan_id"))
        return pb.GetOrderLoanResponse(loan=self._order_view(loan))

    async def ListOrderLoans(
        self, request: pb.ListOrderLoansRequest, context: Context
    ) -> pb.ListOrderLoansResponse:
        merchant_id = require_id(request.merchant_id, "merchant_id")
        query = f"order-loans:{merchant_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        loans = await self._store.list_order_loans(merchant_id, page_size, after)
        return pb.ListOrderLoansResponse(
            loans=[self._order_view(loan) for loan in loans],
            page=next_page(
                len(loans),
                page_size,
                lambda: encode_page_token(
                    query, loans[-1].decided_at.isoformat(), loans[-1].loan_id
                ),
            ),
        )

    async def ListOrderLoansToFollow(
        self, request: pb.ListOrderLoansToFollowRequest, context: Context
    ) -> pb.ListOrderLoansToFollowResponse:
        query = "order-loans-to-follow"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 1)
        loans = await self._store.order_loans_to_follow(after[0] if after else "", page_size)
        return pb.ListOrderLoansToFollowResponse(
            loans=[self._order_view(loan) for loan in loans],
            page=next_page(
                len(loans), page_size, lambda: encode_page_token(query, loans[-1].loan_id)
            ),
        )

    async def ApplyOrderLoanCollection(
        self, request: pb.ApplyOrderLoanCollectionRequest, context: Context
    ) -> pb.ApplyOrderLoanCollectionResponse:
        loan_id = require_id(request.loan_id, "loan_id")
        application_id = require_id(request.application_id, "application_id")
        amount_fen = amount_from_proto(request.amount)

        async def collect(session: Session) -> pb.ApplyOrderLoanCollectionResponse:
            loan = await self._store.get_order_loan(loan_id, session)
            collected, split = apply_collection(loan, application_id, amount_fen, self._today())
            message = self._order_view(loan)
            if collected is not loan:
                message = await self._save_order(session, collected, "loan.order_loan.collected")
            return pb.ApplyOrderLoanCollectionResponse(
                loan=message,
                interest_applied=money_to_proto(split.interest_fen),
                principal_applied=money_to_proto(split.principal_fen),
                excess=money_to_proto(split.excess_fen),
            )

        async with self._facility_locks.hold([loan_id]):
            return await self._idempotent(
                "order-loan-collection", request, pb.ApplyOrderLoanCollectionResponse, collect
            )

    async def ConfirmOrderLoanExcessReturned(
        self, request: pb.ConfirmOrderLoanExcessReturnedRequest, context: Context
    ) -> pb.ConfirmOrderLoanExcessReturnedResponse:
        loan_id = require_id(request.loan_id, "loan_id")
        application_id = require_id(request.application_id, "application_id")
        require_id(request.payment_posting_id, "payment_posting_id")

        async def confirm(session: Session) -> pb.ConfirmOrderLoanExcessReturnedResponse:
            loan = await self._store.get_order_loan(loan_id, session)
            returned = excess_returned(loan, application_id)
            message = self._order_view(loan)
            if returned != loan:
                message = await self._save_order(
                    session, returned, "loan.order_loan.excess_returned"
                )
            return pb.ConfirmOrderLoanExcessReturnedResponse(loan=message)

        async with self._facility_locks.hold([loan_id]):
            return await self._idempotent(
                "order-loan-excess", request, pb.ConfirmOrderLoanExcessReturnedResponse, confirm
            )

    async def FinishOrderLoanTrades(
        self, request: pb.FinishOrderLoanTradesRequest, context: Context
    ) -> pb.FinishOrderLoanTradesResponse:
        loan_id = require_id(request.loan_id, "loan_id")
        finished = {require_id(trade_id, "trade_ids") for trade_id in request.trade_ids}

        async def finish(session: Session) -> pb.FinishOrderLoanTradesResponse:
            loan = await self._store.get_order_loan(loan_id, session)
            after = finish_trades(loan, finished, self._today())
            message = self._order_view(loan)
            if after != loan:
                message = await self._save_order(session, after, "loan.order_loan.trades_finished")
            return pb.FinishOrderLoanTradesResponse(loan=message)

        async with self._facility_locks.hold([loan_id]):
            return await self._idempotent(
                "order-loan-trades", request, pb.FinishOrderLoanTradesResponse, finish
            )
