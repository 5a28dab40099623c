"""Yu'e Bao (余额宝): the wallet's money-market fund (DOMAIN.md §2).

The NAV is fixed at 1.00 yuan, so a share is kept as one fen: subscribing 1,234 fen issues
1,234 shares and redeeming 1,234 shares pays 1,234 fen. The minimum subscription is 1 fen.

Daily income, from the portfolio to each holder's new shares:

1. The portfolio is data: allocations (≈90% bank term deposits over three tenors, 7% bonds,
   2% insurance wealth products, 1% other), each a weight and its own annual rate; the
   weights sum to exactly 1. Gross annual rate = Σ weight * annual rate.
2. Less the fees, 0.30% management + 0.08% custody + 0.25% sales service = 0.63% a year, gives
   the net annual rate. Day count Actual/365 Fixed: every calendar day (weekends and holidays
   too, as the fund accrues them) earns 1/365 of the annual rate, leap years included.
3. Income per 10,000 shares (万份收益) = net annual rate * 10,000 yuan / 365, quoted in yuan to
   4 decimals and rounded DOWN, so the quoted figure never exceeds what the portfolio earned.
   The quote is the rate of record: a holder can check their income from it.
4. A holder's income = shares_fen * income_per_10k_yuan / 10,000 fen (10,000 shares are
   1,000,000 fen, and a yuan is 100 fen), rounded DOWN to the fen and credited as new shares.
   The fractions of a fen not paid are the day's residue. The residue is the fund's
   undistributed income: it is carried from run to run (and from batch to batch of one run)
   and reported, never dropped. Each run adds less than one fen per holder to it.

The 7-day annualised yield (七日年化收益率) uses the market's formula for a fund that carries
its income into shares every day: (Π (1 + r_i / 10,000))^(365/7) - 1 over the last 7 days'
income per 10,000 shares r_i. The simple-sum variant (Σ r_i / 7 * 365 / 10,000) suits funds
that distribute monthly; Yu'e Bao compounds daily, so it is not used.

Redemption: a fast redemption reaches the balance at once, at most 10,000 yuan per user per
business date; anything above is a normal redemption that settles on the next business date.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from chassis.errors import FailedPrecondition, InsufficientFunds, InvalidArgument
from chassis.money import FEN_PER_YUAN, require_positive_amount

# NAV fixed at 1.00 yuan a share: a share is one fen (DOMAIN.md §2, market).
NAV_PER_SHARE_YUAN = Decimal("1.00")
SUBSCRIPTION_FEN_MIN = 1
# Actual/365 Fixed: the divisor of every annual rate, in leap years too.
DAYS_PER_YEAR = 365
SHARES_PER_QUOTE = 10_000
# 万份收益 is quoted in yuan to 4 decimals (market).
INCOME_PER_10K_QUANTUM_YUAN = Decimal("0.0001")
# The 7-day yield is a fraction quoted to 6 decimals: 0.017511 shows as 1.7511%.
SEVEN_DAY_YIELD_QUANTUM = Decimal("0.000001")
SEVEN_DAY_YIELD_DAYS = 7
# Fast redemption cap: 10,000 yuan per user per business date (DOMAIN.md §2, market).
FAST_REDEMPTION_FEN_MAX_PER_BUSINESS_DATE = 10_000 * FEN_PER_YUAN
ALLOCATIONS_MAX = 20
# The income job pages holders: one distribution covers at most this many, and the residue
# of one page is carried into the next.
HOLDERS_PER_DISTRIBUTION_MAX = 10_000
# A sanity ceiling for an annual rate held as data: no money-market asset pays 100% a year.
ANNUAL_RATE_MAX = Decimal(1)

# Money arithmetic below is exact: this context raises on any inexact result instead of
# rounding silently. Rounding happens only where a function names it.
_EXACT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
# The one inexact step of the quotes (a division by 365, a fractional power): 50 digits,
# half-even, then quantized with a named rounding.
_QUOTE = Context(prec=50, rounding=ROUND_HALF_EVEN)


class AssetClass(StrEnum):
    """Where the fund's money is invested (DOMAIN.md §2, seed)."""

    TERM_DEPOSIT_1_MONTH = "term_deposit_1_month"
    TERM_DEPOSIT_1_TO_3_MONTHS = "term_deposit_1_to_3_months"
    TERM_DEPOSIT_OVER_3_MONTHS = "term_deposit_over_3_months"
    BONDS = "bonds"
    INSURANCE_WEALTH_PRODUCTS = "insurance_wealth_products"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Allocation:
    """A share of the portfolio (weight, a fraction) earning its own annual rate."""

    asset_class: AssetClass
    weight: Decimal
    annual_rate: Decimal


@dataclass(frozen=True, slots=True)
class Portfolio:
    """The fund's allocations; the weights sum to exactly 1."""

    allocations: tuple[Allocation, ...]

    def __post_init__(self) -> None:
        _validate_portfolio(self.allocations)


@dataclass(frozen=True, slots=True)
class FundFees:
    """The fund's annual fees, taken from the gross yield before income is quoted."""

    management_fee_annual_rate: Decimal = Decimal("0.0030")
    custody_fee_annual_rate: Decimal = Decimal("0.0008")
    sales_service_fee_annual_rate: Decimal = Decimal("0.0025")

    @property
    def total_annual_rate(self) -> Decimal:
        """All three fees a year: 0.63% with the defaults."""
        with localcontext(_EXACT):
            return (
                self.management_fee_annual_rate
                + self.custody_fee_annual_rate
                + self.sales_service_fee_annual_rate
            )


DEFAULT_FEES = FundFees()


def _invalid_portfolio(message: str, field_name: str) -> InvalidArgument:
    return InvalidArgument(message, reason="INVALID_PORTFOLIO", metadata={"field": field_name})


def _is_decimal(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _validate_portfolio(allocations: tuple[Allocation, ...]) -> None:
    if not 0 < len(allocations) <= ALLOCATIONS_MAX:
        raise _invalid_portfolio(
            f"a portfolio has 1 to {ALLOCATIONS_MAX} allocations", "allocations"
        )
    seen: set[AssetClass] = set()
    for allocation in allocations:
        if allocation.asset_class in seen:
            raise _invalid_portfolio(
                f"asset class {allocation.asset_class.value} appears twice", "asset_class"
            )
        seen.add(allocation.asset_class)
        if not _is_decimal(allocation.weight) or not 0 < allocation.weight <= 1:
            raise _invalid_portfolio("a weight is a Decimal in (0, 1]", "weight")
        rate = allocation.annual_rate
        if not _is_decimal(rate) or not 0 <= rate < ANNUAL_RATE_MAX:
            raise _invalid_portfolio("an annual rate is a Decimal in [0, 1)", "annual_rate")
    with localcontext(_EXACT):
        weight_total = sum((allocation.weight for allocation in allocations), Decimal(0))
    # Exactly 1, not "close to": the weights are decimals written by a person, so an
    # allocation that does not add up is a typo to fix, not a float error to tolerate.
    if weight_total != 1:
        raise _invalid_portfolio(f"the weights sum to {weight_total}, not exactly 1", "weight")


# The demo portfolio. Shape from the seed (≈90% term deposits over three tenors, 7% bonds,
# 2% insurance wealth products, 1% other); the split of the deposits and the rates are
# product choices of the order of China's 2020s money-market: longer deposits pay more.
DEFAULT_PORTFOLIO = Portfolio(
    allocations=(
        Allocation(AssetClass.TERM_DEPOSIT_1_MONTH, Decimal("0.30"), Decimal("0.0210")),
        Allocation(AssetClass.TERM_DEPOSIT_1_TO_3_MONTHS, Decimal("0.35"), Decimal("0.0230")),
        Allocation(AssetClass.TERM_DEPOSIT_OVER_3_MONTHS, Decimal("0.25"), Decimal("0.0260")),
        Allocation(AssetClass.BONDS, Decimal("0.07"), Decimal("0.0280")),
        Allocation(AssetClass.INSURANCE_WEALTH_PRODUCTS, Decimal("0.02"), Decimal("0.0350")),
        Allocation(AssetClass.OTHER, Decimal("0.01"), Decimal("0.0150")),
    )
)


def gross_annual_rate(portfolio: Portfolio) -> Decimal:
    """Σ weight * annual rate over the allocations (exact)."""
    with localcontext(_EXACT):
        return sum(
            (allocation.weight * allocation.annual_rate for allocation in portfolio.allocations),
            Decimal(0),
        )


def net_annual_rate(portfolio: Portfolio, fees: FundFees = DEFAULT_FEES) -> Decimal:
    """The gross annual rate less the fees (exact; negative if the fees exceed it)."""
    with localcontext(_EXACT):
        return gross_annual_rate(portfolio) - fees.total_annual_rate


def gross_daily_rate(portfolio: Portfolio) -> Decimal:
    """One day's gross yield: the gross annual rate / 365 (50 digits, half-even)."""
    return _QUOTE.divide(gross_annual_rate(portfolio), Decimal(DAYS_PER_YEAR))


def net_daily_rate(portfolio: Portfolio, fees: FundFees = DEFAULT_FEES) -> Decimal:
    """One day's yield after fees: the net annual rate / 365 (50 digits, half-even)."""
    return _QUOTE.divide(net_annual_rate(portfolio, fees), Decimal(DAYS_PER_YEAR))


def income_per_10k_shares(portfolio: Portfolio, fees: FundFees = DEFAULT_FEES) -> Decimal:
    """万份收益: yuan earned in a day by 10,000 shares, 4 decimals, rounded down."""
    net = net_annual_rate(portfolio, fees)
    if net < 0:
        raise InvalidArgument(
            f"the portfolio's gross rate is below the fees ({net} a year): holders would "
            "lose shares, which this fund does not model",
            reason="INVALID_PORTFOLIO",
            metadata={"field": "annual_rate"},
        )
    with localcontext(_EXACT):
        # In units of 0.0001 yuan: net * 10,000 yuan * 10,000 / 365. Integer division of
        # the exact numerator is ROUND_DOWN without an intermediate rounding to go wrong.
        numerator = net * SHARES_PER_QUOTE / INCOME_PER_10K_QUANTUM_YUAN
        ten_thousandths = numerator // DAYS_PER_YEAR
        return ten_thousandths * INCOME_PER_10K_QUANTUM_YUAN


def _require_income_quote(income_per_10k_yuan: Decimal) -> None:
    if not _is_decimal(income_per_10k_yuan) or income_per_10k_yuan < 0:
        raise ValueError("income per 10,000 shares is a non-negative Decimal")
    if income_per_10k_yuan % INCOME_PER_10K_QUANTUM_YUAN != 0:
        raise ValueError(f"income per 10,000 shares {income_per_10k_yuan} has over 4 decimals")


def seven_day_annualised_yield(income_per_10k_yuan_last_7_days: Sequence[Decimal]) -> Decimal:
    """(Π (1 + r_i / 10,000))^(365/7) - 1 over 7 days' 万份收益, 6 decimals, half-even."""
    if len(income_per_10k_yuan_last_7_days) != SEVEN_DAY_YIELD_DAYS:
        # A fund younger than a week has no 7-day yield; the wallet shows none.
        raise ValueError(
            f"the 7-day yield needs exactly {SEVEN_DAY_YIELD_DAYS} days of income, "
            f"got {len(income_per_10k_yuan_last_7_days)}"
        )
    for income in income_per_10k_yuan_last_7_days:
        _require_income_quote(income)
    with localcontext(_QUOTE):
        growth = Decimal(1)
        for income in income_per_10k_yuan_last_7_days:
            growth *= 1 + income / SHARES_PER_QUOTE
        annualised = growth ** (Decimal(DAYS_PER_YEAR) / SEVEN_DAY_YIELD_DAYS) - 1
        return annualised.quantize(SEVEN_DAY_YIELD_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Distribution:
    """One run of the daily income over a page of holders, and the residue it carries on.

    fund_income_fen is the exact income of the page at the quoted rate; it equals
    paid_fen + residue_fen - carried_residue_fen, to the last fraction of a fen.
    """

    income_per_10k_yuan: Decimal
    income_fen_by_holder: Mapping[str, int]
    paid_fen: int
    fund_income_fen: Decimal
    carried_residue_fen: Decimal
    residue_fen: Decimal
    holders_count: int

    @property
    def residue_added_fen(self) -> Decimal:
        """The fractions of a fen this run did not pay: 0 <= it < holders_count."""
        with localcontext(_EXACT):
            return self.residue_fen - self.carried_residue_fen


def distribute_daily_income(
    holdings: Mapping[str, int], income_per_10k_yuan: Decimal, carried_residue_fen: Decimal
) -> Distribution:
    """Each holder's income at the quoted rate, rounded down to the fen; the rest is residue."""
    if len(holdings) > HOLDERS_PER_DISTRIBUTION_MAX:
        raise ValueError(
            f"{len(holdings)} holders in one distribution; page them by "
            f"{HOLDERS_PER_DISTRIBUTION_MAX} and carry the residue from page to page"
        )
    _require_income_quote(income_per_10k_yuan)
    if not _is_decimal(carried_residue_fen) or carried_residue_fen < 0:
        raise ValueError("the carried residue is a non-negative Decimal of fen")
    income_fen_by_holder: dict[str, int] = {}
    with localcontext(_EXACT):
        fund_income_fen = Decimal(0)
        for holder_id, shares_fen in holdings.items():
            if type(shares_fen) is not int or shares_fen < 0:
                raise ValueError(f"holder {holder_id} has {shares_fen!r} shares")
            income_fen = shares_fen * income_per_10k_yuan / SHARES_PER_QUOTE
            fund_income_fen += income_fen
            # Down, never up: rounding up would pay out income the fund did not earn.
            income_fen_by_holder[holder_id] = int(income_fen.to_integral_value(rounding=ROUND_DOWN))
        paid_fen = sum(income_fen_by_holder.values())
        residue_fen = carried_residue_fen + fund_income_fen - paid_fen
        # The conservation the residue exists for, and its bound: each holder leaves behind
        # a fraction of one fen at most.
        if fund_income_fen != paid_fen + residue_fen - carried_residue_fen:
            raise AssertionError("daily income does not balance")
        if not 0 <= residue_fen - carried_residue_fen < max(len(holdings), 1):
            raise AssertionError(f"residue {residue_fen - carried_residue_fen} out of bounds")
    return Distribution(
        income_per_10k_yuan=income_per_10k_yuan,
        income_fen_by_holder=MappingProxyType(income_fen_by_holder),
        paid_fen=paid_fen,
        fund_income_fen=fund_income_fen,
        carried_residue_fen=carried_residue_fen,
        residue_fen=residue_fen,
        holders_count=len(holdings),
    )


def shares_for_subscription(amount_fen: int) -> int:
    """The shares issued for a subscription of amount_fen (NAV 1.00: one per fen, from 1 fen)."""
    return require_positive_amount(amount_fen, "subscription amount")


def require_redeemable(holder_id: str, shares_fen: int, amount_fen: int) -> None:
    """Refuse redeeming more than the holder's shares (INSUFFICIENT_FUNDS)."""
    require_positive_amount(amount_fen, "redemption amount")
    if amount_fen > shares_fen:
        raise InsufficientFunds(holder_id, needed_fen=amount_fen, available_fen=shares_fen)


def fast_redemption_allowance(already_fast_redeemed_today_fen: int) -> int:
    """What may still be redeemed fast today: 10,000 yuan less what already was (never < 0)."""
    if already_fast_redeemed_today_fen < 0:
        raise ValueError("fast redemptions so far today cannot be negative")
    return max(FAST_REDEMPTION_FEN_MAX_PER_BUSINESS_DATE - already_fast_redeemed_today_fen, 0)


def require_fast_redemption(amount_fen: int, already_fast_redeemed_today_fen: int) -> None:
    """Refuse a fast-only redemption (paying with Yu'e Bao) above today's allowance."""
    require_positive_amount(amount_fen, "redemption amount")
    allowance_fen = fast_redemption_allowance(already_fast_redeemed_today_fen)
    if amount_fen > allowance_fen:
        raise FailedPrecondition(
            f"fast redemption of {amount_fen} fen exceeds the {allowance_fen} fen left of "
            f"today's {FAST_REDEMPTION_FEN_MAX_PER_BUSINESS_DATE} fen",
            reason="FAST_REDEMPTION_LIMIT_EXCEEDED",
            metadata={
                "amount_fen": str(amount_fen),
                "allowance_fen": str(allowance_fen),
                "fast_redemption_fen_max": str(FAST_REDEMPTION_FEN_MAX_PER_BUSINESS_DATE),
            },
        )


class RedemptionSplit(NamedTuple):
    """A redemption's fast part (to the balance now) and normal part (next business date)."""

    fast_fen: int
    normal_fen: int


def split_redemption(amount_fen: int, allowance_fen: int) -> RedemptionSplit:
    """Fast up to the allowance, the rest normal; the two parts sum to amount_fen."""
    require_positive_amount(amount_fen, "redemption amount")
    if allowance_fen < 0:
        raise ValueError("a fast-redemption allowance cannot be negative")
    fast_fen = min(amount_fen, allowance_fen)
    return RedemptionSplit(fast_fen=fast_fen, normal_fen=amount_fen - fast_fen)


def normal_redemption_settles_on(business_date: date) -> date:
    """The next calendar date: the platform's business dates are calendar dates in CST.

    Weekends and holidays are not skipped: the platform runs every day (business dates as in
    the payment service), and the fund pays from its own liquidity, not through the
    exchange's trading calendar.
    """
    return business_date + timedelta(days=1)
