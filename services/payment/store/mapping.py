"""Document ⇄ domain mapping for the payment store (the only place documents are shaped)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import TypeVar

from chassis.mongo import Document
from services.payment.activity import Activity
from services.payment.escrow import RefundDecider, SettledBy, Trade, TradeState
from services.payment.holds import Hold, HoldState
from services.payment.ledger import Account, AccountKind, AccountStatus, Entry, Posting, PostingKind
from services.payment.payment_authorization import PaymentAuthorization
from services.payment.payment_code import PaymentCode
from services.payment.payment_password import PasswordRecord, PasswordState, TryReservation
from services.payment.risk import PaymentKind, RiskAction
from services.payment.screening import RiskDecisionRecord
from services.payment.statement import StatementEntry

_E = TypeVar("_E", bound=StrEnum)


def _optional(enum: type[_E], value: str | None) -> _E | None:
    return enum(value) if value else None


def account_from_document(document: Document) -> Account:
    return Account(
        account_id=document["_id"],
        kind=AccountKind(document["kind"]),
        status=AccountStatus(document["status"]),
        display_name=document["display_name"],
        owner_ref=document.get("owner_ref", ""),
        phone=document.get("phone", ""),
        resident_id_masked=document.get("resident_id_masked", ""),
        balance_fen=document["balance_fen"],
        held_fen=document.get("held_fen", 0),
        opened_at=document.get("opened_at"),
        hot_shards=document.get("hot_shards", 0),
        kyc_level=document.get("kyc_level", 1),
        payment_password_set=document.get("payment_password_set", False),
        activity=activity_from_document(document.get("activity")),
        credit_listings=tuple(document.get("credit_listings", ())),
    )


def new_account_document(account: Account) -> Document:
    """A newly opened account; owner_key and phone_key make owner and phone unique per kind."""
    return {
        "_id": account.account_id,
        "kind": account.kind.value,
        "status": account.status.value,
        "display_name": account.display_name,
        "owner_ref": account.owner_ref,
        "owner_key": f"{account.kind.value}:{account.owner_ref}",
        "phone": account.phone,
        "phone_key": f"{account.kind.value}:{account.phone}",
        "resident_id_masked": account.resident_id_masked,
        "balance_fen": 0,
        "held_fen": 0,
        "sequence": 0,
        "hot_shards": 0,
        "kyc_level": account.kyc_level,
        "opened_at": account.opened_at,
    }


def activity_from_document(document: Document | None) -> Activity:
    if not document:
        return Activity()
    day = document.get("business_date")
    return Activity(
        window_started_at=document.get("window_started_at"),
        window_count=document.get("window_count", 0),
        window_amount_fen=document.get("window_amount_fen", 0),
        business_date=date.fromisoformat(day) if day else None,
        day_amount_fen=document.get("day_amount_fen", 0),
        payees=tuple(document.get("payees", ())),
        devices=tuple(document.get("devices", ())),
    )


def activity_to_document(activity: Activity) -> Document:
    return {
        "window_started_at": activity.window_started_at,
        "window_count": activity.window_count,
        "window_amount_fen": activity.window_amount_fen,
        "business_date": activity.business_date.isoformat() if activity.business_date else None,
        "day_amount_fen": activity.day_amount_fen,
        "payees": list(activity.payees),
        "devices": list(activity.devices),
    }


def posting_from_document(document: Document) -> Posting:
    return Posting(
        posting_id=document["_id"],
        kind=PostingKind(document["kind"]),
        entries=tuple(Entry(e["account_id"], e["amount_fen"]) for e in document["entries"]),
        posted_at=document["posted_at"],
        memo=document.get("memo", ""),
        metadata=document.get("metadata", {}),
    )


def posting_to_document(posting: Posting, reference: str) -> Document:
    return {
        "_id": posting.posting_id,
        "kind": posting.kind.value,
        "entries": [
            {"account_id": e.account_id, "amount_fen": e.amount_fen} for e in posting.entries
        ],
        "memo": posting.memo,
        "reference": reference,
        "metadata": dict(posting.metadata),
        "posted_at": posting.posted_at,
    }


def statement_entry_from_document(document: Document) -> StatementEntry:
    return StatementEntry(
        entry_id=document["_id"],
        posting_id=document["posting_id"],
        kind=PostingKind(document["kind"]),
        amount_fen=document["amount_fen"],
        balance_after_fen=document.get("balance_after_fen"),
        counterpart_account_id=document.get("counterpart_account_id", ""),
        counterpart_name=document.get("counterpart_name", ""),
        memo=document.get("memo", ""),
        posted_at=document["posted_at"],
        sequence=document["statement_key"],
        reference=document.get("reference", ""),
    )


def hold_from_document(document: Document) -> Hold:
    return Hold(
        hold_id=document["_id"],
        account_id=document["account_id"],
        amount_fen=document["amount_fen"],
        state=HoldState(document["state"]),
        created_at=document["created_at"],
        expires_at=document["expires_at"],
        memo=document.get("memo", ""),
        captured_fen=document.get("captured_fen", 0),
        credit_account_id=document.get("credit_account_id", ""),
        posting_id=document.get("posting_id", ""),
        voided_before_created=document.get("voided_before_created", False),
        closed_at=document.get("closed_at"),
    )


def hold_to_document(hold: Hold) -> Document:
    return {
        "_id": hold.hold_id,
        "account_id": hold.account_id,
        "amount_fen": hold.amount_fen,
        "state": hold.state.value,
        "created_at": hold.created_at,
        "expires_at": hold.expires_at,
        "memo": hold.memo,
        "captured_fen": hold.captured_fen,
        "credit_account_id": hold.credit_account_id,
        "posting_id": hold.posting_id,
        "voided_before_created": hold.voided_before_created,
        "closed_at": hold.closed_at,
    }


def trade_from_document(document: Document) -> Trade:
    return Trade(
        trade_id=document["_id"],
        merchant_account_id=document["merchant_account_id"],
        buyer_account_id=document["buyer_account_id"],
        amount_fen=document["amount_fen"],
        description=document["description"],
        state=TradeState(document["state"]),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        pay_by=document["pay_by"],
        paid_at=document.get("paid_at"),
        shipped_at=document.get("shipped_at"),
        auto_confirm_at=document.get("auto_confirm_at"),
        refund_fen=document.get("refund_fen", 0),
        refund_requests_count=document.get("refund_requests_count", 0),
        refund_requested_fen=document.get("refund_requested_fen", 0),
        refund_reason=document.get("refund_reason", ""),
        refund_requested_at=document.get("refund_requested_at"),
        state_before_refund=_optional(TradeState, document.get("state_before_refund")),
        refund_decided_by=_optional(RefundDecider, document.get("refund_decided_by")),
        settled_by=_optional(SettledBy, document.get("settled_by")),
        finished_at=document.get("finished_at"),
    )


def trade_to_document(trade: Trade) -> Document:
    return {
        "_id": trade.trade_id,
        "merchant_account_id": trade.merchant_account_id,
        "buyer_account_id": trade.buyer_account_id,
        "amount_fen": trade.amount_fen,
        "description": trade.description,
        "state": trade.state.value,
        "created_at": trade.created_at,
        "updated_at": trade.updated_at,
        "pay_by": trade.pay_by,
        "paid_at": trade.paid_at,
        "shipped_at": trade.shipped_at,
        "auto_confirm_at": trade.auto_confirm_at,
        "refund_fen": trade.refund_fen,
        "refund_requests_count": trade.refund_requests_count,
        "refund_requested_fen": trade.refund_requested_fen,
        "refund_reason": trade.refund_reason,
        "refund_requested_at": trade.refund_requested_at,
        "state_before_refund": trade.state_before_refund.value
        if trade.state_before_refund
        else None,
        "refund_decided_by": trade.refund_decided_by.value if trade.refund_decided_by else None,
        "settled_by": trade.settled_by.value if trade.settled_by else None,
        "finished_at": trade.finished_at,
        # What the trade holds in escrow now: the reconciliation figure of `make audit`.
        "escrow_held_fen": trade.escrow_held_fen,
    }


def risk_decision_from_document(document: Document) -> RiskDecisionRecord:
    return RiskDecisionRecord(
        decision_id=document["_id"],
        payer_account_id=document["payer_account_id"],
        payee_account_id=document["payee_account_id"],
        payment_kind=PaymentKind(document["payment_kind"]),
        amount_fen=document["amount_fen"],
        action=RiskAction(document["action"]),
        rule_ids=tuple(document["rule_ids"]),
        reasons=tuple(document["reasons"]),
        device_id=document.get("device_id", ""),
        decided_at=document["decided_at"],
        proceeded=document["proceeded"],
    )


def risk_decision_to_document(record: RiskDecisionRecord) -> Document:
    return {
        "_id": record.decision_id,
        "payer_account_id": record.payer_account_id,
        "payee_account_id": record.payee_account_id,
        "payment_kind": record.payment_kind.value,
        "amount_fen": record.amount_fen,
        "action": record.action.value,
        "rule_ids": list(record.rule_ids),
        "reasons": list(record.reasons),
        "device_id": record.device_id,
        "decided_at": record.decided_at,
        "proceeded": record.proceeded,
    }


def password_record_from_document(document: Document) -> PasswordRecord:
    return PasswordRecord(
        password_hash=document["password_hash"],
        state=password_state_from_document(document),
    )


def password_state_from_document(document: Document) -> PasswordState:
    return PasswordState(
        failed_attempts=document.get("failed_attempts", 0),
        locked_until=document.get("locked_until"),
        tries_in_flight=tuple(
            TryReservation(try_["token"], try_["reserved_at"])
            for try_ in document.get("tries_in_flight", ())
        ),
    )


def password_state_to_document(state: PasswordState) -> Document:
    return {
        "failed_attempts": state.failed_attempts,
        "locked_until": state.locked_until,
        "tries_in_flight": [
            {"token": try_.token, "reserved_at": try_.reserved_at} for try_ in state.tries_in_flight
        ],
    }


def authorization_to_document(authorization: PaymentAuthorization) -> Document:
    return {
        "_id": authorization.digest,
        "account_id": authorization.account_id,
        "amount_fen": authorization.amount_fen,
        "issued_at": authorization.issued_at,
        "expires_at": authorization.expires_at,
        "used_at": None,
    }


def payment_code_from_document(document: Document) -> PaymentCode:
    return PaymentCode(
        code_digest=document["_id"],
        account_id=document["account_id"],
        issued_at=document["issued_at"],
        expires_at=document["expires_at"],
        used_at=document.get("used_at"),
    )


def payment_code_to_document(code: PaymentCode) -> Document:
    return {
        "_id": code.code_digest,
        "account_id": code.account_id,
        "issued_at": code.issued_at,
        "expires_at": code.expires_at,
        "used_at": None,
    }
