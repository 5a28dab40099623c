"""Escrow trades in a batch (group commit): settlements and refund decisions, as jobs.

A settlement (the buyer's confirmation of receipt, or the trade job's auto-confirmation)
pays the escrowed money out in one posting: the merchant's net, less what its
withholding instructions take (withholding.py: the trade's own first, then the
merchant-wide ones oldest first), and the fee. The batch read the merchants' active
instructions; an instruction applied by an earlier settlement of the batch is seen as
that settlement left it. A refund decision pays escrow back to the buyer. Each checks the
actor as rpc_trades.py's one-transaction path does (someone else's trade does not exist).

Escrow is a hot account: its debits draw from its sub-accounts, so settlements of one
process no longer wait on each other for the escrow account (they share transactions).

Pure: no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chassis.errors import NotFound, PermissionDenied
from services.payment.batch import Batch
from services.payment.batch_jobs import post, posting_event
from services.payment.batch_model import BatchJob, Done, JobReads
from services.payment.escrow import (
    ESCROW_ACCOUNT_ID,
    RefundDecider,
    Trade,
    TradeAction,
    TradeRole,
    decide_refund,
    party_role,
    require_role,
    settlement_split,
)
from services.payment.escrow_postings import settlement_posting, trade_refund_posting
from services.payment.ledger import PLATFORM_FEE_INCOME_ACCOUNT_ID, Posting
from services.payment.withholding import Withholding, WithholdingState, plan_withholding

Transition = Callable[[Trade, datetime], Trade]


def _trade_for(
    batch: Batch,
    trade_id: str,
    account_id: str,
    action: TradeAction | None,
    role_without_account: TradeRole,
) -> Trade:
    """The trade, if the actor may take the action (rpc_trades.TradesRpc._trade_for)."""
    trade = batch.trades.get(trade_id)
    if trade is None:
        raise NotFound(f"trade {trade_id} does not exist", metadata={"trade_id": trade_id})
    if action is None:
        return trade  # the trade job: the transition itself says whether it may
    if not account_id:
        require_role(trade, action, role_without_account)
        return trade
    try:
        role = party_role(trade, account_id)
    except PermissionDenied:
        # Someone else's trade: say it does not exist rather than confirm that it does.
        raise NotFound(f"trade {trade_id} does not exist") from None
    require_role(trade, action, role)
    return trade


def _save_trade(batch: Batch, after: Trade) -> None:
    before = batch.trades[after.trade_id]
    first_read = batch.decision.trades.get(after.trade_id, (before, before))[0]
    batch.decision.trades[after.trade_id] = (first_read, after)
    batch.trades[after.trade_id] = after


def _instructions(batch: Batch, merchant_id: str, trade_id: str) -> list[Withholding]:
    """The merchant's active instructions this settlement may apply, as the batch has them."""
    found = []
    for withholding_id, read in batch.view.withholdings.items():
        changed = batch.decision.withholdings.get(withholding_id)
        now = changed[1] if changed is not None else read
        if (
            now.merchant_account_id == merchant_id
            and now.state is WithholdingState.ACTIVE
            and now.trade_id in ("", trade_id)
        ):
            found.append(now)
    return found


@dataclass(slots=True)
class SettleTradeJob(BatchJob):
    """A settling transition (confirm_receipt, auto_confirm) and its payout."""

    trade_id: str
    account_id: str  # the buyer confirming; "" for the trade job
    action: TradeAction | None  # None: the trade job (its transition checks the trade)
    transition: Transition
    record_id: str = ""
    fingerprint: str = ""
    idempotency_key: str = ""

    def reads(self) -> JobReads:
        return JobReads(
            account_ids=(ESCROW_ACCOUNT_ID, PLATFORM_FEE_INCOME_ACCOUNT_ID),
            trade_ids=(self.trade_id,),
            settles_trades=True,
        )

    def decide(self, batch: Batch, index: int) -> Done:
        trade = _trade_for(batch, self.trade_id, self.account_id, self.action, TradeRole.SYSTEM)
        settled = self.transition(trade, batch.now)
        posting_id = uuid.uuid4().hex
        changed, withheld = plan_withholding(
            trade.trade_id,
            settlement_split(settled).merchant_fen,
            _instructions(batch, trade.merchant_account_id, trade.trade_id),
            batch.now,
            posting_id,
        )
        posting = settlement_posting(settled, posting_id, batch.now, withheld)
        post(batch, posting, trade.trade_id)
        for after in changed:
            read = batch.view.withholdings[after.withholding_id]
            first = batch.decision.withholdings.get(after.withholding_id, (read, read))[0]
            batch.decision.withholdings[after.withholding_id] = (first, after)
        _save_trade(batch, settled)
        event = ("payment.trade.settled", settled.trade_id, settled, batch.now)
        return Done((settled, posting), (posting_event(posting), event))


@dataclass(slots=True)
class DecideRefundJob(BatchJob):
    """DecideTradeRefund: the merchant's (or, with no merchant, the platform's) decision."""

    trade_id: str
    merchant_account_id: str
    approve: bool
    record_id: str = ""
    fingerprint: str = ""
    idempotency_key: str = ""

    def reads(self) -> JobReads:
        return JobReads(account_ids=(ESCROW_ACCOUNT_ID,), trade_ids=(self.trade_id,))

    def decide(self, batch: Batch, index: int) -> Done:
        action = TradeAction.APPROVE_REFUND if self.approve else TradeAction.REJECT_REFUND
        merchant_id = self.merchant_account_id
        trade = _trade_for(batch, self.trade_id, merchant_id, action, TradeRole.PLATFORM)
        decider = RefundDecider.MERCHANT if merchant_id else RefundDecider.PLATFORM
        decided = decide_refund(trade, approve=self.approve, decided_by=decider, now=batch.now)
        posting: Posting | None = trade_refund_posting(trade, decided, uuid.uuid4().hex, batch.now)
        events = []
        if posting is not None:
            post(batch, posting, trade.trade_id)
            events.append(posting_event(posting))
        _save_trade(batch, decided)
        events.append(("payment.trade.refund_decided", decided.trade_id, decided, batch.now))
        return Done((decided, posting), tuple(events))
