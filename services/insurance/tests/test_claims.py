"""The claim state machine, automatic adjudication per product, duplicates and cover."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from chassis.errors import DomainError
from services.insurance.claims import (
    CLAIM_TRANSITIONS,
    Claim,
    ClaimState,
    Evidence,
    EvidenceKind,
    add_evidence,
    mark_claim_paid,
    record_claim_paid,
    require_not_duplicate,
    review_claim,
    submit_claim,
    transition,
)
from services.insurance.policies import Policy, PolicyState, confirm_purchase, open_policy
from services.insurance.pricing import QuoteInputs, price
from services.insurance.products import load_catalogue

NOW = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
CATALOGUE = load_catalogue()
HOLDER = "2088000000000001"
BUYER = "2088000000000002"
INPUTS = {
    "account-security": QuoteInputs("account-security", HOLDER, credit_score=700),
    "return-shipping": QuoteInputs(
        "return-shipping", HOLDER, trade_id="T1", trade_amount_fen=10_000
    ),
    "merchant-deposit": QuoteInputs(
        "merchant-deposit", HOLDER, cover_fen=100_000, merchant_refund_rate_bps=100
    ),
    "health": QuoteInputs("health", HOLDER, insured_age=30, duration_days=365),
}


def policy_of(product_id: str) -> Policy:
    product = CATALOGUE.product(product_id)
    pricing = price(product, INPUTS[product_id])
    pending = open_policy(
        f"p-{product_id}", product, holder_id=HOLDER, quote_id="q", pricing=pricing, now=NOW
    )
    return confirm_purchase(pending, "posting-1", "posting-2", date(2025, 3, 3))


def submit(
    policy: Policy, event: str, amount_fen: int = 0, *evidence: Evidence, taken_fen: int = 0
) -> Claim:
    return submit_claim(
        "c1",
        policy,
        event_reference=event,
        amount_fen=amount_fen,
        beneficiary_id=BUYER if policy.kind.value == "merchant_deposit" else "",
        evidence=evidence,
        claims_not_rejected_fen=taken_fen,
        now=NOW,
    )


LEGAL = [(state, target) for state, targets in CLAIM_TRANSITIONS.items() for target in targets]
ILLEGAL = [
    (state, target)
    for state in ClaimState
    for target in ClaimState
    if target not in CLAIM_TRANSITIONS[state]
]


def test_the_transition_table() -> None:
    assert set(LEGAL) == {
        (ClaimState.SUBMITTED, ClaimState.ADJUDICATING),
        (ClaimState.ADJUDICATING, ClaimState.APPROVED),
        (ClaimState.ADJUDICATING, ClaimState.REJECTED),
        (ClaimState.APPROVED, ClaimState.PAID),
    }


@pytest.mark.parametrize(("state", "target"), LEGAL)
def test_legal_transitions(state: ClaimState, target: ClaimState) -> None:
    claim = replace(submit(policy_of("health"), "E1", 100), state=state)
    assert transition(claim, target).state is target


@pytest.mark.parametrize(("state", "target"), ILLEGAL)
def test_illegal_transitions_are_refused_naming_the_state(
    state: ClaimState, target: ClaimState
) -> None:
    claim = replace(submit(policy_of("health"), "E1", 100), state=state)
    with pytest.raises(DomainError) as error:
        transition(claim, target)
    assert error.value.reason == "ILLEGAL_TRANSITION"
    assert error.value.metadata["state"] == state.value
    assert state.value in error.value.message


def test_return_shipping_is_approved_when_the_trade_is_refunded_for_the_fixed_amount() -> None:
    policy = policy_of("return-shipping")
    waiting = submit(policy, "T1", 99_999)
    assert waiting.state is ClaimState.ADJUDICATING and waiting.amount_fen == 1200
    approved = add_evidence(waiting, policy, Evidence(EvidenceKind.TRADE_REFUNDED, "T1"), NOW)
    assert approved.state is ClaimState.APPROVED and approved.decided_by == "automatic"
    other = add_evidence(waiting, policy, Evidence(EvidenceKind.TRADE_REFUNDED, "T2"), NOW)
    assert other.state is ClaimState.ADJUDICATING


def test_account_security_needs_risk_control_or_an_operator() -> None:
    policy = policy_of("account-security")
    confirmed = Evidence(EvidenceKind.UNAUTHORISED_DEBIT_CONFIRMED, "posting-x", "payment-risk")
    assert submit(policy, "posting-x", 50_000, confirmed).state is ClaimState.APPROVED
    by_operator = replace(confirmed, attested_by="operator:alice")
    assert submit(policy, "posting-x", 50_000, by_operator).state is ClaimState.APPROVED
    by_holder = replace(confirmed, attested_by="the holder")
    assert submit(policy, "posting-x", 50_000, by_holder).state is ClaimState.ADJUDICATING


def test_deposit_insurance_pays_the_buyer_when_the_merchant_cannot_fund_a_refund() -> None:
    policy = policy_of("merchant-deposit")
    unfunded = Evidence(EvidenceKind.MERCHANT_REFUND_UNFUNDED, "refund-9")
    claim = submit(policy, "refund-9", 30_000, unfunded)
    assert claim.state is ClaimState.APPROVED and claim.beneficiary_id == BUYER


def test_a_claim_cannot_exceed_the_remaining_cover() -> None:
    policy = policy_of("merchant-deposit")  # cover 100,000 fen
    assert submit(policy, "r1", 40_000, taken_fen=60_000).amount_fen == 40_000
    with pytest.raises(DomainError) as error:
        submit(policy, "r1", 40_001, taken_fen=60_000)
    assert error.value.reason == "CLAIM_EXCEEDS_COVER"
    assert error.value.metadata["cover_remaining_fen"] == "40000"


def test_duplicates_are_refused_naming_the_first_claim() -> None:
    first = submit(policy_of("health"), "E1", 100)
    require_not_duplicate(None, "c2")
    require_not_duplicate(first, first.claim_id)  # the same claim again is not a duplicate
    with pytest.raises(DomainError) as error:
        require_not_duplicate(first, "c2")
    assert error.value.reason == "DUPLICATE_CLAIM" and error.value.metadata["claim_id"] == "c1"


def test_review_rejects_with_a_reason_and_payment_records_the_transfers() -> None:
    policy = policy_of("health")
    claim = submit(policy, "E1", 20_000)
    with pytest.raises(DomainError):
        review_claim(claim, approve=False, operator_id="alice", reason="", now=NOW)
    rejected = review_claim(claim, approve=False, operator_id="alice", reason="no bill", now=NOW)
    assert (rejected.state, rejected.decision_reason) == (ClaimState.REJECTED, "no bill")
    approved = review_claim(claim, approve=True, operator_id="alice", reason="", now=NOW)
    paid = mark_claim_paid(approved, "t-insurer", "t-payout", NOW)
    assert paid.state is ClaimState.PAID
    assert mark_claim_paid(paid, "t-insurer", "t-payout", NOW) is paid
    with pytest.raises(DomainError) as error:
        mark_claim_paid(paid, "t-insurer", "t-other", NOW)
    assert error.value.reason == "CLAIM_MISMATCH"
    assert record_claim_paid(policy, paid).claims_paid_fen == 20_000


def test_a_claim_on_a_policy_that_is_not_active_is_refused() -> None:
    policy = replace(policy_of("health"), state=PolicyState.CANCELLED)
    with pytest.raises(DomainError) as error:
        submit(policy, "E1", 100)
    assert error.value.reason == "POLICY_NOT_ACTIVE"
