"""Quotes (15 minutes, bound to inputs) and policies (try/confirm/cancel, cooling-off and
pro-rata refunds) as pure rules, with hand-computed tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from chassis.errors import DomainError
from services.insurance.policies import (
    Policy,
    PolicyState,
    RefundState,
    cancel_policy,
    cancel_purchase,
    cancellation_refund,
    confirm_purchase,
    expire_policy,
    open_policy,
)
from services.insurance.pricing import QuoteInputs, price
from services.insurance.products import load_catalogue
from services.insurance.quotes import consume_quote, make_quote

NOW = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
START = date(2025, 3, 3)
CATALOGUE = load_catalogue()
INPUTS = QuoteInputs("account-security", "2088000000000001", credit_score=350, risk_signals=())


def active_policy(premium_fen: int = 288, commission_fen: int = 58, term_days: int = 365) -> Policy:
    product = CATALOGUE.product("account-security")
    pricing = replace(
        price(product, INPUTS),
        premium_fen=premium_fen,
        commission_fen=commission_fen,
        term_days=term_days,
    )
    pending = open_policy(
        "p1", product, holder_id="2088000000000001", quote_id="q1", pricing=pricing, now=NOW
    )
    return confirm_purchase(pending, "posting-premium", "posting-insurer", START)


def test_quote_is_valid_for_15_minutes_and_not_a_moment_more() -> None:
    quote = make_quote("q1", INPUTS, price(CATALOGUE.product("account-security"), INPUTS), NOW)
    assert consume_quote(quote, INPUTS, "p1", NOW + timedelta(minutes=14, seconds=59)).policy_id
    with pytest.raises(DomainError) as error:
        consume_quote(quote, INPUTS, "p1", NOW + timedelta(minutes=15))
    assert error.value.reason == "QUOTE_EXPIRED"


def test_quote_refuses_other_inputs_and_a_second_policy() -> None:
    quote = make_quote("q1", INPUTS, price(CATALOGUE.product("account-security"), INPUTS), NOW)
    with pytest.raises(DomainError) as error:
        consume_quote(quote, replace(INPUTS, credit_score=900), "p1", NOW)
    assert error.value.reason == "QUOTE_INPUTS_MISMATCH"
    used = consume_quote(quote, INPUTS, "p1", NOW)
    assert consume_quote(used, INPUTS, "p1", NOW) == used  # the same policy: a replay
    with pytest.raises(DomainError) as error:
        consume_quote(used, INPUTS, "p2", NOW)
    assert error.value.reason == "QUOTE_ALREADY_USED"


def test_confirm_activates_for_the_term_and_a_cancelled_try_cannot_be_confirmed() -> None:
    policy = active_policy()
    assert policy.state is PolicyState.ACTIVE
    assert (policy.start_date, policy.end_date) == (START, date(2026, 3, 2))  # 365 days
    assert confirm_purchase(policy, "posting-premium", "posting-insurer", START) is policy
    with pytest.raises(DomainError) as error:
        confirm_purchase(policy, "other", "posting-insurer", START)
    assert error.value.reason == "POLICY_MISMATCH"
    voided = cancel_purchase(replace(policy, state=PolicyState.PENDING))
    with pytest.raises(DomainError) as error:
        confirm_purchase(voided, "posting-premium", "posting-insurer", START)
    assert error.value.reason == "POLICY_PURCHASE_CANCELLED"
    with pytest.raises(DomainError) as error:
        cancel_purchase(policy)
    assert error.value.reason == "ILLEGAL_TRANSITION"


# Premium 288 fen, commission 58 (288 x 0.20 = 57.6, half-even), term 365 days from
# 2025-03-03 to 2026-03-02. Refund = 288 x days left / 365 ROUND_DOWN after the cooling-off;
# commission returned = 58 x refund / 288 ROUND_DOWN; the insurer funds the rest.
@pytest.mark.parametrize(
    ("cancelled_on", "refund_fen", "insurer_share_fen", "residue"),
    [
        (date(2025, 3, 3), 288, 230, "0"),  # day 0: cooling-off, all of it
        (date(2025, 3, 17), 288, 230, "0"),  # day 14: still cooling-off
        # day 15: 349 days left; 288 x 349 / 365 = 275.375…; 58 x 275 / 288 = 55.38 -> 55
        (date(2025, 3, 18), 275, 220, "0.3753424657534246575342466"),
        # 180 days left: 288 x 180 / 365 = 142.027…; 58 x 142 / 288 = 28.6 -> 28
        (date(2025, 9, 3), 142, 114, "0.0273972602739726027397260"),
        # 1 day left: 0.789… -> 0 fen
        (date(2026, 3, 1), 0, 0, "0.7890410958904109589041095890"),
    ],
)
def test_cancellation_refund_table(
    cancelled_on: date, refund_fen: int, insurer_share_fen: int, residue: str
) -> None:
    refund = cancellation_refund(active_policy(), cancelled_on)
    assert (refund.refund_fen, refund.insurer_share_fen) == (refund_fen, insurer_share_fen)
    assert refund.residue_fen == Decimal(residue)


def test_health_pro_rata_refund() -> None:
    # 300 yuan (age 30, 365 days), commission 30000 x 0.18 = 5400; 180 days left:
    # 30000 x 180 / 365 = 14794.52 -> 14794; 5400 x 14794 / 30000 = 2662.92 -> 2662.
    policy = active_policy(premium_fen=30_000, commission_fen=5_400)
    refund = cancellation_refund(policy, date(2025, 9, 3))
    assert (refund.refund_fen, refund.insurer_share_fen) == (14_794, 12_132)


def test_cancel_owes_the_refund_and_refuses_with_an_open_claim() -> None:
    policy = active_policy()
    with pytest.raises(DomainError) as error:
        cancel_policy(policy, START, claims_open=1)
    assert error.value.reason == "CLAIM_OPEN"
    cancelled = cancel_policy(policy, START, claims_open=0)
    assert cancelled.state is PolicyState.CANCELLED and cancelled.refund_state is RefundState.OWED
    assert cancel_policy(cancelled, START, 0) is cancelled
    nothing_back = cancel_policy(policy, date(2026, 3, 1), 0)
    assert nothing_back.refund_state is RefundState.NONE


def test_expiry_is_the_day_after_the_end_date() -> None:
    policy = active_policy()
    assert expire_policy(policy, date(2026, 3, 2)) is policy
    assert expire_policy(policy, date(2026, 3, 3)).state is PolicyState.EXPIRED


def test_a_policy_with_a_claim_paid_refunds_nothing_even_in_cooling_off() -> None:
    used = replace(active_policy(), claims_paid_fen=1)
    refund = cancellation_refund(used, START)
    assert (refund.refund_fen, refund.insurer_share_fen) == (0, 0)
    assert cancel_policy(used, START, 0).refund_state is RefundState.NONE
