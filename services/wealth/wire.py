"""Proto ⇄ domain conversions of the wealth service (the wire format, in one place)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from chassis.errors import InvalidArgument
from chassis.wire import (
    date_text,
    decimal_from_text,
    decimal_to_text,
    money_to_proto,
    timestamp_to_proto,
)
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.audit import OmnibusFigures, WealthAudit
from services.wealth.fixed_term import (
    Holding,
    HoldingState,
    Product,
    ProductState,
    holding_payout,
    on_sale,
)
from services.wealth.fixed_term_reservations import Reservation, ReservationState
from services.wealth.fixed_term_transfers import TransferTerms, transfer_terms
from services.wealth.fund_orders import FundOrder, FundOrderState, OrderSide
from services.wealth.marketplace import Fund, FundCategory, RiskProfile
from services.wealth.payouts import Payout, PayoutKind, PayoutSettlement, PayoutState
from services.wealth.purchases import Purchase, PurchaseKind, PurchaseState
from services.wealth.yuebao import Allocation, AssetClass, Portfolio
from services.wealth.yuebao_accounts import Redemption, RedemptionMode, RedemptionState
from services.wealth.yuebao_income import IncomeCredit, IncomeRecord, IncomeRun

_PURCHASE_KIND = {
    PurchaseKind.YUEBAO_SUBSCRIPTION: pb.PURCHASE_KIND_YUEBAO_SUBSCRIPTION,
    PurchaseKind.PRODUCT_SUBSCRIPTION: pb.PURCHASE_KIND_PRODUCT_SUBSCRIPTION,
    PurchaseKind.TRANSFER: pb.PURCHASE_KIND_TRANSFER,
    PurchaseKind.FUND_BUY: pb.PURCHASE_KIND_FUND_BUY,
}
_PURCHASE_STATE = {
    PurchaseState.PENDING: pb.PURCHASE_STATE_PENDING,
    PurchaseState.CONFIRMED: pb.PURCHASE_STATE_CONFIRMED,
    PurchaseState.CANCELLED: pb.PURCHASE_STATE_CANCELLED,
}


def purchase_to_proto(purchase: Purchase) -> pb.Purchase:
    message = pb.Purchase(
        purchase_id=purchase.purchase_id,
        kind=pb.PURCHASE_KIND_UNSPECIFIED
        if purchase.cancelled_before_tried
        else _PURCHASE_KIND[purchase.kind],
        state=_PURCHASE_STATE[purchase.state],
        investor_id=purchase.investor_id,
        amount=money_to_proto(purchase.amount_fen),
        credit_account_id=purchase.credit_account_id,
        product_id=purchase.product_id,
        holding_id=purchase.holding_id,
        fund_order_id=purchase.fund_order_id,
        reservation_id=purchase.reservation_id,
        created_at=timestamp_to_proto(purchase.created_at),
        payment_posting_id=purchase.payment_posting_id,
        cancelled_before_tried=purchase.cancelled_before_tried,
    )
    if purchase.closed_at is not None:
        message.closed_at.CopyFrom(timestamp_to_proto(purchase.closed_at))
    return message


_PAYOUT_KIND = {
    PayoutKind.YUEBAO_FAST_REDEMPTION: pb.PAYOUT_KIND_YUEBAO_FAST_REDEMPTION,
    PayoutKind.YUEBAO_NORMAL_REDEMPTION: pb.PAYOUT_KIND_YUEBAO_NORMAL_REDEMPTION,
    PayoutKind.YUEBAO_INCOME: pb.PAYOUT_KIND_YUEBAO_INCOME,
    PayoutKind.MATURITY_PRINCIPAL: pb.PAYOUT_KIND_MATURITY_PRINCIPAL,
    PayoutKind.MATURITY_INTEREST: pb.PAYOUT_KIND_MATURITY_INTEREST,
    PayoutKind.TRANSFER_PROCEEDS: pb.PAYOUT_KIND_TRANSFER_PROCEEDS,
    PayoutKind.TRANSFER_FEE: pb.PAYOUT_KIND_TRANSFER_FEE,
    PayoutKind.FUND_SALE: pb.PAYOUT_KIND_FUND_SALE,
}
_PAYOUT_STATE = {
    PayoutState.DUE: pb.PAYOUT_STATE_DUE,
    PayoutState.PAID: pb.PAYOUT_STATE_PAID,
    PayoutState.CANCELLED: pb.PAYOUT_STATE_CANCELLED,
}
_PAYOUT_SETTLEMENT = {
    PayoutSettlement.SAGA: pb.PAYOUT_SETTLEMENT_SAGA,
    PayoutSettlement.SCHEDULED: pb.PAYOUT_SETTLEMENT_SCHEDULED,
}


def payout_to_proto(payout: Payout) -> pb.Payout:
    message = pb.Payout(
        payout_id=payout.payout_id,
        kind=_PAYOUT_KIND[payout.kind],
        state=_PAYOUT_STATE[payout.state],
        settlement=_PAYOUT_SETTLEMENT[payout.settlement],
        from_account_id=payout.from_account_id,
        to_account_id=payout.to_account_id,
        amount=money_to_proto(payout.amount_fen),
        due_on=payout.due_on.isoformat(),
        investor_id=payout.investor_id,
        reference=payout.reference,
        created_at=timestamp_to_proto(payout.created_at),
        payment_posting_id=payout.payment_posting_id,
    )
    if payout.paid_at is not None:
        message.paid_at.CopyFrom(timestamp_to_proto(payout.paid_at))
    return message


REDEMPTION_MODE_FROM_PROTO = {
    pb.REDEMPTION_MODE_FAST_THEN_NORMAL: RedemptionMode.FAST_THEN_NORMAL,
    pb.REDEMPTION_MODE_FAST_ONLY: RedemptionMode.FAST_ONLY,
    pb.REDEMPTION_MODE_NORMAL_ONLY: RedemptionMode.NORMAL_ONLY,
}
_REDEMPTION_STATE = {
    RedemptionState.ACTIVE: pb.REDEMPTION_STATE_ACTIVE,
    RedemptionState.CANCELLED: pb.REDEMPTION_STATE_CANCELLED,
}


def redemption_to_proto(redemption: Redemption, payouts: tuple[Payout, ...]) -> pb.Redemption:
    return pb.Redemption(
        redemption_id=redemption.redemption_id,
        investor_id=redemption.investor_id,
        state=_REDEMPTION_STATE[redemption.state],
        amount=money_to_proto(redemption.amount_fen),
        fast=money_to_proto(redemption.fast_fen),
        normal=money_to_proto(redemption.normal_fen),
        business_date=redemption.business_date.isoformat(),
        settles_on=redemption.settles_on.isoformat(),
        created_at=timestamp_to_proto(redemption.created_at),
        payouts=[payout_to_proto(payout) for payout in payouts],
        cancelled_before_created=redemption.cancelled_before_created,
    )


def income_to_proto(record: IncomeRecord) -> pb.YuebaoIncome:
    return pb.YuebaoIncome(
        investor_id=record.investor_id,
        business_date=record.business_date.isoformat(),
        income=money_to_proto(record.income_fen),
        shares_before=money_to_proto(record.shares_before_fen),
        income_per_10k_shares=str(record.income_per_10k_yuan),
        cumulative_income=money_to_proto(record.cumulative_income_fen),
    )


def portfolio_to_proto(portfolio: Portfolio) -> list[pb.PortfolioAllocation]:
    return [
        pb.PortfolioAllocation(
            asset_class=allocation.asset_class.value,
            weight=str(allocation.weight),
            annual_rate=str(allocation.annual_rate),
        )
        for allocation in portfolio.allocations
    ]


def portfolio_from_proto(allocations: Iterable[pb.PortfolioAllocation]) -> Portfolio:
    """A portfolio from the wire; the domain checks the weights and rates."""
    parsed = []
    for allocation in allocations:
        try:
            asset_class = AssetClass(allocation.asset_class)
        except ValueError:
            raise InvalidArgument(
                f"asset class {allocation.asset_class!r} is not known",
                reason="INVALID_PORTFOLIO",
                metadata={"field": "asset_class"},
            ) from None
        parsed.append(
            Allocation(
                asset_class,
                decimal_from_text(allocation.weight, "weight"),
                decimal_from_text(allocation.annual_rate, "annual_rate"),
            )
        )
    return Portfolio(allocations=tuple(parsed))


def income_credited_to_proto(
    credit: IncomeCredit, business_date: date, income_per_10k_yuan: Decimal
) -> pb.IncomeCredited:
    """The event of one holder's income credited as shares."""
    return pb.IncomeCredited(
        income=pb.YuebaoIncome(
            investor_id=credit.before.investor_id,
            business_date=business_date.isoformat(),
            income=money_to_proto(credit.income_fen),
            shares_before=money_to_proto(credit.base_fen),
            income_per_10k_shares=str(income_per_10k_yuan),
            cumulative_income=money_to_proto(credit.after.cumulative_income_fen),
        ),
        shares_after=money_to_proto(credit.after.shares_fen),
    )


def income_run_to_proto(run: IncomeRun, payout: Payout | None) -> pb.IncomeRun:
    message = pb.IncomeRun(
        business_date=run.business_date.isoformat(),
        state=pb.INCOME_RUN_STATE_COMPLETED if run.completed else pb.INCOME_RUN_STATE_RUNNING,
        income_per_10k_shares=str(run.income_per_10k_yuan),
        holders_paid=run.holders_paid,
        credited=money_to_proto(run.credited_fen),
        residue_added_fen=str(run.residue_added_fen),
        started_at=timestamp_to_proto(run.started_at),
    )
    if run.completed_at is not None:
        message.completed_at.CopyFrom(timestamp_to_proto(run.completed_at))
    if payout is not None:
        message.income_payout.CopyFrom(payout_to_proto(payout))
    return message


_PRODUCT_STATE = {
    ProductState.LISTED: pb.PRODUCT_STATE_LISTED,
    ProductState.CLOSED: pb.PRODUCT_STATE_CLOSED,
}


def product_to_proto(product: Product, now: datetime) -> pb.Product:
    return pb.Product(
        product_id=product.product_id,
        issuer=product.issuer,
        insurer=product.insurer,
        term_days=product.term_days,
        expected_annual_yield=str(product.expected_annual_yield),
        amount_min=money_to_proto(product.amount_fen_min),
        quota=money_to_proto(product.quota_fen),
        sold=money_to_proto(product.sold_fen),
        remaining_quota=money_to_proto(product.remaining_quota_fen),
        sale_starts_at=timestamp_to_proto(product.sale_starts_at),
        sale_ends_at=timestamp_to_proto(product.sale_ends_at),
        state=_PRODUCT_STATE[product.state],
        on_sale=on_sale(product, now),
    )


_HOLDING_STATE = {
    HoldingState.HELD: pb.HOLDING_STATE_HELD,
    HoldingState.LISTED: pb.HOLDING_STATE_LISTED,
    HoldingState.TRANSFERRED: pb.HOLDING_STATE_TRANSFERRED,
    HoldingState.MATURED: pb.HOLDING_STATE_MATURED,
}


def holding_to_proto(holding: Holding, pending_purchase_id: str = "") -> pb.Holding:
    return pb.Holding(
        holding_id=holding.holding_id,
        product_id=holding.product_id,
        investor_id=holding.holder_id,
        principal=money_to_proto(holding.principal_fen),
        annual_yield=str(holding.annual_yield),
        term_days=holding.term_days,
        value_date=holding.value_date.isoformat(),
        maturity_date=holding.maturity_date.isoformat(),
        cost=money_to_proto(holding.cost_fen),
        state=_HOLDING_STATE[holding.state],
        listing_price=money_to_proto(holding.listing_price_fen),
        listed_on=date_text(holding.listed_on),
        acquired_from_holding_id=holding.acquired_from_holding_id,
        maturity_payout=money_to_proto(holding_payout(holding).payout_fen),
        pending_purchase_id=pending_purchase_id,
    )


def transfer_terms_to_proto(terms: TransferTerms) -> pb.TransferTerms:
    return pb.TransferTerms(
        price=money_to_proto(terms.price_fen),
        fee=money_to_proto(terms.fee_fen),
        seller_proceeds=money_to_proto(terms.seller_proceeds_fen),
        buyer_payout=money_to_proto(terms.buyer_payout_fen),
        maturity_date=terms.maturity_date.isoformat(),
        remaining_days=terms.remaining_days,
        buyer_annual_yield=str(terms.buyer_annual_yield),
    )


def transfer_listing_to_proto(holding: Holding, business_date: date) -> pb.TransferListing:
    """A listed holding and what buying it on business_date costs and pays."""
    return pb.TransferListing(
        holding=holding_to_proto(holding),
        terms=transfer_terms_to_proto(transfer_terms(holding, business_date)),
    )


_RESERVATION_STATE = {
    ReservationState.ACTIVE: pb.RESERVATION_STATE_ACTIVE,
    ReservationState.FULFILLED: pb.RESERVATION_STATE_FULFILLED,
    ReservationState.EXPIRED: pb.RESERVATION_STATE_EXPIRED,
    ReservationState.CANCELLED: pb.RESERVATION_STATE_CANCELLED,
}


def reservation_to_proto(reservation: Reservation) -> pb.Reservation:
    return pb.Reservation(
        reservation_id=reservation.reservation_id,
        investor_id=reservation.investor_id,
        amount=money_to_proto(reservation.amount_fen),
        annual_yield_min=str(reservation.annual_yield_min),
        term_days_max=reservation.term_days_max,
        created_at=timestamp_to_proto(reservation.created_at),
        expires_at=timestamp_to_proto(reservation.expires_at),
        state=_RESERVATION_STATE[reservation.state],
        filled=money_to_proto(reservation.filled_fen),
        purchases=[
            pb.ReservationPurchase(
                product_id=purchase.product_id,
                amount=money_to_proto(purchase.amount_fen),
                purchased_at=timestamp_to_proto(purchase.purchased_at),
            )
            for purchase in reservation.purchases
        ],
    )


FUND_CATEGORY_FROM_PROTO = {
    pb.FUND_CATEGORY_MONEY_MARKET: FundCategory.MONEY_MARKET,
    pb.FUND_CATEGORY_BOND: FundCategory.BOND,
    pb.FUND_CATEGORY_MIXED: FundCategory.MIXED,
    pb.FUND_CATEGORY_EQUITY: FundCategory.EQUITY,
    pb.FUND_CATEGORY_INDEX: FundCategory.INDEX,
    pb.FUND_CATEGORY_GREEN: FundCategory.GREEN,
}
_FUND_CATEGORY = {category: value for value, category in FUND_CATEGORY_FROM_PROTO.items()}


def fund_to_proto(
    fund: Fund,
    latest_nav: tuple[date, Decimal] | None = None,
    one_year_return: Decimal | None = None,
) -> pb.Fund:
    return pb.Fund(
        fund_id=fund.fund_id,
        name=fund.name,
        category=_FUND_CATEGORY[fund.category],
        risk_level=int(fund.risk_level),
        latest_nav=str(latest_nav[1]) if latest_nav else "",
        latest_nav_date=latest_nav[0].isoformat() if latest_nav else "",
        one_year_return=decimal_to_text(one_year_return),
    )


def nav_to_proto(nav_date: date, nav_per_unit: Decimal) -> pb.NavPoint:
    return pb.NavPoint(nav_date=nav_date.isoformat(), nav_per_unit=str(nav_per_unit))


def risk_profile_to_proto(profile: RiskProfile) -> pb.RiskProfile:
    return pb.RiskProfile(
        investor_id=profile.investor_id,
        score=profile.score,
        level=int(profile.level),
        assessed_at=timestamp_to_proto(profile.assessed_at),
        expires_at=timestamp_to_proto(profile.expires_at),
    )


_ORDER_SIDE = {OrderSide.BUY: pb.ORDER_SIDE_BUY, OrderSide.SELL: pb.ORDER_SIDE_SELL}
_ORDER_STATE = {
    FundOrderState.AWAITING_FUNDS: pb.FUND_ORDER_STATE_AWAITING_FUNDS,
    FundOrderState.PENDING_NAV: pb.FUND_ORDER_STATE_PENDING_NAV,
    FundOrderState.PRICED: pb.FUND_ORDER_STATE_PRICED,
    FundOrderState.CANCELLED: pb.FUND_ORDER_STATE_CANCELLED,
}


def fund_order_to_proto(order: FundOrder) -> pb.FundOrder:
    message = pb.FundOrder(
        order_id=order.order_id,
        investor_id=order.investor_id,
        fund_id=order.fund_id,
        side=_ORDER_SIDE[order.side],
        state=_ORDER_STATE[order.state],
        amount=money_to_proto(order.amount_fen),
        units=str(order.units) if order.units else "",
        placed_at=timestamp_to_proto(order.placed_at),
        nav_date=order.nav_date.isoformat(),
        nav_per_unit=decimal_to_text(order.nav_per_unit),
        risk_acknowledged=order.risk_acknowledged,
        payout_id=order.payout_id,
    )
    if order.priced_at is not None:
        message.priced_at.CopyFrom(timestamp_to_proto(order.priced_at))
    return message


def omnibus_figures_to_proto(figures: OmnibusFigures) -> pb.OmnibusFigures:
    return pb.OmnibusFigures(
        account_id=figures.account_id,
        liabilities=money_to_proto(figures.liabilities_fen),
        payouts_owed=money_to_proto(figures.payouts_owed_fen),
        receivable=money_to_proto(figures.receivable_fen),
        expected_balance=money_to_proto(figures.expected_balance_fen),
        pending_purchases=money_to_proto(figures.pending_purchases_fen),
    )


def wealth_audit_to_proto(audit: WealthAudit) -> pb.GetWealthAuditResponse:
    return pb.GetWealthAuditResponse(
        omnibus=[omnibus_figures_to_proto(figures) for figures in audit.omnibus],
        breaches=list(audit.breaches),
    )
