"""Money: exact parsing and formatting of yuan amounts, no floats anywhere."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import InvalidArgument
from chassis.money import AMOUNT_FEN_MAX, Money, parse_yuan, require_positive_amount


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("0", 0),
        ("0.01", 1),  # the smallest amount: one fen
        ("1", 100),
        ("12.3", 1230),  # one decimal means ten fen per tenth
        ("12.34", 1234),
        ("10000.00", 1_000_000),
    ],
)
def test_parse_yuan_is_exact(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    "text",
    ["", "-1", "+1", "1.234", "1e3", "1,000", " 1", "01", ".5", "1.", "abc", "NaN", "12.34\n"],
)
def test_parse_yuan_refuses_anything_but_plain_decimals(text: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        parse_yuan(text)
    assert refusal.value.reason == "INVALID_AMOUNT"


def test_parse_yuan_refuses_a_float() -> None:
    with pytest.raises(InvalidArgument):
        parse_yuan(12.34)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=AMOUNT_FEN_MAX))
def test_format_then_parse_round_trips(fen: int) -> None:
    assert parse_yuan(Money(fen).to_yuan_string()) == fen


@pytest.mark.parametrize(
    ("fen", "text"), [(0, "0.00"), (5, "0.05"), (1234, "12.34"), (-150, "-1.50")]
)
def test_to_yuan_string(fen: int, text: str) -> None:
    assert Money(fen).to_yuan_string() == text


def test_money_refuses_float_fen() -> None:
    with pytest.raises(TypeError):
        Money(1.5)  # type: ignore[arg-type]


def test_money_refuses_other_currencies() -> None:
    with pytest.raises(InvalidArgument) as refusal:
        Money(100, "USD")
    assert refusal.value.reason == "UNSUPPORTED_CURRENCY"


def test_money_arithmetic_keeps_currency() -> None:
    assert Money(150) + Money(50) == Money(200)
    assert Money(150) - Money(200) == Money(-50)
    assert -Money(7) == Money(-7)


@pytest.mark.parametrize("fen", [0, -1, AMOUNT_FEN_MAX + 1, True])
def test_require_positive_amount_refuses(fen: int) -> None:
    with pytest.raises(InvalidArgument):
        require_positive_amount(fen)


def test_require_positive_amount_accepts_the_bounds() -> None:
    assert require_positive_amount(1) == 1
    assert require_positive_amount(AMOUNT_FEN_MAX) == AMOUNT_FEN_MAX
