"""Escrow trade RPCs (担保交易): create, pay into escrow, ship, confirm, refund, settle.

Each RPC is one transaction: load the trade, apply one transition of the state machine in
escrow.py (which also says who may take it), move the money that transition moves
(escrow_postings.py), save. A transition the trade's state does not allow is refused by
escrow.py with ILLEGAL_TRANSITION naming the state, paying included.

With group commit on (rpc_batching.py), the RPCs that move money go through the batcher:
paying (a movement), settling (the buyer's confirmation and the job's auto-confirmation)
and refund decisions (jobs, batch_trades.py), so settlements no longer take turns on the
escrow account; the one-transaction paths below are the same rules without it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import cast

from chassis.clock import business_date_of, parse_business_date
from chassis.errors import DomainError, InvalidArgument, NotFound, PermissionDenied
from chassis.grpc_server import Context
from chassis.idempotency import fingerprint_request, require_idempotency_key
from chassis.mongo import Session, run_in_transaction
from chassis.wire import amount_from_proto, page_size_of
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from services.payment.batch_model import MovementAsk
from services.payment.batch_trades import DecideRefundJob, SettleTradeJob
from services.payment.escrow import (
    ESCROW_ACCOUNT_ID,
    PAYMENT_WINDOW_DEFAULT,
    RefundDecider,
    Trade,
    TradeAction,
    TradeRole,
    TradeState,
    auto_confirm,
    cancel,
    confirm_receipt,
    create_trade,
    decide_refund,
    expire,
    mark_shipped,
    party_role,
    pay,
    request_refund,
    require_payable,
    require_role,
    settlement_split,
)
from services.payment.escrow_postings import (
    settlement_posting,
    trade_payment_posting,
    trade_refund_posting,
)
from services.payment.ledger import AccountKind, Posting, PostingKind, require_kind
from services.payment.risk import PaymentKind
from services.payment.rpc_base import PaymentRpcBase, require_account_id
from services.payment.rpc_merchant_review import require_merchant_approved
from services.payment.screening import OutgoingPayment
from services.payment.store_freeze import require_store_open
from services.payment.wire import posting_to_proto, trade_state_from_proto, trade_to_proto

log = logging.getLogger(__name__)

Transition = Callable[[Trade, datetime], Trade]

TRADE_JOBS = "trade-jobs"
TRADE_JOB_BATCH = 200
TRADE_JOB_BATCHES_MAX = 100


def _require_trade_id(trade_id: str) -> str:
    if not trade_id:
        raise InvalidArgument("trade_id is required")
    return trade_id


def _payment_window(seconds: int) -> timedelta:
    return timedelta(seconds=seconds) if seconds else PAYMENT_WINDOW_DEFAULT


class TradesRpc(PaymentRpcBase):
    """Escrow trades between a buyer and a merchant."""

    async def CreateTrade(
        self, request: pb.CreateTradeRequest, context: Context
    ) -> pb.CreateTradeResponse:
        require_idempotency_key(request.idempotency_key)
        merchant_id = require_account_id(request.merchant_account_id, "merchant_account_id")
        buyer_id = require_account_id(request.buyer_account_id, "buyer_account_id")
        window = _payment_window(request.payment_window_seconds)
        amount_fen = amount_from_proto(request.amount)
        await require_merchant_approved(self._store, merchant_id, "sell in escrow trades")

        async def create(session: Session) -> pb.CreateTradeResponse:
            merchant = await self._store.get_account(merchant_id, session, with_balance=False)
            require_kind(merchant, (AccountKind.MERCHANT,), "sell in escrow trades")
            # Post-loan control: a store the platform froze takes no new trades.
            require_store_open(await self._store.find_store_freeze(merchant_id, session))
            buyer = await self._store.get_account(buyer_id, session, with_balance=False)
            require_kind(buyer, (AccountKind.PERSONAL, AccountKind.MERCHANT), "buy")
            trade = create_trade(
                trade_id="T" + uuid.uuid4().hex[:24],
                merchant_account_id=merchant_id,
                buyer_account_id=buyer_id,
                amount_fen=amount_fen,
                description=request.description,
                now=self._clock.now(),
                payment_window=window,
            )
            await self._store.insert_trade(session, trade)
            await self._trade_event(session, "payment.trade.created", trade)
            return pb.CreateTradeResponse(trade=trade_to_proto(trade))

        return await self._once("create-trade", request, pb.CreateTradeResponse, create)

    async def PayTrade(self, request: pb.PayTradeRequest, context: Context) -> pb.PayTradeResponse:
        key = require_idempotency_key(request.idempotency_key)
        trade_id = _require_trade_id(request.trade_id)
        buyer_id = require_account_id(request.buyer_account_id, "buyer_account_id")
        verified = await self._second_factor(buyer_id, request.risk)
        if self._batcher is not None:
            ask = MovementAsk(
                record_id=f"pay-trade:{key}",
                fingerprint=fingerprint_request(request),
                idempotency_key=key,
                from_account_id=buyer_id,
                to_account_id=ESCROW_ACCOUNT_ID,
                amount_fen=0,  # the trade's amount, as the batch reads the trade
                memo="",
                device_id=request.risk.device_id,
                second_factor=verified,
                posting_kind=PostingKind.TRADE_PAYMENT,
                payment_kind=PaymentKind.PAYMENT,
                trade_id=trade_id,
            )
            return await self._batcher.submit(ask, pb.PayTradeResponse)

        async def pay_trade(session: Session) -> pb.PayTradeResponse:
            trade = await self._trade_for(session, trade_id, buyer_id, TradeAction.PAY)
            now = self._clock.now()
            paid = pay(trade, now)  # ILLEGAL_TRANSITION unless the trade awaits payment
            buyer = await self._store.get_account(buyer_id, session)
            payee_id, amount_fen = trade.merchant_account_id, trade.amount_fen
            payment = OutgoingPayment(
                payee_id, PaymentKind.PAYMENT, amount_fen, request.risk.device_id
            )
            await self._screen(session, buyer, payment, verified)
            posting = trade_payment_posting(paid, uuid.uuid4().hex, now)
            await self._post(session, posting, reference=trade_id, known=(buyer,))
            await self._save_trade(session, trade, paid, "payment.trade.paid")
            return pb.PayTradeResponse(
                trade=trade_to_proto(paid), posting=posting_to_proto(posting)
            )

        async with self._risk_audit(), self._movement_scope(buyer_id):
            return await self._once("pay-trade", request, pb.PayTradeResponse, pay_trade)

    async def CheckTradePayable(
        self, request: pb.CheckTradePayableRequest, context: Context
    ) -> pb.CheckTradePayableResponse:
        trade_id = _require_trade_id(request.trade_id)
        buyer_id = require_account_id(request.buyer_account_id, "buyer_account_id")
        trade = await self._trade_for(None, trade_id, buyer_id, TradeAction.PAY)
        require_payable(trade, self._clock.now())
        return pb.CheckTradePayableResponse(trade=trade_to_proto(trade))

    async def MarkTradeShipped(
        self, request: pb.MarkTradeShippedRequest, context: Context
    ) -> pb.MarkTradeShippedResponse:
        merchant_id = require_account_id(request.merchant_account_id, "merchant_account_id")
        trade = await self._transition(
            request.trade_id, merchant_id, TradeAction.SHIP, mark_shipped, "payment.trade.shipped"
        )
        return pb.MarkTradeShippedResponse(trade=trade_to_proto(trade))

    async def ConfirmTradeReceipt(
        self, request: pb.ConfirmTradeReceiptRequest, context: Context
    ) -> pb.ConfirmTradeReceiptResponse:
        buyer_id = require_account_id(request.buyer_account_id, "buyer_account_id")
        trade_id = _require_trade_id(request.trade_id)
        if self._batcher is not None:
            job = SettleTradeJob(trade_id, buyer_id, TradeAction.CONFIRM_RECEIPT, confirm_receipt)
            return await self._batcher.submit_job(
                job, pb.ConfirmTradeReceiptResponse, trade_settled_response
            )

        async def confirm(session: Session) -> pb.ConfirmTradeReceiptResponse:
            trade = await self._trade_for(session, trade_id, buyer_id, TradeAction.CONFIRM_RECEIPT)
            settled, posting = await self._settle(session, trade, confirm_receipt)
            return pb.ConfirmTradeReceiptResponse(
                trade=trade_to_proto(settled), posting=posting_to_proto(posting)
            )

        async with self._movement_scope(ESCROW_ACCOUNT_ID):
            return await run_in_transaction(self._client, confirm)

    async def RequestTradeRefund(
        self, request: pb.RequestTradeRefundRequest, context: Context
    ) -> pb.RequestTradeRefundResponse:
        buyer_id = require_account_id(request.buyer_account_id, "buyer_account_id")
        refund_fen = request.amount.amount_fen and amount_from_proto(request.amount)

        def ask(trade: Trade, now: datetime) -> Trade:
            return request_refund(trade, refund_fen or trade.escrow_held_fen, request.reason, now)

        trade = await self._transition(
            request.trade_id,
            buyer_id,
            TradeAction.REQUEST_REFUND,
            ask,
            "payment.trade.refund_requested",
        )
        return pb.RequestTradeRefundResponse(trade=trade_to_proto(trade))

    async def DecideTradeRefund(
        self, request: pb.DecideTradeRefundRequest, context: Context
    ) -> pb.DecideTradeRefundResponse:
        trade_id = _require_trade_id(request.trade_id)
        action = TradeAction.APPROVE_REFUND if request.approve else TradeAction.REJECT_REFUND
        merchant_id = request.merchant_account_id
        decider = RefundDecider.MERCHANT if merchant_id else RefundDecider.PLATFORM
        if self._batcher is not None:
            job = DecideRefundJob(trade_id, merchant_id, request.approve)
            return await self._batcher.submit_job(
                job, pb.DecideTradeRefundResponse, refund_decided_response
            )

        async def decide(session: Session) -> pb.DecideTradeRefundResponse:
            trade = await self._trade_for(
                session, trade_id, merchant_id, action, TradeRole.PLATFORM
            )
            now = self._clock.now()
            decided = decide_refund(trade, approve=request.approve, decided_by=decider, now=now)
            response = pb.DecideTradeRefundResponse(trade=trade_to_proto(decided))
            posting = trade_refund_posting(trade, decided, uuid.uuid4().hex, now)
            if posting is not None:
                await self._post(session, posting, reference=trade_id)
                response.posting.CopyFrom(posting_to_proto(posting))
            await self._save_trade(session, trade, decided, "payment.trade.refund_decided")
            return response

        async with self._movement_scope(ESCROW_ACCOUNT_ID):
            return await run_in_transaction(self._client, decide)

    async def CancelTrade(
        self, request: pb.CancelTradeRequest, context: Context
    ) -> pb.CancelTradeResponse:
        account_id = require_account_id(request.account_id)
        trade = await self._transition(
            request.trade_id, account_id, TradeAction.CANCEL, cancel, "payment.trade.closed"
        )
        return pb.CancelTradeResponse(trade=trade_to_proto(trade))

    async def GetTrade(self, request: pb.GetTradeRequest, context: Context) -> pb.GetTradeResponse:
        trade = await self._store.get_trade(_require_trade_id(request.trade_id))
        return pb.GetTradeResponse(trade=trade_to_proto(trade))

    async def ListTrades(
        self, request: pb.ListTradesRequest, context: Context
    ) -> pb.ListTradesResponse:
        account_id = require_account_id(request.account_id)
        page_size = page_size_of(request.page)
        state = trade_state_from_proto(request.state)
        trades, next_token = await self._store.list_trades(
            account_id, state, page_size, request.page.page_token
        )
        return pb.ListTradesResponse(
            trades=[trade_to_proto(t) for t in trades],
            page=paging_pb2.PageInfo(next_page_token=next_token),
        )

    async def RunTradeJobs(
        self, request: pb.RunTradeJobsRequest, context: Context
    ) -> pb.RunTradeJobsResponse:
        business_date = parse_business_date(request.business_date)
        if business_date > business_date_of(self._clock.now()):
            raise InvalidArgument(
                "cannot run a business date that has not begun", reason="INVALID_BUSINESS_DATE"
            )
        if await self._store.job_has_run(TRADE_JOBS, business_date):
            return pb.RunTradeJobsResponse(already_run=True)
        outcome = await self.run_trade_jobs()
        # Recorded only once the run got through every due trade: a run that crashed part
        # way is simply run again (each trade's transition is idempotent by its state).
        await self._store.record_job_run(TRADE_JOBS, business_date, outcome, self._clock.now())
        return pb.RunTradeJobsResponse(
            auto_confirmed=outcome["auto_confirmed"], expired=outcome["expired"]
        )

    async def run_trade_jobs(self) -> dict[str, int]:
        """Auto-confirm due shipped trades and close expired unpaid ones (each idempotent).

        A trade that cannot be moved (say its merchant account is frozen) is logged and
        skipped, so it never holds up the others; it is retried by the next run.
        """
        skipped: set[str] = set()
        auto_confirmed = await self._run_due(
            "auto_confirm_at", TradeState.SHIPPED, skipped, self._auto_confirm
        )
        expired = await self._run_due("pay_by", TradeState.CREATED, skipped, self._expire)
        return {"auto_confirmed": auto_confirmed, "expired": expired, "skipped": len(skipped)}

    async def _run_due(
        self,
        due_field: str,
        state: TradeState,
        skipped: set[str],
        step: Callable[[str], Awaitable[object]],
    ) -> int:
        """Take step on every trade in state whose due_field has passed, in bounded batches."""
        done = 0
        for _ in range(TRADE_JOB_BATCHES_MAX):
            now = self._clock.now()
            due = await self._store.trades_due(due_field, state, now, TRADE_JOB_BATCH, skipped)
            for trade in due:
                if await self._job_step(trade, skipped, step(trade.trade_id)):
                    done += 1
            if len(due) < TRADE_JOB_BATCH:
                break
        return done

    async def _job_step(self, trade: Trade, skipped: set[str], step: Awaitable[object]) -> bool:
        """Run one trade's job step; a refusal skips that trade (logged) instead of the job."""
        try:
            await step
        except DomainError as refusal:
            log.warning(
                "trade job skipped a trade",
                extra={"trade_id": trade.trade_id, "reason": refusal.reason},
            )
            skipped.add(trade.trade_id)
            return False
        return True

    async def _auto_confirm(self, trade_id: str) -> None:
        if self._batcher is not None:
            job = SettleTradeJob(trade_id, "", None, auto_confirm)
            await self._batcher.submit_job(
                job, pb.ConfirmTradeReceiptResponse, trade_settled_response
            )
            return

        async def settle(session: Session) -> None:
            trade = await self._store.get_trade(trade_id, session)
            await self._settle(session, trade, auto_confirm)

        async with self._movement_scope(ESCROW_ACCOUNT_ID):
            await run_in_transaction(self._client, settle)

    async def _expire(self, trade_id: str) -> None:
        await self._transition(trade_id, "", TradeAction.EXPIRE, expire, "payment.trade.closed")

    async def _settle(
        self, session: Session, trade: Trade, transition: Transition
    ) -> tuple[Trade, Posting]:
        """Apply a settling transition and pay the escrowed money out, in one transaction."""
        now = self._clock.now()
        settled = transition(trade, now)
        posting_id = uuid.uuid4().hex
        # Withholding instructions (withholding.py) take their part of the merchant's net
        # first, as legs of this same posting, in this same transaction.
        withheld = await self._store.withhold_from_settlement(
            session,
            trade.trade_id,
            trade.merchant_account_id,
            settlement_split(settled).merchant_fen,
            posting_id=posting_id,
            now=now,
        )
        posting = settlement_posting(settled, posting_id, now, withheld)
        await self._post(session, posting, reference=trade.trade_id)
        await self._save_trade(session, trade, settled, "payment.trade.settled")
        return settled, posting

    async def _transition(
        self,
        trade_id: str,
        account_id: str,
        action: TradeAction,
        transition: Transition,
        event_type: str,
    ) -> Trade:
        """A transition that moves no money: load, check the actor, apply, save."""
        trade_id = _require_trade_id(trade_id)

        async def apply(session: Session) -> Trade:
            trade = await self._trade_for(session, trade_id, account_id, action, TradeRole.SYSTEM)
            after = transition(trade, self._clock.now())
            await self._save_trade(session, trade, after, event_type)
            return after

        return await run_in_transaction(self._client, apply)

    async def _trade_for(
        self,
        session: Session | None,
        trade_id: str,
        account_id: str,
        action: TradeAction,
        role_without_account: TradeRole | None = None,
    ) -> Trade:
        """The trade, if the actor may take action on it (else NOT_FOUND/DENIED).

        The actor is account_id, a party to the trade; with no account id, it is
        role_without_account (the platform, or the system's jobs).
        """
        trade = await self._store.get_trade(trade_id, session)
        if not account_id and role_without_account is not None:
            require_role(trade, action, role_without_account)
            return trade
        try:
            role = party_role(trade, account_id)
        except PermissionDenied:
            # Someone else's trade: say it does not exist rather than confirm that it does.
            raise NotFound(f"trade {trade_id} does not exist") from None
        require_role(trade, action, role)
        return trade

    async def _save_trade(
        self, session: Session, before: Trade, after: Trade, event_type: str
    ) -> None:
        await self._store.save_trade(session, before, after)
        await self._trade_event(session, event_type, after)

    async def _trade_event(self, session: Session, event_type: str, trade: Trade) -> None:
        await self._events.append(session, event_type, trade.trade_id, trade_to_proto(trade))


def trade_settled_response(result: object) -> pb.ConfirmTradeReceiptResponse:
    trade, posting = cast(tuple[Trade, Posting], result)
    return pb.ConfirmTradeReceiptResponse(
        trade=trade_to_proto(trade), posting=posting_to_proto(posting)
    )


def refund_decided_response(result: object) -> pb.DecideTradeRefundResponse:
    trade, posting = cast(tuple[Trade, Posting | None], result)
    response = pb.DecideTradeRefundResponse(trade=trade_to_proto(trade))
    if posting is not None:
        response.posting.CopyFrom(posting_to_proto(posting))
    return response
