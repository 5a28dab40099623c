"""Documents ⇄ domain objects for every loan collection (the store modules' one mapping).

Dates are ISO strings (they sort), exact accruals decimal strings (no float ever), money
integer fen. Fields the queries filter on (bucket, paid, state, outstanding principal) are
denormalised beside the domain fields.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from chassis.mongo import Document
from services.loan.bills import Bill
from services.loan.cash_loans import CashLoan, CashLoanState, DeclineReason, RepaymentMethod
from services.loan.delinquency import Bucket, Delinquency
from services.loan.huabei import HuabeiLine, HuabeiPurchase, PurchaseState
from services.loan.installments import InstallmentPart, InstallmentPlan, PlanState
from services.loan.periods import Charges, Period
from services.loan.repayments import Repayment, RepaymentState, RepaymentTarget


def day_text(day: date | None) -> str | None:
    return day.isoformat() if day else None


def day_of(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def charges_to_document(charges: Charges) -> Document:
    return {
        "penalty_fen": charges.penalty_fen,
        "fee_fen": charges.fee_fen,
        "interest_fen": charges.interest_fen,
        "principal_fen": charges.principal_fen,
    }


def charges_from_document(document: Document) -> Charges:
    return Charges(
        document["penalty_fen"],
        document["fee_fen"],
        document["interest_fen"],
        document["principal_fen"],
    )


def period_to_document(period: Period) -> Document:
    return {
        "period_id": period.period_id,
        "due_date": period.due_date.isoformat(),
        "charged": charges_to_document(period.charged),
        "paid": charges_to_document(period.paid),
        "extended_due_date": day_text(period.extended_due_date),
        "minimum_fen": period.minimum_fen,
        "paid_by_due_fen": period.paid_by_due_fen,
        "accrued_through": day_text(period.accrued_through),
        "penalty_exact_fen": str(period.penalty_exact_fen),
        "interest_exact_fen": str(period.interest_exact_fen),
        "unpaid_fen": period.unpaid.total_fen,
    }


def period_from_document(document: Document) -> Period:
    return Period(
        period_id=document["period_id"],
        due_date=date.fromisoformat(document["due_date"]),
        charged=charges_from_document(document["charged"]),
        paid=charges_from_document(document["paid"]),
        extended_due_date=day_of(document["extended_due_date"]),
        minimum_fen=document["minimum_fen"],
        paid_by_due_fen=document["paid_by_due_fen"],
        accrued_through=day_of(document["accrued_through"]),
        penalty_exact_fen=Decimal(document["penalty_exact_fen"]),
        interest_exact_fen=Decimal(document["interest_exact_fen"]),
    )


def delinquency_to_document(delinquency: Delinquency) -> Document:
    return {
        "bucket": delinquency.bucket.value,
        "days_overdue": delinquency.days_overdue,
        "reported_90": delinquency.reported_90,
    }


def delinquency_from_document(document: Document) -> Delinquency:
    return Delinquency(
        Bucket(document["bucket"]), document["days_overdue"], document["reported_90"]
    )


def line_to_document(line: HuabeiLine) -> Document:
    return {
        "_id": line.borrower_id,
        "line_fen": line.line_fen,
        "advised_line_fen": line.advised_line_fen,
        "used_fen": line.used_fen,
        "reserved_fen": line.reserved_fen,
        "credit_fen": line.credit_fen,
        "frozen": line.frozen,
        "frozen_reason": line.frozen_reason,
        "statement_day": line.statement_day,
        "advised_score": line.advised_score,
        "advice_model_version": line.advice_model_version,
        "delinquency": delinquency_to_document(line.delinquency),
        "bucket": line.delinquency.bucket.value,
        "updated_at": line.updated_at,
        "limited_reason": line.limited_reason,
    }


def line_from_document(document: Document) -> HuabeiLine:
    return HuabeiLine(
        borrower_id=document["_id"],
        line_fen=document["line_fen"],
        advised_line_fen=document["advised_line_fen"],
        used_fen=document["used_fen"],
        reserved_fen=document["reserved_fen"],
        credit_fen=document["credit_fen"],
        frozen=document["frozen"],
        frozen_reason=document["frozen_reason"],
        statement_day=document["statement_day"],
        advised_score=document["advised_score"],
        advice_model_version=document["advice_model_version"],
        delinquency=delinquency_from_document(document["delinquency"]),
        updated_at=document["updated_at"],
        limited_reason=document.get("limited_reason", ""),
    )


def purchase_to_document(purchase: HuabeiPurchase) -> Document:
    return {
        "_id": purchase.purchase_id,
        "borrower_id": purchase.borrower_id,
        "state": purchase.state.value,
        "amount_fen": purchase.amount_fen,
        "merchant_id": purchase.merchant_id,
        "reference": purchase.reference,
        "reserved_at": purchase.reserved_at,
        "refunded_fen": purchase.refunded_fen,
        "refund_ids": list(purchase.refund_ids),
        "captured_at": purchase.captured_at,
        "captured_on": day_text(purchase.captured_on),
        "payment_posting_id": purchase.payment_posting_id,
        "bill_id": purchase.bill_id,
        "installment_plan_id": purchase.installment_plan_id,
        "released_before_reserved": purchase.released_before_reserved,
    }


def purchase_from_document(document: Document) -> HuabeiPurchase:
    return HuabeiPurchase(
        purchase_id=document["_id"],
        borrower_id=document["borrower_id"],
        state=PurchaseState(document["state"]),
        amount_fen=document["amount_fen"],
        merchant_id=document["merchant_id"],
        reference=document["reference"],
        reserved_at=document["reserved_at"],
        refunded_fen=document["refunded_fen"],
        refund_ids=tuple(document["refund_ids"]),
        captured_at=document["captured_at"],
        captured_on=day_of(document["captured_on"]),
        payment_posting_id=document["payment_posting_id"],
        bill_id=document["bill_id"],
        installment_plan_id=document["installment_plan_id"],
        released_before_reserved=document["released_before_reserved"],
    )


def bill_to_document(bill: Bill) -> Document:
    return {
        "_id": bill.bill_id,
        "borrower_id": bill.borrower_id,
        "statement_date": bill.statement_date.isoformat(),
        "period": period_to_document(bill.period),
        "paid": bill.period.is_paid,
        "due_date": bill.period.due_date.isoformat(),
        "purchases_fen": bill.purchases_fen,
        "installment_principal_fen": bill.installment_principal_fen,
        "credit_netted_fen": bill.credit_netted_fen,
        "purchase_ids": list(bill.purchase_ids),
        "installment_plan_id": bill.installment_plan_id,
    }


def bill_from_document(document: Document) -> Bill:
    return Bill(
        borrower_id=document["borrower_id"],
        statement_date=date.fromisoformat(document["statement_date"]),
        period=period_from_document(document["period"]),
        purchases_fen=document["purchases_fen"],
        installment_principal_fen=document["installment_principal_fen"],
        credit_netted_fen=document["credit_netted_fen"],
        purchase_ids=tuple(document["purchase_ids"]),
        installment_plan_id=document["installment_plan_id"],
    )


def part_to_document(part: InstallmentPart) -> Document:
    return {
        "number": part.number,
        "statement_date": part.statement_date.isoformat(),
        "principal_fen": part.principal_fen,
        "fee_fen": part.fee_fen,
        "bill_id": part.bill_id,
        "waived": part.waived,
    }


def plan_to_document(plan: InstallmentPlan) -> Document:
    unbilled = [p.statement_date.isoformat() for p in plan.parts if p.is_unbilled]
    return {
        "_id": plan.plan_id,
        "borrower_id": plan.borrower_id,
        "bill_id": plan.bill_id,
        "purchase_id": plan.purchase_id,
        "months": plan.months,
        "principal_fen": plan.principal_fen,
        "fee_fen": plan.fee_fen,
        "parts": [part_to_document(part) for part in plan.parts],
        "state": plan.state.value,
        "created_at": plan.created_at,
        # The next unbilled part's statement date ("" when none): what the job looks for.
        "next_statement_date": min(unbilled) if unbilled else "",
        "unbilled_principal_fen": plan.unbilled_principal_fen,
    }


def plan_from_document(document: Document) -> InstallmentPlan:
    return InstallmentPlan(
        plan_id=document["_id"],
        borrower_id=document["borrower_id"],
        bill_id=document["bill_id"],
        purchase_id=document["purchase_id"],
        months=document["months"],
        principal_fen=document["principal_fen"],
        fee_fen=document["fee_fen"],
        parts=tuple(
            InstallmentPart(
                part["number"],
                date.fromisoformat(part["statement_date"]),
                part["principal_fen"],
                part["fee_fen"],
                part["bill_id"],
                part["waived"],
            )
            for part in document["parts"]
        ),
        state=PlanState(document["state"]),
        created_at=document["created_at"],
    )


def cash_loan_to_document(loan: CashLoan) -> Document:
    return {
        "_id": loan.loan_id,
        "borrower_id": loan.borrower_id,
        "state": loan.state.value,
        "principal_fen": loan.principal_fen,
        "term_months": loan.term_months,
        "method": loan.method.value,
        "daily_rate": None if loan.daily_rate is None else str(loan.daily_rate),
        "decline_reasons": [reason.value for reason in loan.decline_reasons],
        "score": loan.score,
        "ceiling_fen": loan.ceiling_fen,
        "exposure_fen": loan.exposure_fen,
        "decided_at": loan.decided_at,
        "disbursed_on": day_text(loan.disbursed_on),
        "disbursement_posting_id": loan.disbursement_posting_id,
        "periods": [period_to_document(period) for period in loan.periods],
        "delinquency": delinquency_to_document(loan.delinquency),
        "bucket": loan.delinquency.bucket.value,
        "interest_accrued_through": day_text(loan.interest_accrued_through),
        "settled_on": day_text(loan.settled_on),
        "principal_outstanding_fen": loan.principal_outstanding_fen,
    }


def cash_loan_from_document(document: Document) -> CashLoan:
    rate: Any = document["daily_rate"]
    return CashLoan(
        loan_id=document["_id"],
        borrower_id=document["borrower_id"],
        state=CashLoanState(document["state"]),
        principal_fen=document["principal_fen"],
        term_months=document["term_months"],
        method=RepaymentMethod(document["method"]),
        daily_rate=None if rate is None else Decimal(rate),
        decline_reasons=tuple(DeclineReason(reason) for reason in document["decline_reasons"]),
        score=document["score"],
        ceiling_fen=document["ceiling_fen"],
        exposure_fen=document["exposure_fen"],
        decided_at=document["decided_at"],
        disbursed_on=day_of(document["disbursed_on"]),
        disbursement_posting_id=document["disbursement_posting_id"],
        periods=tuple(period_from_document(period) for period in document["periods"]),
        delinquency=delinquency_from_document(document["delinquency"]),
        interest_accrued_through=day_of(document["interest_accrued_through"]),
        settled_on=day_of(document["settled_on"]),
    )


def repayment_to_document(repayment: Repayment) -> Document:
    return {
        "_id": repayment.repayment_id,
        "target": repayment.target.value,
        "account_id": repayment.account_id,
        "borrower_id": repayment.borrower_id,
        "amount_fen": repayment.amount_fen,
        "state": repayment.state.value,
        "ledger_account_id": repayment.ledger_account_id,
        "tried_at": repayment.tried_at,
        "automatic": repayment.automatic,
        "applied": charges_to_document(repayment.applied),
        "credit_fen": repayment.credit_fen,
        "payment_posting_id": repayment.payment_posting_id,
        "applied_at": repayment.applied_at,
        "applied_on": day_text(repayment.applied_on),
        "days_overdue": repayment.days_overdue,
        "cancelled_before_tried": repayment.cancelled_before_tried,
    }


def repayment_from_document(document: Document) -> Repayment:
    return Repayment(
        repayment_id=document["_id"],
        target=RepaymentTarget(document["target"]),
        account_id=document["account_id"],
        borrower_id=document["borrower_id"],
        amount_fen=document["amount_fen"],
        state=RepaymentState(document["state"]),
        ledger_account_id=document["ledger_account_id"],
        tried_at=document["tried_at"],
        automatic=document["automatic"],
        applied=charges_from_document(document["applied"]),
        credit_fen=document["credit_fen"],
        payment_posting_id=document["payment_posting_id"],
        applied_at=document["applied_at"],
        applied_on=day_of(document["applied_on"]),
        days_overdue=document["days_overdue"],
        cancelled_before_tried=document["cancelled_before_tried"],
    )
