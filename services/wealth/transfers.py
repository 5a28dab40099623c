"""Zhaocaibao (招财宝) transfers (变现): a listed holding bought by another investor.

A listing is reserved by the buyer's purchase from its try until its confirm or cancel, so
two buyers never pay for one holding; the try prices the whole transfer at once, so it
refuses what the confirm would (fixed_term.buy_listed_holding), and refuses a price that is
no longer the listing's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from chassis.errors import FailedPrecondition
from services.wealth.fixed_term import Holding
from services.wealth.fixed_term_transfers import (
    Transfer,
    TransferTerms,
    buy_listed_holding,
    transfer_terms,
)
from services.wealth.purchases import Purchase
from services.wealth.unknown import holding_not_found


@dataclass(frozen=True, slots=True)
class StoredHolding:
    """A holding and the buyer's purchase reserving its listing ("" if none)."""

    holding: Holding
    pending_purchase_id: str


def listing_reserved(holding_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"holding {holding_id} is being bought by another investor",
        reason="LISTING_RESERVED",
        metadata={"holding_id": holding_id},
    )


def require_unreserved(stored: StoredHolding) -> Holding:
    """The holding, unless a buyer's purchase has reserved its listing."""
    if stored.pending_purchase_id:
        raise listing_reserved(stored.holding.holding_id)
    return stored.holding


def require_holders(stored: StoredHolding, investor_id: str) -> StoredHolding:
    """The investor's holding; another's is NOT_FOUND (no hint that it exists)."""
    holding_id = stored.holding.holding_id
    if stored.holding.holder_id != investor_id:
        raise holding_not_found(holding_id)
    return stored


def try_transfer(
    stored: StoredHolding, *, buyer_id: str, purchase_id: str, price_fen: int, business_date: date
) -> Transfer:
    """The whole transfer a buyer's try agrees to: refused if the listing is reserved, or
    listed at another price than the buyer saw (LISTING_CHANGED)."""
    transfer = buy_listed_holding(
        require_unreserved(stored),
        buyer_id=buyer_id,
        new_holding_id=purchase_id,
        business_date=business_date,
    )
    if transfer.terms.price_fen != price_fen:
        raise FailedPrecondition(
            f"holding {stored.holding.holding_id} is listed at {transfer.terms.price_fen} fen",
            reason="LISTING_CHANGED",
            metadata={"price_fen": str(transfer.terms.price_fen)},
        )
    return transfer


def terms_of_repeated_try(stored: StoredHolding, purchase: Purchase) -> TransferTerms | None:
    """The terms a repeated try reports: those of the listing it still reserves, if it does."""
    assert purchase.business_date is not None
    if stored.pending_purchase_id != purchase.purchase_id:
        return None
    return transfer_terms(stored.holding, purchase.business_date)


def complete_transfer(stored: StoredHolding, purchase: Purchase) -> Transfer:
    """The transfer a confirmed purchase completes, priced on the business date of its try,
    so a confirm that arrives late still completes what the buyer agreed to."""
    assert stored.pending_purchase_id == purchase.purchase_id, "listing reserved by the try"
    assert purchase.business_date is not None
    return buy_listed_holding(
        stored.holding,
        buyer_id=purchase.investor_id,
        new_holding_id=purchase.purchase_id,
        business_date=purchase.business_date,
    )
