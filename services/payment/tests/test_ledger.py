"""Ledger rules: balanced postings, no overdraft for non-external accounts, breach detection."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition, InsufficientFunds, InvalidArgument
from services.payment.ledger import (
    Account,
    AccountKind,
    AccountStatus,
    Entry,
    Posting,
    PostingKind,
    ledger_breaches,
    plan_movement,
    require_can_debit,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def account(
    kind: AccountKind = AccountKind.PERSONAL,
    balance_fen: int = 0,
    held_fen: int = 0,
    status: AccountStatus = AccountStatus.ACTIVE,
) -> Account:
    return Account("a1", kind, status, "Alice", balance_fen=balance_fen, held_fen=held_fen)


def test_plan_movement_debits_payer_and_credits_payee() -> None:
    posting = plan_movement(
        posting_id="p1",
        kind=PostingKind.TRANSFER,
        from_account_id="a",
        to_account_id="b",
        amount_fen=1234,
        posted_at=NOW,
        memo="  dinner  ",
    )
    assert posting.entries == (Entry("a", -1234), Entry("b", 1234))
    assert posting.memo == "dinner"
    assert posting.counterpart_of("a") == "b"


@pytest.mark.parametrize("amount_fen", [0, -1])
def test_plan_movement_refuses_non_positive_amounts(amount_fen: int) -> None:
    with pytest.raises(InvalidArgument):
        plan_movement(
            posting_id="p",
            kind=PostingKind.TRANSFER,
            from_account_id="a",
            to_account_id="b",
            amount_fen=amount_fen,
            posted_at=NOW,
        )


def test_plan_movement_refuses_the_same_account() -> None:
    with pytest.raises(InvalidArgument) as refusal:
        plan_movement(
            posting_id="p",
            kind=PostingKind.TRANSFER,
            from_account_id="a",
            to_account_id="a",
            amount_fen=1,
            posted_at=NOW,
        )
    assert refusal.value.reason == "SAME_ACCOUNT"


def test_plan_movement_refuses_a_long_memo() -> None:
    with pytest.raises(InvalidArgument):
        plan_movement(
            posting_id="p",
            kind=PostingKind.TRANSFER,
            from_account_id="a",
            to_account_id="b",
            amount_fen=1,
            posted_at=NOW,
            memo="x" * 65,
        )


def test_unbalanced_posting_cannot_be_built() -> None:
    with pytest.raises(AssertionError):
        Posting("p", PostingKind.TRANSFER, (Entry("a", -100), Entry("b", 99)), NOW)


def test_single_entry_posting_cannot_be_built() -> None:
    with pytest.raises(AssertionError):
        Posting("p", PostingKind.TRANSFER, (Entry("a", 0),), NOW)


@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=8))
def test_postings_that_balance_are_accepted(credits_fen: list[int]) -> None:
    payees = [Entry(f"payee{i}", fen) for i, fen in enumerate(credits_fen)]
    entries = (Entry("payer", -sum(credits_fen)), *payees)
    posting = Posting("p", PostingKind.TRANSFER, entries, NOW)
    assert sum(e.amount_fen for e in posting.entries) == 0


def test_debit_within_available_is_allowed() -> None:
    require_can_debit(account(balance_fen=1000, held_fen=200), 800)


def test_debit_beyond_available_is_insufficient_funds() -> None:
    # balance 1000 - held 200 = 800 available; 801 is one fen too many
    with pytest.raises(InsufficientFunds) as refusal:
        require_can_debit(account(balance_fen=1000, held_fen=200), 801)
    assert refusal.value.reason == "INSUFFICIENT_FUNDS"
    assert refusal.value.metadata["available_fen"] == "800"


def test_external_clearing_account_may_go_negative() -> None:
    require_can_debit(account(kind=AccountKind.EXTERNAL, balance_fen=0), 10**9)


@pytest.mark.parametrize("kind", [AccountKind.PERSONAL, AccountKind.MERCHANT, AccountKind.PLATFORM])
def test_other_accounts_may_not_go_negative(kind: AccountKind) -> None:
    with pytest.raises(InsufficientFunds):
        require_can_debit(account(kind=kind, balance_fen=0), 1)


def test_frozen_account_cannot_be_debited() -> None:
    with pytest.raises(FailedPrecondition) as refusal:
        require_can_debit(account(balance_fen=1000, status=AccountStatus.FROZEN), 1)
    assert refusal.value.reason == "ACCOUNT_NOT_ACTIVE"


def test_ledger_breaches_finds_nothing_in_a_consistent_ledger() -> None:
    assert (
        ledger_breaches({"bank": -500, "a": 300, "b": 200}, {"bank": -500, "a": 300, "b": 200})
        == []
    )


def test_ledger_breaches_reports_a_balance_that_disagrees_with_its_entries() -> None:
    breaches = ledger_breaches(
        {"bank": -500, "a": 301, "b": 200}, {"bank": -500, "a": 300, "b": 200}
    )
    assert breaches == [
        "account a: balance 301 fen, entries sum to 300 fen",
        "all balances sum to 1 fen, not zero",
    ]
