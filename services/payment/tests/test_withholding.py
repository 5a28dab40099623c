"""Withholding from settlements: the plan by hand (the trade's own first, then merchant-wide
oldest first, as far as the merchant's net goes) and the settlement posting's legs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.payment.escrow import (
    ESCROW_ACCOUNT_ID,
    Trade,
    TradeState,
    create_trade,
    settlement_split,
)
from services.payment.escrow_postings import settlement_posting
from services.payment.ledger import PLATFORM_FEE_INCOME_ACCOUNT_ID
from services.payment.withholding import (
    Withholding,
    WithholdingState,
    plan_withholding,
    release,
)

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
LENDER = "platform:loan:order"


def instruction(wid: str, fen: int, trade_id: str = "", minutes: int = 0) -> Withholding:
    return Withholding(
        wid,
        "2188m",
        trade_id,
        LENDER,
        "loan-1",
        fen,
        WithholdingState.ACTIVE,
        NOW - timedelta(minutes=minutes),
    )


def test_the_trades_own_instruction_comes_first_then_merchant_wide_oldest_first() -> None:
    instructions = [
        instruction("late", 5_000, minutes=1),
        instruction("early", 3_000, minutes=5),
        instruction("own", 4_000, trade_id="t1"),
        instruction("other-trade", 9_000, trade_id="t2"),
    ]
    changed, legs = plan_withholding("t1", 10_000, instructions, NOW, "p1")
    # own 4,000; early 3,000; late gets the 3,000 left of the 10,000 net
    assert legs == [(LENDER, 4_000), (LENDER, 3_000), (LENDER, 3_000)]
    by_id = {item.withholding_id: item for item in changed}
    assert by_id["own"].state is WithholdingState.DONE
    assert by_id["early"].state is WithholdingState.DONE
    assert (by_id["late"].state, by_id["late"].remaining_fen) == (WithholdingState.ACTIVE, 2_000)
    assert "other-trade" not in by_id
    assert by_id["late"].applications[0].posting_id == "p1"


def test_a_trade_instruction_is_done_when_its_trade_settles_even_short() -> None:
    changed, legs = plan_withholding("t1", 2_500, [instruction("own", 4_000, "t1")], NOW, "p")
    assert legs == [(LENDER, 2_500)]
    assert (changed[0].state, changed[0].withheld_fen) == (WithholdingState.DONE, 2_500)


def test_released_instructions_take_nothing() -> None:
    released = release(instruction("w", 1_000))
    assert plan_withholding("t1", 5_000, [released], NOW, "p") == ([], [])


def settled_trade(amount_fen: int) -> Trade:
    trade = create_trade(
        trade_id="t1",
        merchant_account_id="2188m",
        buyer_account_id="2088b",
        amount_fen=amount_fen,
        description="tea",
        now=NOW,
        payment_window=timedelta(days=1),
    )
    return replace(trade, state=TradeState.SETTLED)


def test_the_settlement_posting_carries_the_legs_and_still_sums_to_zero() -> None:
    trade = settled_trade(10_000)
    split = settlement_split(trade)
    posting = settlement_posting(trade, "p1", NOW, [(LENDER, 6_000), (LENDER, 1_000)])
    amounts = {entry.account_id: entry.amount_fen for entry in posting.entries}
    assert amounts == {
        ESCROW_ACCOUNT_ID: -10_000,
        "2188m": split.merchant_fen - 7_000,
        LENDER: 7_000,
        PLATFORM_FEE_INCOME_ACCOUNT_ID: 60,
    }
    with pytest.raises(AssertionError):
        settlement_posting(trade, "p2", NOW, [(LENDER, split.merchant_fen + 1)])
