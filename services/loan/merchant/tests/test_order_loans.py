"""Order loans by hand: 80% cover, interest then principal from settlements, excess given
back, a refunded trade's shortfall overdue."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chassis.errors import DomainError
from services.loan.merchant.order_loans import (
    OrderLoan,
    OrderLoanState,
    PledgedTrade,
    apply_collection,
    apply_for_order_loan,
    disburse_order_loan,
    finish_trades,
    owed_fen,
)

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DAY = date(2026, 3, 2)
TRADES = [PledgedTrade("t600", 60_000), PledgedTrade("t400", 40_000)]


def lent(amount_fen: int = 80_000) -> OrderLoan:
    loan = apply_for_order_loan(
        loan_id="ol1",
        merchant_id="2188m",
        trades=list(TRADES),
        amount_fen=amount_fen,
        pledged_elsewhere=set(),
        merchant_overdue=False,
        now=NOW,
    )
    return disburse_order_loan(loan, "p-disburse", NOW)


def test_the_cover_is_80_percent_of_the_trades_in_escrow() -> None:
    with pytest.raises(DomainError) as caught:
        lent(80_001)
    assert caught.value.reason == "ORDER_LOAN_COVER"
    assert caught.value.metadata["cover_fen"] == "80000"
    assert lent().principal.principal_fen == 80_000


@pytest.mark.parametrize(
    ("pledged", "overdue", "reason"),
    [({"t400"}, False, "TRADE_PLEDGED"), (set(), True, "LOAN_OVERDUE")],
)
def test_pledged_trades_and_an_overdue_merchant_are_refused(
    pledged: set[str], overdue: bool, reason: str
) -> None:
    with pytest.raises(DomainError) as caught:
        apply_for_order_loan(
            loan_id="x",
            merchant_id="m",
            trades=list(TRADES),
            amount_fen=1_000,
            pledged_elsewhere=pledged,
            merchant_overdue=overdue,
            now=NOW,
        )
    assert caught.value.reason == reason


def test_settlements_repay_interest_then_principal_and_a_refund_leaves_a_shortfall() -> None:
    loan = lent()
    # day 5: the 600-yuan trade settles; 59,640 net withheld: 200 interest (800 x 0.05% x 5)
    loan, got = apply_collection(loan, "w1:p1", 59_640, DAY + timedelta(days=5))
    assert (got.interest_fen, got.principal_fen, got.excess_fen) == (200, 59_440, 0)
    loan = finish_trades(loan, {"t600"}, DAY + timedelta(days=5))
    assert loan.overdue_since is None
    # the same application again changes nothing
    again, none = apply_collection(loan, "w1:p1", 59_640, DAY + timedelta(days=5))
    assert (again, none.principal_fen) == (loan, 0)
    # day 7: the 400-yuan trade is refunded: 20,560 principal is overdue from then
    loan = finish_trades(loan, {"t400"}, DAY + timedelta(days=7))
    assert loan.overdue_since == DAY + timedelta(days=7)
    assert loan.overdue_on(DAY + timedelta(days=7))
    # 20,560 x 0.05% x 2 = 20.56 → 20 fen of interest by day 7
    assert owed_fen(loan, DAY + timedelta(days=7)) == 20_560 + 20


def test_what_a_collection_brings_beyond_the_debt_is_excess() -> None:
    loan = lent(10_000)
    loan, got = apply_collection(loan, "w1:p1", 59_640, DAY + timedelta(days=1))
    assert (got.interest_fen, got.principal_fen, got.excess_fen) == (5, 10_000, 49_635)
    assert loan.state is OrderLoanState.SETTLED
    _, later = apply_collection(loan, "w2:p2", 100, DAY + timedelta(days=2))
    assert later.excess_fen == 100


def test_overdue_after_30_days_even_with_trades_unfinished() -> None:
    loan = lent()
    assert not loan.overdue_on(DAY + timedelta(days=30))
    assert loan.overdue_on(DAY + timedelta(days=31))
