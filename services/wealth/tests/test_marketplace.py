"""Ant Fortune: the order NAV and its 15:00 cut-off across weekends and holidays, units and
proceeds with their rounding, the risk questionnaire, suitability and recommendations."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.clock import BUSINESS_TIMEZONE as CHINA_STANDARD_TIME
from chassis.clock import business_date_of
from chassis.errors import FailedPrecondition, InvalidArgument
from services.wealth.marketplace import (
    LEVEL_SCORE_MIN,
    ORDER_CUTOFF,
    RECOMMENDATIONS_MAX,
    RISK_PROFILE_VALID_FOR,
    Fund,
    FundCategory,
    InvestorLevel,
    OrderNav,
    RiskLevel,
    RiskProfile,
    assess_risk_profile,
    check_suitability,
    investor_level_for_score,
    is_trading_day,
    nav_for_order,
    next_trading_day,
    one_year_return,
    recommend_funds,
    require_units_held,
    require_valid_profile,
    sale_proceeds,
    units_for_purchase,
)

MICROSECOND = timedelta(microseconds=1)
# Monday 2026-03-02 to Monday 2026-03-09 (Saturday 7th, Sunday 8th).
NAVS = {
    date(2026, 3, 2): Decimal("1.2300"),
    date(2026, 3, 3): Decimal("1.2310"),
    date(2026, 3, 4): Decimal("1.2320"),
    date(2026, 3, 5): Decimal("1.2330"),
    date(2026, 3, 6): Decimal("1.2345"),
    date(2026, 3, 9): Decimal("1.2400"),
}


def cst(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A China Standard Time wall-clock time in 2026 as a UTC instant (UTC+8, no DST)."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC) - timedelta(hours=8)


# --- the order NAV ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_time", "nav_date"),
    [
        (cst(3, 4, 14, 59, 59), date(2026, 3, 4)),  # Wednesday before 15:00: that day
        (cst(3, 4, 15, 0, 0), date(2026, 3, 5)),  # 15:00 itself is after the cut-off
        (cst(3, 4, 23, 30), date(2026, 3, 5)),  # Wednesday night: Thursday
        # Thursday 00:30 CST is still Wednesday 16:30 in UTC: the CST date counts.
        (cst(3, 5, 0, 30), date(2026, 3, 5)),
        (cst(3, 6, 14, 0), date(2026, 3, 6)),  # Friday before the cut-off: Friday
        (cst(3, 6, 15, 1), date(2026, 3, 9)),  # Friday after it: across the weekend
        (cst(3, 7, 10, 0), date(2026, 3, 9)),  # Saturday: Monday
        (cst(3, 8, 23, 59), date(2026, 3, 9)),  # Sunday night: Monday
        (cst(3, 9, 0, 0), date(2026, 3, 9)),  # Monday midnight: Monday
    ],
)
def test_orders_before_15_00_take_that_days_nav_and_later_ones_the_next_trading_days(
    order_time: datetime, nav_date: date
) -> None:
    assert nav_for_order(NAVS, order_time) == OrderNav(nav_date, NAVS[nav_date])


def test_the_last_microsecond_before_the_cut_off_is_before_it() -> None:
    at_cutoff = cst(3, 4, 15)
    assert nav_for_order(NAVS, at_cutoff - MICROSECOND).nav_date == date(2026, 3, 4)
    assert nav_for_order(NAVS, at_cutoff).nav_date == date(2026, 3, 5)


def test_holidays_are_skipped_like_weekends() -> None:
    # Friday after the cut-off with Monday and Tuesday closed: Wednesday 11th.
    holidays = frozenset({date(2026, 3, 9), date(2026, 3, 10)})
    order = nav_for_order(NAVS, cst(3, 6, 16), holidays=holidays)
    assert order == OrderNav(date(2026, 3, 11), None)
    # An order on the holiday itself, before 15:00, also waits.
    assert nav_for_order(NAVS, cst(3, 9, 10), holidays=holidays).nav_date == date(2026, 3, 11)


def test_an_order_whose_nav_is_not_published_yet_is_pending() -> None:
    order = nav_for_order(NAVS, cst(3, 9, 15, 30))  # Tuesday 10th's NAV
    assert order == OrderNav(date(2026, 3, 10), None)
    assert order.is_pending
    assert not nav_for_order(NAVS, cst(3, 9, 9)).is_pending


def test_a_cut_off_may_be_passed_in() -> None:
    order_time = cst(3, 4, 14, 30)
    assert nav_for_order(NAVS, order_time, cutoff=time(14, 0)).nav_date == date(2026, 3, 5)


def test_naive_order_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        nav_for_order(NAVS, datetime(2026, 3, 4, 10, 0))


def test_a_calendar_without_trading_days_is_refused() -> None:
    closed = frozenset(date(2026, 3, 1) + timedelta(days=n) for n in range(60))
    with pytest.raises(ValueError):
        next_trading_day(date(2026, 3, 1), closed)


def test_a_malformed_published_nav_is_refused() -> None:
    with pytest.raises(ValueError):
        nav_for_order({date(2026, 3, 4): Decimal("1.23456")}, cst(3, 4, 10))


@given(
    order_time=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    holidays=st.frozensets(
        st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 1, 31)), max_size=60
    ),
)
def test_the_order_nav_date_is_the_first_trading_day_the_order_can_reach(
    order_time: datetime, holidays: frozenset[date]
) -> None:
    local_date = business_date_of(order_time)
    nav_date = nav_for_order({}, order_time, holidays=holidays).nav_date
    assert is_trading_day(nav_date, holidays)
    assert nav_date >= local_date
    between = (local_date + timedelta(days=n) for n in range(1, (nav_date - local_date).days))
    assert not any(is_trading_day(day, holidays) for day in between)
    if nav_date == local_date:
        assert order_time.astimezone(CHINA_STANDARD_TIME).time() < ORDER_CUTOFF


# --- units and proceeds -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_fen", "nav", "units", "residue_fen"),
    [
        # 1,000 yuan at 1.2345: 1,000 / 1.2345 = 810.0445... -> 810.04 units
        #   costing 81,004 * 1.2345 = 99,999.438 fen; 0.562 fen stays in the fund.
        (100_000, "1.2345", "810.04", "0.562"),
        # 1 yuan at 1.0000: exactly 1.00 unit.
        (100, "1.0000", "1.00", "0"),
        # 10 yuan at 3.3333: 300.003 hundredths -> 3.00 units costing 999.99 fen; 0.01 left.
        (1_000, "3.3333", "3.00", "0.01"),
        # 10,000 yuan at 0.9876: 1,000,000 / 0.9876 = 1,012,555.69 hundredths -> 10,125.55
        #   costing 1,012,555 * 0.9876 = 999,999.318 fen; 0.682 left.
        (1_000_000, "0.9876", "10125.55", "0.682"),
    ],
)
def test_units_for_a_purchase_are_rounded_down_to_a_hundredth(
    amount_fen: int, nav: str, units: str, residue_fen: str
) -> None:
    purchase = units_for_purchase(amount_fen, Decimal(nav))
    assert purchase.units == Decimal(units)
    assert purchase.residue_fen == Decimal(residue_fen)


def test_a_purchase_below_one_yuan_is_refused() -> None:
    with pytest.raises(FailedPrecondition) as refusal:
        units_for_purchase(99, Decimal("1.0000"))
    assert refusal.value.reason == "BELOW_MINIMUM"


def test_a_purchase_that_buys_no_hundredth_of_a_unit_is_refused() -> None:
    # 1 yuan at a NAV of 150: 100 / 150 = 0.67 hundredths -> 0 units.
    with pytest.raises(InvalidArgument) as refusal:
        units_for_purchase(100, Decimal("150.0000"))
    assert refusal.value.reason == "INVALID_AMOUNT"


@pytest.mark.parametrize("nav", ["0", "-1.0000", "1.00001", "NaN"])
def test_a_malformed_nav_is_refused(nav: str) -> None:
    with pytest.raises(ValueError):
        units_for_purchase(100_000, Decimal(nav))
    with pytest.raises(ValueError):
        sale_proceeds(Decimal("1.00"), Decimal(nav))


@pytest.mark.parametrize(
    ("units", "nav", "proceeds_fen", "residue_fen"),
    [
        # 810.04 * 1.3000 = 1,053.052 yuan = 105,305.2 fen -> 105,305.
        ("810.04", "1.3000", 105_305, "0.2"),
        # 3.00 * 3.3333 = 9.9999 yuan = 999.99 fen -> 999 (down, even at .99).
        ("3.00", "3.3333", 999, "0.99"),
        # 1.23 * 1.0001 = 1.230123 yuan = 123.0123 fen -> 123.
        ("1.23", "1.0001", 123, "0.0123"),
        # 0.01 * 0.5000 = 0.005 yuan = 0.5 fen -> 0: a sale this small pays nothing.
        ("0.01", "0.5000", 0, "0.5"),
        ("100", "2.0000", 20_000, "0"),
    ],
)
def test_sale_proceeds_are_rounded_down_to_the_fen(
    units: str, nav: str, proceeds_fen: int, residue_fen: str
) -> None:
    sale = sale_proceeds(Decimal(units), Decimal(nav))
    assert (sale.proceeds_fen, sale.residue_fen) == (proceeds_fen, Decimal(residue_fen))


@pytest.mark.parametrize("units", ["0", "-1.00", "1.001", "Infinity"])
def test_malformed_units_are_refused(units: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        sale_proceeds(Decimal(units), Decimal("1.0000"))
    assert refusal.value.reason == "INVALID_AMOUNT"


def test_selling_more_units_than_held_is_refused() -> None:
    require_units_held(Decimal("810.04"), Decimal("810.04"))
    with pytest.raises(FailedPrecondition) as refusal:
        require_units_held(Decimal("810.04"), Decimal("810.05"))
    assert refusal.value.reason == "INSUFFICIENT_UNITS"


navs = st.decimals(min_value="0.0001", max_value=100, places=4)


@given(amount_fen=st.integers(min_value=100, max_value=10**12), nav=navs)
def test_a_purchase_never_buys_more_than_was_paid_for(amount_fen: int, nav: Decimal) -> None:
    purchase = units_for_purchase(amount_fen, nav)
    cost_fen = purchase.units * nav * 100
    assert cost_fen + purchase.residue_fen == amount_fen
    # Less than a hundredth of a unit is left over.
    assert 0 <= purchase.residue_fen < nav
    # Selling the units straight back at the same NAV never returns more than was paid.
    assert sale_proceeds(purchase.units, nav).proceeds_fen <= amount_fen


# --- the questionnaire ------------------------------------------------------------------

T0 = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # Monday 2026-03-09 10:00 CST


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (10, InvestorLevel.C1),  # every answer the most cautious (10 * 1)
        (17, InvestorLevel.C1),
        (18, InvestorLevel.C2),
        (25, InvestorLevel.C2),
        (26, InvestorLevel.C3),
        (33, InvestorLevel.C3),
        (34, InvestorLevel.C4),
        (41, InvestorLevel.C4),
        (42, InvestorLevel.C5),
        (50, InvestorLevel.C5),  # every answer the boldest (10 * 5)
    ],
)
def test_questionnaire_totals_map_to_levels_at_the_stated_thresholds(
    score: int, level: InvestorLevel
) -> None:
    assert investor_level_for_score(score) is level
    assert LEVEL_SCORE_MIN[level] <= score


def test_a_profile_scores_ten_answers_and_is_valid_for_a_year() -> None:
    # 3 + 3 + 2 + 4 + 3 + 3 + 2 + 3 + 4 + 3 = 30 -> C3 (26-33).
    profile = assess_risk_profile("u1", [3, 3, 2, 4, 3, 3, 2, 3, 4, 3], T0)
    assert (profile.score, profile.level) == (30, InvestorLevel.C3)
    assert profile.expires_at == T0 + timedelta(days=365) == T0 + RISK_PROFILE_VALID_FOR
    assert require_valid_profile(profile, profile.expires_at - MICROSECOND) is profile
    with pytest.raises(FailedPrecondition) as refusal:
        require_valid_profile(profile, profile.expires_at)
    assert refusal.value.reason == "RISK_PROFILE_EXPIRED"


@pytest.mark.parametrize(
    "answers",
    [
        [3] * 9,
        [3] * 11,
        [3] * 9 + [0],
        [3] * 9 + [6],
        [3] * 9 + [True],
        [3] * 9 + [2.5],
    ],
)
def test_a_malformed_questionnaire_is_refused(answers: list[int]) -> None:
    with pytest.raises(InvalidArgument):
        assess_risk_profile("u1", answers, T0)


@pytest.mark.parametrize("score", [9, 51])
def test_a_total_outside_the_questionnaire_range_is_a_programming_error(score: int) -> None:
    with pytest.raises(ValueError):
        investor_level_for_score(score)


@given(answers=st.lists(st.integers(min_value=1, max_value=5), min_size=10, max_size=10))
def test_a_higher_total_never_gives_a_lower_level(answers: list[int]) -> None:
    profile = assess_risk_profile("u1", answers, T0)
    if profile.score < 50:
        assert investor_level_for_score(profile.score + 1) >= profile.level


# --- suitability ------------------------------------------------------------------------


def profile_at(level: InvestorLevel, assessed_at: datetime = T0) -> RiskProfile:
    score = LEVEL_SCORE_MIN[level]
    return RiskProfile("u1", score, level, assessed_at, assessed_at + RISK_PROFILE_VALID_FOR)


def fund_at(risk_level: RiskLevel) -> Fund:
    return Fund("f1", "Some Fund", FundCategory.MIXED, risk_level)


@pytest.mark.parametrize(
    ("level", "risk_level", "acknowledged", "allowed"),
    [
        (InvestorLevel.C3, RiskLevel.R3, False, True),  # at the investor's level
        (InvestorLevel.C3, RiskLevel.R1, False, True),  # below it
        (InvestorLevel.C3, RiskLevel.R4, False, False),  # above, not acknowledged
        (InvestorLevel.C3, RiskLevel.R4, True, True),  # above, acknowledged
        (InvestorLevel.C1, RiskLevel.R2, False, False),
        (InvestorLevel.C1, RiskLevel.R5, True, True),
        (InvestorLevel.C5, RiskLevel.R5, False, True),
    ],
)
def test_a_fund_above_the_investors_level_needs_an_acknowledgement(
    level: InvestorLevel, risk_level: RiskLevel, acknowledged: bool, allowed: bool
) -> None:
    profile = profile_at(level)
    if allowed:
        check_suitability(profile, fund_at(risk_level), T0, risk_acknowledged=acknowledged)
        return
    with pytest.raises(FailedPrecondition) as refusal:
        check_suitability(profile, fund_at(risk_level), T0, risk_acknowledged=acknowledged)
    assert refusal.value.reason == "SUITABILITY"
    assert refusal.value.metadata == {
        "fund_id": "f1",
        "risk_level": risk_level.name,
        "investor_level": level.name,
    }


def test_an_expired_profile_is_refused_even_with_an_acknowledgement() -> None:
    profile = profile_at(InvestorLevel.C5, assessed_at=T0 - timedelta(days=365))
    with pytest.raises(FailedPrecondition) as refusal:
        check_suitability(profile, fund_at(RiskLevel.R1), T0, risk_acknowledged=True)
    assert refusal.value.reason == "RISK_PROFILE_EXPIRED"


def test_buying_without_a_profile_is_refused() -> None:
    with pytest.raises(FailedPrecondition) as refusal:
        check_suitability(None, fund_at(RiskLevel.R1), T0, risk_acknowledged=True)
    assert refusal.value.reason == "RISK_PROFILE_REQUIRED"


# --- the 1-year return and recommendations ------------------------------------------------


@pytest.mark.parametrize(
    ("history", "as_of", "expected"),
    [
        # 1.0000 -> 1.1234 over exactly 365 days: +12.34%.
        ({date(2025, 3, 6): "1.0000", date(2026, 3, 6): "1.1234"}, date(2026, 3, 6), "0.1234"),
        # As of Sunday 2026-03-08: the latest NAV is Friday's, and a year before Friday.
        ({date(2025, 3, 6): "1.0000", date(2026, 3, 6): "1.1234"}, date(2026, 3, 8), "0.1234"),
        # Monday 2026-03-09 looks back to Sunday 2025-03-09: no NAV, so Friday 2025-03-07's.
        #   1.3500 / 1.2000 = 1.125: +12.50%.
        ({date(2025, 3, 7): "1.2000", date(2026, 3, 9): "1.3500"}, date(2026, 3, 9), "0.1250"),
        # A loss: 1.1111 / 1.2345 = 0.90004050 -> -0.09995950 -> -0.1000 (half-even).
        ({date(2025, 3, 9): "1.2345", date(2026, 3, 9): "1.1111"}, date(2026, 3, 9), "-0.1000"),
        # 3.0001 / 3.0000 - 1 = 0.0000333 -> 0.0000.
        ({date(2025, 3, 9): "3.0000", date(2026, 3, 9): "3.0001"}, date(2026, 3, 9), "0.0000"),
    ],
)
def test_one_year_return_compares_navs_365_days_apart(
    history: dict[date, str], as_of: date, expected: str
) -> None:
    navs = {day: Decimal(nav) for day, nav in history.items()}
    assert one_year_return(navs, as_of) == Decimal(expected)


@pytest.mark.parametrize(
    "history",
    [
        {},
        {date(2026, 3, 9): "1.1000"},  # under a year of history
        # The start NAV is 15 days before the year's start: beyond the 14-day look-back.
        {date(2025, 2, 22): "1.0000", date(2026, 3, 9): "1.1000"},
        # The latest NAV is 15 days old: beyond the look-back.
        {date(2025, 2, 22): "1.0000", date(2026, 2, 22): "1.1000"},
    ],
)
def test_one_year_return_is_unknown_without_the_history(history: dict[date, str]) -> None:
    navs = {day: Decimal(nav) for day, nav in history.items()}
    assert one_year_return(navs, date(2026, 3, 9)) is None


START, END = date(2025, 3, 7), date(2026, 3, 9)
FUNDS = [
    Fund("mm1", "Cash Plus", FundCategory.MONEY_MARKET, RiskLevel.R1),
    Fund("bond1", "Steady Bond", FundCategory.BOND, RiskLevel.R2),
    Fund("bond2", "Alpha Bond", FundCategory.BOND, RiskLevel.R2),
    Fund("mixed1", "Balanced Mix", FundCategory.MIXED, RiskLevel.R3),
    Fund("mixed2", "New Mix", FundCategory.MIXED, RiskLevel.R3),
    Fund("green1", "Green Future", FundCategory.GREEN, RiskLevel.R3),
    Fund("eq1", "Growth Equity", FundCategory.EQUITY, RiskLevel.R4),
    Fund("idx1", "CSI 300 Index", FundCategory.INDEX, RiskLevel.R4),
]
HISTORIES = {
    # +3.50% each: a tie broken by name ("Alpha Bond" before "Steady Bond").
    "bond1": {START: Decimal("1.0000"), END: Decimal("1.0350")},
    "bond2": {START: Decimal("2.0000"), END: Decimal("2.0700")},
    "mixed1": {START: Decimal("1.0000"), END: Decimal("1.0800")},  # +8.00%
    "mixed2": {date(2025, 12, 1): Decimal("1.0000"), END: Decimal("1.2000")},  # < a year
    "green1": {START: Decimal("1.2000"), END: Decimal("1.3500")},  # +12.50%
    "eq1": {START: Decimal("1.0000"), END: Decimal("1.3000")},  # +30.00%
    "idx1": {START: Decimal("1.0000"), END: Decimal("1.1000")},  # +10.00%
}


def test_recommendations_rank_by_fit_then_return_then_name() -> None:
    picks = recommend_funds(FUNDS, HISTORIES, profile_at(InvestorLevel.C3), T0, limit=20)
    # C3: nothing above R3 (eq1, idx1 left out). R3 first (fit 0): green1 12.50%, mixed1
    # 8.00%, mixed2 (no 1-year return, last of its level); then R2 (fit 1): the two bonds at
    # 3.50% by name; then R1 (fit 2): mm1.
    assert [(p.fund.fund_id, p.risk_distance, p.one_year_return) for p in picks] == [
        ("green1", 0, Decimal("0.1250")),
        ("mixed1", 0, Decimal("0.0800")),
        ("mixed2", 0, None),
        ("bond2", 1, Decimal("0.0350")),
        ("bond1", 1, Decimal("0.0350")),
        ("mm1", 2, None),
    ]


def test_recommendations_are_bounded_by_the_limit() -> None:
    picks = recommend_funds(FUNDS, HISTORIES, profile_at(InvestorLevel.C3), T0, limit=3)
    assert [p.fund.fund_id for p in picks] == ["green1", "mixed1", "mixed2"]
    for limit in (0, RECOMMENDATIONS_MAX + 1):
        with pytest.raises(InvalidArgument):
            recommend_funds(FUNDS, HISTORIES, profile_at(InvestorLevel.C3), T0, limit=limit)


def test_a_conservative_investor_is_recommended_only_the_lowest_risk() -> None:
    picks = recommend_funds(FUNDS, HISTORIES, profile_at(InvestorLevel.C1), T0)
    assert [p.fund.fund_id for p in picks] == ["mm1"]


def test_an_aggressive_investor_sees_the_riskiest_first() -> None:
    picks = recommend_funds(FUNDS, HISTORIES, profile_at(InvestorLevel.C4), T0, limit=3)
    # R4 first: eq1 30.00%, idx1 10.00%; then R3: green1 12.50%.
    assert [p.fund.fund_id for p in picks] == ["eq1", "idx1", "green1"]


def test_recommendations_need_a_valid_profile() -> None:
    expired = profile_at(InvestorLevel.C3, assessed_at=T0 - timedelta(days=366))
    with pytest.raises(FailedPrecondition) as refusal:
        recommend_funds(FUNDS, HISTORIES, expired, T0)
    assert refusal.value.reason == "RISK_PROFILE_EXPIRED"
    with pytest.raises(FailedPrecondition) as missing:
        recommend_funds(FUNDS, HISTORIES, None, T0)
    assert missing.value.reason == "RISK_PROFILE_REQUIRED"


@given(
    level=st.sampled_from(InvestorLevel),
    limit=st.integers(min_value=1, max_value=RECOMMENDATIONS_MAX),
    funds=st.lists(
        st.builds(
            Fund,
            fund_id=st.text(min_size=1, max_size=5),
            name=st.text(max_size=5),
            category=st.sampled_from(FundCategory),
            risk_level=st.sampled_from(RiskLevel),
        ),
        max_size=30,
        unique_by=lambda fund: fund.fund_id,
    ),
)
def test_recommendations_never_exceed_the_profile_and_are_ranked(
    level: InvestorLevel, limit: int, funds: list[Fund]
) -> None:
    picks = recommend_funds(funds, {}, profile_at(level), T0, limit=limit)
    assert len(picks) == min(limit, sum(fund.risk_level <= level for fund in funds))
    assert all(pick.fund.risk_level <= level for pick in picks)
    keys = [(p.risk_distance, p.fund.name, p.fund.fund_id) for p in picks]
    assert keys == sorted(keys)
