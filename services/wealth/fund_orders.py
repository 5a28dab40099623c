"""Fund orders on the Ant Fortune (蚂蚁聚宝) marketplace: placed, funded, priced (DOMAIN.md §2).

The rules of price and suitability are in marketplace.py; this module is an order's life.

- A buy is placed by a purchase's try (suitability checked then) and waits for its money
  (AWAITING_FUNDS) until the purchase is confirmed; a cancelled purchase cancels it.
- A sale takes its units out of the position when placed (they can't be sold twice).
- Both are priced at the NAV of their nav_date (the 15:00 CST cut-off applied when placed)
  once it is published: a buy gets units (rounded down to 0.01), a sale proceeds (rounded
  down to the fen), each residue staying in the fund (marketplace.py).

    buy:  AWAITING_FUNDS ──funded──► PENDING_NAV ──NAV──► PRICED
               └──cancelled──► CANCELLED
    sell: PENDING_NAV ──NAV──► PRICED
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount
from services.wealth.marketplace import (
    FUND_PURCHASE_FEN_MIN,
    NAV_QUANTUM,
    Fund,
    RiskProfile,
    check_suitability,
    is_trading_day,
    nav_for_order,
    require_units_held,
    sale_proceeds,
    units_for_purchase,
)
from services.wealth.payouts import (
    FUNDS_OMNIBUS_ACCOUNT_ID,
    Payout,
    PayoutKind,
    PayoutSettlement,
    plan_payout,
)


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class FundOrderState(StrEnum):
    AWAITING_FUNDS = "awaiting_funds"
    PENDING_NAV = "pending_nav"
    PRICED = "priced"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class FundOrder:
    """An order for a fund; amount_fen of a buy is paid in, of a sale paid out once priced."""

    order_id: str
    investor_id: str
    fund_id: str
    side: OrderSide
    state: FundOrderState
    placed_at: datetime
    nav_date: date
    amount_fen: int = 0
    units: Decimal = Decimal(0)
    risk_acknowledged: bool = False
    nav_per_unit: Decimal | None = None
    priced_at: datetime | None = None
    residue_fen: Decimal = Decimal(0)
    payout_id: str = ""


def place_buy(
    *,
    order_id: str,
    investor_id: str,
    fund: Fund,
    profile: RiskProfile | None,
    amount_fen: int,
    risk_acknowledged: bool,
    now: datetime,
) -> FundOrder:
    """A buy awaiting its money, after the suitability check; priced by the cut-off rule."""
    require_positive_amount(amount_fen, "purchase amount")
    check_suitability(profile, fund, now, risk_acknowledged=risk_acknowledged)
    if amount_fen < FUND_PURCHASE_FEN_MIN:
        # The marketplace's minimum, refused before any money is held rather than at pricing.
        raise FailedPrecondition(
            f"a fund purchase is at least {FUND_PURCHASE_FEN_MIN} fen",
            reason="BELOW_MINIMUM",
            metadata={"amount_fen_min": str(FUND_PURCHASE_FEN_MIN)},
        )
    return FundOrder(
        order_id=order_id,
        investor_id=investor_id,
        fund_id=fund.fund_id,
        side=OrderSide.BUY,
        state=FundOrderState.AWAITING_FUNDS,
        placed_at=now,
        nav_date=nav_for_order({}, now).nav_date,
        amount_fen=amount_fen,
        risk_acknowledged=risk_acknowledged,
    )


def place_sale(
    *,
    order_id: str,
    investor_id: str,
    fund_id: str,
    units: Decimal,
    units_held: Decimal,
    now: datetime,
) -> FundOrder:
    """A sale of units the investor holds, waiting for the NAV of its date."""
    require_units_held(units_held, units)
    return FundOrder(
        order_id=order_id,
        investor_id=investor_id,
        fund_id=fund_id,
        side=OrderSide.SELL,
        state=FundOrderState.PENDING_NAV,
        placed_at=now,
        nav_date=nav_for_order({}, now).nav_date,
        units=units,
    )


def fund_order(order: FundOrder) -> FundOrder:
    """AWAITING_FUNDS → PENDING_NAV: the buy's money was captured."""
    if order.state is not FundOrderState.AWAITING_FUNDS:
        raise _illegal(order, "fund")
    return replace(order, state=FundOrderState.PENDING_NAV)


def cancel_unfunded(order: FundOrder) -> FundOrder:
    """AWAITING_FUNDS → CANCELLED: the buy's purchase was cancelled."""
    if order.state is not FundOrderState.AWAITING_FUNDS:
        raise _illegal(order, "cancel")
    return replace(order, state=FundOrderState.CANCELLED)


def price_order(order: FundOrder, nav_per_unit: Decimal, now: datetime) -> FundOrder:
    """PENDING_NAV → PRICED at the NAV of its date: units bought, or proceeds of a sale."""
    if order.state is not FundOrderState.PENDING_NAV:
        raise _illegal(order, "price")
    if order.side is OrderSide.BUY:
        bought = units_for_purchase(order.amount_fen, nav_per_unit)
        return replace(
            order,
            state=FundOrderState.PRICED,
            units=bought.units,
            nav_per_unit=nav_per_unit,
            priced_at=now,
            residue_fen=bought.residue_fen,
        )
    sold = sale_proceeds(order.units, nav_per_unit)
    return replace(
        order,
        state=FundOrderState.PRICED,
        amount_fen=sold.proceeds_fen,
        nav_per_unit=nav_per_unit,
        priced_at=now,
        residue_fen=sold.residue_fen,
    )


@dataclass(frozen=True, slots=True)
class SettledOrder:
    """A priced order and what pricing gives: units to a buyer (None for a sale), or the
    seller's proceeds owed (no payout for units worth under a fen)."""

    order: FundOrder
    units_bought: Decimal | None
    payout: Payout | None


def sale_payout(order: FundOrder, due_on: date, now: datetime) -> Payout:
    """The seller's proceeds, owed from the funds omnibus account once priced."""
    return plan_payout(
        payout_id=f"{order.order_id}:proceeds",
        kind=PayoutKind.FUND_SALE,
        from_account_id=FUNDS_OMNIBUS_ACCOUNT_ID,
        to_account_id=order.investor_id,
        amount_fen=order.amount_fen,
        due_on=due_on,
        settlement=PayoutSettlement.SCHEDULED,
        investor_id=order.investor_id,
        reference=order.order_id,
        now=now,
    )


def settle_at_nav(
    order: FundOrder, nav_per_unit: Decimal, now: datetime, business_date: date
) -> SettledOrder:
    """Price an order at its NAV: units to the buyer, or the seller's proceeds owed."""
    priced = price_order(order, nav_per_unit, now)
    if priced.side is OrderSide.BUY:
        return SettledOrder(priced, priced.units, None)
    if priced.amount_fen == 0:  # units worth under a fen pay nothing
        return SettledOrder(priced, None, None)
    payout = sale_payout(priced, business_date, now)
    return SettledOrder(replace(priced, payout_id=payout.payout_id), None, payout)


def fund_buy(order: FundOrder, nav_per_unit: Decimal | None, now: datetime) -> FundOrder:
    """A buy's money is in: AWAITING_FUNDS → PENDING_NAV, and priced at once if its NAV was
    published before the purchase was confirmed."""
    funded = fund_order(order)
    return funded if nav_per_unit is None else price_order(funded, nav_per_unit, now)


def require_same_nav(
    fund_id: str, nav_date: date, published: Decimal | None, nav_per_unit: Decimal
) -> None:
    """A NAV is published once: the same NAV again is a repeat, another one is refused."""
    if published is not None and published != nav_per_unit:
        raise FailedPrecondition(
            f"the NAV of {fund_id} for {nav_date.isoformat()} is already {published}",
            reason="NAV_ALREADY_PUBLISHED",
            metadata={"nav_per_unit": str(published)},
        )


def require_publishable_nav(nav_per_unit: Decimal, nav_date: date, today: date) -> Decimal:
    """A NAV an operator may publish: positive, 4 decimals, for a trading day that has begun."""
    if nav_per_unit <= 0 or nav_per_unit % NAV_QUANTUM != 0:
        raise InvalidArgument(
            f"a NAV is a positive number of yuan with at most 4 decimals, got {nav_per_unit}",
            metadata={"field": "nav_per_unit"},
        )
    if not is_trading_day(nav_date) or nav_date > today:
        raise InvalidArgument(
            f"{nav_date.isoformat()} is not a trading day that has begun",
            reason="INVALID_BUSINESS_DATE",
            metadata={"field": "nav_date"},
        )
    return nav_per_unit


def _illegal(order: FundOrder, action: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"fund order {order.order_id} is {order.state.value}; cannot {action}",
        reason="ILLEGAL_TRANSITION",
        metadata={"order_id": order.order_id, "state": order.state.value, "action": action},
    )
