"""Huabei bills (花呗账单): what a statement date asks the borrower to pay.

A bill carries the captured purchases not yet billed (net of refunds), the installment parts
whose statement it is, less the line's credit (refunds and prepayments), netted against its
principal. It is due 10 days after the statement date; paid in full by then it costs
nothing more.

Minimum payment (最低还款额): 10% of the bill's non-installment principal, rounded up to the
fen, plus the installment parts (principal and fee) in full — never more than the bill. Paid
by the due date, the rest is extended to the next statement's due date (not late, not
reported) but accrues interest at 0.05% a day on the unpaid principal; otherwise the unpaid
rest is overdue from the day after the due date (penalty 0.05% a day). docs/loans.md "Bills".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_UP, Decimal
from enum import StrEnum

from chassis.errors import FailedPrecondition
from services.loan.huabei import HuabeiLine, HuabeiPurchase
from services.loan.installments import InstallmentPart
from services.loan.periods import Charges, Period, days_overdue
from services.loan.statements import due_date_of, extended_due_date_of

MINIMUM_PAYMENT_RATE = Decimal("0.10")


class BillState(StrEnum):
    OPEN = "open"
    EXTENDED = "extended"
    OVERDUE = "overdue"
    PAID = "paid"


def bill_id_of(borrower_id: str, statement_date: date) -> str:
    return f"{borrower_id}:{statement_date.isoformat()}"


@dataclass(frozen=True, slots=True)
class Bill:
    borrower_id: str
    statement_date: date
    period: Period
    purchases_fen: int
    installment_principal_fen: int
    credit_netted_fen: int
    purchase_ids: tuple[str, ...]
    installment_plan_id: str = ""

    @property
    def bill_id(self) -> str:
        return self.period.period_id

    def state_on(self, day: date) -> BillState:
        if self.period.is_paid:
            return BillState.PAID
        if days_overdue(self.period, day) > 0:
            return BillState.OVERDUE
        if day > self.period.due_date:
            return BillState.EXTENDED
        return BillState.OPEN

    @property
    def minimum_remaining_fen(self) -> int:
        return max(0, self.period.minimum_fen - self.period.paid.total_fen)


def minimum_payment_fen(principal_fen: int, installment_principal_fen: int, fee_fen: int) -> int:
    """10% of the non-installment principal (rounded up) + installment parts, capped at the bill."""
    revolving_fen = max(0, principal_fen - installment_principal_fen)
    tenth = (revolving_fen * MINIMUM_PAYMENT_RATE).to_integral_value(rounding=ROUND_UP)
    return min(principal_fen + fee_fen, int(tenth) + (principal_fen - revolving_fen) + fee_fen)


@dataclass(frozen=True, slots=True)
class BillIssue:
    """A statement's outcome: the bill (None when there was nothing to bill) and the line."""

    bill: Bill | None
    line: HuabeiLine


def issue_bill(
    line: HuabeiLine,
    statement_date: date,
    purchases: Sequence[HuabeiPurchase],
    parts: Sequence[tuple[str, InstallmentPart]],
) -> BillIssue:
    """The bill of statement_date from the unbilled purchases and the parts due by then."""
    if not purchases and not parts:
        return BillIssue(None, line)
    purchases_fen = sum(purchase.net_fen for purchase in purchases)
    installment_principal_fen = sum(part.principal_fen for _, part in parts)
    fee_fen = sum(part.fee_fen for _, part in parts)
    gross_fen = purchases_fen + installment_principal_fen
    netted_fen = min(line.credit_fen, gross_fen)
    principal_fen = gross_fen - netted_fen
    # Credit nets against the purchases first: installment parts stay whole.
    netted_from_installments = max(0, netted_fen - purchases_fen)
    period = Period(
        period_id=bill_id_of(line.borrower_id, statement_date),
        due_date=due_date_of(statement_date),
        charged=Charges(fee_fen=fee_fen, principal_fen=principal_fen),
        extended_due_date=extended_due_date_of(statement_date, line.statement_day),
        minimum_fen=minimum_payment_fen(
            principal_fen, installment_principal_fen - netted_from_installments, fee_fen
        ),
    )
    bill = Bill(
        borrower_id=line.borrower_id,
        statement_date=statement_date,
        period=period,
        purchases_fen=purchases_fen,
        installment_principal_fen=installment_principal_fen,
        credit_netted_fen=netted_fen,
        purchase_ids=tuple(purchase.purchase_id for purchase in purchases),
    )
    # Netting moves principal owed and credit down together: used is unchanged.
    return BillIssue(bill, replace(line, credit_fen=line.credit_fen - netted_fen))


def apply_refund_to_bill(bill: Bill, amount_fen: int) -> tuple[Bill, int]:
    """Reduce the bill's unpaid principal by up to amount_fen; returns it and what it took."""
    taken_fen = min(amount_fen, bill.period.unpaid.principal_fen)
    if taken_fen == 0:
        return bill, 0
    period = bill.period
    charged = replace(period.charged, principal_fen=period.charged.principal_fen - taken_fen)
    minimum_fen = min(period.minimum_fen, charged.total_fen)
    return replace(
        bill, period=replace(period, charged=charged, minimum_fen=minimum_fen)
    ), taken_fen


def convertible_principal_fen(bill: Bill) -> int:
    """The bill's principal that may become installments: its purchases, not its parts."""
    return max(0, bill.period.charged.principal_fen - bill.installment_principal_fen)


def convert_bill(bill: Bill, plan_id: str, today: date) -> tuple[Bill, int]:
    """Take the bill's purchase principal into an installment plan: the bill and the amount.

    Allowed up to the due date, on a bill with nothing paid and not converted before.
    """
    principal_fen = convertible_principal_fen(bill)
    refusal = ""
    if bill.installment_plan_id:
        refusal = "the bill was converted already"
    elif today > bill.period.due_date:
        refusal = "the bill is past its due date"
    elif bill.period.paid.total_fen > 0:
        refusal = "the bill is partly paid"
    elif principal_fen == 0:
        refusal = "the bill has no purchase principal to convert"
    if refusal:
        raise FailedPrecondition(
            f"bill {bill.bill_id}: {refusal}",
            reason="INSTALLMENT_NOT_ALLOWED",
            metadata={"bill_id": bill.bill_id},
        )
    period = bill.period
    charged = replace(period.charged, principal_fen=period.charged.principal_fen - principal_fen)
    minimum_fen = minimum_payment_fen(charged.principal_fen, charged.principal_fen, charged.fee_fen)
    converted = replace(
        bill,
        period=replace(period, charged=charged, minimum_fen=minimum_fen),
        installment_plan_id=plan_id,
    )
    return converted, principal_fen
