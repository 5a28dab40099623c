"""Escrow trade RPCs (担保交易): create, pay into escrow, ship, confirm, refund, settle.

Each RPC is one transaction: load the trade, apply one transition of the state machine in
escrow.py (which also says who may take it), move the money that transition moves, save.
Money paths: pay = buyer → escrow; approved refund = escrow → buyer; settlement = escrow →
merchant (less the acquiring fee) and escrow → fee income, in one posting.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from chassis.clock import business_date_of
from chassis.errors import DomainError, InvalidArgument, NotFound, PermissionDenied
from chassis.grpc_server import Context
from chassis.idempotency import require_idempotency_key
from chassis.mongo import Session, run_in_transaction
from chassis.wire import amount_from_proto
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from services.payment.escrow import (
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
    require_role,
    settlement_split,
)
from services.payment.ledger import (
    AccountKind,
    Entry,
    Posting,
    PostingKind,
    plan_movement,
    require_kind,
)
from services.payment.risk import PaymentKind
from services.payment.rpc_base import (
    ESCROW_ACCOUNT_ID,
    PLATFORM_FEE_INCOME_ACCOUNT_ID,
    PaymentRpcBase,
    require_account_id,
)
from services.payment.store import STATEMENT_PAGE_SIZE_DEFAULT, STATEMENT_PAGE_SIZE_MAX
from services.payment.wire import posting_to_proto, trade_to_proto

log = logging.getLogger(__name__)

Transition = Callable[[Trade, datetime], Trade]

TRADE_JOBS = "trade-jobs"
TRADE_JOB_BATCH = 200
TRADE_JOB_BATCHES_MAX = 100
_STATE_FROM_PROTO = {
    pb.TRADE_STATE_CREATED: TradeState.CREATED,
    pb.TRADE_STATE_CLOSED: TradeState.CLOSED,
    pb.TRADE_STATE_PAID: TradeState.PAID,
    pb.TRADE_STATE_SHIPPED: TradeState.SHIPPED,
    pb.TRADE_STATE_REFUND_REQUESTED: TradeState.REFUND_REQUESTED,
    pb.TRADE_STATE_SETTLED: TradeState.SETTLED,
    pb.TRADE_STATE_REFUNDED: TradeState.REFUNDED,
}


def _require_trade_id(trade_id: str) -> str:
    if not trade_id:
        raise InvalidArgument("trade_id is required")
    return trade_id


def _page_token(trade: Trade) -> str:
    raw = f"{trade.created_at.isoformat()}|{trade.trade_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _parse_page_token(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        created_at, _, trade_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        return datetime.fromisoformat(created_at), trade_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument("page_token is not valid", reason="INVALID_PAGE_TOKEN") from None


def settlement_posting(trade: Trade, posting_id: str, now: datetime) -> Posting:
    """Escrow pays out a settled trade: merchant net of the fee, and the fee (one posting)."""
    split = settlement_split(trade)
    entries = [Entry(ESCROW_ACCOUNT_ID, -(split.merchant_fen + split.fee_fen))]
    entries.append(Entry(trade.merchant_account_id, split.merchant_fen))
    if split.fee_fen:
        entries.append(Entry(PLATFORM_FEE_INCOME_ACCOUNT_ID, split.fee_fen))
    return Posting(
        posting_id=posting_id,
        kind=PostingKind.TRADE_SETTLEMENT,
        entries=tuple(e for e in entries if e.amount_fen),
        posted_at=now,
        memo=f"settlement of trade {trade.trade_id}",
    )


class TradesRpc(PaymentRpcBase):
    """Escrow trades between a buyer and a merchant."""

    async def CreateTrade(
        self, request: pb.CreateTradeRequest, context: Context
    ) -> pb.CreateTradeResponse:
        require_idempotency_key(request.idempotency_key)
        merchant_id = require_account_id(request.merchant_account_id, "merchant_account_id")
        buyer_id = require_account_id(request.buyer_account_id, "buyer_account_id")
        window = (
            timedelta(seconds=request.payment_window_seconds)
            if request.payment_window_seconds
            else PAYMENT_WINDOW_DEFAULT
        )
        amount_fen = amount_from_proto(request.amount)

        async def create(session: Session) -> pb.CreateTradeResponse:
            merchant = await self._store.get_account(merchant_id, session, with_balance=False)
            require_kind(merchant, (AccountKind.MERCHANT,), "sell in escrow trades")
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

        return await self._idempotency.run(
            self._client,
            scope="create-trade",
            request=request,
            response_type=pb.CreateTradeResponse,
            operation=create,
        )

    async def PayTrade(self, request: pb.PayTradeRequest, context: Context) -> pb.PayTradeResponse:
        require_idempotency_key(request.idempotency_key)
        trade_id = _require_trade_id(request.trade_id)
        buyer_id = require_account_id(request.buyer_account_id, "buyer_account_id")
        verified = await self._second_factor(buyer_id, request.risk)

        async def pay_trade(session: Session) -> pb.PayTradeResponse:
            trade = await self._trade_for(session, trade_id, buyer_id, TradeAction.PAY)
            now = self._clock.now()
            paid = pay(trade, now)
            buyer = await self._store.get_account(buyer_id, session)
            await self._screen(
                session,
                payer=buyer,
                payee_account_id=trade.merchant_account_id,
                payment_kind=PaymentKind.PAYMENT,
                amount_fen=trade.amount_fen,
                device_id=request.risk.device_id,
                second_factor=verified,
            )
            posting = plan_movement(
                posting_id=uuid.uuid4().hex,
                kind=PostingKind.TRADE_PAYMENT,
                from_account_id=buyer_id,
                to_account_id=ESCROW_ACCOUNT_ID,
                amount_fen=trade.amount_fen,
                posted_at=now,
                memo=trade.description[:64],
            )
            await self._post(session, posting, reference=trade_id, known=(buyer,))
            await self._save_trade(session, trade, paid, "payment.trade.paid")
            return pb.PayTradeResponse(
                trade=trade_to_proto(paid), posting=posting_to_proto(posting)
            )

        async with self._risk_audit(), self._movement_scope(buyer_id):
            return await self._idempotency.run(
                self._client,
                scope="pay-trade",
                request=request,
                response_type=pb.PayTradeResponse,
                operation=pay_trade,
            )

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
        decider = RefundDecider.MERCHANT if request.merchant_account_id else RefundDecider.PLATFORM

        async def decide(session: Session) -> pb.DecideTradeRefundResponse:
            if decider is RefundDecider.MERCHANT:
                trade = await self._trade_for(
                    session, trade_id, request.merchant_account_id, action
                )
            else:
                trade = await self._store.get_trade(trade_id, session)
                require_role(trade, action, TradeRole.PLATFORM)
            now = self._clock.now()
            decided = decide_refund(trade, approve=request.approve, decided_by=decider, now=now)
            response = pb.DecideTradeRefundResponse(trade=trade_to_proto(decided))
            refunded_fen = decided.refund_fen - trade.refund_fen
            if refunded_fen:
                posting = plan_movement(
                    posting_id=uuid.uuid4().hex,
                    kind=PostingKind.TRADE_REFUND,
                    from_account_id=ESCROW_ACCOUNT_ID,
                    to_account_id=trade.buyer_account_id,
                    amount_fen=refunded_fen,
                    posted_at=now,
                    memo=f"refund of trade {trade_id}",
                )
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
        page_size = request.page.page_size or STATEMENT_PAGE_SIZE_DEFAULT
        if not 1 <= page_size <= STATEMENT_PAGE_SIZE_MAX:
            raise InvalidArgument(f"page_size must be between 1 and {STATEMENT_PAGE_SIZE_MAX}")
        state = _STATE_FROM_PROTO.get(request.state)
        trades = await self._store.list_trades(
            account_id, state, page_size, _parse_page_token(request.page.page_token)
        )
        token = _page_token(trades[-1]) if len(trades) == page_size else ""
        return pb.ListTradesResponse(
            trades=[trade_to_proto(t) for t in trades],
            page=paging_pb2.PageInfo(next_page_token=token),
        )

    async def RunTradeJobs(
        self, request: pb.RunTradeJobsRequest, context: Context
    ) -> pb.RunTradeJobsResponse:
        try:
            business_date = datetime.strptime(request.business_date, "%Y-%m-%d").date()
        except ValueError:
            raise InvalidArgument(
                "business_date must be YYYY-MM-DD", reason="INVALID_BUSINESS_DATE"
            ) from None
        now = self._clock.now()
        if business_date > business_date_of(now):
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
        outcome = {"auto_confirmed": 0, "expired": 0, "skipped": 0}
        skipped: set[str] = set()
        for _ in range(TRADE_JOB_BATCHES_MAX):
            now = self._clock.now()
            due = await self._store.trades_due(
                "auto_confirm_at", TradeState.SHIPPED, now, TRADE_JOB_BATCH, skipped
            )
            for trade in due:
                if await self._job_step(trade, skipped, self._auto_confirm(trade.trade_id)):
                    outcome["auto_confirmed"] += 1
            if len(due) < TRADE_JOB_BATCH:
                break
        for _ in range(TRADE_JOB_BATCHES_MAX):
            now = self._clock.now()
            unpaid = await self._store.trades_due(
                "pay_by", TradeState.CREATED, now, TRADE_JOB_BATCH, skipped
            )
            for trade in unpaid:
                closing = self._transition(
                    trade.trade_id, "", TradeAction.EXPIRE, expire, "payment.trade.closed"
                )
                if await self._job_step(trade, skipped, closing):
                    outcome["expired"] += 1
            if len(unpaid) < TRADE_JOB_BATCH:
                break
        outcome["skipped"] = len(skipped)
        return outcome

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
        async def settle(session: Session) -> None:
            trade = await self._store.get_trade(trade_id, session)
            await self._settle(session, trade, auto_confirm)

        async with self._movement_scope(ESCROW_ACCOUNT_ID):
            await run_in_transaction(self._client, settle)

    async def _settle(
        self, session: Session, trade: Trade, transition: Transition
    ) -> tuple[Trade, Posting]:
        """Apply a settling transition and pay the escrowed money out, in one transaction."""
        now = self._clock.now()
        settled = transition(trade, now)
        posting = settlement_posting(settled, uuid.uuid4().hex, now)
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
            if account_id:
                trade = await self._trade_for(session, trade_id, account_id, action)
            else:
                trade = await self._store.get_trade(trade_id, session)
                require_role(trade, action, TradeRole.SYSTEM)
            after = transition(trade, self._clock.now())
            await self._save_trade(session, trade, after, event_type)
            return after

        return await run_in_transaction(self._client, apply)

    async def _trade_for(
        self, session: Session, trade_id: str, account_id: str, action: TradeAction
    ) -> Trade:
        """The trade, if account_id is a party allowed to take action (else NOT_FOUND/DENIED)."""
        trade = await self._store.get_trade(trade_id, session)
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
