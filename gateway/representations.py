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

from chassis.money import Money
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
    return money_json(Money(amount.amount_fen, amount.currency))


def money_to_proto(money: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=money.fen, currency=money.currency)


def timestamp_json(stamp: Timestamp) -> str:
    return stamp.ToDatetime(tzinfo=UTC).isoformat(timespec="milliseconds")


def wallet_json(account: pb.Account) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "balance": money_proto_json(account.balance),
        "available": money_proto_json(account.available),
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
    return {
        "entry_id": entry.entry_id,
        "posting_id": entry.posting_id,
        "kind": entry.kind,
        "amount": money_proto_json(entry.amount),
        "balance_after": money_proto_json(entry.balance_after),
        "counterpart_account_id": entry.counterpart_account_id,
        "counterpart_name": entry.counterpart_name,
        "memo": entry.memo,
        "posted_at": timestamp_json(entry.posted_at),
    }
