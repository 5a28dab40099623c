"""How wealth objects look in JSON responses: Yu'e Bao, Zhaocaibao, funds, jobs.

Money as everywhere (gateway.edge.representations.money_proto_json); rates, yields and NAVs as
the decimal strings the wealth service gives ("0.0420" is 4.20%), never floats; enum values
as lower-case names without their prefix ("held", "pending_nav"); dates as YYYY-MM-DD.
Internal ids (a payout's key, a pending purchase reserving a listing) are left out.
"""

from __future__ import annotations

from typing import Any, Protocol

from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.edge.representations import money_proto_json, optional_timestamp_json
from gateway.wealth.jobs import WealthJobsReport


class ProtoEnum(Protocol):
    """A generated protobuf enum (its class: Name, Value and keys live on its metaclass)."""

    def Name(self, number: Any) -> str: ...  # noqa: N802 - protobuf's own names

    def Value(self, name: str) -> Any: ...  # noqa: N802

    def keys(self) -> list[str]: ...


def enum_name(enum: ProtoEnum, value: int, prefix: str) -> str:
    """HOLDING_STATE_HELD → "held"."""
    return enum.Name(value).removeprefix(prefix).lower()


def enum_names(enum: ProtoEnum, prefix: str) -> list[str]:
    """Every value's name but UNSPECIFIED, for the OpenAPI enums."""
    return [
        name.removeprefix(prefix).lower()
        for name in enum.keys()  # noqa: SIM118 - a protobuf enum, not a dict
        if not name.endswith("_UNSPECIFIED")
    ]


def enum_value(enum: ProtoEnum, name: str, prefix: str) -> int:
    """The inverse of enum_name, for a name the caller checked against enum_names."""
    return int(enum.Value(prefix + name.upper()))


# --- Yu'e Bao --------------------------------------------------------------------------------


def yuebao_account_json(account: wpb.YuebaoAccount) -> dict[str, Any]:
    return {
        "shares": money_proto_json(account.shares),
        "pending_subscriptions": money_proto_json(account.pending_subscriptions),
        "yesterday_income": money_proto_json(account.yesterday_income),
        "cumulative_income": money_proto_json(account.cumulative_income),
        "last_income_date": account.last_income_date,
        "fast_redemption_allowance": money_proto_json(account.fast_redemption_allowance),
        "seven_day_annualised_yield": account.seven_day_annualised_yield,
    }


def yuebao_income_json(income: wpb.YuebaoIncome) -> dict[str, Any]:
    return {
        "business_date": income.business_date,
        "income": money_proto_json(income.income),
        "shares_before": money_proto_json(income.shares_before),
        "income_per_10k_shares": income.income_per_10k_shares,
        "cumulative_income": money_proto_json(income.cumulative_income),
    }


def yuebao_fund_json(fund: wpb.GetYuebaoFundResponse) -> dict[str, Any]:
    return {
        "allocations": [
            {
                "asset_class": allocation.asset_class,
                "weight": allocation.weight,
                "annual_rate": allocation.annual_rate,
            }
            for allocation in fund.allocations
        ],
        "gross_annual_rate": fund.gross_annual_rate,
        "net_annual_rate": fund.net_annual_rate,
        "income_per_10k_shares": fund.income_per_10k_shares,
        "seven_day_annualised_yield": fund.seven_day_annualised_yield,
        "recent_quotes": [
            {
                "business_date": quote.business_date,
                "income_per_10k_shares": quote.income_per_10k_shares,
            }
            for quote in fund.recent_quotes
        ],
        "residue_fen": fund.residue_fen,
        "shares_outstanding": money_proto_json(fund.shares_outstanding),
    }


# --- Zhaocaibao ------------------------------------------------------------------------------


def product_json(product: wpb.Product) -> dict[str, Any]:
    return {
        "product_id": product.product_id,
        "issuer": product.issuer,
        "insurer": product.insurer,
        "term_days": product.term_days,
        "expected_annual_yield": product.expected_annual_yield,
        "amount_min": money_proto_json(product.amount_min),
        "quota": money_proto_json(product.quota),
        "sold": money_proto_json(product.sold),
        "remaining_quota": money_proto_json(product.remaining_quota),
        "sale_starts_at": optional_timestamp_json(product.sale_starts_at),
        "sale_ends_at": optional_timestamp_json(product.sale_ends_at),
        "state": enum_name(wpb.ProductState, product.state, "PRODUCT_STATE_"),
        "on_sale": product.on_sale,
    }


def holding_json(holding: wpb.Holding) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "holding_id": holding.holding_id,
        "product_id": holding.product_id,
        "principal": money_proto_json(holding.principal),
        "annual_yield": holding.annual_yield,
        "term_days": holding.term_days,
        "value_date": holding.value_date,
        "maturity_date": holding.maturity_date,
        "cost": money_proto_json(holding.cost),
        "state": enum_name(wpb.HoldingState, holding.state, "HOLDING_STATE_"),
        "maturity_payout": money_proto_json(holding.maturity_payout),
        "acquired_from_holding_id": holding.acquired_from_holding_id,
    }
    if holding.state == wpb.HOLDING_STATE_LISTED:
        payload["listing_price"] = money_proto_json(holding.listing_price)
        payload["listed_on"] = holding.listed_on
    return payload


def transfer_terms_json(terms: wpb.TransferTerms) -> dict[str, Any]:
    return {
        "price": money_proto_json(terms.price),
        "fee": money_proto_json(terms.fee),
        "seller_proceeds": money_proto_json(terms.seller_proceeds),
        "buyer_payout": money_proto_json(terms.buyer_payout),
        "maturity_date": terms.maturity_date,
        "remaining_days": terms.remaining_days,
        "buyer_annual_yield": terms.buyer_annual_yield,
    }


def listing_json(listing: wpb.TransferListing) -> dict[str, Any]:
    """A listing as any investor sees it: the holding's terms, not whose it is."""
    holding = listing.holding
    return {
        "holding_id": holding.holding_id,
        "product_id": holding.product_id,
        "principal": money_proto_json(holding.principal),
        "annual_yield": holding.annual_yield,
        "maturity_date": holding.maturity_date,
        "reserved": bool(holding.pending_purchase_id),
        "terms": transfer_terms_json(listing.terms),
    }


def reservation_json(reservation: wpb.Reservation) -> dict[str, Any]:
    return {
        "reservation_id": reservation.reservation_id,
        "amount": money_proto_json(reservation.amount),
        "annual_yield_min": reservation.annual_yield_min,
        "term_days_max": reservation.term_days_max,
        "created_at": optional_timestamp_json(reservation.created_at),
        "expires_at": optional_timestamp_json(reservation.expires_at),
        "state": enum_name(wpb.ReservationState, reservation.state, "RESERVATION_STATE_"),
        "filled": money_proto_json(reservation.filled),
        "purchases": [
            {
                "product_id": purchase.product_id,
                "amount": money_proto_json(purchase.amount),
                "purchased_at": optional_timestamp_json(purchase.purchased_at),
            }
            for purchase in reservation.purchases
        ],
    }


# --- Funds -----------------------------------------------------------------------------------


def fund_json(fund: wpb.Fund) -> dict[str, Any]:
    return {
        "fund_id": fund.fund_id,
        "name": fund.name,
        "category": enum_name(wpb.FundCategory, fund.category, "FUND_CATEGORY_"),
        "risk_level": f"R{fund.risk_level}",
        "latest_nav": fund.latest_nav,
        "latest_nav_date": fund.latest_nav_date,
        "one_year_return": fund.one_year_return,
    }


def nav_json(nav: wpb.NavPoint) -> dict[str, Any]:
    return {"nav_date": nav.nav_date, "nav_per_unit": nav.nav_per_unit}


def risk_profile_json(profile: wpb.RiskProfile, *, valid: bool) -> dict[str, Any]:
    return {
        "score": profile.score,
        "level": f"C{profile.level}",
        "assessed_at": optional_timestamp_json(profile.assessed_at),
        "expires_at": optional_timestamp_json(profile.expires_at),
        "valid": valid,
    }


def fund_order_json(order: wpb.FundOrder) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "fund_id": order.fund_id,
        "side": enum_name(wpb.OrderSide, order.side, "ORDER_SIDE_"),
        "state": enum_name(wpb.FundOrderState, order.state, "FUND_ORDER_STATE_"),
        "amount": money_proto_json(order.amount),
        "units": order.units,
        "placed_at": optional_timestamp_json(order.placed_at),
        "nav_date": order.nav_date,
        "nav_per_unit": order.nav_per_unit,
        "priced_at": optional_timestamp_json(order.priced_at),
        "risk_acknowledged": order.risk_acknowledged,
    }


def fund_position_json(position: wpb.FundPosition, fund: wpb.Fund | None) -> dict[str, Any]:
    """A position with its value at the fund's latest NAV (when there is one)."""
    payload: dict[str, Any] = {"fund_id": position.fund_id, "units": position.units}
    if fund is not None:
        payload["name"] = fund.name
        payload["latest_nav"] = fund.latest_nav
        payload["latest_nav_date"] = fund.latest_nav_date
    return payload


# --- Operations ------------------------------------------------------------------------------


def jobs_report_json(report: WealthJobsReport) -> dict[str, Any]:
    income: dict[str, Any] | None = None
    if report.income is not None:
        run = report.income.run
        income = {
            "business_date": run.business_date,
            "state": enum_name(wpb.IncomeRunState, run.state, "INCOME_RUN_STATE_"),
            "income_per_10k_shares": run.income_per_10k_shares,
            "holders_paid": run.holders_paid,
            "credited": money_proto_json(run.credited),
            "residue_added_fen": run.residue_added_fen,
            "already_completed": report.income.already_completed,
        }
    return {
        "business_date": report.business_date.isoformat(),
        "income": income,
        "income_skipped": report.income_refusal,
        "fixed_term": {
            "holdings_matured": report.holdings_matured,
            "reservations_expired": report.reservations_expired,
        },
        "payouts": {
            "paid": report.payouts_paid,
            "paid_fen": report.payouts_paid_fen,
            "failed": report.payouts_failed,
            "failures": [
                {"payout_id": f.payout_id, "reason": f.reason, "detail": f.detail}
                for f in report.failures
            ],
        },
    }
