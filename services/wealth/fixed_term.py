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

Liquidate early (变现): a holder lists a holding at a price; another investor buys it and
inherits the remaining term, receiving principal + interest at maturity. The platform's fee is
0.2% of the principal (DOMAIN.md §2, seed), rounded half-even to the fen and charged to the
seller out of the price. The price must leave the seller more than nothing and must not exceed
what the buyer will be paid at maturity.

Reservation (预约): an investor asks for amount_fen, a minimum yield and a maximum term; for
30 days every matching product on sale buys into it automatically, funds permitting, in
reservation order, possibly across several products until the amount is reached.

Holding states:

    HELD ──list──► LISTED ──buy──► TRANSFERRED   (the buyer gets a new HELD holding)
     │  ◄─withdraw─┘  │
     └──mature────────┴──► MATURED               (a listing not sold by maturity lapses)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from typing import NamedTuple

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount

# Actual/365 Fixed.
DAYS_PER_YEAR = 365
# Terms are held as data; five years bounds them (a product choice, above any product listed).
TERM_DAYS_MAX = 5 * 365
# A sanity ceiling on a yield held as data: no legitimate fixed-income product pays 24%.
ANNUAL_YIELD_MAX = Decimal("0.24")
# 0.2% of principal, charged to the transferor (DOMAIN.md §2, seed).
EARLY_LIQUIDATION_FEE_RATE = Decimal("0.002")
# A reservation subscribes automatically for one month (DOMAIN.md §2, seed): 30 days.
RESERVATION_VALID_FOR = timedelta(days=30)
# A reservation records at most this many purchases; reaching it closes the reservation.
RESERVATION_PURCHASES_MAX = 20
# One allocation run covers at most this many reservations (the store pages them).
RESERVATIONS_PER_ALLOCATION_MAX = 10_000
ID_LENGTH_MAX = 200
# Buyer yields are shown to 4 decimals of a fraction (2 of a percent).
BUYER_YIELD_QUANTUM = Decimal("0.0001")

# Money arithmetic is exact: any inexact result raises instead of rounding silently.
_EXACT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
_QUOTE = Context(prec=50, rounding=ROUND_HALF_EVEN)


class ProductState(StrEnum):
    LISTED = "listed"  # published: subscribable inside its sale window while quota remains
    CLOSED = "closed"  # withdrawn by the issuer or the operator; no more subscriptions


class HoldingState(StrEnum):
    HELD = "held"
    LISTED = "listed"  # offered for transfer (变现); still the seller's until bought
    TRANSFERRED = "transferred"  # bought by another investor, who holds a new holding
    MATURED = "matured"  # principal and interest paid to the holder


class ReservationState(StrEnum):
    ACTIVE = "active"
    FULFILLED = "fulfilled"  # bought its whole amount, or reached RESERVATION_PURCHASES_MAX
    EXPIRED = "expired"
    CANCELLED = "cancelled"


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


@dataclass(frozen=True, slots=True)
class TransferTerms:
    """The money of a transfer: the buyer pays price_fen = fee_fen + seller_proceeds_fen."""

    price_fen: int
    fee_fen: int
    seller_proceeds_fen: int
    buyer_payout_fen: int
    maturity_date: date
    remaining_days: int
    buyer_annual_yield: Decimal


@dataclass(frozen=True, slots=True)
class Transfer:
    """A completed transfer: the seller's holding closed, the buyer's opened, the money."""

    seller_holding: Holding
    buyer_holding: Holding
    terms: TransferTerms


@dataclass(frozen=True, slots=True)
class ReservationPurchase:
    """One product a reservation bought into."""

    product_id: str
    amount_fen: int
    purchased_at: datetime


@dataclass(frozen=True, slots=True)
class Reservation:
    """An investor's standing order (预约) for matching products, for 30 days."""

    reservation_id: str
    investor_id: str
    amount_fen: int
    annual_yield_min: Decimal
    term_days_max: int
    created_at: datetime
    expires_at: datetime
    state: ReservationState = ReservationState.ACTIVE
    filled_fen: int = 0
    purchases: tuple[ReservationPurchase, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.filled_fen <= self.amount_fen:
            raise AssertionError(f"reservation {self.reservation_id} overfilled")
        if sum(purchase.amount_fen for purchase in self.purchases) != self.filled_fen:
            raise AssertionError(f"reservation {self.reservation_id}: purchases != filled")

    @property
    def remaining_fen(self) -> int:
        """What the reservation may still buy."""
        return self.amount_fen - self.filled_fen


class ReservationFill(NamedTuple):
    """One reservation's share of a product's quota."""

    reservation_id: str
    amount_fen: int


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("fixed-term rules need timezone-aware datetimes")


def _require_id(value: str, field_name: str) -> str:
    if not value or len(value) > ID_LENGTH_MAX:
        raise InvalidArgument(
            f"{field_name} is required (at most {ID_LENGTH_MAX} characters)",
            metadata={"field": field_name},
        )
    return value


def _require_term_days(term_days: int, field_name: str) -> int:
    if type(term_days) is not int or not 1 <= term_days <= TERM_DAYS_MAX:
        raise InvalidArgument(
            f"{field_name} must be 1 to {TERM_DAYS_MAX} days", metadata={"field": field_name}
        )
    return term_days


def _require_yield(annual_yield: Decimal, field_name: str, *, zero_allowed: bool) -> Decimal:
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


def _illegal(kind: str, object_id: str, state: StrEnum, action: str) -> FailedPrecondition:
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
    _require_aware(sale_starts_at)
    _require_aware(sale_ends_at)
    require_positive_amount(quota_fen, "quota")
    require_positive_amount(amount_fen_min, "minimum amount")
    if amount_fen_min > quota_fen:
        raise InvalidArgument(
            "the minimum amount exceeds the quota", metadata={"field": "amount_fen_min"}
        )
    if sale_ends_at <= sale_starts_at:
        raise InvalidArgument("the sale window ends before it starts", metadata={"field": "sale"})
    return Product(
        product_id=_require_id(product_id, "product_id"),
        issuer=_require_id(issuer, "issuer"),
        # The seed's point: an insurer, not a guarantee company, stands behind every product.
        insurer=_require_id(insurer, "insurer"),
        term_days=_require_term_days(term_days, "term_days"),
        expected_annual_yield=_require_yield(
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
    _require_aware(now)
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
    return value_date + timedelta(days=_require_term_days(term_days, "term_days"))


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
        holding_id=_require_id(holding_id, "holding_id"),
        product_id=product.product_id,
        holder_id=_require_id(holder_id, "holder_id"),
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
    _require_term_days(term_days, "term_days")
    _require_yield(annual_yield, "annual_yield", zero_allowed=True)
    with localcontext(_EXACT):
        # Multiply first: principal * yield * days is exact, so the only inexact step is
        # the single division by 365, done at 50 digits before rounding to the fen.
        numerator = principal_fen * annual_yield * term_days
    interest_exact_fen = _QUOTE.divide(numerator, Decimal(DAYS_PER_YEAR))
    interest_fen = int(interest_exact_fen.to_integral_value(rounding=ROUND_HALF_EVEN))
    return MaturityPayout(
        principal_fen=principal_fen,
        interest_fen=interest_fen,
        interest_exact_fen=interest_exact_fen,
        interest_residue_fen=_QUOTE.subtract(interest_exact_fen, Decimal(interest_fen)),
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
        raise _illegal("holding", holding.holding_id, holding.state, "mature")
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


def early_liquidation_fee_fen(principal_fen: int) -> int:
    """The platform's fee for a transfer: 0.2% of principal, rounded half-even to the fen."""
    require_positive_amount(principal_fen, "principal")
    with localcontext(_EXACT):
        fee_exact_fen = principal_fen * EARLY_LIQUIDATION_FEE_RATE
    return int(fee_exact_fen.to_integral_value(rounding=ROUND_HALF_EVEN))


def seller_proceeds_fen(price_fen: int, principal_fen: int) -> int:
    """What the seller receives: the price less the 0.2%-of-principal fee."""
    return price_fen - early_liquidation_fee_fen(principal_fen)


def listing_price_range_fen(holding: Holding) -> tuple[int, int]:
    """The lowest and highest price a listing may ask (inclusive)."""
    # Above the fee, so the seller receives something; at most the maturity payout, so the
    # buyer is never certain to lose money.
    price_fen_min = early_liquidation_fee_fen(holding.principal_fen) + 1
    return price_fen_min, holding_payout(holding).payout_fen


def _require_transferable(holding: Holding, business_date: date) -> None:
    if not holding.value_date <= business_date < holding.maturity_date:
        raise FailedPrecondition(
            f"holding {holding.holding_id} can change hands from its value date "
            f"{holding.value_date.isoformat()} until the day before maturity "
            f"{holding.maturity_date.isoformat()}",
            reason="HOLDING_NOT_TRANSFERABLE",
            metadata={
                "holding_id": holding.holding_id,
                "value_date": holding.value_date.isoformat(),
                "maturity_date": holding.maturity_date.isoformat(),
            },
        )


def list_for_transfer(holding: Holding, price_fen: int, business_date: date) -> Holding:
    """HELD → LISTED at price_fen, between the value date and the day before maturity."""
    if holding.state is not HoldingState.HELD:
        raise _illegal("holding", holding.holding_id, holding.state, "list")
    _require_transferable(holding, business_date)
    price_fen_min, price_fen_max = listing_price_range_fen(holding)
    if type(price_fen) is not int or not price_fen_min <= price_fen <= price_fen_max:
        raise InvalidArgument(
            f"the price must be {price_fen_min} to {price_fen_max} fen",
            reason="INVALID_AMOUNT",
            metadata={"price_fen_min": str(price_fen_min), "price_fen_max": str(price_fen_max)},
        )
    return replace(
        holding, state=HoldingState.LISTED, listing_price_fen=price_fen, listed_on=business_date
    )


def withdraw_listing(holding: Holding) -> Holding:
    """LISTED → HELD: the seller takes the holding off the market."""
    if holding.state is not HoldingState.LISTED:
        raise _illegal("holding", holding.holding_id, holding.state, "withdraw")
    return replace(holding, state=HoldingState.HELD, listing_price_fen=0, listed_on=None)


def transfer_terms(holding: Holding, business_date: date) -> TransferTerms:
    """The money of buying a LISTED holding on business_date, and the buyer's yield."""
    if holding.state is not HoldingState.LISTED:
        raise _illegal("holding", holding.holding_id, holding.state, "price")
    price_fen = holding.listing_price_fen
    fee_fen = early_liquidation_fee_fen(holding.principal_fen)
    buyer_payout_fen = holding_payout(holding).payout_fen
    remaining_days = (holding.maturity_date - business_date).days
    if remaining_days <= 0:
        raise AssertionError(f"holding {holding.holding_id} has no term left to sell")
    # The buyer's simple annual yield over the remaining term, Actual/365, for display.
    buyer_annual_yield = _QUOTE.divide(
        Decimal((buyer_payout_fen - price_fen) * DAYS_PER_YEAR),
        Decimal(price_fen * remaining_days),
    ).quantize(BUYER_YIELD_QUANTUM, rounding=ROUND_HALF_EVEN)
    terms = TransferTerms(
        price_fen=price_fen,
        fee_fen=fee_fen,
        seller_proceeds_fen=price_fen - fee_fen,
        buyer_payout_fen=buyer_payout_fen,
        maturity_date=holding.maturity_date,
        remaining_days=remaining_days,
        buyer_annual_yield=buyer_annual_yield,
    )
    # The listing's price was checked when listed; a value outside it is bad data, not a sale.
    if not 0 < terms.seller_proceeds_fen <= terms.price_fen <= terms.buyer_payout_fen:
        raise AssertionError(f"transfer of {holding.holding_id} out of range: {terms}")
    return terms


def buy_listed_holding(
    holding: Holding, *, buyer_id: str, new_holding_id: str, business_date: date
) -> Transfer:
    """LISTED → TRANSFERRED; the buyer's new holding keeps the principal, yield and dates."""
    if holding.state is not HoldingState.LISTED:
        raise _illegal("holding", holding.holding_id, holding.state, "buy")
    _require_id(buyer_id, "buyer_id")
    if buyer_id == holding.holder_id:
        raise InvalidArgument("an investor cannot buy their own listing", reason="SAME_ACCOUNT")
    _require_transferable(holding, business_date)
    terms = transfer_terms(holding, business_date)
    buyer_holding = Holding(
        holding_id=_require_id(new_holding_id, "new_holding_id"),
        product_id=holding.product_id,
        holder_id=buyer_id,
        principal_fen=holding.principal_fen,
        annual_yield=holding.annual_yield,
        term_days=holding.term_days,
        value_date=holding.value_date,
        maturity_date=holding.maturity_date,
        cost_fen=terms.price_fen,
        acquired_from_holding_id=holding.holding_id,
    )
    seller_holding = replace(holding, state=HoldingState.TRANSFERRED)
    return Transfer(seller_holding=seller_holding, buyer_holding=buyer_holding, terms=terms)


def create_reservation(
    *,
    reservation_id: str,
    investor_id: str,
    amount_fen: int,
    annual_yield_min: Decimal,
    term_days_max: int,
    now: datetime,
) -> Reservation:
    """A new ACTIVE reservation, expiring 30 days after now."""
    _require_aware(now)
    return Reservation(
        reservation_id=_require_id(reservation_id, "reservation_id"),
        investor_id=_require_id(investor_id, "investor_id"),
        amount_fen=require_positive_amount(amount_fen, "reservation amount"),
        annual_yield_min=_require_yield(annual_yield_min, "annual_yield_min", zero_allowed=True),
        term_days_max=_require_term_days(term_days_max, "term_days_max"),
        created_at=now,
        expires_at=now + RESERVATION_VALID_FOR,
    )


def matches(reservation: Reservation, product: Product, now: datetime) -> bool:
    """True if the reservation is live, the product on sale and within its conditions."""
    _require_aware(now)
    return (
        reservation.state is ReservationState.ACTIVE
        and reservation.created_at <= now < reservation.expires_at
        and on_sale(product, now)
        and product.expected_annual_yield >= reservation.annual_yield_min
        and product.term_days <= reservation.term_days_max
        and reservation.remaining_fen >= product.amount_fen_min
        and product.remaining_quota_fen >= product.amount_fen_min
    )


def _reservation_order(reservation: Reservation) -> tuple[datetime, str]:
    return reservation.created_at, reservation.reservation_id


def allocate_reservations(
    product_remaining_quota_fen: int,
    reservations: Sequence[Reservation],
    funds_available_fen_by_investor: Mapping[str, int],
    *,
    amount_fen_min: int = 1,
) -> list[ReservationFill]:
    """Share a product's quota among matching reservations, first come first served.

    Each reservation in turn takes the least of what it still wants, what its investor has
    left (shared by the investor's reservations) and the quota left; a share below the
    product's minimum is skipped. Once a reservation is cut short by the quota, none after
    it gets anything.
    """
    if len(reservations) > RESERVATIONS_PER_ALLOCATION_MAX:
        raise ValueError(f"at most {RESERVATIONS_PER_ALLOCATION_MAX} reservations per run")
    if product_remaining_quota_fen < 0 or amount_fen_min < 1:
        raise ValueError("the quota is non-negative and the minimum at least 1 fen")
    orders = [_reservation_order(reservation) for reservation in reservations]
    if orders != sorted(orders) or len(set(orders)) != len(orders):
        raise ValueError("reservations must be distinct and in reservation order")
    funds_left_fen = dict(funds_available_fen_by_investor)
    if any(funds_fen < 0 for funds_fen in funds_left_fen.values()):
        raise ValueError("available funds cannot be negative")
    quota_left_fen = product_remaining_quota_fen
    fills: list[ReservationFill] = []
    for reservation in reservations:
        if reservation.state is not ReservationState.ACTIVE:
            raise ValueError(f"reservation {reservation.reservation_id} is not active")
        if quota_left_fen < amount_fen_min:
            break
        funds_fen = funds_left_fen.get(reservation.investor_id, 0)
        take_fen = min(reservation.remaining_fen, funds_fen, quota_left_fen)
        if take_fen < amount_fen_min:
            continue
        fills.append(ReservationFill(reservation.reservation_id, take_fen))
        funds_left_fen[reservation.investor_id] = funds_fen - take_fen
        quota_left_fen -= take_fen
    if sum(fill.amount_fen for fill in fills) > product_remaining_quota_fen:
        raise AssertionError("reservations oversold the product")
    return fills


def record_purchase(
    reservation: Reservation, *, product_id: str, amount_fen: int, now: datetime
) -> Reservation:
    """The reservation after buying amount_fen of a product; FULFILLED once complete."""
    if reservation.state is not ReservationState.ACTIVE:
        raise _illegal("reservation", reservation.reservation_id, reservation.state, "purchase")
    require_positive_amount(amount_fen, "purchase amount")
    if amount_fen > reservation.remaining_fen:
        raise InvalidArgument(
            f"{amount_fen} fen exceeds the {reservation.remaining_fen} fen the reservation "
            "still wants",
            reason="INVALID_AMOUNT",
        )
    purchases = (*reservation.purchases, ReservationPurchase(product_id, amount_fen, now))
    filled_fen = reservation.filled_fen + amount_fen
    complete = filled_fen == reservation.amount_fen or len(purchases) >= RESERVATION_PURCHASES_MAX
    return replace(
        reservation,
        filled_fen=filled_fen,
        purchases=purchases,
        state=ReservationState.FULFILLED if complete else ReservationState.ACTIVE,
    )


def expire_reservation(reservation: Reservation, now: datetime) -> Reservation:
    """ACTIVE → EXPIRED once its 30 days have passed (run by the business-date job)."""
    _require_aware(now)
    if reservation.state is not ReservationState.ACTIVE:
        raise _illegal("reservation", reservation.reservation_id, reservation.state, "expire")
    if now < reservation.expires_at:
        raise FailedPrecondition(
            f"reservation {reservation.reservation_id} runs until "
            f"{reservation.expires_at.isoformat()}",
            reason="RESERVATION_NOT_EXPIRED",
            metadata={
                "reservation_id": reservation.reservation_id,
                "expires_at": reservation.expires_at.isoformat(),
            },
        )
    return replace(reservation, state=ReservationState.EXPIRED)


def cancel_reservation(reservation: Reservation) -> Reservation:
    """ACTIVE → CANCELLED by the investor; what it already bought stays bought."""
    if reservation.state is not ReservationState.ACTIVE:
        raise _illegal("reservation", reservation.reservation_id, reservation.state, "cancel")
    return replace(reservation, state=ReservationState.CANCELLED)
