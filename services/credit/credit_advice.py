"""Credit-limit advice by score: the loan service's input for Huabei (花呗) and Jiebei (借呗).

A table (docs/credit.md "Limit advice"): the Huabei line, the cash-loan ceiling and the
daily-rate band for each score band. Daily rates are Decimal fractions of principal per day
(0.0005 = 0.05%/day, the seed's revolving rate); a better score earns a lower band.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

YUAN = 100


@dataclass(frozen=True, slots=True)
class AdviceRow:
    score_min: int
    huabei_line_fen: int
    cash_loan_ceiling_fen: int
    daily_rate_min: Decimal | None
    daily_rate_max: Decimal | None


# Highest first; the first row whose score_min the score reaches applies.
LIMIT_ADVICE_TABLE: tuple[AdviceRow, ...] = (
    AdviceRow(750, 30_000 * YUAN, 100_000 * YUAN, Decimal("0.0002"), Decimal("0.0003")),
    AdviceRow(700, 15_000 * YUAN, 50_000 * YUAN, Decimal("0.0003"), Decimal("0.0004")),
    AdviceRow(650, 8_000 * YUAN, 20_000 * YUAN, Decimal("0.0004"), Decimal("0.0005")),
    AdviceRow(600, 3_000 * YUAN, 5_000 * YUAN, Decimal("0.0005"), Decimal("0.0006")),
    AdviceRow(550, 500 * YUAN, 0, None, None),
)


class AdviceRefusal(StrEnum):
    NONE = ""
    SCORE_TOO_LOW = "SCORE_TOO_LOW"
    BLACKLISTED = "BLACKLISTED"


@dataclass(frozen=True, slots=True)
class CreditLimitAdvice:
    score: int
    huabei_line_fen: int
    cash_loan_ceiling_fen: int
    daily_rate_min: Decimal | None
    daily_rate_max: Decimal | None
    refusal: AdviceRefusal


def advise_credit_limit(score: int, blacklisted: bool) -> CreditLimitAdvice:
    """The advised lines and rate band: nothing for a blacklisted person or below 550."""
    row = next((r for r in LIMIT_ADVICE_TABLE if score >= r.score_min), None)
    if blacklisted or row is None:
        refusal = AdviceRefusal.BLACKLISTED if blacklisted else AdviceRefusal.SCORE_TOO_LOW
        return CreditLimitAdvice(score, 0, 0, None, None, refusal)
    return CreditLimitAdvice(
        score=score,
        huabei_line_fen=row.huabei_line_fen,
        cash_loan_ceiling_fen=row.cash_loan_ceiling_fen,
        daily_rate_min=row.daily_rate_min,
        daily_rate_max=row.daily_rate_max,
        refusal=AdviceRefusal.NONE,
    )
