"""Proto ⇄ domain for the insurance messages (common shapes: chassis.wire)."""

from __future__ import annotations

from collections.abc import Sequence

from chassis.errors import InvalidArgument
from chassis.wire import amount_from_proto, date_text, money_to_proto, timestamp_to_proto
from colony.common.v1 import money_pb2
from colony.insurance.v1 import insurance_pb2 as pb
from services.insurance.books import AccountFigures, ProductFigures
from services.insurance.claims import (
    EVIDENCE_PER_CLAIM_MAX,
    Claim,
    ClaimState,
    Evidence,
    EvidenceKind,
)
from services.insurance.policies import Policy, PolicyState, RefundState
from services.insurance.pricing import QuoteInputs
from services.insurance.products import Product, ProductKind
from services.insurance.quotes import Quote

ID_LENGTH_MAX = 128
RISK_SIGNALS_MAX = 20

KIND_TO_PROTO = {
    ProductKind.ACCOUNT_SECURITY: pb.PRODUCT_KIND_ACCOUNT_SECURITY,
    ProductKind.RETURN_SHIPPING: pb.PRODUCT_KIND_RETURN_SHIPPING,
    ProductKind.MERCHANT_DEPOSIT: pb.PRODUCT_KIND_MERCHANT_DEPOSIT,
    ProductKind.TRAVEL: pb.PRODUCT_KIND_TRAVEL,
    ProductKind.HEALTH: pb.PRODUCT_KIND_HEALTH,
}
POLICY_STATE_TO_PROTO = {
    PolicyState.PENDING: pb.POLICY_STATE_PENDING,
    PolicyState.ACTIVE: pb.POLICY_STATE_ACTIVE,
    PolicyState.EXPIRED: pb.POLICY_STATE_EXPIRED,
    PolicyState.CANCELLED: pb.POLICY_STATE_CANCELLED,
    PolicyState.VOID: pb.POLICY_STATE_VOID,
}
REFUND_STATE_TO_PROTO = {
    RefundState.NONE: pb.REFUND_STATE_NONE,
    RefundState.OWED: pb.REFUND_STATE_OWED,
    RefundState.PAID: pb.REFUND_STATE_PAID,
}
CLAIM_STATE_TO_PROTO = {
    ClaimState.SUBMITTED: pb.CLAIM_STATE_SUBMITTED,
    ClaimState.ADJUDICATING: pb.CLAIM_STATE_ADJUDICATING,
    ClaimState.APPROVED: pb.CLAIM_STATE_APPROVED,
    ClaimState.REJECTED: pb.CLAIM_STATE_REJECTED,
    ClaimState.PAID: pb.CLAIM_STATE_PAID,
}
CLAIM_STATE_FROM_PROTO = {value: state for state, value in CLAIM_STATE_TO_PROTO.items()}
EVIDENCE_TO_PROTO = {
    EvidenceKind.TRADE_REFUNDED: pb.EVIDENCE_KIND_TRADE_REFUNDED,
    EvidenceKind.UNAUTHORISED_DEBIT_CONFIRMED: pb.EVIDENCE_KIND_UNAUTHORISED_DEBIT_CONFIRMED,
    EvidenceKind.MERCHANT_REFUND_UNFUNDED: pb.EVIDENCE_KIND_MERCHANT_REFUND_UNFUNDED,
    EvidenceKind.DOCUMENTS: pb.EVIDENCE_KIND_DOCUMENTS,
}
EVIDENCE_FROM_PROTO = {value: kind for kind, value in EVIDENCE_TO_PROTO.items()}


def require_id(value: str, field: str) -> str:
    """A required identifier of bounded length."""
    if not value or len(value) > ID_LENGTH_MAX:
        raise InvalidArgument(
            f"{field} is required (1..{ID_LENGTH_MAX} characters)", metadata={"field": field}
        )
    return value


def optional_amount_fen(amount: money_pb2.Money, field: str) -> int:
    """0 for an unset Money, else its positive fen amount."""
    if amount.amount_fen == 0 and not amount.currency:
        return 0
    return amount_from_proto(amount, field)


def quote_inputs_from_proto(inputs: pb.QuoteInputs) -> QuoteInputs:
    if len(inputs.risk_signals) > RISK_SIGNALS_MAX:
        raise InvalidArgument("too many risk_signals", metadata={"field": "risk_signals"})
    return QuoteInputs(
        product_id=require_id(inputs.product_id, "product_id"),
        holder_id=require_id(inputs.holder_id, "holder_id"),
        credit_score=inputs.credit_score,
        risk_signals=tuple(sorted(set(inputs.risk_signals))),
        trade_id=inputs.trade_id,
        trade_amount_fen=optional_amount_fen(inputs.trade_amount, "trade_amount"),
        merchant_refund_rate_bps=inputs.merchant_refund_rate_bps,
        cover_fen=optional_amount_fen(inputs.cover, "cover"),
        insured_age=inputs.insured_age,
        duration_days=inputs.duration_days,
    )


def product_to_proto(product: Product) -> pb.Product:
    return pb.Product(
        product_id=product.product_id,
        kind=KIND_TO_PROTO[product.kind],
        name=product.name,
        insurer_id=product.insurer_id,
        insurer_account_id=product.insurer_account_id,
        commission_rate=str(product.commission_rate),
        cover_max=money_to_proto(product.cover_max_fen),
        pricing_rule=product.pricing_rule,
    )


def quote_to_proto(quote: Quote) -> pb.Quote:
    pricing = quote.pricing
    return pb.Quote(
        quote_id=quote.quote_id,
        product_id=quote.product_id,
        holder_id=quote.holder_id,
        inputs_hash=quote.inputs_hash,
        premium=money_to_proto(pricing.premium_fen),
        commission=money_to_proto(pricing.commission_fen),
        cover=money_to_proto(pricing.cover_fen),
        term_days=pricing.term_days,
        quoted_at=timestamp_to_proto(quote.quoted_at),
        expires_at=timestamp_to_proto(quote.expires_at),
        policy_id=quote.policy_id,
        subject_id=pricing.subject_id,
    )


def policy_to_proto(policy: Policy, cover_remaining_fen: int) -> pb.Policy:
    refund = policy.refund
    return pb.Policy(
        policy_id=policy.policy_id,
        product_id=policy.product_id,
        kind=KIND_TO_PROTO[policy.kind] if policy.product_id else pb.PRODUCT_KIND_UNSPECIFIED,
        holder_id=policy.holder_id,
        subject_id=policy.subject_id,
        insurer_id=policy.insurer_id,
        insurer_account_id=policy.insurer_account_id,
        state=POLICY_STATE_TO_PROTO[policy.state],
        premium=money_to_proto(policy.premium_fen),
        commission=money_to_proto(policy.commission_fen),
        insurer_premium=money_to_proto(policy.insurer_premium_fen),
        cover=money_to_proto(policy.cover_fen),
        claims_paid=money_to_proto(policy.claims_paid_fen),
        cover_remaining=money_to_proto(cover_remaining_fen),
        term_days=policy.term_days,
        start_date=date_text(policy.start_date),
        end_date=date_text(policy.end_date),
        quote_id=policy.quote_id,
        premium_transfer_id=policy.premium_transfer_id,
        insurer_transfer_id=policy.insurer_transfer_id,
        cancelled_on=date_text(policy.cancelled_on),
        refund_state=REFUND_STATE_TO_PROTO[policy.refund_state],
        refund=money_to_proto(refund.refund_fen if refund else 0),
        refund_insurer_share=money_to_proto(refund.insurer_share_fen if refund else 0),
        refund_insurer_transfer_id=policy.refund_insurer_transfer_id,
        refund_transfer_id=policy.refund_transfer_id,
        created_at=timestamp_to_proto(policy.created_at),
        fixed_payout=money_to_proto(policy.fixed_payout_fen),
    )


def evidence_from_proto(evidence: pb.Evidence) -> Evidence:
    if evidence.kind not in EVIDENCE_FROM_PROTO:
        raise InvalidArgument("evidence kind is required", metadata={"field": "evidence.kind"})
    return Evidence(
        kind=EVIDENCE_FROM_PROTO[evidence.kind],
        reference=require_id(evidence.reference, "evidence.reference"),
        attested_by=evidence.attested_by,
        note=evidence.note[:500],
    )


def evidence_list_from_proto(items: Sequence[pb.Evidence]) -> tuple[Evidence, ...]:
    """A claim's evidence, at most EVIDENCE_PER_CLAIM_MAX pieces."""
    if len(items) > EVIDENCE_PER_CLAIM_MAX:
        raise InvalidArgument(f"at most {EVIDENCE_PER_CLAIM_MAX} pieces of evidence")
    return tuple(evidence_from_proto(item) for item in items)


def evidence_to_proto(evidence: Evidence) -> pb.Evidence:
    return pb.Evidence(
        kind=EVIDENCE_TO_PROTO[evidence.kind],
        reference=evidence.reference,
        attested_by=evidence.attested_by,
        note=evidence.note,
    )


def claim_to_proto(claim: Claim) -> pb.Claim:
    return pb.Claim(
        claim_id=claim.claim_id,
        policy_id=claim.policy_id,
        product_id=claim.product_id,
        kind=KIND_TO_PROTO[claim.kind],
        beneficiary_id=claim.beneficiary_id,
        event_reference=claim.event_reference,
        amount=money_to_proto(claim.amount_fen),
        state=CLAIM_STATE_TO_PROTO[claim.state],
        evidence=[evidence_to_proto(item) for item in claim.evidence],
        decision_reason=claim.decision_reason,
        decided_by=claim.decided_by,
        insurer_transfer_id=claim.insurer_transfer_id,
        payout_transfer_id=claim.payout_transfer_id,
        submitted_at=timestamp_to_proto(claim.submitted_at),
        decided_at=timestamp_to_proto(claim.decided_at),
        paid_at=timestamp_to_proto(claim.paid_at),
        insurer_account_id=claim.insurer_account_id,
    )


def product_figures_to_proto(figures: ProductFigures) -> pb.ProductFigures:
    return pb.ProductFigures(
        product_id=figures.product_id,
        policies_sold=figures.policies_sold,
        premiums=money_to_proto(figures.premiums_fen),
        commission=money_to_proto(figures.commission_fen),
        refunds=money_to_proto(figures.refunds_fen),
        claims_paid=money_to_proto(figures.claims_paid_fen),
        claims_paid_count=figures.claims_paid_count,
        claims_awaiting_review=figures.claims_awaiting_review,
    )


def account_figures_to_proto(figures: AccountFigures) -> pb.LedgerAccountFigures:
    return pb.LedgerAccountFigures(
        account_id=figures.account_id,
        received=money_to_proto(figures.received_fen),
        paid_out=money_to_proto(figures.paid_out_fen),
        expected_balance_fen=figures.expected_balance_fen,
        pending=money_to_proto(figures.pending_fen),
    )
