"""How ledger objects look in JSON responses (money, accounts, postings, statements).

Money is always ``{"amount_fen": 1234, "currency": "CNY", "yuan": "12.34"}``: integer fen
for machines, a yuan string for people, never a float. Times are RFC 3339 in UTC.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from chassis.money import CURRENCY_CNY, Money
from colony.common.v1 import money_pb2
from colony.payment.v1 import payment_pb2 as pb


def encode_json(payload: object) -> bytes:
    """Compact UTF-8 JSON; deterministic, so a stored body can be compared byte for byte."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(payload: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=encode_json(payload), content_type="application/json")


def money_json(money: Money) -> dict[str, Any]:
    return {"amount_fen": money.fen, "currency": money.currency, "yuan": money.to_yuan_string()}


def money_proto_json(amount: money_pb2.Money) -> dict[str, Any]:
    # An unset Money field (a trade's settlement before it settles) is zero, in CNY.
    return money_json(Money(amount.amount_fen, amount.currency or CURRENCY_CNY))


def money_to_proto(money: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=money.fen, currency=money.currency)


def timestamp_json(stamp: Timestamp) -> str:
    return stamp.ToDatetime(tzinfo=UTC).isoformat(timespec="milliseconds")


def optional_timestamp_json(stamp: Timestamp) -> str | None:
    """A timestamp that may be unset (a trade not yet paid): None when unset or zero."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return timestamp_json(stamp)


def wallet_json(account: pb.Account) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "balance": money_proto_json(account.balance),
        "available": money_proto_json(account.available),
        "in_escrow": money_proto_json(account.in_escrow),
        "kyc_level": account.kyc_level,
        "payment_password_set": account.payment_password_set,
    }


_TRADE_STATE_PREFIX = "TRADE_STATE_"
TRADE_STATE_NAMES = tuple(
    name.removeprefix(_TRADE_STATE_PREFIX).lower()
    for name in pb.TradeState.keys()  # noqa: SIM118 - a protobuf enum, not a dict
    if name != f"{_TRADE_STATE_PREFIX}UNSPECIFIED"
)


def trade_state_name(state: pb.TradeState.ValueType) -> str:
    """ "refund_requested" for TRADE_STATE_REFUND_REQUESTED: the names of DOMAIN.md."""
    return pb.TradeState.Name(state).removeprefix(_TRADE_STATE_PREFIX).lower()


def trade_state_value(name: str) -> pb.TradeState.ValueType:
    """The proto state of a name from TRADE_STATE_NAMES (the caller checked it is one)."""
    assert name in TRADE_STATE_NAMES, name
    return pb.TradeState.Value(_TRADE_STATE_PREFIX + name.upper())


def trade_json(trade: pb.Trade, *, merchant_view: bool) -> dict[str, Any]:
    """A trade as one of its parties sees it; unset times are left out.

    The merchant's side of the settlement (what they received, the acquiring fee) is shown
    only to the merchant.
    """
    payload: dict[str, Any] = {
        "trade_id": trade.trade_id,
        "merchant_account_id": trade.merchant_account_id,
        "buyer_account_id": trade.buyer_account_id,
        "amount": money_proto_json(trade.amount),
        "description": trade.description,
        "state": trade_state_name(trade.state),
        "in_escrow": money_proto_json(trade.in_escrow),
        "refunded": money_proto_json(trade.refunded),
        "refund_requested": money_proto_json(trade.refund_requested),
        "refund_reason": trade.refund_reason,
        "settled_by": trade.settled_by,
    }
    if merchant_view:
        payload["merchant_settled"] = money_proto_json(trade.merchant_settled)
        payload["acquiring_fee"] = money_proto_json(trade.acquiring_fee)
    for name, stamp in (
        ("created_at", trade.created_at),
        ("pay_by", trade.pay_by),
        ("paid_at", trade.paid_at),
        ("shipped_at", trade.shipped_at),
        ("auto_confirm_at", trade.auto_confirm_at),
        ("finished_at", trade.finished_at),
    ):
        moment = optional_timestamp_json(stamp)
        if moment is not None:
            payload[name] = moment
    return payload


def settlement_json(trade: pb.Trade) -> dict[str, Any]:
    """A settled trade as a line of the merchant's settlement list."""
    return {
        "trade_id": trade.trade_id,
        "buyer_account_id": trade.buyer_account_id,
        "description": trade.description,
        "amount": money_proto_json(trade.amount),
        "refunded": money_proto_json(trade.refunded),
        "merchant_settled": money_proto_json(trade.merchant_settled),
        "acquiring_fee": money_proto_json(trade.acquiring_fee),
        "settled_by": trade.settled_by,
        "finished_at": optional_timestamp_json(trade.finished_at) or "",
    }


def biller_json(biller: pb.Biller) -> dict[str, Any]:
    return {
        "biller_id": biller.biller_id,
        "name": biller.name,
        "category": biller.category,
        "reference_hint": biller.reference_hint,
    }


def risk_decision_json(decision: pb.RiskDecisionRecord) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id,
        "payer_account_id": decision.payer_account_id,
        "payee_account_id": decision.payee_account_id,
        "amount": money_proto_json(decision.amount),
        "payment_kind": decision.payment_kind,
        "action": decision.action,
        "rule_ids": list(decision.rule_ids),
        "reasons": list(decision.reasons),
        "proceeded": decision.proceeded,
        "decided_at": timestamp_json(decision.decided_at),
    }


def movement_json(posting: pb.Posting, amount: Money, account: pb.Account) -> dict[str, Any]:
    """A posting as the account holder sees it, with their balances right after it."""
    counterpart_account_ids = [
        entry.account_id for entry in posting.entries if entry.account_id != account.account_id
    ]
    return {
        "posting_id": posting.posting_id,
        "kind": posting.kind,
        "amount": money_json(amount),
        "counterpart_account_id": counterpart_account_ids[0] if counterpart_account_ids else "",
        "memo": posting.memo,
        "posted_at": timestamp_json(posting.posted_at),
        "balance": money_proto_json(account.balance),
        "available": money_proto_json(account.available),
    }


def statement_entry_json(entry: pb.StatementEntry) -> dict[str, Any]:
    line = {
        "entry_id": entry.entry_id,
        "posting_id": entry.posting_id,
        "kind": entry.kind,
        "amount": money_proto_json(entry.amount),
        "counterpart_account_id": entry.counterpart_account_id,
        "counterpart_name": entry.counterpart_name,
        "memo": entry.memo,
        "reference": entry.reference,
        "posted_at": timestamp_json(entry.posted_at),
    }
    if entry.has_balance_after:
        line["balance_after"] = money_proto_json(entry.balance_after)
    return line
