"""Zhaocaibao (招财宝): fixed-term products with an insurer standing behind them (DOMAIN.md §2).

A partner institution (the issuer) offers a product for a term in days at an expected annual
yield, guaranteed by an insurer instead of a guarantee company. It sells inside a sale window
until its quota is reached; a product never sells more than its quota.

Dates. Business dates are calendar dates in China Standard Time (as in the payment service),
so no weekend or holiday is skipped:
- value date (起息日): the day after the subscription's business date (T+1); the day of
  subscription earns nothing, as the money is still being collected;
- maturity date (到期日) = value date + term_days. Interest accrues for exactly term_days days
  (the value date counts, the maturity date does not); principal and interest are paid to the
  balance on the maturity date by the business-date job.

Interest = principal * expected annual yield * term_days / 365 (Actual/365 Fixed: 365 in leap
years too), rounded half-even to the fen, so the half-fen cases do not all favour one side
over many holdings; the exact interest and the rounding residue are returned for the record.

This module holds products, holdings, subscription and maturity, and the term checks the
other fixed-term rules share; liquidating early (变现) is fixed_term_transfers.py and
reservations (预约) are fixed_term_reservations.py.

Holding states:

    HELD ──list──► LISTED ──buy──► TRANSFERRED   (the buyer gets a new HELD holding)
     │  ◄─withdraw─┘  │
     └──mature────────┴──► MATURED               (a listing not sold by maturity lapses)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount

# Actual/365 Fixed.
DAYS_PER_YEAR = 365
# Terms are held as data; five years bounds them (a product choice, above any product listed).
TERM_DAYS_MAX = 5 * 365
# A sanity ceiling on a yield held as data: no legitimate fixed-income product pays 24%.
ANNUAL_YIELD_MAX = Decimal("0.24")
ID_LENGTH_MAX = 200

# Money arithmetic is exact: any inexact result raises instead of rounding silently.
EXACT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
# Quotients (interest over 365 days, a yield) at 50 digits, rounded half-even.
QUOTE = Context(prec=50, rounding=ROUND_HALF_EVEN)


class ProductState(StrEnum):
    LISTED = "listed"  # published: subscribable inside its sale window while quota remains
    CLOSED = "closed"  # withdrawn by the issuer or the operator; no more subscriptions


class HoldingState(StrEnum):
    HELD = "held"
    LISTED = "listed"  # offered for transfer (变现); still the seller's until bought
    TRANSFERRED = "transferred"  # bought by another investor, who holds a new holding
    MATURED = "matured"  # principal and interest paid to the holder


@dataclass(frozen=True, slots=True)
class Product:
    """A fixed-term product as of one read; a subscription returns a new value."""

    product_id: str
    issuer: str
    insurer: str
    term_days: int
    expected_annual_yield: Decimal
    amount_fen_min: int
    quota_fen: int
    sale_starts_at: datetime
    sale_ends_at: datetime
    state: ProductState = ProductState.LISTED
    sold_fen: int = 0

    def __post_init__(self) -> None:
        # Never oversold: asserted on every product value, wherever it is made.
        if not 0 <= self.sold_fen <= self.quota_fen:
            raise AssertionError(
                f"product {self.product_id}: sold {self.sold_fen} of quota {self.quota_fen}"
            )

    @property
    def remaining_quota_fen(self) -> int:
        """What may still be sold."""
        return self.quota_fen - self.sold_fen


@dataclass(frozen=True, slots=True)
class Holding:
    """An investor's claim on a product: principal_fen back with interest at maturity."""

    holding_id: str
    product_id: str
    holder_id: str
    principal_fen: int
    annual_yield: Decimal
    term_days: int
    value_date: date
    maturity_date: date
    # What this holder paid: the principal when subscribed, the price when bought (变现).
    cost_fen: int
    state: HoldingState = HoldingState.HELD
    listing_price_fen: int = 0
    listed_on: date | None = None
    acquired_from_holding_id: str = ""


@dataclass(frozen=True, slots=True)
class MaturityPayout:
    """What a holding pays at maturity; interest_residue_fen = exact - paid interest."""

    principal_fen: int
    interest_fen: int
    interest_exact_fen: Decimal
    interest_residue_fen: Decimal

    @property
    def payout_fen(self) -> int:
        """Principal plus interest: the credit to the holder's balance."""
        return self.principal_fen + self.interest_fen


def require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("fixed-term rules need timezone-aware datetimes")


def require_id(value: str, field_name: str) -> str:
    if not value or len(value) > ID_LENGTH_MAX:
        raise InvalidArgument(
            f"{field_name} is required (at most {ID_LENGTH_MAX} characters)",
            metadata={"field": field_name},
        )
    return value


def require_term_days(term_days: int, field_name: str) -> int:
    if type(term_days) is not int or not 1 <= term_days <= TERM_DAYS_MAX:
        raise InvalidArgument(
            f"{field_name} must be 1 to {TERM_DAYS_MAX} days", metadata={"field": field_name}
        )
    return term_days


def require_yield(annual_yield: Decimal, field_name: str, *, zero_allowed: bool) -> Decimal:
    if not isinstance(annual_yield, Decimal) or not annual_yield.is_finite():
        raise InvalidArgument(f"{field_name} must be a Decimal", metadata={"field": field_name})
    above_floor = annual_yield >= 0 if zero_allowed else annual_yield > 0
    if not above_floor or annual_yield >= ANNUAL_YIELD_MAX:
        low = "0 or more" if zero_allowed else "above 0"
        raise InvalidArgument(
            f"{field_name} must be {low} and below {ANNUAL_YIELD_MAX}",
            metadata={"field": field_name},
        )
    return annual_yield


def illegal_transition(
    kind: str, object_id: str, state: StrEnum, action: str
) -> FailedPrecondition:
    return FailedPrecondition(
        f"{kind} {object_id} is {state.value}; cannot {action}",
        reason="ILLEGAL_TRANSITION",
        metadata={f"{kind}_id": object_id, "state": state.value, "action": action},
    )


def create_product(
    *,
    product_id: str,
    issuer: str,
    insurer: str,
    term_days: int,
    expected_annual_yield: Decimal,
    amount_fen_min: int,
    quota_fen: int,
    sale_starts_at: datetime,
    sale_ends_at: datetime,
) -> Product:
    """A new LISTED product with nothing sold, after checking every term."""
    require_aware(sale_starts_at)
    require_aware(sale_ends_at)
    require_positive_amount(quota_fen, "quota")
    require_positive_amount(amount_fen_min, "minimum amount")
    if amount_fen_min > quota_fen:
        raise InvalidArgument(
            "the minimum amount exceeds the quota", metadata={"field": "amount_fen_min"}
        )
    if sale_ends_at <= sale_starts_at:
        raise InvalidArgument("the sale window ends before it starts", metadata={"field": "sale"})
    return Product(
        product_id=require_id(product_id, "product_id"),
        issuer=require_id(issuer, "issuer"),
        # The seed's point: an insurer, not a guarantee company, stands behind every product.
        insurer=require_id(insurer, "insurer"),
        term_days=require_term_days(term_days, "term_days"),
        expected_annual_yield=require_yield(
            expected_annual_yield, "expected_annual_yield", zero_allowed=False
        ),
        amount_fen_min=amount_fen_min,
        quota_fen=quota_fen,
        sale_starts_at=sale_starts_at,
        sale_ends_at=sale_ends_at,
    )


def close_product(product: Product) -> Product:
    """LISTED → CLOSED: the issuer or operator stops the sale; closing twice changes nothing."""
    return replace(product, state=ProductState.CLOSED)


def on_sale(product: Product, now: datetime) -> bool:
    """True if the product is LISTED and now is inside [sale_starts_at, sale_ends_at)."""
    require_aware(now)
    return (
        product.state is ProductState.LISTED
        and product.sale_starts_at <= now < product.sale_ends_at
    )


def check_subscription(product: Product, amount_fen: int, now: datetime) -> None:
    """Refuse a subscription off sale, below the minimum or above the remaining quota."""
    require_positive_amount(amount_fen, "subscription amount")
    if not on_sale(product, now):
        if product.state is not ProductState.LISTED:
            why = "closed"
        elif now < product.sale_starts_at:
            why = "sale_not_started"
        else:
            why = "sale_ended"
        raise FailedPrecondition(
            f"product {product.product_id} is not on sale ({why})",
            reason="PRODUCT_NOT_ON_SALE",
            metadata={"product_id": product.product_id, "why": why},
        )
    if amount_fen < product.amount_fen_min:
        raise FailedPrecondition(
            f"{amount_fen} fen is below the product's minimum of {product.amount_fen_min} fen",
            reason="BELOW_MINIMUM",
            metadata={
                "product_id": product.product_id,
                "amount_fen_min": str(product.amount_fen_min),
            },
        )
    if amount_fen > product.remaining_quota_fen:
        raise FailedPrecondition(
            f"{amount_fen} fen exceeds the {product.remaining_quota_fen} fen left of "
            f"product {product.product_id}'s quota",
            reason="QUOTA_EXCEEDED",
            metadata={
                "product_id": product.product_id,
                "remaining_quota_fen": str(product.remaining_quota_fen),
            },
        )


def value_date_for(subscribed_on: date) -> date:
    """The value date (起息日): the day after the subscription's business date (T+1)."""
    return subscribed_on + timedelta(days=1)


def maturity_date_for(value_date: date, term_days: int) -> date:
    """The maturity date (到期日): term_days after the value date."""
    return value_date + timedelta(days=require_term_days(term_days, "term_days"))


def subscribe(
    product: Product,
    *,
    holding_id: str,
    holder_id: str,
    amount_fen: int,
    now: datetime,
    business_date: date,
) -> tuple[Product, Holding]:
    """The product with amount_fen more sold, and the new holding (business_date: of now)."""
    check_subscription(product, amount_fen, now)
    value_date = value_date_for(business_date)
    holding = Holding(
        holding_id=require_id(holding_id, "holding_id"),
        product_id=product.product_id,
        holder_id=require_id(holder_id, "holder_id"),
        principal_fen=amount_fen,
        annual_yield=product.expected_annual_yield,
        term_days=product.term_days,
        value_date=value_date,
        maturity_date=maturity_date_for(value_date, product.term_days),
        cost_fen=amount_fen,
    )
    return replace(product, sold_fen=product.sold_fen + amount_fen), holding


def maturity_payout(principal_fen: int, annual_yield: Decimal, term_days: int) -> MaturityPayout:
    """Principal + principal * yield * term_days / 365, interest rounded half-even to the fen."""
    require_positive_amount(principal_fen, "principal")
    require_term_days(term_days, "term_days")
    require_yield(annual_yield, "annual_yield", zero_allowed=True)
    with localcontext(EXACT):
        # Multiply first: principal * yield * days is exact, so the only inexact step is
        # the single division by 365, done at 50 digits before rounding to the fen.
        numerator = principal_fen * annual_yield * term_days
    interest_exact_fen = QUOTE.divide(numerator, Decimal(DAYS_PER_YEAR))
    interest_fen = int(interest_exact_fen.to_integral_value(rounding=ROUND_HALF_EVEN))
    return MaturityPayout(
        principal_fen=principal_fen,
        interest_fen=interest_fen,
        interest_exact_fen=interest_exact_fen,
        interest_residue_fen=QUOTE.subtract(interest_exact_fen, Decimal(interest_fen)),
    )


def holding_payout(holding: Holding) -> MaturityPayout:
    """What this holding pays at maturity (to whoever holds it then)."""
    return maturity_payout(holding.principal_fen, holding.annual_yield, holding.term_days)


def maturity_due(holding: Holding, business_date: date) -> bool:
    """True if the holding is unpaid and its maturity date has come (the job's query)."""
    return (
        holding.state in (HoldingState.HELD, HoldingState.LISTED)
        and business_date >= holding.maturity_date
    )


def mature(holding: Holding, business_date: date) -> Holding:
    """HELD/LISTED → MATURED on or after the maturity date; an unsold listing lapses."""
    if holding.state not in (HoldingState.HELD, HoldingState.LISTED):
        raise illegal_transition("holding", holding.holding_id, holding.state, "mature")
    if business_date < holding.maturity_date:
        raise FailedPrecondition(
            f"holding {holding.holding_id} matures on {holding.maturity_date.isoformat()}",
            reason="HOLDING_NOT_MATURED",
            metadata={
                "holding_id": holding.holding_id,
                "maturity_date": holding.maturity_date.isoformat(),
            },
        )
    return replace(holding, state=HoldingState.MATURED, listing_price_fen=0, listed_on=None)
