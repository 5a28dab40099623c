"""Wallet pay's choice of payment methods (pure): first that covers, or a split in order."""

from __future__ import annotations

import pytest

from chassis.errors import DomainError
from gateway.payment.methods import PaymentMethod, parse_methods, plan_funding
from gateway.wealth.positions import position_value_fen

BALANCE, YUEBAO, HUABEI = PaymentMethod.BALANCE, PaymentMethod.YUEBAO, PaymentMethod.HUABEI


@pytest.mark.parametrize(
    ("methods", "balance_fen", "yuebao_fen", "split", "parts"),
    [
        # The balance covers: it pays, Yu'e Bao is untouched.
        ((BALANCE, YUEBAO), 500, 300, False, ((BALANCE, 200),)),
        # It does not: Yu'e Bao, which does, pays the whole amount.
        ((BALANCE, YUEBAO), 50, 300, False, ((YUEBAO, 200),)),
        # The caller's order first.
        ((YUEBAO, BALANCE), 500, 300, False, ((YUEBAO, 200),)),
        # A split draws in order: 50 from the balance, the other 150 from Yu'e Bao.
        ((BALANCE, YUEBAO), 50, 300, True, ((BALANCE, 50), (YUEBAO, 150))),
        # A split where the first covers is just the first.
        ((BALANCE, YUEBAO), 500, 300, True, ((BALANCE, 200),)),
        # An empty method is skipped, not listed with 0.
        ((BALANCE, YUEBAO), 0, 300, True, ((YUEBAO, 200),)),
    ],
)
def test_the_methods_that_pay_and_how_much(
    methods: tuple[PaymentMethod, ...],
    balance_fen: int,
    yuebao_fen: int,
    split: bool,
    parts: tuple[tuple[PaymentMethod, int], ...],
) -> None:
    funding = plan_funding(200, methods, {BALANCE: balance_fen, YUEBAO: yuebao_fen}, split=split)
    assert funding.parts == parts
    assert funding.total_fen == 200


@pytest.mark.parametrize("split", [False, True])
def test_when_the_methods_cannot_cover_the_amount_it_is_insufficient_funds(split: bool) -> None:
    with pytest.raises(DomainError) as refused:
        plan_funding(200, (BALANCE, YUEBAO), {BALANCE: 150, YUEBAO: 40}, split=split)
    assert refused.value.reason == "INSUFFICIENT_FUNDS"


def test_methods_default_to_balance_then_yuebao_and_huabei_is_named_to_be_used() -> None:
    assert parse_methods(None) == (BALANCE, YUEBAO)
    assert parse_methods(["yuebao"]) == (YUEBAO,)
    assert parse_methods(["balance", "yuebao", "huabei"]) == (BALANCE, YUEBAO, HUABEI)
    for bad in ([], ["balance", "balance"], ["cash"], "balance", [1]):
        with pytest.raises(DomainError) as invalid:
            parse_methods(bad)
        assert invalid.value.reason == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("units", "nav", "value_fen"),
    [
        ("80.00", "1.2500", 10_000),  # 80 x 1.25 = 100.00 yuan
        ("33.33", "1.0001", 3_333),  # 33.333333 yuan: rounded down to the fen
        ("10.00", "", 0),  # no NAV published yet
    ],
)
def test_a_fund_position_is_valued_at_the_latest_nav_rounded_down(
    units: str, nav: str, value_fen: int
) -> None:
    assert position_value_fen(units, nav) == value_fen
