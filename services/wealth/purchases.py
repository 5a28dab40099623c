"""The wealth side of every purchase: try, confirm, cancel (the TCC a purchase saga runs).

Money is the payment ledger's business; a purchase crosses both services. The gateway's saga
holds the investor's money in payment, tries the purchase here, captures the hold into the
product line's omnibus account, then confirms the purchase here (DESIGN.md "Holds (TCC)").

- Try (IssueShares, SubscribeProduct, BuyTransferListing, BuyFund, AllocateReservations)
  records a PENDING purchase and reserves what it buys: fixed-term quota, a listing, a fund
  order awaiting funds. The investor gets nothing usable yet, so a cancel can always undo it.
- Confirm gives the investor what was bought: shares, a holding, a funded order.
- Cancel releases what the try reserved. A cancel that arrives before its try is recorded
  (a tombstone), so the late try is refused: no reservation is ever left behind by a saga
  that already gave up (the same rule as the payment service's holds).

States:

    PENDING ──confirm──► CONFIRMED
       └─────cancel────► CANCELLED   (also: cancel before try)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount
from services.wealth.fixed_term_reservations import Reservation, ReservationState

PURCHASE_ID_LENGTH_MAX = 200


class PurchaseKind(StrEnum):
    YUEBAO_SUBSCRIPTION = "yuebao_subscription"
    PRODUCT_SUBSCRIPTION = "product_subscription"
    TRANSFER = "transfer"
    FUND_BUY = "fund_buy"


class PurchaseState(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Purchase:
    """One purchase's wealth side; amount_fen is what the investor's hold must capture."""

    purchase_id: str
    kind: PurchaseKind
    investor_id: str
    amount_fen: int
    credit_account_id: str
    created_at: datetime
    business_date: date | None
    state: PurchaseState = PurchaseState.PENDING
    product_id: str = ""
    holding_id: str = ""
    fund_order_id: str = ""
    reservation_id: str = ""
    closed_at: datetime | None = None
    payment_posting_id: str = ""
    cancelled_before_tried: bool = False

    @property
    def is_pending(self) -> bool:
        return self.state is PurchaseState.PENDING


def require_purchase_id(purchase_id: str) -> str:
    """Return purchase_id if usable, else refuse the call."""
    if not purchase_id or len(purchase_id) > PURCHASE_ID_LENGTH_MAX:
        raise InvalidArgument(
            f"purchase_id is required (at most {PURCHASE_ID_LENGTH_MAX} characters)",
            metadata={"field": "purchase_id"},
        )
    return purchase_id


def plan_purchase(
    *,
    purchase_id: str,
    kind: PurchaseKind,
    investor_id: str,
    amount_fen: int,
    credit_account_id: str,
    now: datetime,
    business_date: date,
    product_id: str = "",
    holding_id: str = "",
    fund_order_id: str = "",
    reservation_id: str = "",
) -> Purchase:
    """A new PENDING purchase (the record of a try)."""
    if not investor_id:
        raise InvalidArgument("investor_id is required", metadata={"field": "investor_id"})
    return Purchase(
        purchase_id=require_purchase_id(purchase_id),
        kind=kind,
        investor_id=investor_id,
        amount_fen=require_positive_amount(amount_fen, "purchase amount"),
        credit_account_id=credit_account_id,
        created_at=now,
        business_date=business_date,
        product_id=product_id,
        holding_id=holding_id,
        fund_order_id=fund_order_id,
        reservation_id=reservation_id,
    )


def _cancelled(purchase: Purchase) -> FailedPrecondition:
    return FailedPrecondition(
        f"purchase {purchase.purchase_id} was cancelled",
        reason="PURCHASE_CANCELLED",
        metadata={"purchase_id": purchase.purchase_id},
    )


def check_repeated_try(existing: Purchase, requested: Purchase) -> Purchase:
    """The stored purchase if a repeated try asks for the same thing; else refuse.

    The fund order id is the service's, not the caller's, so it is not compared.
    """
    if existing.state is PurchaseState.CANCELLED:
        raise _cancelled(existing)
    same_terms = (
        existing.kind,
        existing.investor_id,
        existing.amount_fen,
        existing.product_id,
        existing.holding_id,
    ) == (
        requested.kind,
        requested.investor_id,
        requested.amount_fen,
        requested.product_id,
        requested.holding_id,
    )
    if not same_terms:
        raise FailedPrecondition(
            f"purchase {existing.purchase_id} exists with different terms",
            reason="PURCHASE_MISMATCH",
            metadata={"purchase_id": existing.purchase_id},
        )
    return existing


def plan_confirm(purchase: Purchase, payment_posting_id: str, now: datetime) -> Purchase:
    """PENDING → CONFIRMED; a confirmed purchase is returned as it is (a repeated confirm)."""
    if purchase.state is PurchaseState.CONFIRMED:
        return purchase
    if purchase.state is PurchaseState.CANCELLED:
        raise _cancelled(purchase)
    return replace(
        purchase,
        state=PurchaseState.CONFIRMED,
        closed_at=now,
        payment_posting_id=payment_posting_id,
    )


def plan_cancel(purchase: Purchase, now: datetime) -> Purchase:
    """PENDING → CANCELLED; a cancelled purchase is returned as it is; a confirmed one refused."""
    if purchase.state is PurchaseState.CANCELLED:
        return purchase
    if purchase.state is PurchaseState.CONFIRMED:
        raise FailedPrecondition(
            f"purchase {purchase.purchase_id} is already confirmed; it cannot be cancelled",
            reason="PURCHASE_ALREADY_CONFIRMED",
            metadata={"purchase_id": purchase.purchase_id},
        )
    return replace(purchase, state=PurchaseState.CANCELLED, closed_at=now)


def cancel_before_try(purchase_id: str, now: datetime) -> Purchase:
    """The tombstone of a purchase cancelled before its try arrived: the id is burnt."""
    return Purchase(
        purchase_id=require_purchase_id(purchase_id),
        kind=PurchaseKind.YUEBAO_SUBSCRIPTION,  # unknown; never read for a tombstone
        investor_id="",
        amount_fen=0,
        credit_account_id="",
        created_at=now,
        business_date=None,
        state=PurchaseState.CANCELLED,
        closed_at=now,
        cancelled_before_tried=True,
    )


def release_reservation_purchase(
    reservation: Reservation, *, product_id: str, amount_fen: int, purchased_at: datetime
) -> Reservation:
    """Undo fixed_term.record_purchase when the allocation's purchase is cancelled.

    The amount goes back to what the reservation still wants; a reservation that the
    allocation had fulfilled becomes ACTIVE again (it may still buy, until it expires).
    """
    kept = list(reservation.purchases)
    for index, purchase in enumerate(kept):
        if (purchase.product_id, purchase.amount_fen, purchase.purchased_at) == (
            product_id,
            amount_fen,
            purchased_at,
        ):
            del kept[index]
            break
    else:
        raise AssertionError(
            f"reservation {reservation.reservation_id} has no purchase of {amount_fen} fen "
            f"of {product_id} at {purchased_at.isoformat()}"
        )
    state = reservation.state
    if state is ReservationState.FULFILLED:
        state = ReservationState.ACTIVE
    return replace(
        reservation,
        purchases=tuple(kept),
        filled_fen=reservation.filled_fen - amount_fen,
        state=state,
    )
