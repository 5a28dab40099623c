"""Funding: the 50% borrowing cap and the lending capacity at their boundaries."""

from __future__ import annotations

import pytest

from chassis.errors import DomainError
from services.loan.merchant.funding import (
    Capacity,
    FundingBook,
    borrow,
    pay_in_capital,
    repay_borrowing,
    require_capacity,
)


def test_borrowing_at_most_half_the_capital() -> None:
    book = pay_in_capital(FundingBook(), 1_000_000_00)
    book = borrow(book, 500_000_00)
    assert book.capacity_fen == 1_500_000_00
    with pytest.raises(DomainError) as caught:
        borrow(book, 1)
    assert caught.value.reason == "BORROWING_LIMIT"
    assert caught.value.metadata["room_fen"] == "0"
    assert borrow(repay_borrowing(book, 1_00), 1_00).borrowing_fen == 500_000_00


def test_odd_capital_rounds_the_borrowing_allowance_down() -> None:
    assert FundingBook(capital_fen=3).borrowing_allowed_fen == 1


def test_capacity_boundary() -> None:
    book = FundingBook(capital_fen=1_000_000_00, borrowing_fen=500_000_00)
    capacity = Capacity(book, consumer_used_fen=400_000_00, merchant_used_fen=1_000_000_00)
    require_capacity(capacity, 100_000_00)  # exactly at capacity: allowed
    with pytest.raises(DomainError) as caught:
        require_capacity(capacity, 100_000_01)
    assert caught.value.reason == "LENDING_CAPACITY"
    assert caught.value.metadata == {
        "capacity_fen": "150000000",
        "used_fen": "140000000",
        "available_fen": "10000000",
    }


def test_loans_sold_to_a_pool_free_capacity() -> None:
    book = FundingBook(capital_fen=1_000_00)
    full = Capacity(book, consumer_used_fen=0, merchant_used_fen=1_000_00)
    with pytest.raises(DomainError):
        require_capacity(full, 1)
    require_capacity(Capacity(book, 0, 1_000_00, sold_to_pools_fen=1), 1)
