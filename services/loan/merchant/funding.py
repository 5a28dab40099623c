"""Funding the loan business: capital, bank borrowing, and the capacity to lend.

- *Capital* (注册资本) is paid in by the operator; *bank borrowing* may be at most 50% of
  the capital (the small-loan company's 1.5x leverage): a borrowing above it is refused
  (BORROWING_LIMIT, the room left in metadata).
- *Lending capacity* = capital + bank borrowing. *Used* = every loan's principal outstanding
  or about to be paid out, consumer and merchant alike (Huabei lines' used + reserved, cash
  loans owing or awaiting disbursement, merchant facilities' principal, draws and fixed parts
  awaiting payout), less what was sold to ABS pools. A disbursement that would take used
  beyond capacity is refused (LENDING_CAPACITY, capacity and used in metadata); at the
  boundary (used + amount = capacity) it is allowed.
The book is kept in step with real money: capital and borrowing move through
platform:loan:capital in the payment ledger (CAPITAL_LEDGER_ACCOUNT_ID and the two external
parties below; `colony audit` reconciles them with this book).
*Example:* capital 1,000,000 yuan, borrowing 500,000 (the most allowed) → capacity 1,500,000;
with 1,400,000 lent a 100,000 draw passes and one more fen is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from chassis.errors import FailedPrecondition
from chassis.money import require_positive_amount

BORROWING_SHARE_MAX = Decimal("0.5")
# The funding's money in the payment ledger (the gateway's loan_funding saga moves it:
# gateway.loans.merchant.funding): the business's cash, where capital came from, and the
# FAKE bank lender.
CAPITAL_LEDGER_ACCOUNT_ID = "platform:loan:capital"
SHAREHOLDERS_LEDGER_ACCOUNT_ID = "platform:loan:shareholders"
BANK_LENDER_LEDGER_ACCOUNT_ID = "platform:loan:bank-lender:fake"


@dataclass(frozen=True, slots=True)
class FundingBook:
    capital_fen: int = 0
    borrowing_fen: int = 0

    @property
    def borrowing_allowed_fen(self) -> int:
        """The most that may be borrowed from banks: 50% of capital, rounded down."""
        limit = Decimal(self.capital_fen) * BORROWING_SHARE_MAX
        return int(limit.to_integral_value(rounding=ROUND_DOWN))

    @property
    def capacity_fen(self) -> int:
        return self.capital_fen + self.borrowing_fen

    def expected_ledger_balances(self) -> dict[str, int]:
        """At rest, each funding account's payment-ledger balance: the capital account holds
        capital + borrowing; the shareholders gave the capital; the bank lent the borrowing."""
        return {
            CAPITAL_LEDGER_ACCOUNT_ID: self.capital_fen + self.borrowing_fen,
            SHAREHOLDERS_LEDGER_ACCOUNT_ID: -self.capital_fen,
            BANK_LENDER_LEDGER_ACCOUNT_ID: -self.borrowing_fen,
        }


def pay_in_capital(book: FundingBook, amount_fen: int) -> FundingBook:
    require_positive_amount(amount_fen)
    return replace(book, capital_fen=book.capital_fen + amount_fen)


def borrow(book: FundingBook, amount_fen: int) -> FundingBook:
    """Bank borrowing, at most 50% of capital in all."""
    require_positive_amount(amount_fen)
    room = book.borrowing_allowed_fen - book.borrowing_fen
    if amount_fen > room:
        raise FailedPrecondition(
            "bank borrowing may be at most 50% of the capital",
            reason="BORROWING_LIMIT",
            metadata={"room_fen": str(room), "capital_fen": str(book.capital_fen)},
        )
    return replace(book, borrowing_fen=book.borrowing_fen + amount_fen)


def repay_borrowing(book: FundingBook, amount_fen: int) -> FundingBook:
    require_positive_amount(amount_fen)
    if amount_fen > book.borrowing_fen:
        raise FailedPrecondition(
            "more than is borrowed",
            reason="INVALID_AMOUNT",
            metadata={"borrowing_fen": str(book.borrowing_fen)},
        )
    return replace(book, borrowing_fen=book.borrowing_fen - amount_fen)


@dataclass(frozen=True, slots=True)
class Capacity:
    book: FundingBook
    consumer_used_fen: int
    merchant_used_fen: int
    sold_to_pools_fen: int = 0

    @property
    def used_fen(self) -> int:
        return self.consumer_used_fen + self.merchant_used_fen - self.sold_to_pools_fen

    @property
    def available_fen(self) -> int:
        return self.book.capacity_fen - self.used_fen


def require_capacity(capacity: Capacity, amount_fen: int) -> None:
    """Refuse lending amount_fen more when it would take used beyond capacity."""
    if amount_fen > capacity.available_fen:
        raise FailedPrecondition(
            "lending this would exceed the capital and bank borrowing",
            reason="LENDING_CAPACITY",
            metadata={
                "capacity_fen": str(capacity.book.capacity_fen),
                "used_fen": str(capacity.used_fen),
                "available_fen": str(capacity.available_fen),
            },
        )
