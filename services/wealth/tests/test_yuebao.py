"""Yu'e Bao: the portfolio's yield, income per 10,000 shares, the 7-day yield, the daily
distribution and its residue, subscription and the fast/normal redemption split."""

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition, InsufficientFunds, InvalidArgument
from services.wealth.yuebao import (
    DEFAULT_FEES,
    DEFAULT_PORTFOLIO,
    FAST_REDEMPTION_FEN_MAX_PER_BUSINESS_DATE,
    HOLDERS_PER_DISTRIBUTION_MAX,
    Allocation,
    AssetClass,
    FundFees,
    Portfolio,
    RedemptionSplit,
    distribute_daily_income,
    fast_redemption_allowance,
    gross_annual_rate,
    gross_daily_rate,
    income_per_10k_shares,
    net_annual_rate,
    net_daily_rate,
    normal_redemption_settles_on,
    require_fast_redemption,
    require_redeemable,
    seven_day_annualised_yield,
    shares_for_subscription,
    split_redemption,
)

YUAN = 100
NO_FEES = FundFees(Decimal(0), Decimal(0), Decimal(0))


def single_asset(annual_rate: str) -> Portfolio:
    return Portfolio((Allocation(AssetClass.BONDS, Decimal(1), Decimal(annual_rate)),))


# --- the portfolio ------------------------------------------------------------------------


def test_default_portfolio_has_the_seed_shape() -> None:
    weights = {a.asset_class: a.weight for a in DEFAULT_PORTFOLIO.allocations}
    deposits = (
        weights[AssetClass.TERM_DEPOSIT_1_MONTH]
        + weights[AssetClass.TERM_DEPOSIT_1_TO_3_MONTHS]
        + weights[AssetClass.TERM_DEPOSIT_OVER_3_MONTHS]
    )
    assert deposits == Decimal("0.90")
    assert weights[AssetClass.BONDS] == Decimal("0.07")
    assert weights[AssetClass.INSURANCE_WEALTH_PRODUCTS] == Decimal("0.02")
    assert weights[AssetClass.OTHER] == Decimal("0.01")
    assert DEFAULT_FEES.total_annual_rate == Decimal("0.0063")


def test_default_portfolio_yield_and_income_per_10k_shares() -> None:
    # Gross annual = Σ weight * rate:
    #   0.30 * 2.10% = 0.6300%   (term deposits, 1 month)
    #   0.35 * 2.30% = 0.8050%   (1-3 months)
    #   0.25 * 2.60% = 0.6500%   (over 3 months)
    #   0.07 * 2.80% = 0.1960%   (bonds)
    #   0.02 * 3.50% = 0.0700%   (insurance wealth products)
    #   0.01 * 1.50% = 0.0150%   (other)
    #                = 2.3660%
    assert gross_annual_rate(DEFAULT_PORTFOLIO) == Decimal("0.023660")
    # Less 0.30% + 0.08% + 0.25% = 0.63% of fees: 1.7360% net.
    assert net_annual_rate(DEFAULT_PORTFOLIO) == Decimal("0.017360")
    # A day: 2.366% / 365 = 0.0064821917...%; net 1.736% / 365 = 0.0047561643...%.
    assert str(gross_daily_rate(DEFAULT_PORTFOLIO)).startswith("0.0000648219178082191")
    assert str(net_daily_rate(DEFAULT_PORTFOLIO)).startswith("0.0000475616438356164")
    # 万份收益 = 0.01736 * 10,000 yuan / 365 = 173.6 / 365 = 0.47561643... yuan -> 0.4756.
    assert income_per_10k_shares(DEFAULT_PORTFOLIO) == Decimal("0.4756")


@pytest.mark.parametrize(
    ("annual_rate", "fees", "expected"),
    [
        # 3.65% with no fees: 0.0365 * 10,000 / 365 = 1 yuan exactly.
        ("0.0365", NO_FEES, "1.0000"),
        # 3.65% - 0.63% = 3.02%: 302 / 365 = 0.82739726 -> 0.8273 (down; half-even gives .8274).
        ("0.0365", DEFAULT_FEES, "0.8273"),
        # Exactly the fees: 0.63% - 0.63% = 0, no income.
        ("0.0063", DEFAULT_FEES, "0.0000"),
        # 0.64% - 0.63% = 0.01%: 1 / 365 = 0.00273972 -> 0.0027.
        ("0.0064", DEFAULT_FEES, "0.0027"),
        # 0.630001% - 0.63% = 0.000001% a year: 0.0001 / 365 = 0.00000027 -> 0.0000.
        ("0.00630001", DEFAULT_FEES, "0.0000"),
    ],
)
def test_income_per_10k_shares_is_rounded_down_to_4_decimals(
    annual_rate: str, fees: FundFees, expected: str
) -> None:
    quote = income_per_10k_shares(single_asset(annual_rate), fees)
    assert quote == Decimal(expected)
    assert quote.as_tuple().exponent == -4


def test_a_portfolio_that_does_not_cover_the_fees_is_refused() -> None:
    with pytest.raises(InvalidArgument) as refusal:
        income_per_10k_shares(single_asset("0.0062"))
    assert refusal.value.reason == "INVALID_PORTFOLIO"


@pytest.mark.parametrize(
    ("allocations", "field"),
    [
        ((), "allocations"),
        (
            (
                Allocation(AssetClass.BONDS, Decimal("0.5"), Decimal("0.02")),
                Allocation(AssetClass.BONDS, Decimal("0.5"), Decimal("0.02")),
            ),
            "asset_class",
        ),
        # 0.3 + 0.3 + 0.3 = 0.9: short of 1 by a missing allocation.
        (
            (
                Allocation(AssetClass.BONDS, Decimal("0.3"), Decimal("0.02")),
                Allocation(AssetClass.OTHER, Decimal("0.3"), Decimal("0.02")),
                Allocation(AssetClass.TERM_DEPOSIT_1_MONTH, Decimal("0.3"), Decimal("0.02")),
            ),
            "weight",
        ),
        # 0.5 + 0.5000001: over 1 by a typo.
        (
            (
                Allocation(AssetClass.BONDS, Decimal("0.5"), Decimal("0.02")),
                Allocation(AssetClass.OTHER, Decimal("0.5000001"), Decimal("0.02")),
            ),
            "weight",
        ),
        ((Allocation(AssetClass.BONDS, Decimal(0), Decimal("0.02")),), "weight"),
        ((Allocation(AssetClass.BONDS, Decimal("1.1"), Decimal("0.02")),), "weight"),
        ((Allocation(AssetClass.BONDS, Decimal(1), Decimal("-0.01")),), "annual_rate"),
        ((Allocation(AssetClass.BONDS, Decimal(1), Decimal(1)),), "annual_rate"),
        ((Allocation(AssetClass.BONDS, Decimal(1), Decimal("NaN")),), "annual_rate"),
        ((Allocation(AssetClass.BONDS, 1.0, Decimal("0.02")),), "weight"),  # type: ignore[arg-type]
    ],
)
def test_invalid_portfolio_is_refused_naming_the_field(
    allocations: tuple[Allocation, ...], field: str
) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        Portfolio(allocations)
    assert refusal.value.reason == "INVALID_PORTFOLIO"
    assert refusal.value.metadata["field"] == field


def test_weights_may_be_any_decimals_that_sum_to_exactly_one() -> None:
    portfolio = Portfolio(
        (
            Allocation(AssetClass.BONDS, Decimal("0.333"), Decimal("0.03")),
            Allocation(AssetClass.OTHER, Decimal("0.667"), Decimal("0.03")),
        )
    )
    assert gross_annual_rate(portfolio) == Decimal("0.03")


# --- the 7-day annualised yield -----------------------------------------------------------


@pytest.mark.parametrize(
    ("week", "expected"),
    [
        # No income: (1 + 0)^(365/7) - 1 = 0.
        (["0"] * 7, "0.000000"),
        # 1 yuan per 10,000 every day: the product is 1.0001^7, so the yield is 1.0001^365 - 1.
        #   ln 1.0001 = 0.000099995000333; * 365 = x = 0.036498175122
        #   e^x - 1 = x + x²/2 + x³/6 + x⁴/24
        #           = 0.036498175 + 0.000666058 + 0.000008103 + 0.000000074 = 0.037172411
        #   -> 3.7172% (the simple-sum variant would say 7/7 * 365 / 10,000 = 3.6500%).
        (["1"] * 7, "0.037172"),
        # The default portfolio's 0.4756 every day: 1.00004756^365 - 1.
        #   ln 1.00004756 = 0.000047558869; * 365 = x = 0.017358987207
        #   e^x - 1 = 0.017358987 + 0.000150667 + 0.000000872 + 0.000000004 = 0.017510530
        (["0.4756"] * 7, "0.017511"),
        # A varied week, Σ r = 3.3764:
        #   Σ ln(1 + r_i/10,000) = 0.000337631853; * 365/7 = x = 0.017605089480
        #   e^x - 1 = 0.017605089 + 0.000154970 + 0.000000909 + 0.000000004 = 0.017760972
        (["0.4756", "0.4801", "0.4723", "0.4688", "0.4912", "0.5034", "0.4850"], "0.017761"),
        # All of a week's income on one day (7 yuan on day 7): 1.0007^(365/7) - 1.
        #   ln 1.0007 = 0.000699755114; * 365/7 = x = 0.036487307
        #   e^x - 1 = 0.036487307 + 0.000665662 + 0.000008096 + 0.000000074 = 0.037161139
        #   -> a touch below seven days of 1 (compounding starts later).
        (["0"] * 6 + ["7"], "0.037161"),
    ],
)
def test_seven_day_yield_compounds_the_week_to_a_year(week: list[str], expected: str) -> None:
    assert seven_day_annualised_yield([Decimal(r) for r in week]) == Decimal(expected)


@pytest.mark.parametrize("days", [0, 6, 8])
def test_seven_day_yield_needs_exactly_seven_days(days: int) -> None:
    with pytest.raises(ValueError):
        seven_day_annualised_yield([Decimal("0.5")] * days)


@pytest.mark.parametrize("bad", ["-0.0001", "0.12345", "NaN"])
def test_seven_day_yield_refuses_a_malformed_quote(bad: str) -> None:
    with pytest.raises(ValueError):
        seven_day_annualised_yield([Decimal("0.5")] * 6 + [Decimal(bad)])


quotes = st.decimals(min_value=0, max_value=10, places=4)
weeks = st.lists(quotes, min_size=7, max_size=7)


@given(data=st.data(), week=weeks)
def test_seven_day_yield_does_not_depend_on_the_order_of_the_days(
    data: st.DataObject, week: list[Decimal]
) -> None:
    shuffled = data.draw(st.permutations(week))
    assert seven_day_annualised_yield(shuffled) == seven_day_annualised_yield(week)


@given(week=weeks)
def test_seven_day_yield_is_at_least_the_simple_sum_variant(week: list[Decimal]) -> None:
    # Π(1 + x_i) >= 1 + Σ x_i and (1 + s)^(365/7) >= 1 + s * 365/7 (Bernoulli): compounding
    # never shows less than the simple sum, up to the half-unit of the 6-decimal quote.
    simple = sum(week, Decimal(0)) / 7 * 365 / 10_000
    assert seven_day_annualised_yield(week) >= simple - Decimal("0.0000005")


# --- the daily distribution ---------------------------------------------------------------


def test_distribution_rounds_each_holder_down_and_keeps_the_residue() -> None:
    holdings = {"a": 10_000, "b": 1_000_000, "c": 123_456, "d": 1}
    distribution = distribute_daily_income(holdings, Decimal("0.4756"), Decimal(0))
    # income = shares * 0.4756 / 10,000 fen:
    #   a      10,000 -> 0.4756        -> 0   (100 yuan earns under a fen)
    #   b   1,000,000 -> 47.56         -> 47  (10,000 yuan earns the quote: 0.4756 yuan)
    #   c     123,456 -> 5.87156736    -> 5
    #   d           1 -> 0.00004756    -> 0
    #   fund income 53.90721492, paid 52, residue 1.90721492
    assert dict(distribution.income_fen_by_holder) == {"a": 0, "b": 47, "c": 5, "d": 0}
    assert distribution.paid_fen == 52
    assert distribution.fund_income_fen == Decimal("53.90721492")
    assert distribution.residue_fen == Decimal("1.90721492")
    assert distribution.residue_added_fen == Decimal("1.90721492")
    assert distribution.holders_count == 4


def test_residue_is_carried_across_days_and_never_lost() -> None:
    holdings = {"a": 10_000, "b": 1_000_000, "c": 123_456, "d": 1}
    # Each day's income is credited as new shares before the next day.
    # Day 1 at 0.4756: as above, paid 52 (b 47, c 5), residue 1.90721492.
    # Day 2 at 0.4801, shares a 10,000, b 1,000,047, c 123,461, d 1:
    #   a 0.4801 -> 0; b 1,000,047 * 0.4801 / 10,000 = 48.01225647 -> 48;
    #   c 123,461 * 0.4801 / 10,000 = 5.92736261 -> 5; d 0.00004801 -> 0
    #   fund income 54.41976709, paid 53, residue 1.90721492 + 1.41976709 = 3.32698201
    # Day 3 at 0.4723, and e joins with 5,000,000 (50,000 yuan):
    #   a 0.4723 -> 0; b 1,000,095 * 0.4723 / 10,000 = 47.23448685 -> 47;
    #   c 123,466 * 0.4723 / 10,000 = 5.83129918 -> 5; d 0.00004723 -> 0;
    #   e 5,000,000 * 0.4723 / 10,000 = 236.15 -> 236
    #   fund income 289.68813326, paid 288, residue 3.32698201 + 1.68813326 = 5.01511527
    expected = [
        ("0.4756", {}, {"a": 0, "b": 47, "c": 5, "d": 0}, 52, "53.90721492", "1.90721492"),
        ("0.4801", {}, {"a": 0, "b": 48, "c": 5, "d": 0}, 53, "54.41976709", "3.32698201"),
        (
            "0.4723",
            {"e": 5_000_000},
            {"a": 0, "b": 47, "c": 5, "d": 0, "e": 236},
            288,
            "289.68813326",
            "5.01511527",
        ),
    ]
    residue_fen = Decimal(0)
    fund_income_total_fen = Decimal(0)
    paid_total_fen = 0
    for quote, joining, incomes, paid_fen, fund_income_fen, new_residue_fen in expected:
        holdings.update(joining)
        distribution = distribute_daily_income(holdings, Decimal(quote), residue_fen)
        assert dict(distribution.income_fen_by_holder) == incomes
        assert distribution.paid_fen == paid_fen
        assert distribution.fund_income_fen == Decimal(fund_income_fen)
        assert distribution.residue_fen == Decimal(new_residue_fen)
        for holder_id, income_fen in distribution.income_fen_by_holder.items():
            holdings[holder_id] += income_fen
        residue_fen = distribution.residue_fen
        fund_income_total_fen += distribution.fund_income_fen
        paid_total_fen += distribution.paid_fen
    assert holdings == {"a": 10_000, "b": 1_000_142, "c": 123_471, "d": 1, "e": 5_000_236}
    # 53.90721492 + 54.41976709 + 289.68813326 = 398.01511527 = 393 paid + 5.01511527 residue.
    assert fund_income_total_fen == Decimal("398.01511527")
    assert paid_total_fen + residue_fen == fund_income_total_fen


def test_no_holders_distributes_nothing_and_keeps_the_carried_residue() -> None:
    distribution = distribute_daily_income({}, Decimal("0.4756"), Decimal("3.5"))
    assert (distribution.paid_fen, distribution.residue_fen) == (0, Decimal("3.5"))


def test_a_zero_income_day_pays_nothing() -> None:
    distribution = distribute_daily_income({"a": 10**12}, Decimal("0.0000"), Decimal("1.25"))
    assert dict(distribution.income_fen_by_holder) == {"a": 0}
    assert distribution.residue_fen == Decimal("1.25")


@pytest.mark.parametrize(
    ("holdings", "quote", "carried"),
    [
        ({"a": 100}, "-0.0001", "0"),  # a negative day is not modelled
        ({"a": 100}, "0.47561", "0"),  # quotes have 4 decimals
        ({"a": 100}, "NaN", "0"),
        ({"a": 100}, "0.4756", "-0.1"),  # a residue is never negative
        ({"a": -1}, "0.4756", "0"),
        ({"a": True}, "0.4756", "0"),
        ({"a": 1.5}, "0.4756", "0"),
    ],
)
def test_distribution_refuses_malformed_input(
    holdings: Mapping[str, int], quote: str, carried: str
) -> None:
    with pytest.raises(ValueError):
        distribute_daily_income(holdings, Decimal(quote), Decimal(carried))


def test_distribution_is_bounded_to_a_page_of_holders() -> None:
    holdings = {f"h{i}": 1 for i in range(HOLDERS_PER_DISTRIBUTION_MAX + 1)}
    with pytest.raises(ValueError):
        distribute_daily_income(holdings, Decimal("0.4756"), Decimal(0))
    del holdings["h0"]
    assert distribute_daily_income(holdings, Decimal("0.4756"), Decimal(0)).paid_fen == 0


holdings_strategy = st.dictionaries(
    st.text(min_size=1, max_size=4), st.integers(min_value=0, max_value=10**12), max_size=30
)
residues = st.decimals(min_value=0, max_value=10_000, places=8)


@given(holdings=holdings_strategy, quote=quotes, carried=residues)
def test_distribution_invariants(
    holdings: dict[str, int], quote: Decimal, carried: Decimal
) -> None:
    """Each holder gets floor(shares * quote / 10,000); nothing created, nothing lost.

    Precisely: paid + (residue - carried) == fund income exactly; 0 <= residue - carried <
    the number of holders (each leaves less than one fen), so paid <= fund income.
    """
    distribution = distribute_daily_income(holdings, quote, carried)
    for holder_id, shares_fen in holdings.items():
        exact = shares_fen * quote / 10_000
        paid = distribution.income_fen_by_holder[holder_id]
        assert paid <= exact < paid + 1
    assert distribution.paid_fen == sum(distribution.income_fen_by_holder.values())
    assert distribution.paid_fen <= distribution.fund_income_fen
    added = distribution.residue_added_fen
    assert added == distribution.fund_income_fen - distribution.paid_fen
    assert 0 <= added < max(len(holdings), 1)
    assert distribution.residue_fen == carried + added


@given(holdings=holdings_strategy, quote=quotes, cut=st.integers(min_value=0, max_value=30))
def test_paging_the_holders_gives_the_same_incomes_and_residue(
    holdings: dict[str, int], quote: Decimal, cut: int
) -> None:
    items = list(holdings.items())
    whole = distribute_daily_income(holdings, quote, Decimal(0))
    first = distribute_daily_income(dict(items[:cut]), quote, Decimal(0))
    second = distribute_daily_income(dict(items[cut:]), quote, first.residue_fen)
    paged = {**first.income_fen_by_holder, **second.income_fen_by_holder}
    assert paged == dict(whole.income_fen_by_holder)
    assert second.residue_fen == whole.residue_fen


@given(rate=st.decimals(min_value="0.0063", max_value="0.2", places=6))
def test_the_quote_never_exceeds_what_the_portfolio_earned(rate: Decimal) -> None:
    portfolio = single_asset(str(rate))
    quote = income_per_10k_shares(portfolio)
    exact = net_daily_rate(portfolio) * 10_000
    assert quote <= exact < quote + Decimal("0.0001")


# --- subscription and redemption ----------------------------------------------------------


def test_subscription_issues_one_share_per_fen_from_one_fen() -> None:
    assert shares_for_subscription(1) == 1
    assert shares_for_subscription(123_456) == 123_456


@pytest.mark.parametrize("amount_fen", [0, -1, 1_000_000_000_001])
def test_subscription_below_one_fen_or_above_the_platform_maximum_is_refused(
    amount_fen: int,
) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        shares_for_subscription(amount_fen)
    assert refusal.value.reason == "INVALID_AMOUNT"


def test_redeeming_more_than_the_holding_is_refused() -> None:
    require_redeemable("u1", shares_fen=5_000, amount_fen=5_000)
    with pytest.raises(InsufficientFunds) as refusal:
        require_redeemable("u1", shares_fen=5_000, amount_fen=5_001)
    assert refusal.value.reason == "INSUFFICIENT_FUNDS"
    assert refusal.value.metadata["available_fen"] == "5000"


@pytest.mark.parametrize(
    ("already_fen", "allowance_fen"),
    [
        (0, 1_000_000),  # 10,000 yuan a day
        (1, 999_999),
        (400_000, 600_000),
        (1_000_000, 0),
        (1_500_000, 0),  # over the cap (a lowered cap) leaves nothing, not a negative
    ],
)
def test_fast_redemption_allowance_is_10000_yuan_a_business_date(
    already_fen: int, allowance_fen: int
) -> None:
    assert FAST_REDEMPTION_FEN_MAX_PER_BUSINESS_DATE == 10_000 * YUAN
    assert fast_redemption_allowance(already_fen) == allowance_fen


def test_fast_redemption_allowance_refuses_a_negative_figure() -> None:
    with pytest.raises(ValueError):
        fast_redemption_allowance(-1)


@pytest.mark.parametrize(
    ("amount_fen", "allowance_fen", "fast_fen", "normal_fen"),
    [
        (500_000, 1_000_000, 500_000, 0),  # within the cap: all fast
        (1_000_000, 1_000_000, 1_000_000, 0),  # exactly the cap
        (1_500_000, 1_000_000, 1_000_000, 500_000),  # 15,000 yuan: 10,000 now, 5,000 tomorrow
        (300_000, 200_000, 200_000, 100_000),  # 8,000 yuan redeemed fast earlier today
        (300_000, 0, 0, 300_000),  # cap used up: all normal
    ],
)
def test_split_redemption_is_fast_up_to_the_allowance_and_normal_above(
    amount_fen: int, allowance_fen: int, fast_fen: int, normal_fen: int
) -> None:
    split = split_redemption(amount_fen, allowance_fen)
    assert split == RedemptionSplit(fast_fen=fast_fen, normal_fen=normal_fen)
    fast, normal = split
    assert fast + normal == amount_fen


def test_split_redemption_refuses_bad_amounts() -> None:
    with pytest.raises(InvalidArgument):
        split_redemption(0, 100)
    with pytest.raises(ValueError):
        split_redemption(100, -1)


@given(
    amount_fen=st.integers(min_value=1, max_value=10**12),
    already_fen=st.integers(min_value=0, max_value=2 * 10**6),
)
def test_split_redemption_never_exceeds_the_days_cap(amount_fen: int, already_fen: int) -> None:
    split = split_redemption(amount_fen, fast_redemption_allowance(already_fen))
    assert split.fast_fen + split.normal_fen == amount_fen
    assert min(split) >= 0
    assert already_fen + split.fast_fen <= max(
        already_fen, FAST_REDEMPTION_FEN_MAX_PER_BUSINESS_DATE
    )


def test_fast_redemption_above_daily_cap_is_refused() -> None:
    require_fast_redemption(1_000_000, already_fast_redeemed_today_fen=0)
    require_fast_redemption(600_000, already_fast_redeemed_today_fen=400_000)
    with pytest.raises(FailedPrecondition) as refusal:
        require_fast_redemption(600_001, already_fast_redeemed_today_fen=400_000)
    assert refusal.value.reason == "FAST_REDEMPTION_LIMIT_EXCEEDED"
    assert refusal.value.metadata["allowance_fen"] == "600000"


@pytest.mark.parametrize(
    ("business_date", "settles_on"),
    [
        (date(2026, 3, 4), date(2026, 3, 5)),  # Wednesday -> Thursday
        (date(2026, 3, 6), date(2026, 3, 7)),  # Friday -> Saturday: weekends are not skipped
        (date(2026, 12, 31), date(2027, 1, 1)),  # across the year
        (date(2028, 2, 28), date(2028, 2, 29)),  # a leap day is a day
    ],
)
def test_normal_redemption_settles_on_the_next_calendar_date(
    business_date: date, settles_on: date
) -> None:
    assert normal_redemption_settles_on(business_date) == settles_on
