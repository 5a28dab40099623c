"""Proto ⇄ domain conversions of the payment service (the wire format, in one place)."""

from __future__ import annotations

from chassis.wire import money_to_proto, timestamp_to_proto
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bills import Biller
from services.payment.escrow import Trade, TradeState, settlement_split
from services.payment.holds import (
    Hold,
    HoldState,
)
from services.payment.identity import resident_id_hash
from services.payment.ledger import (
    Account,
    AccountKind,
    AccountStatus,
    Posting,
)
from services.payment.screening import RiskDecisionRecord
from services.payment.statement import StatementEntry

_KIND_TO_PROTO = {
    AccountKind.PERSONAL: pb.ACCOUNT_KIND_PERSONAL,
    AccountKind.MERCHANT: pb.ACCOUNT_KIND_MERCHANT,
    AccountKind.PLATFORM: pb.ACCOUNT_KIND_PLATFORM,
    AccountKind.EXTERNAL: pb.ACCOUNT_KIND_EXTERNAL,
}
_STATUS_TO_PROTO = {
    AccountStatus.ACTIVE: pb.ACCOUNT_STATUS_ACTIVE,
    AccountStatus.FROZEN: pb.ACCOUNT_STATUS_FROZEN,
    AccountStatus.CLOSED: pb.ACCOUNT_STATUS_CLOSED,
}


def account_to_proto(account: Account) -> pb.Account:
    return pb.Account(
        account_id=account.account_id,
        kind=_KIND_TO_PROTO[account.kind],
        status=_STATUS_TO_PROTO[account.status],
        display_name=account.display_name,
        phone=account.phone,
        resident_id_masked=account.resident_id_masked,
        owner_ref=account.owner_ref,
        balance=money_to_proto(account.balance_fen),
        available=money_to_proto(account.available_fen),
        opened_at=timestamp_to_proto(account.opened_at),
        hot_shards=account.hot_shards,
        kyc_level=account.kyc_level,
        payment_password_set=account.payment_password_set,
        dishonest_debtor=account.dishonest_debtor,
    )


def account_opened_event(opened: pb.Account, resident_id: str | None) -> pb.Account:
    """The payload of payment.account.opened: the account, and for a person the hash by which
    lists of people (the credit service's blacklist) name them."""
    event = pb.Account()
    event.CopyFrom(opened)
    if resident_id is not None:
        event.resident_id_hash = resident_id_hash(resident_id)
    return event


def posting_to_proto(posting: Posting) -> pb.Posting:
    return pb.Posting(
        posting_id=posting.posting_id,
        kind=posting.kind.value,
        entries=[
            pb.PostingEntry(account_id=e.account_id, amount=money_to_proto(e.amount_fen))
            for e in posting.entries
        ],
        memo=posting.memo,
        posted_at=timestamp_to_proto(posting.posted_at),
    )


def statement_entry_to_proto(entry: StatementEntry) -> pb.StatementEntry:
    line = pb.StatementEntry(
        entry_id=entry.entry_id,
        posting_id=entry.posting_id,
        kind=entry.kind.value,
        amount=money_to_proto(entry.amount_fen),
        counterpart_account_id=entry.counterpart_account_id,
        counterpart_name=entry.counterpart_name,
        memo=entry.memo,
        posted_at=timestamp_to_proto(entry.posted_at),
        has_balance_after=entry.balance_after_fen is not None,
        reference=entry.reference,
    )
    if entry.balance_after_fen is not None:
        line.balance_after.CopyFrom(money_to_proto(entry.balance_after_fen))
    return line


_HOLD_STATE_TO_PROTO = {
    HoldState.HELD: pb.HOLD_STATE_HELD,
    HoldState.CAPTURED: pb.HOLD_STATE_CAPTURED,
    HoldState.VOIDED: pb.HOLD_STATE_VOIDED,
    HoldState.EXPIRED: pb.HOLD_STATE_EXPIRED,
}


def hold_to_proto(hold: Hold) -> pb.Hold:
    return pb.Hold(
        hold_id=hold.hold_id,
        account_id=hold.account_id,
        amount=money_to_proto(hold.amount_fen),
        state=_HOLD_STATE_TO_PROTO[hold.state],
        created_at=timestamp_to_proto(hold.created_at),
        expires_at=timestamp_to_proto(hold.expires_at),
        captured_amount=money_to_proto(hold.captured_fen),
        credit_account_id=hold.credit_account_id,
        posting_id=hold.posting_id,
        memo=hold.memo,
        voided_before_created=hold.voided_before_created,
    )


_TRADE_STATE_TO_PROTO = {
    TradeState.CREATED: pb.TRADE_STATE_CREATED,
    TradeState.CLOSED: pb.TRADE_STATE_CLOSED,
    TradeState.PAID: pb.TRADE_STATE_PAID,
    TradeState.SHIPPED: pb.TRADE_STATE_SHIPPED,
    TradeState.REFUND_REQUESTED: pb.TRADE_STATE_REFUND_REQUESTED,
    TradeState.SETTLED: pb.TRADE_STATE_SETTLED,
    TradeState.REFUNDED: pb.TRADE_STATE_REFUNDED,
}


_TRADE_STATE_FROM_PROTO = {proto: state for state, proto in _TRADE_STATE_TO_PROTO.items()}


def trade_state_from_proto(state: pb.TradeState.ValueType) -> TradeState | None:
    """The trade state a list filter asks for (None: any state)."""
    return _TRADE_STATE_FROM_PROTO.get(state)


def trade_to_proto(trade: Trade) -> pb.Trade:
    message = pb.Trade(
        trade_id=trade.trade_id,
        merchant_account_id=trade.merchant_account_id,
        buyer_account_id=trade.buyer_account_id,
        amount=money_to_proto(trade.amount_fen),
        description=trade.description,
        state=_TRADE_STATE_TO_PROTO[trade.state],
        created_at=timestamp_to_proto(trade.created_at),
        pay_by=timestamp_to_proto(trade.pay_by),
        refunded=money_to_proto(trade.refund_fen),
        refund_requested=money_to_proto(
            trade.refund_requested_fen if trade.state is TradeState.REFUND_REQUESTED else 0
        ),
        refund_reason=trade.refund_reason,
        in_escrow=money_to_proto(trade.escrow_held_fen),
        settled_by=trade.settled_by.value if trade.settled_by else "",
    )
    for field, moment in (
        ("paid_at", trade.paid_at),
        ("shipped_at", trade.shipped_at),
        ("auto_confirm_at", trade.auto_confirm_at),
        ("finished_at", trade.finished_at),
    ):
        if moment is not None:
            getattr(message, field).CopyFrom(timestamp_to_proto(moment))
    if trade.state is TradeState.SETTLED:
        split = settlement_split(trade)
        message.merchant_settled.CopyFrom(money_to_proto(split.merchant_fen))
        message.acquiring_fee.CopyFrom(money_to_proto(split.fee_fen))
    return message


def biller_to_proto(biller: Biller) -> pb.Biller:
    return pb.Biller(
        biller_id=biller.biller_id,
        name=biller.name,
        category=biller.category.value,
        reference_hint=biller.reference_hint,
        merchant_account_id=biller.merchant_account_id,
    )


def risk_decision_to_proto(record: RiskDecisionRecord) -> pb.RiskDecisionRecord:
    return pb.RiskDecisionRecord(
        decision_id=record.decision_id,
        payer_account_id=record.payer_account_id,
        payee_account_id=record.payee_account_id,
        amount=money_to_proto(record.amount_fen),
        action=record.action.value,
        rule_ids=record.rule_ids,
        reasons=record.reasons,
        proceeded=record.proceeded,
        decided_at=timestamp_to_proto(record.decided_at),
        payment_kind=record.payment_kind.value,
    )
