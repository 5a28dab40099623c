"""Zhaocaibao liquidate early (变现): selling a fixed-term holding to another investor.

A holder lists a holding at a price; another investor buys it and inherits the remaining
term, receiving principal + interest at maturity. The platform's fee is 0.2% of the principal
(DOMAIN.md §2, seed), rounded half-even to the fen and charged to the seller out of the price.
The price must leave the seller more than nothing and must not exceed what the buyer will be
paid at maturity. A holding can change hands from its value date until the day before
maturity; a listing not sold by maturity lapses (fixed_term.mature).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount
from services.wealth.fixed_term import (
    DAYS_PER_YEAR,
    EXACT,
    QUOTE,
    Holding,
    HoldingState,
    holding_payout,
    illegal_transition,
    require_id,
)

# 0.2% of principal, charged to the transferor (DOMAIN.md §2, seed).
EARLY_LIQUIDATION_FEE_RATE = Decimal("0.002")
# Buyer yields are shown to 4 decimals of a fraction (2 of a percent).
BUYER_YIELD_QUANTUM = Decimal("0.0001")


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


def early_liquidation_fee_fen(principal_fen: int) -> int:
    """The platform's fee for a transfer: 0.2% of principal, rounded half-even to the fen."""
    require_positive_amount(principal_fen, "principal")
    with localcontext(EXACT):
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
        raise illegal_transition("holding", holding.holding_id, holding.state, "list")
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
        raise illegal_transition("holding", holding.holding_id, holding.state, "withdraw")
    return replace(holding, state=HoldingState.HELD, listing_price_fen=0, listed_on=None)


def transfer_terms(holding: Holding, business_date: date) -> TransferTerms:
    """The money of buying a LISTED holding on business_date, and the buyer's yield."""
    if holding.state is not HoldingState.LISTED:
        raise illegal_transition("holding", holding.holding_id, holding.state, "price")
    price_fen = holding.listing_price_fen
    fee_fen = early_liquidation_fee_fen(holding.principal_fen)
    buyer_payout_fen = holding_payout(holding).payout_fen
    remaining_days = (holding.maturity_date - business_date).days
    if remaining_days <= 0:
        raise AssertionError(f"holding {holding.holding_id} has no term left to sell")
    # The buyer's simple annual yield over the remaining term, Actual/365, for display.
    buyer_annual_yield = QUOTE.divide(
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
        raise illegal_transition("holding", holding.holding_id, holding.state, "buy")
    require_id(buyer_id, "buyer_id")
    if buyer_id == holding.holder_id:
        raise InvalidArgument("an investor cannot buy their own listing", reason="SAME_ACCOUNT")
    _require_transferable(holding, business_date)
    terms = transfer_terms(holding, business_date)
    buyer_holding = Holding(
        holding_id=require_id(new_holding_id, "new_holding_id"),
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
