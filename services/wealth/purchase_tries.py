"""What each kind of purchase try records (purchases.py): the PENDING purchase of a Yu'e Bao
subscription, a Zhaocaibao subscription or transfer, or a fund buy, credited to its line's
omnibus account, and what a Zhaocaibao subscription reserves (quota and a planned holding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.wealth.fixed_term import Holding, Product, subscribe
from services.wealth.payouts import (
    FIXED_TERM_OMNIBUS_ACCOUNT_ID,
    FUNDS_OMNIBUS_ACCOUNT_ID,
    YUEBAO_OMNIBUS_ACCOUNT_ID,
)
from services.wealth.purchases import Purchase, PurchaseKind, plan_purchase


@dataclass(frozen=True, slots=True)
class ProductSubscription:
    """A subscription try: its purchase, the product with the quota taken, the holding planned
    (inserted when the purchase is confirmed)."""

    purchase: Purchase
    product: Product
    holding: Holding


def plan_yuebao_subscription(
    *, purchase_id: str, investor_id: str, shares_fen: int, now: datetime, business_date: date
) -> Purchase:
    """The try of a Yu'e Bao subscription: shares_fen issued once the money is in."""
    return plan_purchase(
        purchase_id=purchase_id,
        kind=PurchaseKind.YUEBAO_SUBSCRIPTION,
        investor_id=investor_id,
        amount_fen=shares_fen,
        credit_account_id=YUEBAO_OMNIBUS_ACCOUNT_ID,
        now=now,
        business_date=business_date,
    )


def plan_product_purchase(
    *,
    purchase_id: str,
    investor_id: str,
    product_id: str,
    amount_fen: int,
    now: datetime,
    business_date: date,
    reservation_id: str = "",
) -> Purchase:
    """The purchase of a Zhaocaibao subscription; its holding takes the purchase's id."""
    return plan_purchase(
        purchase_id=purchase_id,
        kind=PurchaseKind.PRODUCT_SUBSCRIPTION,
        investor_id=investor_id,
        amount_fen=amount_fen,
        credit_account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID,
        now=now,
        business_date=business_date,
        product_id=product_id,
        holding_id=purchase_id,
        reservation_id=reservation_id,
    )


def subscribe_product(product: Product, purchase: Purchase, now: datetime) -> ProductSubscription:
    """Reserve the purchase's amount of the product's quota and plan the investor's holding."""
    assert purchase.business_date is not None, "a try has a business date"
    planned, holding = subscribe(
        product,
        holding_id=purchase.holding_id,
        holder_id=purchase.investor_id,
        amount_fen=purchase.amount_fen,
        now=now,
        business_date=purchase.business_date,
    )
    return ProductSubscription(purchase=purchase, product=planned, holding=holding)


def plan_transfer_purchase(
    *,
    purchase_id: str,
    investor_id: str,
    listed: Holding,
    price_fen: int,
    now: datetime,
    business_date: date,
) -> Purchase:
    """The purchase of a listed holding at price_fen (the buyer's new holding takes its id)."""
    return plan_purchase(
        purchase_id=purchase_id,
        kind=PurchaseKind.TRANSFER,
        investor_id=investor_id,
        amount_fen=price_fen,
        credit_account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID,
        now=now,
        business_date=business_date,
        product_id=listed.product_id,
        holding_id=listed.holding_id,
    )


def plan_fund_buy(
    *,
    purchase_id: str,
    investor_id: str,
    fund_id: str,
    amount_fen: int,
    now: datetime,
    business_date: date,
) -> Purchase:
    """The purchase of a fund buy; the buy's order shares the purchase's id."""
    return plan_purchase(
        purchase_id=purchase_id,
        kind=PurchaseKind.FUND_BUY,
        investor_id=investor_id,
        amount_fen=amount_fen,
        credit_account_id=FUNDS_OMNIBUS_ACCOUNT_ID,
        now=now,
        business_date=business_date,
        product_id=fund_id,
        fund_order_id=purchase_id,
    )
