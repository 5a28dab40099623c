"""Documents ⇄ domain objects, for every wealth collection (the store modules' one mapping).

Dates are stored as ISO strings (they sort), decimals as Decimal128, units as integer
hundredths (so a sale can be a guarded $inc).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128

from chassis.mongo import Document
from services.wealth.fixed_term import Holding, HoldingState, Product, ProductState
from services.wealth.fixed_term_reservations import (
    Reservation,
    ReservationPurchase,
    ReservationState,
)
from services.wealth.fund_orders import FundOrder, FundOrderState, OrderSide
from services.wealth.marketplace import (
    UNITS_QUANTUM,
    Fund,
    FundCategory,
    InvestorLevel,
    RiskLevel,
    RiskProfile,
)
from services.wealth.payouts import Payout, PayoutKind, PayoutSettlement, PayoutState
from services.wealth.purchases import Purchase, PurchaseKind, PurchaseState
from services.wealth.yuebao import Allocation, AssetClass, Portfolio
from services.wealth.yuebao_accounts import (
    Redemption,
    RedemptionMode,
    RedemptionState,
    YuebaoAccount,
)
from services.wealth.yuebao_income import IncomeRecord, IncomeRun


def to_decimal128(value: Decimal) -> Decimal128:
    """A Decimal as stored (exact, and comparable in queries)."""
    return Decimal128(value)


def from_decimal128(value: Any) -> Decimal:
    """A stored decimal (Decimal128, or a number written by hand) as a Decimal."""
    return value.to_decimal() if isinstance(value, Decimal128) else Decimal(value)


def day_or_none(value: str | None) -> date | None:
    """A stored ISO date, or None for an empty one."""
    return date.fromisoformat(value) if value else None


def iso_or_none(day: date | None) -> str | None:
    """A date as stored (ISO, so dates sort), or None."""
    return day.isoformat() if day else None


def units_to_hundredths(units: Decimal) -> int:
    """0.01-unit steps of a unit count kept to 2 decimals (exact)."""
    hundredths = units / UNITS_QUANTUM
    if hundredths != hundredths.to_integral_value():
        raise AssertionError(f"units {units} have more than 2 decimals")
    return int(hundredths)


def hundredths_to_units(hundredths: int) -> Decimal:
    """Stored hundredths of a unit as a unit count."""
    return Decimal(hundredths) * UNITS_QUANTUM


def purchase_from_document(document: Document) -> Purchase:
    return Purchase(
        purchase_id=document["_id"],
        kind=PurchaseKind(document["kind"]),
        investor_id=document["investor_id"],
        amount_fen=document["amount_fen"],
        credit_account_id=document["credit_account_id"],
        created_at=document["created_at"],
        business_date=day_or_none(document.get("business_date")),
        state=PurchaseState(document["state"]),
        product_id=document.get("product_id", ""),
        holding_id=document.get("holding_id", ""),
        fund_order_id=document.get("fund_order_id", ""),
        reservation_id=document.get("reservation_id", ""),
        closed_at=document.get("closed_at"),
        payment_posting_id=document.get("payment_posting_id", ""),
        cancelled_before_tried=document.get("cancelled_before_tried", False),
    )


def purchase_to_document(purchase: Purchase) -> Document:
    return {
        "_id": purchase.purchase_id,
        "kind": purchase.kind.value,
        "investor_id": purchase.investor_id,
        "amount_fen": purchase.amount_fen,
        "credit_account_id": purchase.credit_account_id,
        "created_at": purchase.created_at,
        "business_date": iso_or_none(purchase.business_date),
        "state": purchase.state.value,
        "product_id": purchase.product_id,
        "holding_id": purchase.holding_id,
        "fund_order_id": purchase.fund_order_id,
        "reservation_id": purchase.reservation_id,
        "closed_at": purchase.closed_at,
        "payment_posting_id": purchase.payment_posting_id,
        "cancelled_before_tried": purchase.cancelled_before_tried,
    }


def payout_from_document(document: Document) -> Payout:
    return Payout(
        payout_id=document["_id"],
        kind=PayoutKind(document["kind"]),
        from_account_id=document["from_account_id"],
        to_account_id=document["to_account_id"],
        amount_fen=document["amount_fen"],
        due_on=date.fromisoformat(document["due_on"]),
        settlement=PayoutSettlement(document["settlement"]),
        investor_id=document.get("investor_id", ""),
        reference=document.get("reference", ""),
        created_at=document["created_at"],
        state=PayoutState(document["state"]),
        paid_at=document.get("paid_at"),
        payment_posting_id=document.get("payment_posting_id", ""),
    )


def payout_to_document(payout: Payout) -> Document:
    return {
        "_id": payout.payout_id,
        "kind": payout.kind.value,
        "from_account_id": payout.from_account_id,
        "to_account_id": payout.to_account_id,
        "amount_fen": payout.amount_fen,
        "due_on": payout.due_on.isoformat(),
        "settlement": payout.settlement.value,
        "investor_id": payout.investor_id,
        "reference": payout.reference,
        "created_at": payout.created_at,
        "state": payout.state.value,
        "paid_at": payout.paid_at,
        "payment_posting_id": payout.payment_posting_id,
    }


def yuebao_account_from_document(document: Document) -> YuebaoAccount:
    return YuebaoAccount(
        investor_id=document["_id"],
        shares_fen=document.get("shares_fen", 0),
        cumulative_income_fen=document.get("cumulative_income_fen", 0),
        last_income_fen=document.get("last_income_fen", 0),
        last_income_date=day_or_none(document.get("last_income_date")),
        fast_redeemed_on=day_or_none(document.get("fast_redeemed_on")),
        fast_redeemed_fen=document.get("fast_redeemed_fen", 0),
        moved_on=day_or_none(document.get("moved_on")),
        subscribed_on_date_fen=document.get("subscribed_on_date_fen", 0),
        redeemed_on_date_fen=document.get("redeemed_on_date_fen", 0),
    )


def redemption_from_document(document: Document) -> Redemption:
    return Redemption(
        redemption_id=document["_id"],
        investor_id=document["investor_id"],
        amount_fen=document["amount_fen"],
        fast_fen=document["fast_fen"],
        normal_fen=document["normal_fen"],
        business_date=date.fromisoformat(document["business_date"]),
        settles_on=date.fromisoformat(document["settles_on"]),
        created_at=document["created_at"],
        mode=RedemptionMode(document["mode"]),
        state=RedemptionState(document["state"]),
        cancelled_before_created=document.get("cancelled_before_created", False),
    )


def redemption_to_document(redemption: Redemption) -> Document:
    return {
        "_id": redemption.redemption_id,
        "investor_id": redemption.investor_id,
        "amount_fen": redemption.amount_fen,
        "fast_fen": redemption.fast_fen,
        "normal_fen": redemption.normal_fen,
        "business_date": redemption.business_date.isoformat(),
        "settles_on": redemption.settles_on.isoformat(),
        "created_at": redemption.created_at,
        "mode": redemption.mode.value,
        "state": redemption.state.value,
        "cancelled_before_created": redemption.cancelled_before_created,
    }


def portfolio_to_document(portfolio: Portfolio) -> list[Document]:
    return [
        {
            "asset_class": allocation.asset_class.value,
            "weight": to_decimal128(allocation.weight),
            "annual_rate": to_decimal128(allocation.annual_rate),
        }
        for allocation in portfolio.allocations
    ]


def portfolio_from_document(allocations: list[Document]) -> Portfolio:
    return Portfolio(
        allocations=tuple(
            Allocation(
                AssetClass(allocation["asset_class"]),
                from_decimal128(allocation["weight"]),
                from_decimal128(allocation["annual_rate"]),
            )
            for allocation in allocations
        )
    )


def product_from_document(document: Document) -> Product:
    return Product(
        product_id=document["_id"],
        issuer=document["issuer"],
        insurer=document["insurer"],
        term_days=document["term_days"],
        expected_annual_yield=from_decimal128(document["expected_annual_yield"]),
        amount_fen_min=document["amount_fen_min"],
        quota_fen=document["quota_fen"],
        sale_starts_at=document["sale_starts_at"],
        sale_ends_at=document["sale_ends_at"],
        state=ProductState(document["state"]),
        sold_fen=document["sold_fen"],
    )


def product_to_document(product: Product, created_at: datetime) -> Document:
    return {
        "_id": product.product_id,
        "issuer": product.issuer,
        "insurer": product.insurer,
        "term_days": product.term_days,
        "expected_annual_yield": to_decimal128(product.expected_annual_yield),
        "amount_fen_min": product.amount_fen_min,
        "quota_fen": product.quota_fen,
        "sale_starts_at": product.sale_starts_at,
        "sale_ends_at": product.sale_ends_at,
        "state": product.state.value,
        "sold_fen": product.sold_fen,
        "created_at": created_at,
    }


def holding_from_document(document: Document) -> Holding:
    return Holding(
        holding_id=document["_id"],
        product_id=document["product_id"],
        holder_id=document["investor_id"],
        principal_fen=document["principal_fen"],
        annual_yield=from_decimal128(document["annual_yield"]),
        term_days=document["term_days"],
        value_date=date.fromisoformat(document["value_date"]),
        maturity_date=date.fromisoformat(document["maturity_date"]),
        cost_fen=document["cost_fen"],
        state=HoldingState(document["state"]),
        listing_price_fen=document.get("listing_price_fen", 0),
        listed_on=day_or_none(document.get("listed_on")),
        acquired_from_holding_id=document.get("acquired_from_holding_id", ""),
    )


def holding_to_document(holding: Holding) -> Document:
    return {
        "_id": holding.holding_id,
        "product_id": holding.product_id,
        "investor_id": holding.holder_id,
        "principal_fen": holding.principal_fen,
        "annual_yield": to_decimal128(holding.annual_yield),
        "term_days": holding.term_days,
        "value_date": holding.value_date.isoformat(),
        "maturity_date": holding.maturity_date.isoformat(),
        "cost_fen": holding.cost_fen,
        "state": holding.state.value,
        "listing_price_fen": holding.listing_price_fen,
        "listed_on": iso_or_none(holding.listed_on),
        "acquired_from_holding_id": holding.acquired_from_holding_id,
    }


def reservation_from_document(document: Document) -> Reservation:
    return Reservation(
        reservation_id=document["_id"],
        investor_id=document["investor_id"],
        amount_fen=document["amount_fen"],
        annual_yield_min=from_decimal128(document["annual_yield_min"]),
        term_days_max=document["term_days_max"],
        created_at=document["created_at"],
        expires_at=document["expires_at"],
        state=ReservationState(document["state"]),
        filled_fen=document["filled_fen"],
        purchases=tuple(
            ReservationPurchase(p["product_id"], p["amount_fen"], p["purchased_at"])
            for p in document.get("purchases", [])
        ),
    )


def reservation_to_document(reservation: Reservation) -> Document:
    return {
        "_id": reservation.reservation_id,
        "investor_id": reservation.investor_id,
        "amount_fen": reservation.amount_fen,
        "annual_yield_min": to_decimal128(reservation.annual_yield_min),
        "term_days_max": reservation.term_days_max,
        "created_at": reservation.created_at,
        "expires_at": reservation.expires_at,
        "state": reservation.state.value,
        "filled_fen": reservation.filled_fen,
        "purchases": [
            {
                "product_id": p.product_id,
                "amount_fen": p.amount_fen,
                "purchased_at": p.purchased_at,
            }
            for p in reservation.purchases
        ],
    }


def fund_from_document(document: Document) -> Fund:
    return Fund(
        fund_id=document["_id"],
        name=document["name"],
        category=FundCategory(document["category"]),
        risk_level=RiskLevel(document["risk_level"]),
    )


def order_from_document(document: Document) -> FundOrder:
    nav = document.get("nav_per_unit")
    return FundOrder(
        order_id=document["_id"],
        investor_id=document["investor_id"],
        fund_id=document["fund_id"],
        side=OrderSide(document["side"]),
        state=FundOrderState(document["state"]),
        placed_at=document["placed_at"],
        nav_date=date.fromisoformat(document["nav_date"]),
        amount_fen=document.get("amount_fen", 0),
        units=hundredths_to_units(document.get("unit_hundredths", 0)),
        risk_acknowledged=document.get("risk_acknowledged", False),
        nav_per_unit=from_decimal128(nav) if nav is not None else None,
        priced_at=document.get("priced_at"),
        residue_fen=from_decimal128(document.get("residue_fen", Decimal128("0"))),
        payout_id=document.get("payout_id", ""),
    )


def order_to_document(order: FundOrder) -> Document:
    return {
        "_id": order.order_id,
        "investor_id": order.investor_id,
        "fund_id": order.fund_id,
        "side": order.side.value,
        "state": order.state.value,
        "placed_at": order.placed_at,
        "nav_date": order.nav_date.isoformat(),
        "amount_fen": order.amount_fen,
        "unit_hundredths": units_to_hundredths(order.units),
        "risk_acknowledged": order.risk_acknowledged,
        "nav_per_unit": to_decimal128(order.nav_per_unit)
        if order.nav_per_unit is not None
        else None,
        "priced_at": order.priced_at,
        "residue_fen": to_decimal128(order.residue_fen),
        "payout_id": order.payout_id,
    }


def profile_from_document(document: Document) -> RiskProfile:
    return RiskProfile(
        investor_id=document["_id"],
        score=document["score"],
        level=InvestorLevel(document["level"]),
        assessed_at=document["assessed_at"],
        expires_at=document["expires_at"],
    )


def income_run_from_document(document: Document) -> IncomeRun:
    return IncomeRun(
        business_date=date.fromisoformat(document["_id"]),
        completed=document["state"] == "completed",
        income_per_10k_yuan=from_decimal128(document["income_per_10k_yuan"]),
        cursor=document["cursor"],
        holders_paid=document["holders_paid"],
        credited_fen=document["credited_fen"],
        residue_added_fen=from_decimal128(document["residue_added_fen"]),
        started_at=document["started_at"],
        completed_at=document.get("completed_at"),
        payout_id=document.get("payout_id", ""),
    )


def income_from_document(document: Document) -> IncomeRecord:
    return IncomeRecord(
        investor_id=document["investor_id"],
        business_date=date.fromisoformat(document["business_date"]),
        income_fen=document["income_fen"],
        shares_before_fen=document["shares_before_fen"],
        income_per_10k_yuan=from_decimal128(document["income_per_10k_yuan"]),
        cumulative_income_fen=document["cumulative_income_fen"],
    )
