"""How loan objects look in JSON responses: the Huabei line, bills, installment offers and
plans, cash loans and their schedules, repayments, auto-debit, the portfolio, the job run.

Money as everywhere (gateway.edge.representations.money_proto_json); rates as the decimal
strings the loan service gives ("0.0005" a day), never floats; enum values as lower-case
names without their prefix ("open", "dpd_1_30"); dates as YYYY-MM-DD. Internal ids (a
reservation's saga key, a posting of the loan's own accounts) are left out.
"""

from __future__ import annotations

from typing import Any

from colony.common.v1 import money_pb2
from colony.loan.v1 import loan_pb2 as lpb
from gateway.edge.bodies import body_schemas
from gateway.edge.openapi import schema_ref
from gateway.edge.representations import money_proto_json, optional_timestamp_json
from gateway.loans.bodies import CashLoanRequest, InstallmentsRequest
from gateway.wealth.representations import enum_name, enum_names

MONEY = schema_ref("Money")
CHARGE_NAMES = ("penalty", "fee", "interest", "principal", "total")


def _bucket(value: int) -> str:
    return enum_name(lpb.DelinquencyBucket, value, "DELINQUENCY_BUCKET_")


def charges_json(charges: lpb.Charges) -> dict[str, Any]:
    return {name: money_proto_json(getattr(charges, name)) for name in CHARGE_NAMES}


def line_json(line: lpb.HuabeiLine) -> dict[str, Any]:
    return {
        "line": money_proto_json(line.line),
        "used": money_proto_json(line.used),
        "reserved": money_proto_json(line.reserved),
        "available": money_proto_json(line.available),
        "credit": money_proto_json(line.credit),
        "frozen": line.frozen,
        "frozen_reason": line.frozen_reason,
        "statement_day": line.statement_day,
        "bucket": _bucket(line.bucket),
        "days_overdue": line.days_overdue,
        "advised_line": money_proto_json(line.advised_line),
        "advised_score": line.advised_score,
        "limited_reason": line.limited_reason,
    }


def bill_json(bill: lpb.Bill) -> dict[str, Any]:
    return {
        "bill_id": bill.bill_id,
        "statement_date": bill.statement_date,
        "due_date": bill.due_date,
        "extended_due_date": bill.extended_due_date,
        "state": enum_name(lpb.BillState, bill.state, "BILL_STATE_"),
        "charged": charges_json(bill.charged),
        "paid": charges_json(bill.paid),
        "unpaid": charges_json(bill.unpaid),
        "minimum_payment": money_proto_json(bill.minimum_payment),
        "minimum_remaining": money_proto_json(bill.minimum_remaining),
        "purchases": money_proto_json(bill.purchases),
        "installment_principal": money_proto_json(bill.installment_principal),
        "credit_netted": money_proto_json(bill.credit_netted),
        "days_overdue": bill.days_overdue,
        "installment_plan_id": bill.installment_plan_id,
    }


def _part_json(part: lpb.InstallmentPart) -> dict[str, Any]:
    return {
        "number": part.number,
        "statement_date": part.statement_date,
        "principal": money_proto_json(part.principal),
        "fee": money_proto_json(part.fee),
        "bill_id": part.bill_id,
        "waived": part.waived,
    }


def offer_json(offer: lpb.InstallmentOffer) -> dict[str, Any]:
    return {
        "months": offer.months,
        "fee_rate": offer.fee_rate,
        "principal": money_proto_json(offer.principal),
        "fee": money_proto_json(offer.fee),
        "parts": [_part_json(part) for part in offer.parts],
    }


def plan_json(plan: lpb.InstallmentPlan) -> dict[str, Any]:
    return {
        "plan_id": plan.plan_id,
        "bill_id": plan.bill_id,
        "purchase_id": plan.purchase_id,
        "months": plan.months,
        "fee_rate": plan.fee_rate,
        "principal": money_proto_json(plan.principal),
        "fee": money_proto_json(plan.fee),
        "parts": [_part_json(part) for part in plan.parts],
        "state": enum_name(lpb.InstallmentPlanState, plan.state, "INSTALLMENT_PLAN_STATE_"),
        "unbilled_principal": money_proto_json(plan.unbilled_principal),
        "fee_waived": money_proto_json(plan.fee_waived),
        "created_at": optional_timestamp_json(plan.created_at),
    }


def purchase_json(purchase: lpb.HuabeiPurchase) -> dict[str, Any]:
    """A Huabei purchase, named by the wallet payment (operation) that made it."""
    return {
        "purchase_id": purchase_operation_id(purchase.purchase_id),
        "state": enum_name(lpb.HuabeiPurchaseState, purchase.state, "HUABEI_PURCHASE_STATE_"),
        "amount": money_proto_json(purchase.amount),
        "refunded": money_proto_json(purchase.refunded),
        "reference": purchase.reference,
        "merchant_id": purchase.merchant_id,
        "captured_on": purchase.captured_on,
        "bill_id": purchase.bill_id,
        "installment_plan_id": purchase.installment_plan_id,
    }


def purchase_operation_id(reservation_id: str) -> str:
    """The operation id of a purchase's reservation ("saga:<operation id>:reserve_huabei")."""
    parts = reservation_id.split(":")
    return parts[1] if len(parts) == 3 and parts[0] == "saga" else reservation_id


def _period_json(period: lpb.LoanPeriod) -> dict[str, Any]:
    return {
        "number": period.number,
        "due_date": period.due_date,
        "charged": charges_json(period.charged),
        "paid": charges_json(period.paid),
        "unpaid": charges_json(period.unpaid),
        "days_overdue": period.days_overdue,
    }


def cash_loan_json(loan: lpb.CashLoan, *, schedule: bool = True) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "loan_id": loan.loan_id,
        "state": enum_name(lpb.CashLoanState, loan.state, "CASH_LOAN_STATE_"),
        "principal": money_proto_json(loan.principal),
        "term_months": loan.term_months,
        "method": enum_name(lpb.RepaymentMethod, loan.method, "REPAYMENT_METHOD_"),
        "daily_rate": loan.daily_rate,
        "annual_rate": loan.annual_rate,
        "decline_reasons": list(loan.decline_reasons),
        "score": loan.score,
        "ceiling": money_proto_json(loan.ceiling),
        "disbursed_on": loan.disbursed_on,
        "principal_outstanding": money_proto_json(loan.principal_outstanding),
        "bucket": _bucket(loan.bucket),
        "days_overdue": loan.days_overdue,
        "settled_on": loan.settled_on,
    }
    if schedule:
        shown["schedule"] = [_period_json(period) for period in loan.periods]
    return shown


def repayment_json(repayment: lpb.Repayment) -> dict[str, Any]:
    return {
        "repayment_id": repayment.repayment_id,
        "target": enum_name(lpb.RepaymentTarget, repayment.target, "REPAYMENT_TARGET_"),
        "account_id": repayment.account_id,
        "amount": money_proto_json(repayment.amount),
        "state": enum_name(lpb.RepaymentState, repayment.state, "REPAYMENT_STATE_"),
        "applied": charges_json(repayment.applied),
        "credit": money_proto_json(repayment.credit),
        "applied_on": repayment.applied_on,
        "days_overdue": repayment.days_overdue,
        "automatic": repayment.automatic,
    }


def owed_json(owed: lpb.AmountOwed) -> dict[str, Any]:
    return {
        "target": enum_name(lpb.RepaymentTarget, owed.target, "REPAYMENT_TARGET_"),
        "account_id": owed.account_id,
        "due": charges_json(owed.due),
        "payoff": money_proto_json(owed.payoff),
        "pending": money_proto_json(owed.pending),
        "business_date": owed.business_date,
    }


def auto_debit_json(setting: lpb.AutoDebitSetting) -> dict[str, Any]:
    return {
        "enabled": setting.enabled,
        "sources": list(setting.sources),
        "updated_at": optional_timestamp_json(setting.updated_at),
    }


def portfolio_json(report: lpb.GetPortfolioReportResponse) -> dict[str, Any]:
    return {
        "products": [
            {
                "product": enum_name(lpb.Product, product.product, "PRODUCT_"),
                "principal": money_proto_json(product.principal),
                "buckets": [
                    {
                        "bucket": _bucket(bucket.bucket),
                        "principal": money_proto_json(bucket.principal),
                        "accounts": bucket.accounts,
                    }
                    for bucket in product.buckets
                ],
            }
            for product in report.products
        ],
        "principal": money_proto_json(report.principal),
        "principal_90_plus": money_proto_json(report.principal_90_plus),
        "npl_ratio": report.npl_ratio,
    }


def job_run_json(run: lpb.LoanJobRun) -> dict[str, Any]:
    return {
        "business_date": run.business_date,
        "bills_issued": run.bills_issued,
        "accounts_accrued": run.accounts_accrued,
        "bucket_changes": run.bucket_changes,
        "already_completed": run.already_completed,
        "completed_at": optional_timestamp_json(run.completed_at),
    }


def fen_of(money: money_pb2.Money) -> int:
    return int(money.amount_fen)


def _with_optional(schema: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """schema with more properties that are not required."""
    return {**schema, "properties": {**schema["properties"], **optional}}


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": list(properties),
        "properties": properties,
    }
    if description:
        schema["description"] = description
    return schema


_CHARGES = schema_ref("LoanCharges")
_BUCKET = {"type": "string", "enum": enum_names(lpb.DelinquencyBucket, "DELINQUENCY_BUCKET_")}
_DATE = {"type": "string", "description": "YYYY-MM-DD, or empty."}
_PART = _object(
    {
        "number": {"type": "integer"},
        "statement_date": _DATE,
        "principal": MONEY,
        "fee": MONEY,
        "bill_id": {"type": "string"},
        "waived": {"type": "boolean"},
    }
)

SCHEMAS: dict[str, dict[str, Any]] = {
    **body_schemas(CashLoanRequest, InstallmentsRequest),
    "LoanCharges": _object(
        {name: MONEY for name in CHARGE_NAMES},
        "Amounts by component, in the waterfall's order (penalty, fee, interest, principal).",
    ),
    "HuabeiLine": _object(
        {
            "line": MONEY,
            "used": {**MONEY, "description": "Principal owed, less credit."},
            "reserved": {**MONEY, "description": "Held by purchases in flight."},
            "available": {**MONEY, "description": "line - used - reserved."},
            "credit": {**MONEY, "description": "Refunds and prepayments for the next bill."},
            "frozen": {"type": "boolean"},
            "frozen_reason": {"type": "string"},
            "statement_day": {"type": "integer", "minimum": 1, "maximum": 31},
            "bucket": _BUCKET,
            "days_overdue": {"type": "integer"},
            "advised_line": MONEY,
            "advised_score": {"type": "integer"},
            "limited_reason": {
                "type": "string",
                "description": "LENDING_CAPACITY while the line stands below advised_line "
                "because the lending capacity does not allow more; empty otherwise.",
            },
        },
        "The caller's Huabei (花呗) credit line, synced with today's credit advice.",
    ),
    "HuabeiBill": _object(
        {
            "bill_id": {"type": "string"},
            "statement_date": _DATE,
            "due_date": _DATE,
            "extended_due_date": _DATE,
            "state": {"type": "string", "enum": enum_names(lpb.BillState, "BILL_STATE_")},
            "charged": _CHARGES,
            "paid": _CHARGES,
            "unpaid": _CHARGES,
            "minimum_payment": MONEY,
            "minimum_remaining": MONEY,
            "purchases": MONEY,
            "installment_principal": MONEY,
            "credit_netted": MONEY,
            "days_overdue": {"type": "integer"},
            "installment_plan_id": {"type": "string"},
        }
    ),
    "HuabeiOverview": _object(
        {
            "line": schema_ref("HuabeiLine"),
            "current_bill": {
                "oneOf": [schema_ref("HuabeiBill"), {"type": "null"}],
                "description": "The newest bill, or null before the first.",
            },
        }
    ),
    "HuabeiBills": _object(
        {
            "bills": {"type": "array", "items": schema_ref("HuabeiBill")},
            "next_page_token": {"type": "string"},
        }
    ),
    "HuabeiPurchase": _object(
        {
            "purchase_id": {
                "type": "string",
                "description": "The id of the wallet payment (operation) that made it.",
            },
            "state": {
                "type": "string",
                "enum": enum_names(lpb.HuabeiPurchaseState, "HUABEI_PURCHASE_STATE_"),
            },
            "amount": {**MONEY, "description": "The Huabei part of the payment."},
            "refunded": {**MONEY, "description": "Refunds returned to the line."},
            "reference": {"type": "string", "example": "trade:8f14e45f"},
            "merchant_id": {"type": "string"},
            "captured_on": _DATE,
            "bill_id": {"type": "string", "description": "The bill it was billed on, if any."},
            "installment_plan_id": {"type": "string"},
        }
    ),
    "HuabeiPurchases": _object(
        {
            "purchases": {"type": "array", "items": schema_ref("HuabeiPurchase")},
            "next_page_token": {"type": "string"},
        }
    ),
    "InstallmentPart": _PART,
    "InstallmentOffer": _object(
        {
            "months": {"type": "integer", "enum": [3, 6, 12]},
            "fee_rate": {"type": "string"},
            "principal": MONEY,
            "fee": MONEY,
            "parts": {"type": "array", "items": schema_ref("InstallmentPart")},
        }
    ),
    "InstallmentOffers": _object(
        {"offers": {"type": "array", "items": schema_ref("InstallmentOffer")}}
    ),
    "InstallmentPlan": _object(
        {
            "plan_id": {"type": "string"},
            "bill_id": {"type": "string"},
            "purchase_id": {"type": "string"},
            "months": {"type": "integer"},
            "fee_rate": {"type": "string"},
            "principal": MONEY,
            "fee": MONEY,
            "parts": {"type": "array", "items": schema_ref("InstallmentPart")},
            "state": {
                "type": "string",
                "enum": enum_names(lpb.InstallmentPlanState, "INSTALLMENT_PLAN_STATE_"),
            },
            "unbilled_principal": MONEY,
            "fee_waived": MONEY,
            "created_at": {"type": ["string", "null"], "format": "date-time"},
        }
    ),
    "LoanPeriod": _object(
        {
            "number": {"type": "integer"},
            "due_date": _DATE,
            "charged": _CHARGES,
            "paid": _CHARGES,
            "unpaid": _CHARGES,
            "days_overdue": {"type": "integer"},
        }
    ),
    "CashLoan": _with_optional(
        _object(
            {
                "loan_id": {"type": "string"},
                "state": {
                    "type": "string",
                    "enum": enum_names(lpb.CashLoanState, "CASH_LOAN_STATE_"),
                },
                "principal": MONEY,
                "term_months": {"type": "integer", "enum": [6, 12]},
                "method": {
                    "type": "string",
                    "enum": enum_names(lpb.RepaymentMethod, "REPAYMENT_METHOD_"),
                },
                "daily_rate": {"type": "string"},
                "annual_rate": {"type": "string"},
                "decline_reasons": {"type": "array", "items": {"type": "string"}},
                "score": {"type": "integer"},
                "ceiling": MONEY,
                "disbursed_on": _DATE,
                "principal_outstanding": MONEY,
                "bucket": _BUCKET,
                "days_overdue": {"type": "integer"},
                "settled_on": _DATE,
            },
            "A cash loan (借呗); its schedule on GET /v1/loans/cash-loans/{loan_id}.",
        ),
        schedule={"type": "array", "items": schema_ref("LoanPeriod")},
        owed={**schema_ref("AmountOwed"), "description": "What is owed today (active loans)."},
    ),
    "CashLoans": _object(
        {
            "loans": {"type": "array", "items": schema_ref("CashLoan")},
            "next_page_token": {"type": "string"},
        }
    ),
    "Repayment": _object(
        {
            "repayment_id": {"type": "string"},
            "target": {"type": "string"},
            "account_id": {"type": "string"},
            "amount": MONEY,
            "state": {"type": "string"},
            "applied": _CHARGES,
            "credit": MONEY,
            "applied_on": _DATE,
            "days_overdue": {"type": "integer"},
            "automatic": {"type": "boolean"},
        }
    ),
    "Repayments": _object(
        {
            "repayments": {"type": "array", "items": schema_ref("Repayment")},
            "next_page_token": {"type": "string"},
        }
    ),
    "AmountOwed": _object(
        {
            "target": {"type": "string"},
            "account_id": {"type": "string"},
            "due": _CHARGES,
            "payoff": {**MONEY, "description": "The most a repayment may be today."},
            "pending": MONEY,
            "business_date": _DATE,
        }
    ),
    "AutoDebitSetting": _object(
        {
            "enabled": {"type": "boolean"},
            "sources": {"type": "array", "items": {"type": "string"}},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
        }
    ),
    "LoanPortfolio": _object(
        {
            "products": {"type": "array", "items": {"type": "object"}},
            "principal": MONEY,
            "principal_90_plus": MONEY,
            "npl_ratio": {"type": "string", "description": "90+ ÷ total, 4 decimals."},
        }
    ),
    "LoanJobRun": _object(
        {
            "business_date": _DATE,
            "bills_issued": {"type": "integer"},
            "accounts_accrued": {"type": "integer"},
            "bucket_changes": {"type": "integer"},
            "already_completed": {"type": "boolean"},
            "completed_at": {"type": ["string", "null"], "format": "date-time"},
            "auto_debits": {
                "type": "object",
                "description": "The repayments the auto-debits due started: completed, and "
                "failed (the sources could not cover the amount; left for the next date).",
                "properties": {
                    "completed": {"type": "integer"},
                    "failed": {"type": "integer"},
                },
            },
        }
    ),
}
