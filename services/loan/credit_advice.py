"""The credit service's limit advice (芝麻信用 → 花呗/借呗), as the loan rules read it.

The gateway fetches colony.credit.v1 GetCreditLimitAdvice and passes it with the request
(docs/loans.md "Where the lines come from"); this is its domain form.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

REFUSAL_BLACKLISTED = "BLACKLISTED"


@dataclass(frozen=True, slots=True)
class CreditAdvice:
    """What the credit service advises for one person."""

    person_id: str
    score: int
    model_version: str
    huabei_line_fen: int
    cash_loan_ceiling_fen: int
    daily_rate_min: Decimal | None
    daily_rate_max: Decimal | None
    refusal: str = ""

    @property
    def blacklisted(self) -> bool:
        return self.refusal == REFUSAL_BLACKLISTED
