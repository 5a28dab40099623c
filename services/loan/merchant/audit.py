"""Merchant lending's audit: its books against themselves and platform:loan:capital.

Each book (platform:loan:merchant for facilities, platform:loan:order for order loans)
says what its lending did to the cash: collected - lent, where lent = fixed parts, draws
and order loans paid out and collected = repayments and withholdings applied (interest and
principal; order loans net of excess given back), plus what ABS pools paid the lender
(loans bought at par, excess spread) less the collections passed to them. The cash is
platform:loan:capital's (the gateway lends from it and collects into it), so at rest (no
payout or repayment in flight):

  platform:loan:capital = capital paid in + bank borrowing + sum of the books' collected - lent
                        = capital paid in + bank borrowing - principal outstanding
                          + income retained

(principal outstanding = lent - principal repaid, loans sold to pools included; income
retained = interest collected + what pools paid net: purchases + excess spread -
collections passed on). The books agree with themselves: lent - principal repaid = the
principal outstanding. Each pool's account (platform:loan:abs:<pool>) holds its cash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.loan.merchant.facilities import MERCHANT_LEDGER_ACCOUNT_ID
from services.loan.merchant.funding import FundingBook


@dataclass(frozen=True, slots=True)
class MerchantFlows:
    lent_fen: int
    collected_fen: int
    principal_repaid_fen: int
    principal_outstanding_fen: int
    in_flight_fen: int
    account_id: str = MERCHANT_LEDGER_ACCOUNT_ID
    # from ABS pools: purchases + excess spread - collections passed through
    from_pools_fen: int = 0

    @property
    def expected_balance_fen(self) -> int:
        return self.collected_fen - self.lent_fen + self.from_pools_fen

    def breaches(self) -> list[str]:
        if self.lent_fen - self.principal_repaid_fen == self.principal_outstanding_fen:
            return []
        return [
            f"{self.account_id}: lent {self.lent_fen} - principal repaid "
            f"{self.principal_repaid_fen} != principal outstanding "
            f"{self.principal_outstanding_fen}"
        ]


def capital_expected_fen(book: FundingBook, lending: Iterable[MerchantFlows]) -> int:
    """platform:loan:capital's balance at rest: capital + bank borrowing, plus what each book
    lent from it did to it (collected - lent + what pools paid it)."""
    return book.capital_fen + book.borrowing_fen + sum(f.expected_balance_fen for f in lending)
