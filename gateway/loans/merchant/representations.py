"""Merchant lending as JSON: facilities, capacity, the credit policy, the audit."""

from __future__ import annotations

from typing import Any

from colony.loan.v1 import merchant_lending_pb2 as mpb
from gateway.edge.representations import money_proto_json
from gateway.loans.merchant.abs_representations import ABS_SCHEMAS

STATES = {
    mpb.FACILITY_STATE_DECLINED: "declined",
    mpb.FACILITY_STATE_PENDING_DISBURSEMENT: "pending_disbursement",
    mpb.FACILITY_STATE_CANCELLED: "cancelled",
    mpb.FACILITY_STATE_ACTIVE: "active",
}
MONEY_REF = {"$ref": "#/components/schemas/Money"}


def _part_json(part: mpb.FacilityPrincipal) -> dict[str, Any]:
    return {
        "principal": money_proto_json(part.principal),
        "interest_owed": money_proto_json(part.interest_owed),
        "owed": money_proto_json(part.owed),
        "principal_repaid": money_proto_json(part.principal_repaid),
        "interest_paid": money_proto_json(part.interest_paid),
        "daily_rate": part.daily_rate,
        "accrued_through": part.accrued_through or None,
    }


def facility_json(facility: mpb.Facility) -> dict[str, Any]:
    return {
        "facility_id": facility.facility_id,
        "state": STATES.get(facility.state, "unknown"),
        "declines": list(facility.declines),
        "amount": money_proto_json(facility.amount),
        "fixed_amount": money_proto_json(facility.fixed_amount),
        "decided_on": facility.decided_on,
        "start_date": facility.start_date or None,
        "end_date": facility.end_date or None,
        "overdue": facility.overdue,
        "revolving_available": money_proto_json(facility.revolving_available),
        "fixed": _part_json(facility.fixed),
        "revolving": _part_json(facility.revolving),
    }


def capacity_json(capacity: mpb.LendingCapacity) -> dict[str, Any]:
    return {
        name: money_proto_json(getattr(capacity, name))
        for name in (
            "capital",
            "bank_borrowing",
            "borrowing_allowed",
            "capacity",
            "consumer_used",
            "merchant_used",
            "used",
            "available",
            "sold_to_pools",
        )
    }


def policy_json(policy: mpb.MerchantCreditPolicy) -> dict[str, Any]:
    return {
        "min_months_with_settlements": policy.min_months_with_settlements,
        "max_refund_rate": policy.max_refund_rate,
        "max_share_of_sales": policy.max_share_of_sales,
    }


def audit_json(audit: mpb.GetMerchantLendingAuditResponse) -> dict[str, Any]:
    return {
        "account_id": audit.account_id,
        "lent": money_proto_json(audit.lent),
        "collected": money_proto_json(audit.collected),
        "principal_repaid": money_proto_json(audit.principal_repaid),
        "principal_outstanding": money_proto_json(audit.principal_outstanding),
        "expected_balance_fen": audit.expected_balance_fen,
        "in_flight": money_proto_json(audit.in_flight),
        "breaches": list(audit.breaches),
    }


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


_PART = _object(
    {
        **{
            name: MONEY_REF
            for name in ("principal", "interest_owed", "owed", "principal_repaid", "interest_paid")
        },
        "daily_rate": {"type": "string"},
        "accrued_through": {"type": ["string", "null"], "format": "date"},
    }
)
SCHEMAS: dict[str, dict[str, Any]] = {
    **ABS_SCHEMAS,
    "MerchantFacility": _object(
        {
            "facility_id": {"type": "string"},
            "state": {"type": "string", "enum": sorted(STATES.values())},
            "declines": {"type": "array", "items": {"type": "string"}},
            "amount": MONEY_REF,
            "fixed_amount": MONEY_REF,
            "decided_on": {"type": "string", "format": "date"},
            "start_date": {"type": ["string", "null"], "format": "date"},
            "end_date": {"type": ["string", "null"], "format": "date"},
            "overdue": {"type": "boolean"},
            "revolving_available": MONEY_REF,
            "fixed": _PART,
            "revolving": _PART,
        }
    ),
    "MerchantFacilities": _object(
        {
            "facilities": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/MerchantFacility"},
            },
            "next_page_token": {"type": ["string", "null"]},
        }
    ),
    "MerchantFigures": _object(
        {
            "months_with_settlements": {"type": "integer"},
            "settled_sales": MONEY_REF,
            "refunded": MONEY_REF,
        }
    ),
    "LendingCapacity": _object(
        {
            name: MONEY_REF
            for name in (
                "capital",
                "bank_borrowing",
                "borrowing_allowed",
                "capacity",
                "consumer_used",
                "merchant_used",
                "used",
                "available",
                "sold_to_pools",
            )
        }
    ),
    "MerchantCreditPolicy": _object(
        {
            "min_months_with_settlements": {"type": "integer", "minimum": 0, "maximum": 12},
            "max_refund_rate": {"type": "string", "examples": ["0.05"]},
            "max_share_of_sales": {"type": "string", "examples": ["0.5"]},
        },
        ["min_months_with_settlements", "max_refund_rate", "max_share_of_sales"],
    ),
    "MerchantLendingAudit": _object(
        {
            "account_id": {"type": "string"},
            "lent": MONEY_REF,
            "collected": MONEY_REF,
            "principal_repaid": MONEY_REF,
            "principal_outstanding": MONEY_REF,
            "expected_balance_fen": {"type": "integer"},
            "in_flight": MONEY_REF,
            "breaches": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "FacilityRequest": _object(
        {
            "amount_fen": {"type": "integer", "minimum": 5_000_000, "maximum": 100_000_000},
            "fixed_amount_fen": {"type": "integer", "minimum": 5_000_000},
            "currency": {"type": "string", "enum": ["CNY"], "default": "CNY"},
        },
        ["amount_fen", "fixed_amount_fen"],
    ),
    "OrderLoanOffer": _object(
        {
            "trades": {
                "type": "array",
                "items": _object({"trade_id": {"type": "string"}, "in_escrow": MONEY_REF}),
            },
            "most": MONEY_REF,
        }
    ),
    "OrderLoan": _object(
        {
            "loan_id": {"type": "string"},
            "state": {
                "type": "string",
                "enum": ["pending_disbursement", "cancelled", "active", "settled"],
            },
            **{
                name: MONEY_REF
                for name in ("amount", "cover", "principal", "interest_owed", "owed", "collected")
            },
            "trades": {
                "type": "array",
                "items": _object(
                    {
                        "trade_id": {"type": "string"},
                        "in_escrow": MONEY_REF,
                        "finished": {"type": "boolean"},
                    }
                ),
            },
            "disbursed_on": {"type": ["string", "null"], "format": "date"},
            "due_date": {"type": ["string", "null"], "format": "date"},
            "overdue": {"type": "boolean"},
            "overdue_since": {"type": ["string", "null"], "format": "date"},
            "excess_given_back": {
                "type": "array",
                "items": _object({"amount": MONEY_REF, "returned": {"type": "boolean"}}),
            },
        }
    ),
    "OrderLoans": _object(
        {
            "loans": {"type": "array", "items": {"$ref": "#/components/schemas/OrderLoan"}},
            "next_page_token": {"type": ["string", "null"]},
        }
    ),
    "OrderLoanJobRun": _object(
        {
            name: {"type": "integer"}
            for name in (
                "loans",
                "collections",
                "collected_fen",
                "excess_returned_fen",
                "trades_finished",
                "overdue_withholdings",
                "released",
                "facilities",
                "facility_collected_fen",
                "facility_excess_returned_fen",
                "facility_withholdings",
                "facility_released",
                "abs_periods",
            )
        }
    ),
    "StoreFreeze": _object(
        {
            "frozen": {"type": "boolean"},
            "reason": {"type": ["string", "null"]},
            "since": {"type": ["string", "null"], "format": "date-time"},
        }
    ),
    "StoreFreezeRequest": _object(
        {"frozen": {"type": "boolean"}, "reason": {"type": "string", "maxLength": 200}},
        ["frozen"],
    ),
    "LoanAmountRequest": _object(
        {
            "amount_fen": {"type": "integer", "minimum": 1},
            "currency": {"type": "string", "enum": ["CNY"], "default": "CNY"},
        },
        ["amount_fen"],
    ),
    "FacilityRepaymentRequest": _object(
        {
            "part": {"type": "string", "enum": ["fixed", "revolving"]},
            "amount_fen": {"type": "integer", "minimum": 1},
            "currency": {"type": "string", "enum": ["CNY"], "default": "CNY"},
        },
        ["part", "amount_fen"],
    ),
}
# Request bodies name every field they take: anything else is refused (the handlers read
# them with their field lists), and the document says so.
for _name, _schema in SCHEMAS.items():
    if _name.endswith("Request"):
        _schema["additionalProperties"] = False
