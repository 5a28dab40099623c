"""Policies: bought by try/confirm/cancel, then active until expiry or cancellation.

States: PENDING (tried, the premium not yet taken) → ACTIVE (confirmed with the premium's
transfers) → EXPIRED (the day after its end date, by the date-keyed job) or CANCELLED (by the
holder); PENDING → VOID when the purchase saga is undone. A cancellation arriving before the
try leaves a VOID tombstone, so the late try is refused (POLICY_PURCHASE_CANCELLED).

Refund on cancellation (a policy with a claim not yet settled cannot be cancelled; a policy
with a claim paid refunds nothing, its cover having been used):
- within the 15-day cooling-off period (cancelled on a business date before start + 15 days):
  the whole premium;
- later: premium x days left / term days, where days left = end date - cancellation date
  (the cancellation day itself is covered), ROUND_DOWN to the fen. Rounding down keeps the
  refund from ever exceeding the unearned premium and the insurer's share never goes
  negative; the policyholder loses under one fen, which stays with the insurer as earned
  premium (recorded: refund_residue).
The platform gives back its commission in the same proportion: commission returned =
commission x refund / premium, ROUND_DOWN; the insurer funds the rest of the refund.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from chassis.errors import FailedPrecondition
from services.insurance.pricing import Pricing, QuoteInputs
from services.insurance.products import Product, ProductKind
from services.insurance.quotes import Quote, consume_quote

COOLING_OFF_DAYS = 15


class PolicyState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    VOID = "void"


class RefundState(StrEnum):
    NONE = "none"
    OWED = "owed"
    PAID = "paid"


@dataclass(frozen=True, slots=True)
class Refund:
    refund_fen: int
    insurer_share_fen: int
    # The exact pro-rata refund less the refund paid (under one fen; 0 in cooling-off).
    residue_fen: Decimal


@dataclass(frozen=True, slots=True)
class Policy:
    policy_id: str
    product_id: str
    kind: ProductKind
    holder_id: str
    subject_id: str
    insurer_id: str
    insurer_account_id: str
    quote_id: str
    premium_fen: int
    commission_fen: int
    cover_fen: int
    term_days: int
    fixed_payout_fen: int
    created_at: datetime
    state: PolicyState = PolicyState.PENDING
    start_date: date | None = None
    end_date: date | None = None
    premium_transfer_id: str = ""
    insurer_transfer_id: str = ""
    claims_paid_fen: int = 0
    cancelled_on: date | None = None
    refund_state: RefundState = RefundState.NONE
    refund: Refund | None = None
    refund_insurer_transfer_id: str = ""
    refund_transfer_id: str = ""

    @property
    def insurer_premium_fen(self) -> int:
        return self.premium_fen - self.commission_fen


def illegal(policy: Policy, action: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"cannot {action} policy {policy.policy_id}: it is {policy.state.value}",
        reason="ILLEGAL_TRANSITION",
        metadata={"state": policy.state.value},
    )


def open_policy(
    policy_id: str,
    product: Product,
    *,
    holder_id: str,
    quote_id: str,
    pricing: Pricing,
    now: datetime,
) -> Policy:
    """The PENDING policy a try creates from its quote's pricing."""
    return Policy(
        policy_id=policy_id,
        product_id=product.product_id,
        kind=product.kind,
        holder_id=holder_id,
        subject_id=pricing.subject_id,
        insurer_id=product.insurer_id,
        insurer_account_id=product.insurer_account_id,
        quote_id=quote_id,
        premium_fen=pricing.premium_fen,
        commission_fen=pricing.commission_fen,
        cover_fen=pricing.cover_fen,
        term_days=pricing.term_days,
        fixed_payout_fen=pricing.fixed_payout_fen,
        created_at=now,
    )


def buy_from_quote(
    policy_id: str, product: Product, quote: Quote, inputs: QuoteInputs, now: datetime
) -> tuple[Quote, Policy]:
    """The try: the quote consumed (unexpired, same inputs) and the PENDING policy it prices."""
    consumed = consume_quote(quote, inputs, policy_id, now)
    policy = open_policy(
        policy_id,
        product,
        holder_id=inputs.holder_id,
        quote_id=quote.quote_id,
        pricing=quote.pricing,
        now=now,
    )
    return consumed, policy


def void_tombstone(policy_id: str, now: datetime) -> Policy:
    """What a purchase cancel arriving before its try leaves: a VOID policy with no terms."""
    return Policy(
        policy_id=policy_id,
        product_id="",
        kind=ProductKind.ACCOUNT_SECURITY,
        holder_id="",
        subject_id="",
        insurer_id="",
        insurer_account_id="",
        quote_id="",
        premium_fen=0,
        commission_fen=0,
        cover_fen=0,
        term_days=0,
        fixed_payout_fen=0,
        created_at=now,
        state=PolicyState.VOID,
    )


def require_same_try(policy: Policy, quote_id: str) -> Policy:
    """A repeated try of an existing policy id: the same quote, and not cancelled first."""
    if policy.state is PolicyState.VOID:
        raise FailedPrecondition(
            f"the purchase of policy {policy.policy_id} was cancelled",
            reason="POLICY_PURCHASE_CANCELLED",
        )
    if policy.quote_id != quote_id:
        raise FailedPrecondition(
            f"policy {policy.policy_id} was bought with another quote",
            reason="POLICY_MISMATCH",
            metadata={"quote_id": policy.quote_id},
        )
    return policy


def confirm_purchase(
    policy: Policy, premium_transfer_id: str, insurer_transfer_id: str, today: date
) -> Policy:
    """PENDING → ACTIVE, covering today .. today + term - 1; a repeat is unchanged."""
    if policy.state is PolicyState.VOID:
        raise FailedPrecondition(
            f"the purchase of policy {policy.policy_id} was cancelled",
            reason="POLICY_PURCHASE_CANCELLED",
        )
    if policy.state is not PolicyState.PENDING:
        transfers = (policy.premium_transfer_id, policy.insurer_transfer_id)
        if transfers != (premium_transfer_id, insurer_transfer_id):
            raise FailedPrecondition(
                f"policy {policy.policy_id} was confirmed by other transfers",
                reason="POLICY_MISMATCH",
                metadata={"premium_transfer_id": policy.premium_transfer_id},
            )
        return policy
    return replace(
        policy,
        state=PolicyState.ACTIVE,
        start_date=today,
        end_date=today + timedelta(days=policy.term_days - 1),
        premium_transfer_id=premium_transfer_id,
        insurer_transfer_id=insurer_transfer_id,
    )


def cancel_purchase(policy: Policy) -> Policy:
    """PENDING → VOID (a repeat is unchanged); a confirmed purchase cannot be undone."""
    if policy.state is PolicyState.VOID:
        return policy
    if policy.state is not PolicyState.PENDING:
        raise illegal(policy, "cancel the purchase of")
    return replace(policy, state=PolicyState.VOID)


def cancellation_refund(policy: Policy, cancelled_on: date) -> Refund:
    """Full within the cooling-off period, else pro rata by days left, ROUND_DOWN."""
    assert policy.start_date is not None and policy.end_date is not None
    if policy.claims_paid_fen:
        # The cover was used: nothing of the premium is unearned.
        return Refund(0, 0, Decimal(0))
    if cancelled_on < policy.start_date + timedelta(days=COOLING_OFF_DAYS):
        refund_fen, residue = policy.premium_fen, Decimal(0)
    else:
        days_left = max(0, (policy.end_date - cancelled_on).days)
        exact = Decimal(policy.premium_fen * days_left) / Decimal(policy.term_days)
        refund_fen = int(exact.to_integral_value(rounding=ROUND_DOWN))
        residue = exact - refund_fen
    commission_back = Decimal(policy.commission_fen * refund_fen) / Decimal(policy.premium_fen)
    commission_back_fen = int(commission_back.to_integral_value(rounding=ROUND_DOWN))
    refund = Refund(refund_fen, refund_fen - commission_back_fen, residue)
    assert 0 <= refund.insurer_share_fen <= refund.refund_fen <= policy.premium_fen
    assert refund.insurer_share_fen <= policy.insurer_premium_fen
    return refund


def cancel_policy(policy: Policy, today: date, claims_open: int) -> Policy:
    """ACTIVE → CANCELLED with its refund owed (a repeat is unchanged)."""
    if policy.state is PolicyState.CANCELLED:
        return policy
    if policy.state is not PolicyState.ACTIVE:
        raise illegal(policy, "cancel")
    if claims_open:
        raise FailedPrecondition(
            f"policy {policy.policy_id} has {claims_open} claim(s) not yet settled",
            reason="CLAIM_OPEN",
        )
    refund = cancellation_refund(policy, today)
    return replace(
        policy,
        state=PolicyState.CANCELLED,
        cancelled_on=today,
        refund=refund,
        refund_state=RefundState.OWED if refund.refund_fen else RefundState.NONE,
    )


def mark_refund_paid(policy: Policy, insurer_transfer_id: str, refund_transfer_id: str) -> Policy:
    """OWED → PAID with the refund's two transfers; a repeat is unchanged."""
    transfers = (insurer_transfer_id, refund_transfer_id)
    if policy.refund_state is RefundState.PAID:
        if (policy.refund_insurer_transfer_id, policy.refund_transfer_id) != transfers:
            raise FailedPrecondition(
                f"the refund of policy {policy.policy_id} was paid by other transfers",
                reason="POLICY_MISMATCH",
            )
        return policy
    if policy.refund_state is not RefundState.OWED:
        raise FailedPrecondition(
            f"policy {policy.policy_id} owes no refund",
            reason="ILLEGAL_TRANSITION",
            metadata={"state": policy.state.value, "refund_state": policy.refund_state.value},
        )
    return replace(
        policy,
        refund_state=RefundState.PAID,
        refund_insurer_transfer_id=insurer_transfer_id,
        refund_transfer_id=refund_transfer_id,
    )


def expire_policy(policy: Policy, business_date: date) -> Policy:
    """ACTIVE → EXPIRED once business_date is after the end date; otherwise unchanged."""
    if policy.state is not PolicyState.ACTIVE or policy.end_date is None:
        return policy
    if business_date <= policy.end_date:
        return policy
    return replace(policy, state=PolicyState.EXPIRED)


def require_active(policy: Policy) -> None:
    if policy.state is not PolicyState.ACTIVE:
        raise FailedPrecondition(
            f"policy {policy.policy_id} is {policy.state.value}",
            reason="POLICY_NOT_ACTIVE",
            metadata={"state": policy.state.value},
        )
