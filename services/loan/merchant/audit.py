"""Merchant lending's audit: its books against themselves and platform:loan:merchant.

At rest (no draw or repayment in flight), the payment balance of platform:loan:merchant is
collected - lent (it goes negative by what is out), where lent = fixed parts paid out +
draws paid out and collected = repayments applied (interest and principal), plus what ABS
pools paid the lender (loans bought at par, excess spread) less the collections passed to
them; and the books agree with themselves: lent - principal repaid = the facilities'
principal outstanding. Each pool's account (platform:loan:abs:<pool>) holds its cash.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.loan.merchant.facilities import MERCHANT_LEDGER_ACCOUNT_ID


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
