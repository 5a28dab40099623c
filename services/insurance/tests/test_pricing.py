"""Pricing tables, hand-computed, and the account-security premium's bounds and monotonicity."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import DomainError
from services.insurance.pricing import (
    RISK_SIGNALS,
    QuoteInputs,
    account_security_premium_fen,
    commission_fen,
    deposit_premium_fen,
    health_premium_fen,
    price,
    return_shipping_premium_fen,
    travel_premium_fen,
)
from services.insurance.products import ProductKind, load_catalogue

CATALOGUE = load_catalogue()
SIGNALS = sorted(RISK_SIGNALS)


@pytest.mark.parametrize(
    ("score", "signals", "premium_fen"),
    [
        (950, 0, 88),  # best band, no signal: the floor 0.88 yuan
        (750, 0, 88),
        (749, 0, 108),
        (660, 1, 148),  # 128 + 20
        (600, 2, 198),  # 158 + 2 x 20
        (550, 0, 188),
        (549, 3, 278),  # 218 + 3 x 20
        (350, 5, 288),  # 218 + 100 = 318, clamped to the ceiling 2.88 yuan
    ],
)
def test_account_security_table(score: int, signals: int, premium_fen: int) -> None:
    assert account_security_premium_fen(score, frozenset(SIGNALS[:signals])) == premium_fen


@given(
    score=st.integers(350, 950),
    lower=st.integers(0, 600),
    signals=st.sets(st.sampled_from(SIGNALS)),
    extra=st.sampled_from(SIGNALS),
)
def test_account_security_premium_is_bounded_and_monotone_in_risk(
    score: int, lower: int, signals: set[str], extra: str
) -> None:
    premium_fen = account_security_premium_fen(score, frozenset(signals))
    assert 88 <= premium_fen <= 288
    # A lower score (riskier) is never cheaper; nor is one more risk signal.
    riskier_score = max(350, score - lower)
    assert account_security_premium_fen(riskier_score, frozenset(signals)) >= premium_fen
    assert account_security_premium_fen(score, frozenset(signals | {extra})) >= premium_fen


@pytest.mark.parametrize("score", [349, 951, 0])
def test_account_security_score_outside_350_950_is_refused(score: int) -> None:
    with pytest.raises(DomainError) as error:
        account_security_premium_fen(score, frozenset())
    assert error.value.reason == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("rate_bps", "trade_amount_fen", "premium_fen"),
    [
        (0, 10_000, 50),  # < 5%, a 100-yuan trade: 0.50 yuan
        (499, 49_999, 50),
        (500, 50_000, 150),  # 5-10%: 100 + 50 for a 500-yuan trade
        (1999, 199_999, 230),  # 10-20%: 180 + 50
        (2500, 200_000, 400),  # 20-30%: 300 + 100 for a 2,000-yuan trade
    ],
)
def test_return_shipping_table(rate_bps: int, trade_amount_fen: int, premium_fen: int) -> None:
    assert return_shipping_premium_fen(rate_bps, trade_amount_fen) == premium_fen


def test_return_shipping_for_a_merchant_refunding_30_percent_is_not_insurable() -> None:
    with pytest.raises(DomainError) as error:
        return_shipping_premium_fen(3000, 10_000)
    assert error.value.reason == "NOT_INSURABLE"


@pytest.mark.parametrize(
    ("cover_fen", "refund_rate_bps", "premium_fen"),
    [
        (100_000, 100, 1_500),  # 1,000 yuan x 1.5% = 15 yuan
        (500_000, 800, 15_000),  # 5,000 yuan x 3% = 150 yuan
        (5_000_000, 2999, 250_000),  # 50,000 yuan x 5% = 2,500 yuan
    ],
)
def test_deposit_insurance_table(cover_fen: int, refund_rate_bps: int, premium_fen: int) -> None:
    assert deposit_premium_fen(cover_fen, refund_rate_bps) == premium_fen


def test_deposit_cover_outside_the_tiers_is_not_insurable() -> None:
    with pytest.raises(DomainError) as error:
        deposit_premium_fen(123_456, 100)
    assert error.value.reason == "NOT_INSURABLE"


@pytest.mark.parametrize(
    ("age", "days", "premium_fen"),
    [(10, 7, 1000), (30, 8, 2500), (59, 30, 4000), (60, 15, 5000), (80, 1, 3000)],
)
def test_travel_table(age: int, days: int, premium_fen: int) -> None:
    assert travel_premium_fen(age, days) == premium_fen


@pytest.mark.parametrize(("age", "days"), [(81, 7), (30, 31)])
def test_travel_outside_the_table_is_not_insurable(age: int, days: int) -> None:
    with pytest.raises(DomainError) as error:
        travel_premium_fen(age, days)
    assert error.value.reason == "NOT_INSURABLE"


@pytest.mark.parametrize(
    ("age", "days", "premium_fen"),
    [
        (30, 365, 30_000),
        (30, 180, 16_500),  # 300 yuan x 0.55
        (45, 365, 60_000),
        (65, 180, 132_000),  # 2,400 yuan x 0.55
    ],
)
def test_health_table(age: int, days: int, premium_fen: int) -> None:
    assert health_premium_fen(age, days) == premium_fen


def test_commission_is_half_even_to_the_fen() -> None:
    # 288 x 0.20 = 57.6 -> 58; 125 x 0.30 = 37.5 -> 38 (even); 135 x 0.30 = 40.5 -> 40.
    assert commission_fen(288, Decimal("0.20")) == 58
    assert commission_fen(125, Decimal("0.30")) == 38
    assert commission_fen(135, Decimal("0.30")) == 40


def test_every_product_is_priced_with_its_insurer_and_commission() -> None:
    kinds = {product.kind for product in CATALOGUE.products}
    assert kinds == set(ProductKind)
    shipping = CATALOGUE.product("return-shipping")
    pricing = price(
        shipping,
        QuoteInputs(
            "return-shipping",
            "2088000000000001",
            trade_id="T1",
            trade_amount_fen=60_000,
            merchant_refund_rate_bps=700,
        ),
    )
    # 100 + 50 = 150 fen; commission 150 x 0.30 = 45; the insurer gets 105.
    assert (pricing.premium_fen, pricing.commission_fen, pricing.insurer_premium_fen) == (
        150,
        45,
        105,
    )
    assert pricing.fixed_payout_fen == 1200 and pricing.subject_id == "T1"
    assert shipping.insurer_account_id == "platform:insurance:insurer:zhongan"
