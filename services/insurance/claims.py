"""Claims: the state machine, the automatic adjudication rules per product, duplicates, cover.

SUBMITTED → ADJUDICATING → APPROVED or REJECTED; APPROVED → PAID (CLAIM_TRANSITIONS). Any
other move is refused with ILLEGAL_TRANSITION naming the claim's state.

Automatic adjudication (run when a claim is submitted and whenever evidence is added):
- return shipping: approved when told the insured trade was refunded (TRADE_REFUNDED whose
  reference is the trade); the payout is the product's fixed amount, whatever is asked;
- account security: approved when an operator ("operator:<id>") or payment risk control
  ("payment-risk") confirms the unauthorised debit named by the claim's event reference;
- merchant deposit (消保险): approved when a buyer's approved refund failed for lack of the
  merchant's funds (MERCHANT_REFUND_UNFUNDED for the claim's event, the refund id); the buyer
  is the beneficiary;
- travel and health: no automatic rule; an operator reviews every claim.
Evidence that matches no rule leaves the claim ADJUDICATING, listed for operator review.

One claim per policy and event reference (DUPLICATE_CLAIM names the first). A claim may not
exceed the remaining cover: cover - the amounts of the policy's claims not rejected (paid,
approved or still open), so two open claims can never together exceed the cover.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount
from services.insurance.policies import Policy, require_active
from services.insurance.products import ProductKind

EVIDENCE_PER_CLAIM_MAX = 20
PAYMENT_RISK_CONTROL = "payment-risk"
OPERATOR_PREFIX = "operator:"


class ClaimState(StrEnum):
    SUBMITTED = "submitted"
    ADJUDICATING = "adjudicating"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"


CLAIM_TRANSITIONS: dict[ClaimState, frozenset[ClaimState]] = {
    ClaimState.SUBMITTED: frozenset({ClaimState.ADJUDICATING}),
    ClaimState.ADJUDICATING: frozenset({ClaimState.APPROVED, ClaimState.REJECTED}),
    ClaimState.APPROVED: frozenset({ClaimState.PAID}),
    ClaimState.REJECTED: frozenset(),
    ClaimState.PAID: frozenset(),
}
OPEN_STATES = frozenset({ClaimState.SUBMITTED, ClaimState.ADJUDICATING, ClaimState.APPROVED})


class EvidenceKind(StrEnum):
    TRADE_REFUNDED = "trade_refunded"
    UNAUTHORISED_DEBIT_CONFIRMED = "unauthorised_debit_confirmed"
    MERCHANT_REFUND_UNFUNDED = "merchant_refund_unfunded"
    DOCUMENTS = "documents"


@dataclass(frozen=True, slots=True)
class Evidence:
    kind: EvidenceKind
    reference: str
    attested_by: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Claim:
    claim_id: str
    policy_id: str
    product_id: str
    kind: ProductKind
    beneficiary_id: str
    event_reference: str
    amount_fen: int
    insurer_account_id: str
    submitted_at: datetime
    state: ClaimState = ClaimState.SUBMITTED
    evidence: tuple[Evidence, ...] = ()
    decision_reason: str = ""
    decided_by: str = ""
    decided_at: datetime | None = None
    insurer_transfer_id: str = ""
    payout_transfer_id: str = ""
    paid_at: datetime | None = None


def transition(claim: Claim, target: ClaimState) -> Claim:
    """The claim in state target, or ILLEGAL_TRANSITION naming its state."""
    if target not in CLAIM_TRANSITIONS[claim.state]:
        raise FailedPrecondition(
            f"claim {claim.claim_id} is {claim.state.value}: it cannot become {target.value}",
            reason="ILLEGAL_TRANSITION",
            metadata={"state": claim.state.value, "target": target.value},
        )
    return replace(claim, state=target)


def remaining_cover_fen(policy: Policy, claims_not_rejected_fen: int) -> int:
    """Cover less every claim of the policy that is not rejected."""
    return max(0, policy.cover_fen - claims_not_rejected_fen)


def require_not_duplicate(first: Claim | None, claim_id: str) -> None:
    """Refuse a second claim for the same policy and event."""
    if first is not None and first.claim_id != claim_id:
        raise FailedPrecondition(
            f"claim {first.claim_id} is already filed for this policy and event",
            reason="DUPLICATE_CLAIM",
            metadata={"claim_id": first.claim_id, "state": first.state.value},
        )


def claimed_amount_fen(policy: Policy, amount_fen: int) -> int:
    """The fixed payout for return shipping; otherwise the positive amount asked."""
    if policy.kind is ProductKind.RETURN_SHIPPING:
        return policy.fixed_payout_fen
    return require_positive_amount(amount_fen)


def submit_claim(
    claim_id: str,
    policy: Policy,
    *,
    event_reference: str,
    amount_fen: int,
    beneficiary_id: str,
    evidence: tuple[Evidence, ...],
    claims_not_rejected_fen: int,
    now: datetime,
) -> Claim:
    """A claim on an active policy, taken into adjudication and decided if a rule applies."""
    require_active(policy)
    if not event_reference:
        raise InvalidArgument("event_reference is required", metadata={"field": "event_reference"})
    if policy.kind is ProductKind.RETURN_SHIPPING and event_reference != policy.subject_id:
        raise InvalidArgument(
            f"a return-shipping claim is for the insured trade {policy.subject_id}",
            metadata={"field": "event_reference"},
        )
    if policy.kind is ProductKind.MERCHANT_DEPOSIT and not beneficiary_id:
        raise InvalidArgument(
            "a deposit-insurance claim names the buyer as beneficiary_id",
            metadata={"field": "beneficiary_id"},
        )
    claimed_fen = claimed_amount_fen(policy, amount_fen)
    remaining_fen = remaining_cover_fen(policy, claims_not_rejected_fen)
    if claimed_fen > remaining_fen:
        raise FailedPrecondition(
            f"claim of {claimed_fen} fen exceeds the remaining cover of {remaining_fen} fen",
            reason="CLAIM_EXCEEDS_COVER",
            metadata={"cover_remaining_fen": str(remaining_fen)},
        )
    claim = Claim(
        claim_id=claim_id,
        policy_id=policy.policy_id,
        product_id=policy.product_id,
        kind=policy.kind,
        beneficiary_id=beneficiary_id or policy.holder_id,
        event_reference=event_reference,
        amount_fen=claimed_fen,
        insurer_account_id=policy.insurer_account_id,
        submitted_at=now,
        evidence=_bounded(evidence),
    )
    return adjudicate(transition(claim, ClaimState.ADJUDICATING), policy, now)


def add_evidence(claim: Claim, policy: Policy, evidence: Evidence, now: datetime) -> Claim:
    """Evidence for a claim in adjudication, then the automatic rules again."""
    if claim.state is not ClaimState.ADJUDICATING:
        raise FailedPrecondition(
            f"claim {claim.claim_id} is {claim.state.value}: no evidence is taken",
            reason="ILLEGAL_TRANSITION",
            metadata={"state": claim.state.value},
        )
    return adjudicate(replace(claim, evidence=_bounded((*claim.evidence, evidence))), policy, now)


def _bounded(evidence: tuple[Evidence, ...]) -> tuple[Evidence, ...]:
    if len(evidence) > EVIDENCE_PER_CLAIM_MAX:
        raise InvalidArgument(f"at most {EVIDENCE_PER_CLAIM_MAX} pieces of evidence a claim")
    return evidence


def automatic_approval(claim: Claim, policy: Policy) -> str:
    """Why the product's rule approves the claim ("" when no rule applies yet)."""
    for item in claim.evidence:
        if (
            claim.kind is ProductKind.RETURN_SHIPPING
            and item.kind is EvidenceKind.TRADE_REFUNDED
            and item.reference == policy.subject_id
        ):
            return f"trade {policy.subject_id} was refunded"
        if (
            claim.kind is ProductKind.ACCOUNT_SECURITY
            and item.kind is EvidenceKind.UNAUTHORISED_DEBIT_CONFIRMED
            and item.reference == claim.event_reference
            and (item.attested_by == PAYMENT_RISK_CONTROL or _is_operator(item.attested_by))
        ):
            return f"unauthorised debit {item.reference} confirmed by {item.attested_by}"
        if (
            claim.kind is ProductKind.MERCHANT_DEPOSIT
            and item.kind is EvidenceKind.MERCHANT_REFUND_UNFUNDED
            and item.reference == claim.event_reference
        ):
            return f"refund {item.reference} failed for lack of the merchant's funds"
    return ""


def _is_operator(attested_by: str) -> bool:
    return attested_by.startswith(OPERATOR_PREFIX) and len(attested_by) > len(OPERATOR_PREFIX)


def adjudicate(claim: Claim, policy: Policy, now: datetime) -> Claim:
    """ADJUDICATING → APPROVED when the product's rule is met; otherwise unchanged."""
    reason = automatic_approval(claim, policy)
    if claim.state is not ClaimState.ADJUDICATING or not reason:
        return claim
    approved = transition(claim, ClaimState.APPROVED)
    return replace(approved, decision_reason=reason, decided_by="automatic", decided_at=now)


def review_claim(
    claim: Claim, *, approve: bool, operator_id: str, reason: str, now: datetime
) -> Claim:
    """An operator's decision on a claim in adjudication; a rejection carries its reason."""
    if not operator_id:
        raise InvalidArgument("operator_id is required", metadata={"field": "operator_id"})
    if not approve and not reason:
        raise InvalidArgument("a rejection carries its reason", metadata={"field": "reason"})
    target = ClaimState.APPROVED if approve else ClaimState.REJECTED
    decided = transition(claim, target)
    return replace(
        decided,
        decision_reason=reason or "approved on review",
        decided_by=f"{OPERATOR_PREFIX}{operator_id}",
        decided_at=now,
    )


def mark_claim_paid(
    claim: Claim, insurer_transfer_id: str, payout_transfer_id: str, now: datetime
) -> Claim:
    """APPROVED → PAID with the payout's transfers; a repeat with the same ones is unchanged."""
    if claim.state is ClaimState.PAID:
        if (claim.insurer_transfer_id, claim.payout_transfer_id) != (
            insurer_transfer_id,
            payout_transfer_id,
        ):
            raise FailedPrecondition(
                f"claim {claim.claim_id} was paid by other transfers",
                reason="CLAIM_MISMATCH",
                metadata={"payout_transfer_id": claim.payout_transfer_id},
            )
        return claim
    paid = transition(claim, ClaimState.PAID)
    return replace(
        paid,
        insurer_transfer_id=insurer_transfer_id,
        payout_transfer_id=payout_transfer_id,
        paid_at=now,
    )


def record_claim_paid(policy: Policy, claim: Claim) -> Policy:
    """The policy's paid claims grow by the claim (never past the cover)."""
    paid_fen = policy.claims_paid_fen + claim.amount_fen
    assert paid_fen <= policy.cover_fen, f"{policy.policy_id}: claims paid past the cover"
    return replace(policy, claims_paid_fen=paid_fen)
