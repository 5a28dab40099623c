"""Proto ⇄ domain conversions of the loan service (the wire format, in one place)."""

from __future__ import annotations

from datetime import date, datetime

from chassis.errors import InvalidArgument
from chassis.wire import (
    date_text,
    decimal_from_text,
    decimal_to_text,
    money_to_proto,
    timestamp_to_proto,
)
from colony.credit.v1 import credit_pb2
from colony.loan.v1 import loan_pb2 as pb
from services.loan.auto_debit import AutoDebitSetting
from services.loan.bills import Bill, BillState
from services.loan.cash_loans import CashLoan, CashLoanState, RepaymentMethod
from services.loan.credit_advice import CreditAdvice
from services.loan.delinquency import Bucket, DelinquencyChange
from services.loan.huabei import HuabeiLine, HuabeiPurchase, PurchaseState
from services.loan.installments import InstallmentPart, InstallmentPlan, PlanState
from services.loan.periods import Charges, Period, days_overdue
from services.loan.portfolio import LedgerFlows, PortfolioReport, Product
from services.loan.repayments import Owed, Repayment, RepaymentState, RepaymentTarget


def advice_from_proto(advice: credit_pb2.CreditLimitAdvice, borrower_id: str) -> CreditAdvice:
    """The credit advice a request carries (it must be about the borrower)."""
    if advice.person_id != borrower_id:
        raise InvalidArgument(
            "advice.person_id must be the borrower", metadata={"field": "advice.person_id"}
        )
    rate_min = advice.daily_rate_min
    rate_max = advice.daily_rate_max
    return CreditAdvice(
        person_id=advice.person_id,
        score=advice.score,
        model_version=advice.model_version,
        huabei_line_fen=advice.huabei_line.amount_fen,
        cash_loan_ceiling_fen=advice.cash_loan_ceiling.amount_fen,
        daily_rate_min=decimal_from_text(rate_min, "advice.daily_rate_min") if rate_min else None,
        daily_rate_max=decimal_from_text(rate_max, "advice.daily_rate_max") if rate_max else None,
        refusal=advice.refusal,
    )


def charges_to_proto(charges: Charges) -> pb.Charges:
    return pb.Charges(
        penalty=money_to_proto(charges.penalty_fen),
        fee=money_to_proto(charges.fee_fen),
        interest=money_to_proto(charges.interest_fen),
        principal=money_to_proto(charges.principal_fen),
        total=money_to_proto(charges.total_fen),
    )


BUCKET_TO_PROTO = {
    Bucket.CURRENT: pb.DELINQUENCY_BUCKET_CURRENT,
    Bucket.DPD_1_30: pb.DELINQUENCY_BUCKET_DPD_1_30,
    Bucket.DPD_31_60: pb.DELINQUENCY_BUCKET_DPD_31_60,
    Bucket.DPD_61_90: pb.DELINQUENCY_BUCKET_DPD_61_90,
    Bucket.DPD_90_PLUS: pb.DELINQUENCY_BUCKET_DPD_90_PLUS,
}
PRODUCT_TO_PROTO = {Product.HUABEI: pb.PRODUCT_HUABEI, Product.CASH_LOAN: pb.PRODUCT_CASH_LOAN}


def line_to_proto(line: HuabeiLine) -> pb.HuabeiLine:
    return pb.HuabeiLine(
        borrower_id=line.borrower_id,
        line=money_to_proto(line.line_fen),
        used=money_to_proto(line.used_fen),
        reserved=money_to_proto(line.reserved_fen),
        available=money_to_proto(line.available_fen),
        credit=money_to_proto(line.credit_fen),
        frozen=line.frozen,
        frozen_reason=line.frozen_reason,
        statement_day=line.statement_day,
        advised_score=line.advised_score,
        advice_model_version=line.advice_model_version,
        bucket=BUCKET_TO_PROTO[line.delinquency.bucket],
        days_overdue=line.delinquency.days_overdue,
        advised_line=money_to_proto(line.advised_line_fen),
        updated_at=timestamp_to_proto(line.updated_at),
        limited_reason=line.limited_reason,
    )


_PURCHASE_STATE = {
    PurchaseState.RESERVED: pb.HUABEI_PURCHASE_STATE_RESERVED,
    PurchaseState.CAPTURED: pb.HUABEI_PURCHASE_STATE_CAPTURED,
    PurchaseState.RELEASED: pb.HUABEI_PURCHASE_STATE_RELEASED,
}


def purchase_to_proto(purchase: HuabeiPurchase) -> pb.HuabeiPurchase:
    message = pb.HuabeiPurchase(
        purchase_id=purchase.purchase_id,
        borrower_id=purchase.borrower_id,
        state=_PURCHASE_STATE[purchase.state],
        amount=money_to_proto(purchase.amount_fen),
        refunded=money_to_proto(purchase.refunded_fen),
        merchant_id=purchase.merchant_id,
        reference=purchase.reference,
        reserved_at=timestamp_to_proto(purchase.reserved_at),
        captured_on=date_text(purchase.captured_on),
        payment_posting_id=purchase.payment_posting_id,
        bill_id=purchase.bill_id,
        installment_plan_id=purchase.installment_plan_id,
        released_before_reserved=purchase.released_before_reserved,
    )
    if purchase.captured_at is not None:
        message.captured_at.CopyFrom(timestamp_to_proto(purchase.captured_at))
    return message


_BILL_STATE = {
    BillState.OPEN: pb.BILL_STATE_OPEN,
    BillState.EXTENDED: pb.BILL_STATE_EXTENDED,
    BillState.OVERDUE: pb.BILL_STATE_OVERDUE,
    BillState.PAID: pb.BILL_STATE_PAID,
}


def bill_to_proto(bill: Bill, today: date) -> pb.Bill:
    period = bill.period
    return pb.Bill(
        bill_id=bill.bill_id,
        borrower_id=bill.borrower_id,
        statement_date=bill.statement_date.isoformat(),
        due_date=period.due_date.isoformat(),
        extended_due_date=date_text(period.extended_due_date) if period.minimum_met else "",
        state=_BILL_STATE[bill.state_on(today)],
        charged=charges_to_proto(period.charged),
        paid=charges_to_proto(period.paid),
        unpaid=charges_to_proto(period.unpaid),
        minimum_payment=money_to_proto(period.minimum_fen),
        minimum_remaining=money_to_proto(bill.minimum_remaining_fen),
        purchases=money_to_proto(bill.purchases_fen),
        installment_principal=money_to_proto(bill.installment_principal_fen),
        credit_netted=money_to_proto(bill.credit_netted_fen),
        purchase_ids=list(bill.purchase_ids),
        days_overdue=days_overdue(period, today),
        installment_plan_id=bill.installment_plan_id,
        penalty_residue_fen=str(period.penalty_residue_fen),
        interest_residue_fen=str(period.interest_residue_fen),
    )


def part_to_proto(part: InstallmentPart) -> pb.InstallmentPart:
    return pb.InstallmentPart(
        number=part.number,
        statement_date=part.statement_date.isoformat(),
        principal=money_to_proto(part.principal_fen),
        fee=money_to_proto(part.fee_fen),
        bill_id=part.bill_id,
        waived=part.waived,
    )


_PLAN_STATE = {
    PlanState.ACTIVE: pb.INSTALLMENT_PLAN_STATE_ACTIVE,
    PlanState.BILLED: pb.INSTALLMENT_PLAN_STATE_BILLED,
    PlanState.SETTLED_EARLY: pb.INSTALLMENT_PLAN_STATE_SETTLED_EARLY,
}


def plan_to_proto(plan: InstallmentPlan) -> pb.InstallmentPlan:
    return pb.InstallmentPlan(
        plan_id=plan.plan_id,
        borrower_id=plan.borrower_id,
        bill_id=plan.bill_id,
        purchase_id=plan.purchase_id,
        months=plan.months,
        fee_rate=str(plan.fee_rate),
        principal=money_to_proto(plan.principal_fen),
        fee=money_to_proto(plan.fee_fen),
        parts=[part_to_proto(part) for part in plan.parts],
        state=_PLAN_STATE[plan.state],
        unbilled_principal=money_to_proto(plan.unbilled_principal_fen),
        fee_waived=money_to_proto(plan.fee_waived_fen),
        created_at=timestamp_to_proto(plan.created_at),
    )


def offer_to_proto(plan: InstallmentPlan) -> pb.InstallmentOffer:
    return pb.InstallmentOffer(
        months=plan.months,
        fee_rate=str(plan.fee_rate),
        principal=money_to_proto(plan.principal_fen),
        fee=money_to_proto(plan.fee_fen),
        parts=[part_to_proto(part) for part in plan.parts],
    )


_LOAN_STATE = {
    CashLoanState.DECLINED: pb.CASH_LOAN_STATE_DECLINED,
    CashLoanState.PENDING_DISBURSEMENT: pb.CASH_LOAN_STATE_PENDING_DISBURSEMENT,
    CashLoanState.CANCELLED: pb.CASH_LOAN_STATE_CANCELLED,
    CashLoanState.ACTIVE: pb.CASH_LOAN_STATE_ACTIVE,
    CashLoanState.SETTLED: pb.CASH_LOAN_STATE_SETTLED,
}
METHOD_FROM_PROTO = {
    pb.REPAYMENT_METHOD_BY_DAY: RepaymentMethod.BY_DAY,
    pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT: RepaymentMethod.EQUAL_INSTALLMENT,
}
_METHOD = {method: value for value, method in METHOD_FROM_PROTO.items()}


def loan_period_to_proto(period: Period, number: int, today: date) -> pb.LoanPeriod:
    return pb.LoanPeriod(
        number=number,
        due_date=period.due_date.isoformat(),
        charged=charges_to_proto(period.charged),
        paid=charges_to_proto(period.paid),
        unpaid=charges_to_proto(period.unpaid),
        days_overdue=days_overdue(period, today),
    )


def cash_loan_to_proto(loan: CashLoan, today: date) -> pb.CashLoan:
    return pb.CashLoan(
        loan_id=loan.loan_id,
        borrower_id=loan.borrower_id,
        state=_LOAN_STATE[loan.state],
        principal=money_to_proto(loan.principal_fen),
        term_months=loan.term_months,
        method=_METHOD[loan.method],
        daily_rate=decimal_to_text(loan.daily_rate),
        annual_rate=decimal_to_text(loan.annual_rate),
        decline_reasons=[reason.value for reason in loan.decline_reasons],
        score=loan.score,
        ceiling=money_to_proto(loan.ceiling_fen),
        exposure=money_to_proto(loan.exposure_fen),
        decided_at=timestamp_to_proto(loan.decided_at),
        disbursed_on=date_text(loan.disbursed_on),
        disbursement_posting_id=loan.disbursement_posting_id,
        periods=[
            loan_period_to_proto(period, number, today)
            for number, period in enumerate(loan.periods, start=1)
        ],
        principal_outstanding=money_to_proto(loan.principal_outstanding_fen),
        bucket=BUCKET_TO_PROTO[loan.delinquency.bucket],
        days_overdue=loan.delinquency.days_overdue,
        settled_on=date_text(loan.settled_on),
        interest_residue_fen=str(loan.interest_residue_fen),
    )


TARGET_FROM_PROTO = {
    pb.REPAYMENT_TARGET_HUABEI: RepaymentTarget.HUABEI,
    pb.REPAYMENT_TARGET_INSTALLMENT_PLAN: RepaymentTarget.INSTALLMENT_PLAN,
    pb.REPAYMENT_TARGET_CASH_LOAN: RepaymentTarget.CASH_LOAN,
}
TARGET_TO_PROTO = {target: value for value, target in TARGET_FROM_PROTO.items()}
_REPAYMENT_STATE = {
    RepaymentState.PENDING: pb.REPAYMENT_STATE_PENDING,
    RepaymentState.APPLIED: pb.REPAYMENT_STATE_APPLIED,
    RepaymentState.CANCELLED: pb.REPAYMENT_STATE_CANCELLED,
}


def repayment_to_proto(repayment: Repayment) -> pb.Repayment:
    message = pb.Repayment(
        repayment_id=repayment.repayment_id,
        target=pb.REPAYMENT_TARGET_UNSPECIFIED
        if repayment.cancelled_before_tried
        else TARGET_TO_PROTO[repayment.target],
        account_id=repayment.account_id,
        borrower_id=repayment.borrower_id,
        amount=money_to_proto(repayment.amount_fen),
        state=_REPAYMENT_STATE[repayment.state],
        applied=charges_to_proto(repayment.applied),
        credit=money_to_proto(repayment.credit_fen),
        payment_posting_id=repayment.payment_posting_id,
        ledger_account_id=repayment.ledger_account_id,
        tried_at=timestamp_to_proto(repayment.tried_at),
        applied_on=date_text(repayment.applied_on),
        days_overdue=repayment.days_overdue,
        cancelled_before_tried=repayment.cancelled_before_tried,
        automatic=repayment.automatic,
    )
    if repayment.applied_at is not None:
        message.applied_at.CopyFrom(timestamp_to_proto(repayment.applied_at))
    return message


def owed_to_proto(
    *,
    target: RepaymentTarget,
    account_id: str,
    borrower_id: str,
    owed: Owed,
    ledger_account_id: str,
    today: date,
) -> pb.AmountOwed:
    return pb.AmountOwed(
        target=TARGET_TO_PROTO[target],
        account_id=account_id,
        borrower_id=borrower_id,
        due=charges_to_proto(owed.due),
        payoff=money_to_proto(owed.payoff_fen),
        ledger_account_id=ledger_account_id,
        pending=money_to_proto(owed.pending_fen),
        business_date=today.isoformat(),
    )


def auto_debit_to_proto(setting: AutoDebitSetting) -> pb.AutoDebitSetting:
    message = pb.AutoDebitSetting(
        borrower_id=setting.borrower_id, enabled=setting.enabled, sources=list(setting.sources)
    )
    if setting.updated_at is not None:
        message.updated_at.CopyFrom(timestamp_to_proto(setting.updated_at))
    return message


def repayment_report(
    borrower_id: str, account_id: str, amount_fen: int, days: int, moment: datetime
) -> credit_pb2.RepaymentReport:
    """The credit service's reporting format of a repayment or an overdue event."""
    return credit_pb2.RepaymentReport(
        person_id=borrower_id,
        loan_id=account_id,
        amount=money_to_proto(amount_fen),
        days_overdue=days,
        occurred_at=timestamp_to_proto(moment),
    )


def delinquency_changed_to_proto(
    *,
    product: Product,
    account_id: str,
    borrower_id: str,
    change: DelinquencyChange,
    overdue_fen: int,
    day: date,
) -> pb.DelinquencyChanged:
    return pb.DelinquencyChanged(
        product=PRODUCT_TO_PROTO[product],
        account_id=account_id,
        borrower_id=borrower_id,
        previous_bucket=BUCKET_TO_PROTO[change.before.bucket],
        bucket=BUCKET_TO_PROTO[change.after.bucket],
        days_overdue=change.after.days_overdue,
        overdue=money_to_proto(overdue_fen),
        business_date=day.isoformat(),
    )


def portfolio_to_proto(report: PortfolioReport) -> pb.GetPortfolioReportResponse:
    products = []
    for product in Product:
        rows = report.of(product)
        products.append(
            pb.ProductOutstanding(
                product=PRODUCT_TO_PROTO[product],
                buckets=[
                    pb.BucketOutstanding(
                        bucket=BUCKET_TO_PROTO[row.bucket],
                        principal=money_to_proto(row.principal_fen),
                        accounts=row.accounts,
                    )
                    for row in rows
                ],
                principal=money_to_proto(sum(row.principal_fen for row in rows)),
            )
        )
    return pb.GetPortfolioReportResponse(
        products=products,
        principal=money_to_proto(report.principal_fen),
        principal_90_plus=money_to_proto(report.principal_90_plus_fen),
        npl_ratio=str(report.npl_ratio),
    )


def ledger_flows_to_proto(flows: LedgerFlows) -> pb.LedgerAccountFigures:
    return pb.LedgerAccountFigures(
        account_id=flows.account_id,
        lent=money_to_proto(flows.lent_fen),
        collected=money_to_proto(flows.collected_fen),
        expected_balance_fen=flows.expected_balance_fen,
        principal_outstanding=money_to_proto(flows.principal_outstanding_fen),
        income_collected=money_to_proto(flows.income_collected_fen),
        pending=money_to_proto(flows.pending_fen),
    )
