"""Repayment (还款): a try/confirm/cancel around the ledger movement, and how it is applied.

A repayment is tried against what is owed today (reserved as pending so two concurrent
repayments cannot together exceed the payoff: overpayment is refused, never kept), the
gateway's saga moves the money into the account's ledger account, and the confirm applies
it by the waterfall (periods.py): the bills or loan periods oldest first, penalty → fee →
interest → principal within each. A Huabei repayment beyond its bills prepays the unbilled
purchases as credit for the next bill; an installment plan's early settlement repays exactly
its unbilled principal (their fees waived). docs/loans.md "Repayment".

    PENDING ──confirm──► APPLIED
       └──cancel──► CANCELLED   (a cancel before its try leaves a tombstone)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from chassis.errors import FailedPrecondition
from chassis.money import require_positive_amount
from services.loan.bills import Bill
from services.loan.cash_loans import CashLoan, due_periods, payoff_fen
from services.loan.huabei import HuabeiLine, require_id
from services.loan.installments import InstallmentPlan, PlanState
from services.loan.periods import NO_CHARGES, Charges, PeriodPayment, apply_waterfall, sum_paid


class RepaymentTarget(StrEnum):
    HUABEI = "huabei"
    INSTALLMENT_PLAN = "installment_plan"
    CASH_LOAN = "cash_loan"


class RepaymentState(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Repayment:
    repayment_id: str
    target: RepaymentTarget
    account_id: str
    borrower_id: str
    amount_fen: int
    state: RepaymentState
    ledger_account_id: str
    tried_at: datetime
    automatic: bool = False
    applied: Charges = NO_CHARGES
    credit_fen: int = 0
    payment_posting_id: str = ""
    applied_at: datetime | None = None
    applied_on: date | None = None
    days_overdue: int = 0
    cancelled_before_tried: bool = False


@dataclass(frozen=True, slots=True)
class Owed:
    """What an account owes on a day: due now, the payoff, and repayments in flight."""

    due: Charges
    payoff_fen: int
    pending_fen: int


def plan_repayment(
    *,
    repayment_id: str,
    target: RepaymentTarget,
    account_id: str,
    borrower_id: str,
    amount_fen: int,
    ledger_account_id: str,
    owed: Owed,
    automatic: bool,
    now: datetime,
) -> Repayment:
    """A PENDING repayment, if amount fits what is owed and not already being repaid."""
    require_positive_amount(amount_fen)
    room_fen = owed.payoff_fen - owed.pending_fen
    exact = target is RepaymentTarget.INSTALLMENT_PLAN
    if amount_fen > room_fen or (exact and amount_fen != room_fen):
        raise FailedPrecondition(
            f"{account_id} may be repaid {room_fen} fen today"
            + (" (exactly, to settle the plan early)" if exact else ""),
            reason="REPAYMENT_EXCEEDS_OWED",
            metadata={"payoff_fen": str(owed.payoff_fen), "pending_fen": str(owed.pending_fen)},
        )
    return Repayment(
        repayment_id=require_id(repayment_id, "repayment_id"),
        target=target,
        account_id=account_id,
        borrower_id=borrower_id,
        amount_fen=amount_fen,
        state=RepaymentState.PENDING,
        ledger_account_id=ledger_account_id,
        tried_at=now,
        automatic=automatic,
    )


def require_same_repayment(existing: Repayment, planned_account: str, amount_fen: int) -> None:
    if existing.state is RepaymentState.CANCELLED:
        raise repayment_cancelled(existing.repayment_id)
    if (existing.account_id, existing.amount_fen) != (planned_account, amount_fen):
        raise FailedPrecondition(
            f"repayment {existing.repayment_id} exists with other terms",
            reason="REPAYMENT_MISMATCH",
            metadata={"repayment_id": existing.repayment_id},
        )


def repayment_cancelled(repayment_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"repayment {repayment_id} was cancelled",
        reason="REPAYMENT_CANCELLED",
        metadata={"repayment_id": repayment_id},
    )


def require_confirmable(repayment: Repayment, posting_id: str) -> bool:
    """True when the confirm must apply it; False for a repeat of an applied one."""
    if repayment.state is RepaymentState.CANCELLED:
        raise repayment_cancelled(repayment.repayment_id)
    if repayment.state is RepaymentState.APPLIED:
        if repayment.payment_posting_id != posting_id:
            raise FailedPrecondition(
                f"repayment {repayment.repayment_id} was applied with another posting",
                reason="REPAYMENT_MISMATCH",
                metadata={"payment_posting_id": repayment.payment_posting_id},
            )
        return False
    require_id(posting_id, "payment_posting_id")
    return True


def mark_applied(
    repayment: Repayment,
    posting_id: str,
    payments: Sequence[PeriodPayment],
    *,
    extra: Charges,
    credit_fen: int,
    now: datetime,
    today: date,
) -> Repayment:
    """PENDING → APPLIED with how it was applied; asserts the waterfall conserved the amount."""
    applied = sum_paid(payments) + extra
    assert applied.total_fen + credit_fen == repayment.amount_fen, (
        f"repayment {repayment.repayment_id}: applied {applied} + credit {credit_fen} "
        f"!= {repayment.amount_fen}"
    )
    return replace(
        repayment,
        state=RepaymentState.APPLIED,
        applied=applied,
        credit_fen=credit_fen,
        payment_posting_id=posting_id,
        applied_at=now,
        applied_on=today,
        days_overdue=max((payment.days_overdue for payment in payments), default=0),
    )


def cancel_repayment(repayment: Repayment) -> Repayment:
    """PENDING → CANCELLED (a repeat is unchanged); an applied one cannot be."""
    if repayment.state is RepaymentState.APPLIED:
        raise FailedPrecondition(
            f"repayment {repayment.repayment_id} is applied",
            reason="REPAYMENT_ALREADY_APPLIED",
            metadata={"repayment_id": repayment.repayment_id},
        )
    return replace(repayment, state=RepaymentState.CANCELLED)


def cancel_tombstone(repayment_id: str, now: datetime) -> Repayment:
    """A cancel that arrived before its try: burns the id."""
    return Repayment(
        repayment_id=require_id(repayment_id, "repayment_id"),
        target=RepaymentTarget.HUABEI,
        account_id="",
        borrower_id="",
        amount_fen=0,
        state=RepaymentState.CANCELLED,
        ledger_account_id="",
        tried_at=now,
        cancelled_before_tried=True,
    )


def huabei_owed(
    bills: Sequence[Bill], unbilled_fen: int, line: HuabeiLine, day: date, pending_fen: int
) -> Owed:
    """Due: the unpaid of bills due by day. Payoff: every bill, plus the unbilled purchases
    (less credit) that may be prepaid."""
    due = NO_CHARGES
    for bill in bills:
        if bill.period.due_date <= day:
            due = due + bill.period.unpaid
    prepayable_fen = max(0, unbilled_fen - line.credit_fen)
    payoff_fen = sum(bill.period.unpaid.total_fen for bill in bills) + prepayable_fen
    return Owed(due, payoff_fen, pending_fen)


@dataclass(frozen=True, slots=True)
class HuabeiRepaid:
    line: HuabeiLine
    bills: list[Bill]
    payments: list[PeriodPayment]
    credit_fen: int


def repay_huabei(
    line: HuabeiLine, bills: Sequence[Bill], amount_fen: int, day: date
) -> HuabeiRepaid:
    """Apply amount to the bills (accrued to day) oldest first; the rest is prepaid credit.

    Principal repaid and credit both lower what the line has used.
    """
    by_id = {bill.bill_id: bill for bill in bills}
    periods, payments, credit_fen = apply_waterfall(
        [bill.period for bill in bills], amount_fen, day
    )
    paid_bills = [replace(by_id[period.period_id], period=period) for period in periods]
    principal_fen = sum_paid(payments).principal_fen
    repaid = replace(
        line,
        used_fen=line.used_fen - principal_fen - credit_fen,
        credit_fen=line.credit_fen + credit_fen,
    )
    return HuabeiRepaid(repaid, paid_bills, payments, credit_fen)


def cash_loan_owed(loan: CashLoan, day: date, pending_fen: int) -> Owed:
    """What a cash loan (accrued to day) owes: its due periods, and the payoff."""
    due = NO_CHARGES
    for period in due_periods(loan, day):
        due = due + period.unpaid
    return Owed(due, payoff_fen(loan, day), pending_fen)


def plan_owed(plan: InstallmentPlan, pending_fen: int) -> Owed:
    """An installment plan settles early for exactly its unbilled principal (fees waived)."""
    payoff = plan.unbilled_principal_fen if plan.state is PlanState.ACTIVE else 0
    return Owed(NO_CHARGES, payoff, pending_fen)
