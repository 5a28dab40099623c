"""Pricing rules of each product kind: premium, cover and term from the quote's inputs.

Every table is here, written out (docs/insurance.md repeats them with an example each):

Account security (账户安全险), a year, cover 1,000,000 yuan against unauthorised debits:
  base by credit score — 750-950: 88 fen; 700-749: 108; 650-699: 128; 600-649: 158;
  550-599: 188; 350-549: 218 — plus 20 fen per distinct known risk signal, clamped to
  [88, 288] fen. Lower score or more signals is never cheaper (monotone in risk).
Return shipping (退货运费险), 90 days, pays a fixed 12 yuan when the trade is refunded:
  by the merchant's refund rate — below 5%: 50 fen; 5-10%: 100; 10-20%: 180; 20-30%: 300;
  30% or more: not insurable — plus 50 fen for a trade of 500 yuan or more (100 fen from
  2,000 yuan).
Merchant deposit (消保险), a year: cover is a tier (1,000 / 5,000 / 10,000 / 50,000 yuan);
  premium = cover x annual rate by refund rate (below 5%: 1.5%; 5-15%: 3%; 15-30%: 5%;
  30% or more: not insurable), ROUND_HALF_EVEN to the fen.
Travel (旅行险), cover 300,000 yuan: yuan by age band (0-17, 18-59, 60-80) and trip length
  (1-7, 8-15, 16-30 days) — see TRAVEL_PREMIUM_FEN; older than 80 or longer than 30 days is
  not insurable.
Health (百万医疗险), cover 3,000,000 yuan: yuan by age band (0-17, 18-39, 40-49, 50-59, 60-65)
  for 365 days; 180 days costs 55% of it (ROUND_HALF_EVEN to the fen); older than 65 is not
  insurable.
Commission = premium x the product's commission rate, ROUND_HALF_EVEN to the fen; the insurer
receives the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from chassis.errors import FailedPrecondition, InvalidArgument
from services.insurance.products import Product, ProductKind

SCORE_MIN = 350
SCORE_MAX = 950
ACCOUNT_SECURITY_PREMIUM_FEN_MIN = 88
ACCOUNT_SECURITY_PREMIUM_FEN_MAX = 288
# (lowest score of the band, base premium in fen), highest band first.
ACCOUNT_SECURITY_BASE_FEN = ((750, 88), (700, 108), (650, 128), (600, 158), (550, 188), (350, 218))
RISK_SIGNAL_LOADING_FEN = 20
RISK_SIGNALS = frozenset(
    {"unknown_device", "recent_risk_denial", "password_locked", "new_account", "sim_swapped"}
)

RETURN_SHIPPING_PAYOUT_FEN = 1200
# (refund rate below, in basis points; premium in fen); 30% or more is not insurable.
RETURN_SHIPPING_BASE_FEN = ((500, 50), (1000, 100), (2000, 180), (3000, 300))
# (trade amount from, in fen; surcharge in fen), largest first.
RETURN_SHIPPING_SURCHARGE_FEN = ((200_000, 100), (50_000, 50))

DEPOSIT_COVER_TIERS_FEN = (100_000, 500_000, 1_000_000, 5_000_000)
# (refund rate below, in basis points; annual rate).
DEPOSIT_ANNUAL_RATE = ((500, Decimal("0.015")), (1500, Decimal("0.03")), (3000, Decimal("0.05")))

TRAVEL_COVER_FEN = 30_000_000
TRAVEL_DURATION_BANDS = (7, 15, 30)
# age band (highest age) → premium in fen per duration band (1-7, 8-15, 16-30 days).
TRAVEL_PREMIUM_FEN = {17: (1000, 1800, 3000), 59: (1500, 2500, 4000), 80: (3000, 5000, 8000)}

HEALTH_COVER_FEN = 300_000_000
HEALTH_DURATIONS_DAYS = (180, 365)
HEALTH_SHORT_TERM_SHARE = Decimal("0.55")
HEALTH_ANNUAL_FEN = {17: 15_000, 39: 30_000, 49: 60_000, 59: 120_000, 65: 240_000}

BPS_MAX = 10_000
FEN = Decimal(1)


@dataclass(frozen=True, slots=True)
class QuoteInputs:
    """What a quote is priced from; the fields a product does not read stay empty."""

    product_id: str
    holder_id: str
    credit_score: int = 0
    risk_signals: tuple[str, ...] = ()
    trade_id: str = ""
    trade_amount_fen: int = 0
    merchant_refund_rate_bps: int = 0
    cover_fen: int = 0
    insured_age: int = 0
    duration_days: int = 0


@dataclass(frozen=True, slots=True)
class Pricing:
    premium_fen: int
    commission_fen: int
    cover_fen: int
    term_days: int
    # The insured object: the trade, the merchant, or the holder's account.
    subject_id: str
    fixed_payout_fen: int = 0

    @property
    def insurer_premium_fen(self) -> int:
        return self.premium_fen - self.commission_fen


def not_insurable(message: str, **metadata: str) -> FailedPrecondition:
    return FailedPrecondition(message, reason="NOT_INSURABLE", metadata=metadata)


def require_field(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise InvalidArgument(message, metadata={"field": field})


def account_security_premium_fen(credit_score: int, risk_signals: frozenset[str]) -> int:
    """The yearly premium in fen: score band base + 20 fen a signal, within [88, 288]."""
    require_field(SCORE_MIN <= credit_score <= SCORE_MAX, "credit_score", "score is 350-950")
    unknown = risk_signals - RISK_SIGNALS
    require_field(not unknown, "risk_signals", f"unknown risk signals {sorted(unknown)}")
    base_fen = next(fen for floor, fen in ACCOUNT_SECURITY_BASE_FEN if credit_score >= floor)
    loaded_fen = base_fen + RISK_SIGNAL_LOADING_FEN * len(risk_signals)
    premium_fen = min(ACCOUNT_SECURITY_PREMIUM_FEN_MAX, loaded_fen)
    assert ACCOUNT_SECURITY_PREMIUM_FEN_MIN <= premium_fen <= ACCOUNT_SECURITY_PREMIUM_FEN_MAX
    return premium_fen


def return_shipping_premium_fen(refund_rate_bps: int, trade_amount_fen: int) -> int:
    """Refund-rate band premium + the trade-amount surcharge, in fen."""
    require_field(0 <= refund_rate_bps <= BPS_MAX, "merchant_refund_rate_bps", "rate in 0..10000")
    require_field(trade_amount_fen > 0, "trade_amount", "the trade amount is required")
    band = [fen for below, fen in RETURN_SHIPPING_BASE_FEN if refund_rate_bps < below]
    if not band:
        raise not_insurable("a merchant refunding 30% or more is not insurable")
    surcharge = [fen for floor, fen in RETURN_SHIPPING_SURCHARGE_FEN if trade_amount_fen >= floor]
    return band[0] + (surcharge[0] if surcharge else 0)


def deposit_premium_fen(cover_fen: int, refund_rate_bps: int) -> int:
    """Cover tier x annual rate by refund-rate band, half-even to the fen."""
    if cover_fen not in DEPOSIT_COVER_TIERS_FEN:
        raise not_insurable(f"cover must be one of {DEPOSIT_COVER_TIERS_FEN} fen")
    require_field(0 <= refund_rate_bps <= BPS_MAX, "merchant_refund_rate_bps", "rate in 0..10000")
    rates = [rate for below, rate in DEPOSIT_ANNUAL_RATE if refund_rate_bps < below]
    if not rates:
        raise not_insurable("a merchant refunding 30% or more is not insurable")
    return int((cover_fen * rates[0]).quantize(FEN, rounding=ROUND_HALF_EVEN))


def _age_band(table: Mapping[int, object], age: int) -> int:
    require_field(age > 0, "insured_age", "insured_age is required")
    bands = [highest for highest in sorted(table) if age <= highest]
    if not bands:
        raise not_insurable(f"age {age} is above the table", insured_age=str(age))
    return bands[0]


def travel_premium_fen(age: int, duration_days: int) -> int:
    """The travel table: age band x trip-length band."""
    require_field(duration_days > 0, "duration_days", "duration_days is required")
    columns = [i for i, longest in enumerate(TRAVEL_DURATION_BANDS) if duration_days <= longest]
    if not columns:
        raise not_insurable("a trip longer than 30 days is not insurable")
    return TRAVEL_PREMIUM_FEN[_age_band(TRAVEL_PREMIUM_FEN, age)][columns[0]]


def health_premium_fen(age: int, duration_days: int) -> int:
    """The health table by age band; 180 days is 55% of the year, half-even to the fen."""
    if duration_days not in HEALTH_DURATIONS_DAYS:
        raise not_insurable("health cover runs 180 or 365 days")
    annual_fen = HEALTH_ANNUAL_FEN[_age_band(HEALTH_ANNUAL_FEN, age)]
    if duration_days == 365:
        return annual_fen
    return int((annual_fen * HEALTH_SHORT_TERM_SHARE).quantize(FEN, rounding=ROUND_HALF_EVEN))


def commission_fen(premium_fen: int, rate: Decimal) -> int:
    """The platform's share of a premium, half-even to the fen."""
    return int((premium_fen * rate).quantize(FEN, rounding=ROUND_HALF_EVEN))


def price(product: Product, inputs: QuoteInputs) -> Pricing:
    """Premium, commission, cover, term and insured object of a quote."""
    kind = product.kind
    fixed_payout_fen = 0
    if kind is ProductKind.ACCOUNT_SECURITY:
        premium = account_security_premium_fen(inputs.credit_score, frozenset(inputs.risk_signals))
        cover, term, subject = product.cover_max_fen, product.term_days, inputs.holder_id
    elif kind is ProductKind.RETURN_SHIPPING:
        require_field(bool(inputs.trade_id), "trade_id", "trade_id is required")
        premium = return_shipping_premium_fen(
            inputs.merchant_refund_rate_bps, inputs.trade_amount_fen
        )
        cover, term, subject = RETURN_SHIPPING_PAYOUT_FEN, product.term_days, inputs.trade_id
        fixed_payout_fen = RETURN_SHIPPING_PAYOUT_FEN
    elif kind is ProductKind.MERCHANT_DEPOSIT:
        premium = deposit_premium_fen(inputs.cover_fen, inputs.merchant_refund_rate_bps)
        cover, term, subject = inputs.cover_fen, product.term_days, inputs.holder_id
    elif kind is ProductKind.TRAVEL:
        premium = travel_premium_fen(inputs.insured_age, inputs.duration_days)
        cover, term, subject = TRAVEL_COVER_FEN, inputs.duration_days, inputs.holder_id
    else:
        premium = health_premium_fen(inputs.insured_age, inputs.duration_days)
        cover, term, subject = HEALTH_COVER_FEN, inputs.duration_days, inputs.holder_id
    assert premium > 0 and cover <= product.cover_max_fen, f"{product.product_id}: table broken"
    return Pricing(
        premium_fen=premium,
        commission_fen=commission_fen(premium, product.commission_rate),
        cover_fen=cover,
        term_days=term,
        subject_id=subject,
        fixed_payout_fen=fixed_payout_fen,
    )
