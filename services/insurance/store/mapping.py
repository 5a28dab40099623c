"""Documents ⇄ domain objects for every insurance collection (the store modules' one mapping).

Dates are ISO strings (they sort), money integer fen, the refund residue a decimal string.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from chassis.mongo import Document
from services.insurance.claims import Claim, ClaimState, Evidence, EvidenceKind
from services.insurance.policies import Policy, PolicyState, Refund, RefundState
from services.insurance.pricing import Pricing
from services.insurance.products import ProductKind
from services.insurance.quotes import Quote


def day_text(day: date | None) -> str | None:
    return day.isoformat() if day else None


def day_of(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def quote_to_document(quote: Quote) -> Document:
    pricing = quote.pricing
    return {
        "_id": quote.quote_id,
        "product_id": quote.product_id,
        "holder_id": quote.holder_id,
        "inputs_hash": quote.inputs_hash,
        "premium_fen": pricing.premium_fen,
        "commission_fen": pricing.commission_fen,
        "cover_fen": pricing.cover_fen,
        "term_days": pricing.term_days,
        "subject_id": pricing.subject_id,
        "fixed_payout_fen": pricing.fixed_payout_fen,
        "quoted_at": quote.quoted_at,
        "policy_id": quote.policy_id,
    }


def quote_from_document(document: Document) -> Quote:
    return Quote(
        quote_id=document["_id"],
        product_id=document["product_id"],
        holder_id=document["holder_id"],
        inputs_hash=document["inputs_hash"],
        pricing=Pricing(
            premium_fen=document["premium_fen"],
            commission_fen=document["commission_fen"],
            cover_fen=document["cover_fen"],
            term_days=document["term_days"],
            subject_id=document["subject_id"],
            fixed_payout_fen=document["fixed_payout_fen"],
        ),
        quoted_at=document["quoted_at"],
        policy_id=document["policy_id"],
    )


def policy_to_document(policy: Policy) -> Document:
    refund = policy.refund
    return {
        "_id": policy.policy_id,
        "product_id": policy.product_id,
        "kind": policy.kind.value,
        "holder_id": policy.holder_id,
        "subject_id": policy.subject_id,
        "insurer_id": policy.insurer_id,
        "insurer_account_id": policy.insurer_account_id,
        "quote_id": policy.quote_id,
        "premium_fen": policy.premium_fen,
        "commission_fen": policy.commission_fen,
        "cover_fen": policy.cover_fen,
        "term_days": policy.term_days,
        "fixed_payout_fen": policy.fixed_payout_fen,
        "created_at": policy.created_at,
        "state": policy.state.value,
        "start_date": day_text(policy.start_date),
        "end_date": day_text(policy.end_date),
        "premium_transfer_id": policy.premium_transfer_id,
        "insurer_transfer_id": policy.insurer_transfer_id,
        "claims_paid_fen": policy.claims_paid_fen,
        "cancelled_on": day_text(policy.cancelled_on),
        "refund_state": policy.refund_state.value,
        "refund_fen": refund.refund_fen if refund else 0,
        "refund_insurer_share_fen": refund.insurer_share_fen if refund else 0,
        "refund_residue_fen": str(refund.residue_fen) if refund else "0",
        "refund_insurer_transfer_id": policy.refund_insurer_transfer_id,
        "refund_transfer_id": policy.refund_transfer_id,
    }


def policy_from_document(document: Document) -> Policy:
    refund = None
    if document["cancelled_on"]:
        refund = Refund(
            document["refund_fen"],
            document["refund_insurer_share_fen"],
            Decimal(document["refund_residue_fen"]),
        )
    return Policy(
        policy_id=document["_id"],
        product_id=document["product_id"],
        kind=ProductKind(document["kind"]),
        holder_id=document["holder_id"],
        subject_id=document["subject_id"],
        insurer_id=document["insurer_id"],
        insurer_account_id=document["insurer_account_id"],
        quote_id=document["quote_id"],
        premium_fen=document["premium_fen"],
        commission_fen=document["commission_fen"],
        cover_fen=document["cover_fen"],
        term_days=document["term_days"],
        fixed_payout_fen=document["fixed_payout_fen"],
        created_at=document["created_at"],
        state=PolicyState(document["state"]),
        start_date=day_of(document["start_date"]),
        end_date=day_of(document["end_date"]),
        premium_transfer_id=document["premium_transfer_id"],
        insurer_transfer_id=document["insurer_transfer_id"],
        claims_paid_fen=document["claims_paid_fen"],
        cancelled_on=day_of(document["cancelled_on"]),
        refund_state=RefundState(document["refund_state"]),
        refund=refund,
        refund_insurer_transfer_id=document["refund_insurer_transfer_id"],
        refund_transfer_id=document["refund_transfer_id"],
    )


def evidence_to_document(evidence: Evidence) -> Document:
    return {
        "kind": evidence.kind.value,
        "reference": evidence.reference,
        "attested_by": evidence.attested_by,
        "note": evidence.note,
    }


def evidence_from_document(document: Document) -> Evidence:
    return Evidence(
        EvidenceKind(document["kind"]),
        document["reference"],
        document["attested_by"],
        document["note"],
    )


def claim_to_document(claim: Claim) -> Document:
    return {
        "_id": claim.claim_id,
        "policy_id": claim.policy_id,
        "product_id": claim.product_id,
        "kind": claim.kind.value,
        "beneficiary_id": claim.beneficiary_id,
        "event_reference": claim.event_reference,
        "amount_fen": claim.amount_fen,
        "insurer_account_id": claim.insurer_account_id,
        "submitted_at": claim.submitted_at,
        "state": claim.state.value,
        "evidence": [evidence_to_document(item) for item in claim.evidence],
        "decision_reason": claim.decision_reason,
        "decided_by": claim.decided_by,
        "decided_at": claim.decided_at,
        "insurer_transfer_id": claim.insurer_transfer_id,
        "payout_transfer_id": claim.payout_transfer_id,
        "paid_at": claim.paid_at,
    }


def claim_from_document(document: Document) -> Claim:
    return Claim(
        claim_id=document["_id"],
        policy_id=document["policy_id"],
        product_id=document["product_id"],
        kind=ProductKind(document["kind"]),
        beneficiary_id=document["beneficiary_id"],
        event_reference=document["event_reference"],
        amount_fen=document["amount_fen"],
        insurer_account_id=document["insurer_account_id"],
        submitted_at=document["submitted_at"],
        state=ClaimState(document["state"]),
        evidence=tuple(evidence_from_document(item) for item in document["evidence"]),
        decision_reason=document["decision_reason"],
        decided_by=document["decided_by"],
        decided_at=document["decided_at"],
        insurer_transfer_id=document["insurer_transfer_id"],
        payout_transfer_id=document["payout_transfer_id"],
        paid_at=document["paid_at"],
    )
