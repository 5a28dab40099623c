"""Ant Fortune (蚂蚁聚宝): the fund marketplace, its NAV rules and suitability (DOMAIN.md §2).

Funds carry a category (green funds are a labelled category, seed) and a risk level R1-R5;
investors carry a risk profile C1-C5 from a questionnaire (风险偏好分析), valid for one year.

Order NAV (market: the A-share trading day and its 15:00 close). Funds are priced once per
trading day, Monday to Friday less the holidays the caller passes in. An order placed on a
trading day before 15:00 China Standard Time (strictly before: 15:00:00 is after) is priced
at that day's NAV; any other order (after the cut-off, or on a weekend or holiday) at the next
trading day's. Until that NAV is published the order is pending.

Rounding, as fund contracts do it (份额/金额保留两位小数, 误差计入基金财产):
- units bought = amount / NAV, rounded DOWN to 0.01 unit;
- a sale pays units * NAV, rounded DOWN to the fen.
Both leave a residue (less than 0.01 unit's price, or less than a fen) that stays in the fund,
where the remaining holders own it; it is returned so the caller can record it. No purchase or
redemption fees are modelled.

Suitability (market): a fund whose risk level is above the investor's profile (R_n with n > m
for C_m) is sold only with an explicit acknowledgement. A missing or expired profile refuses
the order whatever the acknowledgement: the investor answers the questionnaire again.

Recommendations: the funds at or below the investor's level, ranked by (1) fit: closest risk
level to the profile first (a C3 investor sees R3 funds, then R2, then R1: the profile says how
much risk the investor wants to bear, not only the most); (2) 1-year return from the NAV
history, best first, funds with under a year of history after those with one; (3) name;
(4) fund_id, so the order is total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
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
from enum import IntEnum, StrEnum

from chassis.clock import BUSINESS_TIMEZONE, business_date_of
from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount

# Orders before 15:00 CST take the day's NAV (market: the exchanges close at 15:00).
ORDER_CUTOFF = time(15, 0)
# The longest run of days without trading the search will cross (the Spring Festival and
# National Day closures with their weekends are 9 days); beyond it the calendar is wrong.
NON_TRADING_DAYS_MAX = 31
# NAVs are published to 4 decimals (market).
NAV_QUANTUM = Decimal("0.0001")
# Units are kept to 2 decimals (market).
UNITS_QUANTUM = Decimal("0.01")
# Ant Fortune sells funds from 1 yuan (market).
FUND_PURCHASE_FEN_MIN = 100
QUESTIONS_COUNT = 10
ANSWER_SCORE_MIN = 1
ANSWER_SCORE_MAX = 5
_ANSWER_SCORES = range(ANSWER_SCORE_MIN, ANSWER_SCORE_MAX + 1)
# A risk assessment is valid for one year (DOMAIN.md §2, market), counted as 365 days.
RISK_PROFILE_VALID_FOR = timedelta(days=365)
RECOMMENDATIONS_MAX = 20
FUNDS_PER_RECOMMENDATION_MAX = 10_000
# A 1-year return looks back 365 days; each end takes the latest NAV on or before its date
# within this many days (a holiday closure), else the fund has no 1-year return.
ONE_YEAR_DAYS = 365
NAV_LOOKBACK_DAYS_MAX = 14
RETURN_QUANTUM = Decimal("0.0001")

_EXACT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
_QUOTE = Context(prec=50, rounding=ROUND_HALF_EVEN)


class FundCategory(StrEnum):
    MONEY_MARKET = "money_market"
    BOND = "bond"
    MIXED = "mixed"
    EQUITY = "equity"
    INDEX = "index"
    GREEN = "green"


class RiskLevel(IntEnum):
    """A product's risk level (R1 lowest)."""

    R1 = 1
    R2 = 2
    R3 = 3
    R4 = 4
    R5 = 5


class InvestorLevel(IntEnum):
    """An investor's risk tolerance from the questionnaire (C1 most conservative)."""

    C1 = 1
    C2 = 2
    C3 = 3
    C4 = 4
    C5 = 5


# The least total score of each level. Ten answers scored 1 to 5 give 10 to 50; the 41
# possible totals are cut into bands of 8 (C5 takes the 9 highest): 10-17 C1, 18-25 C2,
# 26-33 C3, 34-41 C4, 42-50 C5.
LEVEL_SCORE_MIN: Mapping[InvestorLevel, int] = {
    InvestorLevel.C1: 10,
    InvestorLevel.C2: 18,
    InvestorLevel.C3: 26,
    InvestorLevel.C4: 34,
    InvestorLevel.C5: 42,
}


@dataclass(frozen=True, slots=True)
class Fund:
    """A fund on the marketplace."""

    fund_id: str
    name: str
    category: FundCategory
    risk_level: RiskLevel


@dataclass(frozen=True, slots=True)
class OrderNav:
    """The NAV an order is priced at: its date, and the NAV once published (None: pending)."""

    nav_date: date
    nav_per_unit: Decimal | None

    @property
    def is_pending(self) -> bool:
        """True until the NAV of nav_date is published."""
        return self.nav_per_unit is None


@dataclass(frozen=True, slots=True)
class PurchaseUnits:
    """A purchase priced: units bought, and the fraction of a fen-priced unit not bought."""

    amount_fen: int
    nav_per_unit: Decimal
    units: Decimal
    residue_fen: Decimal


@dataclass(frozen=True, slots=True)
class SaleProceeds:
    """A sale priced: the fen paid out, and the fraction of a fen kept by the fund."""

    units: Decimal
    nav_per_unit: Decimal
    proceeds_fen: int
    residue_fen: Decimal


@dataclass(frozen=True, slots=True)
class RiskProfile:
    """An investor's assessed risk tolerance, valid until expires_at."""

    investor_id: str
    score: int
    level: InvestorLevel
    assessed_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A fund suggested to an investor, with the figures it was ranked by."""

    fund: Fund
    risk_distance: int
    one_year_return: Decimal | None


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("marketplace rules need timezone-aware datetimes")


def is_trading_day(day: date, holidays: frozenset[date] = frozenset()) -> bool:
    """Monday to Friday, and not one of the given exchange holidays."""
    return day.weekday() < 5 and day not in holidays


def next_trading_day(day: date, holidays: frozenset[date] = frozenset()) -> date:
    """The first trading day strictly after day."""
    candidate = day
    for _ in range(NON_TRADING_DAYS_MAX + 1):
        candidate += timedelta(days=1)
        if is_trading_day(candidate, holidays):
            return candidate
    raise ValueError(f"no trading day within {NON_TRADING_DAYS_MAX} days after {day}")


def _require_nav(nav_per_unit: Decimal) -> None:
    if not isinstance(nav_per_unit, Decimal) or not nav_per_unit.is_finite() or nav_per_unit <= 0:
        raise ValueError(f"a NAV is a positive Decimal, got {nav_per_unit!r}")
    if nav_per_unit % NAV_QUANTUM != 0:
        raise ValueError(f"NAV {nav_per_unit} has more than 4 decimals")


def nav_for_order(
    nav_history: Mapping[date, Decimal],
    order_time: datetime,
    *,
    cutoff: time = ORDER_CUTOFF,
    holidays: frozenset[date] = frozenset(),
) -> OrderNav:
    """The trading day whose NAV prices an order, and that NAV if already published."""
    _require_aware(order_time)
    local = order_time.astimezone(BUSINESS_TIMEZONE)
    if is_trading_day(local.date(), holidays) and local.time() < cutoff:
        nav_date = local.date()
    else:
        nav_date = next_trading_day(local.date(), holidays)
    nav_per_unit = nav_history.get(nav_date)
    if nav_per_unit is not None:
        _require_nav(nav_per_unit)
    return OrderNav(nav_date=nav_date, nav_per_unit=nav_per_unit)


def units_for_purchase(amount_fen: int, nav_per_unit: Decimal) -> PurchaseUnits:
    """Units bought: amount / NAV rounded down to 0.01 unit; the rest stays in the fund."""
    require_positive_amount(amount_fen, "purchase amount")
    _require_nav(nav_per_unit)
    if amount_fen < FUND_PURCHASE_FEN_MIN:
        raise FailedPrecondition(
            f"a fund purchase is at least {FUND_PURCHASE_FEN_MIN} fen",
            reason="BELOW_MINIMUM",
            metadata={"amount_fen_min": str(FUND_PURCHASE_FEN_MIN)},
        )
    with localcontext(_EXACT):
        # amount_fen / NAV counts hundredths of a unit (a unit costs NAV yuan = 100 * NAV fen).
        # Integer division is the ROUND_DOWN, exactly.
        unit_hundredths = Decimal(amount_fen) // nav_per_unit
        units = unit_hundredths * UNITS_QUANTUM
        residue_fen = amount_fen - unit_hundredths * nav_per_unit
    if units <= 0:
        raise InvalidArgument(
            f"{amount_fen} fen buys no 0.01 unit at NAV {nav_per_unit}", reason="INVALID_AMOUNT"
        )
    # Never more units than paid for, and less than one hundredth of a unit left over.
    if not 0 <= residue_fen < nav_per_unit:
        raise AssertionError(f"purchase residue {residue_fen} fen out of range")
    return PurchaseUnits(
        amount_fen=amount_fen, nav_per_unit=nav_per_unit, units=units, residue_fen=residue_fen
    )


def _require_units(units: Decimal) -> None:
    if not isinstance(units, Decimal) or not units.is_finite() or units <= 0:
        raise InvalidArgument("units must be a positive decimal", reason="INVALID_AMOUNT")
    if units % UNITS_QUANTUM != 0:
        raise InvalidArgument("units are kept to 2 decimals", reason="INVALID_AMOUNT")


def require_units_held(units_held: Decimal, units: Decimal) -> None:
    """Refuse selling more units than are held (INSUFFICIENT_UNITS)."""
    _require_units(units)
    if units > units_held:
        raise FailedPrecondition(
            f"selling {units} units, {units_held} held",
            reason="INSUFFICIENT_UNITS",
            metadata={"units": str(units), "units_held": str(units_held)},
        )


def sale_proceeds(units: Decimal, nav_per_unit: Decimal) -> SaleProceeds:
    """What a sale pays: units * NAV in fen, rounded down; the fraction stays in the fund."""
    _require_units(units)
    _require_nav(nav_per_unit)
    with localcontext(_EXACT):
        exact_fen = units * nav_per_unit * 100
        proceeds_fen = int(exact_fen.to_integral_value(rounding=ROUND_DOWN))
        residue_fen = exact_fen - proceeds_fen
    return SaleProceeds(
        units=units, nav_per_unit=nav_per_unit, proceeds_fen=proceeds_fen, residue_fen=residue_fen
    )


def investor_level_for_score(score: int) -> InvestorLevel:
    """The level of a questionnaire total (10-50) by the LEVEL_SCORE_MIN bands."""
    score_min = QUESTIONS_COUNT * ANSWER_SCORE_MIN
    score_max = QUESTIONS_COUNT * ANSWER_SCORE_MAX
    if not score_min <= score <= score_max:
        raise ValueError(f"a questionnaire total is {score_min} to {score_max}, got {score}")
    return max(level for level, least in LEVEL_SCORE_MIN.items() if score >= least)


def assess_risk_profile(
    investor_id: str, answer_scores: Sequence[int], now: datetime
) -> RiskProfile:
    """Score the 10 answers (each 1-5) into a profile valid for 365 days from now."""
    _require_aware(now)
    if not investor_id:
        raise InvalidArgument("investor_id is required", metadata={"field": "investor_id"})
    if len(answer_scores) != QUESTIONS_COUNT:
        raise InvalidArgument(
            f"the questionnaire has {QUESTIONS_COUNT} answers, got {len(answer_scores)}",
            metadata={"field": "answers"},
        )
    for index, answer_score in enumerate(answer_scores):
        if type(answer_score) is not int or answer_score not in _ANSWER_SCORES:
            raise InvalidArgument(
                f"answer {index + 1} scores {ANSWER_SCORE_MIN} to {ANSWER_SCORE_MAX}",
                metadata={"field": "answers", "question": str(index + 1)},
            )
    score = sum(answer_scores)
    return RiskProfile(
        investor_id=investor_id,
        score=score,
        level=investor_level_for_score(score),
        assessed_at=now,
        expires_at=now + RISK_PROFILE_VALID_FOR,
    )


def require_valid_profile(profile: RiskProfile | None, now: datetime) -> RiskProfile:
    """The profile if assessed and unexpired, else RISK_PROFILE_REQUIRED / _EXPIRED."""
    _require_aware(now)
    if profile is None:
        raise FailedPrecondition(
            "answer the risk questionnaire before buying funds", reason="RISK_PROFILE_REQUIRED"
        )
    if now >= profile.expires_at:
        raise FailedPrecondition(
            f"the risk profile expired at {profile.expires_at.isoformat()}; answer the "
            "questionnaire again",
            reason="RISK_PROFILE_EXPIRED",
            metadata={"expires_at": profile.expires_at.isoformat()},
        )
    return profile


def check_suitability(
    profile: RiskProfile | None, fund: Fund, now: datetime, *, risk_acknowledged: bool
) -> None:
    """Refuse a fund above the investor's level unless acknowledged (SUITABILITY)."""
    valid = require_valid_profile(profile, now)
    if fund.risk_level > valid.level and not risk_acknowledged:
        raise FailedPrecondition(
            f"fund {fund.fund_id} is {fund.risk_level.name}, above the investor's "
            f"{valid.level.name}; acknowledge the risk to buy it",
            reason="SUITABILITY",
            metadata={
                "fund_id": fund.fund_id,
                "risk_level": fund.risk_level.name,
                "investor_level": valid.level.name,
            },
        )


def _latest_nav_on_or_before(
    nav_history: Mapping[date, Decimal], day: date
) -> tuple[date, Decimal] | None:
    for back in range(NAV_LOOKBACK_DAYS_MAX + 1):
        candidate = day - timedelta(days=back)
        nav_per_unit = nav_history.get(candidate)
        if nav_per_unit is not None:
            return candidate, nav_per_unit
    return None


def one_year_return(nav_history: Mapping[date, Decimal], as_of: date) -> Decimal | None:
    """NAV growth over the 365 days to as_of, 4 decimals half-even; None without the history.

    Unit NAVs are compared, so a fund that paid a dividend shows less than its total return.
    """
    end = _latest_nav_on_or_before(nav_history, as_of)
    if end is None:
        return None
    start = _latest_nav_on_or_before(nav_history, end[0] - timedelta(days=ONE_YEAR_DAYS))
    if start is None:
        return None
    _require_nav(start[1])
    _require_nav(end[1])
    growth = _QUOTE.divide(end[1], start[1])
    return _QUOTE.subtract(growth, Decimal(1)).quantize(RETURN_QUANTUM, rounding=ROUND_HALF_EVEN)


def recommend_funds(
    funds: Sequence[Fund],
    nav_histories: Mapping[str, Mapping[date, Decimal]],
    profile: RiskProfile | None,
    now: datetime,
    *,
    limit: int = 10,
) -> list[Recommendation]:
    """Funds at or below the profile's level, ranked by fit, 1-year return, name, id."""
    valid = require_valid_profile(profile, now)
    if not 1 <= limit <= RECOMMENDATIONS_MAX:
        raise InvalidArgument(
            f"limit must be 1 to {RECOMMENDATIONS_MAX}", metadata={"field": "limit"}
        )
    if len(funds) > FUNDS_PER_RECOMMENDATION_MAX:
        raise ValueError(f"at most {FUNDS_PER_RECOMMENDATION_MAX} funds to rank")
    as_of = business_date_of(now)
    candidates = [
        Recommendation(
            fund=fund,
            risk_distance=valid.level - fund.risk_level,
            one_year_return=one_year_return(nav_histories.get(fund.fund_id, {}), as_of),
        )
        for fund in funds
        if fund.risk_level <= valid.level
    ]

    def rank(recommendation: Recommendation) -> tuple[int, int, Decimal, str, str]:
        known = recommendation.one_year_return is not None
        return (
            recommendation.risk_distance,
            0 if known else 1,
            -(recommendation.one_year_return or Decimal(0)),
            recommendation.fund.name,
            recommendation.fund.fund_id,
        )

    return sorted(candidates, key=rank)[:limit]
