"""Huabei (花呗): a person's credit line, and purchases drawn on it (DOMAIN.md §4).

The line comes from the credit service's advice: a higher advice raises it, a lower one
lowers only the unused part (never below what is used and reserved), and a blacklisted
person's line is frozen. A purchase is a reservation (try) that a saga captures (confirm)
or releases (cancel); the line document's guarded update makes two concurrent purchases
unable to exceed it. Refunds come back to the line.

Used = principal owed (unbilled purchases + unpaid bill principal + unbilled installment
principal) - credit (refunds and prepayments waiting for the next bill); available = line -
used - reserved.

    RESERVED ──capture──► CAPTURED
        └──release──► RELEASED   (a release before its reserve leaves a tombstone)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount
from services.loan.credit_advice import CreditAdvice
from services.loan.delinquency import Delinquency

HUABEI_LEDGER_ACCOUNT_ID = "platform:loan:huabei"
STATEMENT_DAY_DEFAULT = 1
REFUNDS_PER_PURCHASE_MAX = 50
ID_LENGTH_MAX = 200


def require_id(value: str, field: str) -> str:
    """A required id of usable length, else INVALID_ARGUMENT naming the field."""
    if not value or len(value) > ID_LENGTH_MAX:
        raise InvalidArgument(f"{field} is required", metadata={"field": field})
    return value


def huabei_account_id(borrower_id: str) -> str:
    """The credit account id of a Huabei line (the loan_id of its credit reports)."""
    return f"huabei:{borrower_id}"


@dataclass(frozen=True, slots=True)
class HuabeiLine:
    borrower_id: str
    line_fen: int
    advised_line_fen: int
    used_fen: int
    reserved_fen: int
    credit_fen: int
    frozen: bool
    frozen_reason: str
    statement_day: int
    advised_score: int
    advice_model_version: str
    delinquency: Delinquency
    updated_at: datetime
    # "LENDING_CAPACITY" while the line stands below the advice for want of capacity
    limited_reason: str = ""

    @property
    def available_fen(self) -> int:
        return max(0, self.line_fen - self.used_fen - self.reserved_fen)


def require_statement_day(day: int) -> int:
    """1..31, 0 meaning the default (the 1st)."""
    if day == 0:
        return STATEMENT_DAY_DEFAULT
    if not 1 <= day <= 31:
        raise InvalidArgument("statement_day must be 1..31", metadata={"field": "statement_day"})
    return day


def open_line(
    advice: CreditAdvice, statement_day: int, now: datetime, *, room_fen: int | None = None
) -> HuabeiLine:
    """A new line at the advised amount (frozen at once for a blacklisted person), at most
    room_fen (the lending capacity available) when given."""
    empty = HuabeiLine(
        borrower_id=advice.person_id,
        line_fen=0,
        advised_line_fen=0,
        used_fen=0,
        reserved_fen=0,
        credit_fen=0,
        frozen=False,
        frozen_reason="",
        statement_day=require_statement_day(statement_day),
        advised_score=0,
        advice_model_version="",
        delinquency=Delinquency(),
        updated_at=now,
    )
    return sync_line(empty, advice, now, room_fen=room_fen)


def sync_line(
    line: HuabeiLine, advice: CreditAdvice, now: datetime, *, room_fen: int | None = None
) -> HuabeiLine:
    """The line re-evaluated on new advice: max(advice, used + reserved); frozen if blacklisted.

    room_fen: the lending capacity available now (None: not limited). A line is a promise
    to lend its undrawn part, so a grant or raise is limited there: the line rises at most
    to used + reserved + room (never cut below what it already is); a line held below its
    advice says why (limited_reason LENDING_CAPACITY) and is raised by a later sync once
    capacity allows."""
    floor_fen = max(0, line.used_fen + line.reserved_fen)
    granted = max(advice.huabei_line_fen, floor_fen)
    reason = ""
    if room_fen is not None:
        ceiling = max(line.line_fen, floor_fen + max(0, room_fen))
        if granted > ceiling:
            granted, reason = ceiling, "LENDING_CAPACITY"
    return replace(
        line,
        line_fen=granted,
        advised_line_fen=advice.huabei_line_fen,
        frozen=advice.blacklisted,
        frozen_reason=advice.refusal if advice.blacklisted else "",
        advised_score=advice.score,
        advice_model_version=advice.model_version,
        updated_at=now,
        limited_reason=reason,
    )


def require_purchasable(line: HuabeiLine, amount_fen: int) -> None:
    """Refuse a purchase the line cannot take now (the store's guard decides concurrency)."""
    if line.frozen:
        raise FailedPrecondition(
            f"the Huabei line of {line.borrower_id} is frozen",
            reason="HUABEI_LINE_FROZEN",
            metadata={"borrower_id": line.borrower_id, "frozen_reason": line.frozen_reason},
        )
    if line.delinquency.days_overdue > 0:
        raise FailedPrecondition(
            f"{line.borrower_id} has Huabei bills past due",
            reason="LOAN_OVERDUE",
            metadata={"days_overdue": str(line.delinquency.days_overdue)},
        )
    if amount_fen > line.available_fen:
        raise line_exceeded(line.borrower_id, amount_fen, line.available_fen)


def line_exceeded(borrower_id: str, amount_fen: int, available_fen: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"the Huabei line has {available_fen} fen available, {amount_fen} fen needed",
        reason="HUABEI_LINE_EXCEEDED",
        metadata={
            "borrower_id": borrower_id,
            "needed_fen": str(amount_fen),
            "available_fen": str(available_fen),
        },
    )


class PurchaseState(StrEnum):
    RESERVED = "reserved"
    CAPTURED = "captured"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class HuabeiPurchase:
    purchase_id: str
    borrower_id: str
    state: PurchaseState
    amount_fen: int
    merchant_id: str
    reference: str
    reserved_at: datetime
    refunded_fen: int = 0
    refund_ids: tuple[str, ...] = ()
    captured_at: datetime | None = None
    captured_on: date | None = None
    payment_posting_id: str = ""
    bill_id: str = ""
    installment_plan_id: str = ""
    released_before_reserved: bool = False

    @property
    def net_fen(self) -> int:
        """What is left of the purchase after refunds."""
        return self.amount_fen - self.refunded_fen

    @property
    def is_unbilled(self) -> bool:
        return (
            self.state is PurchaseState.CAPTURED
            and not self.bill_id
            and not self.installment_plan_id
        )


def plan_reservation(
    purchase_id: str,
    borrower_id: str,
    amount_fen: int,
    *,
    merchant_id: str,
    reference: str,
    now: datetime,
) -> HuabeiPurchase:
    return HuabeiPurchase(
        purchase_id=require_id(purchase_id, "reservation_id"),
        borrower_id=require_id(borrower_id, "borrower_id"),
        state=PurchaseState.RESERVED,
        amount_fen=require_positive_amount(amount_fen),
        merchant_id=merchant_id,
        reference=reference,
        reserved_at=now,
    )


def require_same_reservation(existing: HuabeiPurchase, planned: HuabeiPurchase) -> None:
    """A reserve replayed under another key must name the same terms; a tombstone refuses."""
    if existing.state is PurchaseState.RELEASED:
        raise FailedPrecondition(
            f"reservation {existing.purchase_id} was released",
            reason="HUABEI_RESERVATION_RELEASED",
            metadata={"reservation_id": existing.purchase_id},
        )
    if (existing.borrower_id, existing.amount_fen) != (planned.borrower_id, planned.amount_fen):
        raise FailedPrecondition(
            f"reservation {existing.purchase_id} exists with other terms",
            reason="HUABEI_RESERVATION_MISMATCH",
            metadata={"reservation_id": existing.purchase_id},
        )


def capture(
    purchase: HuabeiPurchase, posting_id: str, now: datetime, today: date
) -> HuabeiPurchase:
    """RESERVED → CAPTURED with its posting; a repeat with the same posting is unchanged."""
    if purchase.state is PurchaseState.CAPTURED:
        if purchase.payment_posting_id != posting_id:
            raise FailedPrecondition(
                f"reservation {purchase.purchase_id} was captured by another posting",
                reason="HUABEI_RESERVATION_MISMATCH",
                metadata={"payment_posting_id": purchase.payment_posting_id},
            )
        return purchase
    if purchase.state is PurchaseState.RELEASED:
        raise FailedPrecondition(
            f"reservation {purchase.purchase_id} was released",
            reason="HUABEI_RESERVATION_RELEASED",
            metadata={"reservation_id": purchase.purchase_id},
        )
    return replace(
        purchase,
        state=PurchaseState.CAPTURED,
        captured_at=now,
        captured_on=today,
        payment_posting_id=require_id(posting_id, "payment_posting_id"),
    )


def release(purchase: HuabeiPurchase) -> HuabeiPurchase:
    """RESERVED → RELEASED (a repeat is unchanged); a captured purchase is refunded instead."""
    if purchase.state is PurchaseState.CAPTURED:
        raise FailedPrecondition(
            f"reservation {purchase.purchase_id} is captured; refund it instead",
            reason="ILLEGAL_TRANSITION",
            metadata={"state": purchase.state.value},
        )
    return replace(purchase, state=PurchaseState.RELEASED)


def release_tombstone(purchase_id: str, borrower_id: str, now: datetime) -> HuabeiPurchase:
    """A release that arrived before its reserve: burns the id."""
    return HuabeiPurchase(
        purchase_id=require_id(purchase_id, "reservation_id"),
        borrower_id=require_id(borrower_id, "borrower_id"),
        state=PurchaseState.RELEASED,
        amount_fen=0,
        merchant_id="",
        reference="",
        reserved_at=now,
        released_before_reserved=True,
    )


def refund_purchase(purchase: HuabeiPurchase, refund_id: str, amount_fen: int) -> HuabeiPurchase:
    """Record a refund of part or all of a captured purchase.

    Where it goes is the caller's (rpc_huabei): an unbilled purchase simply owes less; a
    billed one lowers its bill's unpaid principal (or, that bill paid, the latest open one),
    the rest becoming credit for the next bill; a purchase in installments keeps its plan
    (parts and fees as agreed) and the refund becomes credit netted against the next bill.
    """
    require_positive_amount(amount_fen)
    if purchase.state is not PurchaseState.CAPTURED:
        raise FailedPrecondition(
            f"purchase {purchase.purchase_id} is {purchase.state.value}, not captured",
            reason="ILLEGAL_TRANSITION",
            metadata={"state": purchase.state.value},
        )
    if amount_fen > purchase.net_fen or len(purchase.refund_ids) >= REFUNDS_PER_PURCHASE_MAX:
        raise FailedPrecondition(
            f"purchase {purchase.purchase_id} has {purchase.net_fen} fen left to refund",
            reason="REFUND_EXCEEDS_PURCHASE",
            metadata={"refundable_fen": str(purchase.net_fen)},
        )
    return replace(
        purchase,
        refunded_fen=purchase.refunded_fen + amount_fen,
        refund_ids=(*purchase.refund_ids, refund_id),
    )
