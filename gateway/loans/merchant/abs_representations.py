"""ABS pools as JSON: the pool, its loans, investors' holdings and its periods (every fen
collected and where it went), and the schemas of the ABS routes."""

from __future__ import annotations

from typing import Any

from colony.loan.v1 import merchant_lending_pb2 as mpb
from gateway.edge.representations import money_proto_json

MONEY_REF = {"$ref": "#/components/schemas/Money"}
POOL_MONEY = ("units", "cash", "principal", "units_sold", "purchases")
HOLDING_MONEY = ("units", "bought", "interest_received", "principal_returned")
PERIOD_MONEY = (
    "carried_in",
    "interest_collected",
    "principal_collected",
    "investor_interest",
    "excess_spread",
    "purchases",
    "principal_returned",
    "carried_out",
    "defaulted",
    "order_loan_collected",
    "order_loan_purchases",
    "lender_kept_interest",
    "lender_kept_principal",
)


def _money(message: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: money_proto_json(getattr(message, name)) for name in names}


def abs_holding_json(holding: mpb.AbsHolding) -> dict[str, Any]:
    return {
        "pool_id": holding.pool_id,
        "investor_id": holding.investor_id,
        "coupon_rate": holding.coupon_rate,
        **_money(holding, HOLDING_MONEY),
    }


def abs_period_json(period: mpb.AbsPeriod) -> dict[str, Any]:
    return {
        "period_id": period.period_id,
        "period_start": period.period_start,
        "period_end": period.period_end,
        "days": period.days,
        **_money(period, PERIOD_MONEY),
        "bought_loan_ids": list(period.bought_loan_ids),
        "excess_spread_account_id": period.excess_spread_account_id,
        "posted": period.posted,
        "shares": [
            {
                "investor_id": share.investor_id,
                **_money(share, ("interest", "principal_returned")),
            }
            for share in period.shares
        ],
    }


def abs_pool_json(pool: mpb.AbsPool) -> dict[str, Any]:
    return {
        "pool_id": pool.pool_id,
        "coupon_rate": pool.coupon_rate,
        "revolving_until": pool.revolving_until,
        "eligibility": {
            "require_current": pool.eligibility.require_current,
            "min_remaining_days": pool.eligibility.min_remaining_days,
            "max_borrower_share": pool.eligibility.max_borrower_share,
            "loan_kinds": list(pool.eligibility.loan_kinds),
        },
        "created_on": pool.created_on,
        "account_id": pool.account_id,
        **_money(pool, POOL_MONEY),
        "loans": [
            {
                "loan_id": loan.loan_id,
                "borrower_id": loan.borrower_id,
                "principal": money_proto_json(loan.principal),
                "bought_on": loan.bought_on,
                "kind": loan.kind,
            }
            for loan in pool.loans
        ],
        "holdings": [abs_holding_json(holding) for holding in pool.holdings],
        "periods": [abs_period_json(period) for period in pool.periods],
    }


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


_LOAN_KINDS = {
    "type": "array",
    "readOnly": True,
    "items": {"type": "string", "enum": ["facility", "order_loan"]},
    "description": "The product rule: a merchant-lending pool buys merchant loans only "
    "(facilities and order loans), never consumer loans.",
}
_ELIGIBILITY = _object(
    {
        "require_current": {"type": "boolean"},
        "min_remaining_days": {"type": "integer", "minimum": 0, "maximum": 3660},
        "max_borrower_share": {"type": "string", "examples": ["0.2"]},
    },
    ["require_current", "min_remaining_days", "max_borrower_share"],
)
ABS_HOLDING = _object(
    {
        "pool_id": {"type": "string"},
        "investor_id": {"type": "string"},
        "coupon_rate": {"type": "string"},
        **{name: MONEY_REF for name in HOLDING_MONEY},
    },
    ["pool_id", "investor_id", "coupon_rate", *HOLDING_MONEY],
)
ABS_SCHEMAS: dict[str, dict[str, Any]] = {
    "AbsHolding": ABS_HOLDING,
    "AbsPool": _object(
        {
            "pool_id": {"type": "string"},
            "coupon_rate": {"type": "string"},
            "revolving_until": {"type": "string", "format": "date"},
            "eligibility": _object(
                {**_ELIGIBILITY["properties"], "loan_kinds": _LOAN_KINDS},
                _ELIGIBILITY["required"],
            ),
            "created_on": {"type": "string", "format": "date"},
            "account_id": {
                "type": "string",
                "description": "The pool's cash in the ledger: its balance is cash at rest.",
            },
            **{name: MONEY_REF for name in POOL_MONEY},
            "loans": {
                "type": "array",
                "items": _object(
                    {
                        "loan_id": {"type": "string"},
                        "borrower_id": {"type": "string"},
                        "principal": MONEY_REF,
                        "bought_on": {"type": "string", "format": "date"},
                        "kind": {"type": "string", "enum": ["facility", "order_loan"]},
                    }
                ),
            },
            "holdings": {"type": "array", "items": {"$ref": "#/components/schemas/AbsHolding"}},
            "periods": {
                "type": "array",
                "description": "Oldest first: carried_in + interest_collected + "
                "principal_collected = investor_interest + excess_spread + purchases + "
                "principal_returned + carried_out; what the pooled loans paid = "
                "interest_collected + principal_collected + lender_kept_interest + "
                "lender_kept_principal (the lender's share of a revolving part drawn after "
                "the sale, never moved); order_loan_collected / order_loan_purchases: the "
                "order loans' part; the excess spread goes to "
                "excess_spread_account_id.",
                "items": _object(
                    {
                        "period_id": {"type": "string"},
                        "period_start": {"type": "string", "format": "date"},
                        "period_end": {"type": "string", "format": "date"},
                        "days": {"type": "integer"},
                        **{name: MONEY_REF for name in PERIOD_MONEY},
                        "bought_loan_ids": {"type": "array", "items": {"type": "string"}},
                        "excess_spread_account_id": {"type": "string"},
                        "posted": {
                            "type": "boolean",
                            "description": "Every leg posted in the payment ledger.",
                        },
                        "shares": {
                            "type": "array",
                            "items": _object(
                                {
                                    "investor_id": {"type": "string"},
                                    "interest": MONEY_REF,
                                    "principal_returned": MONEY_REF,
                                }
                            ),
                        },
                    }
                ),
            },
        }
    ),
}
