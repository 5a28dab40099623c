"""Deposit-free services (免押金, DOMAIN.md §3): a good score stands in for a deposit.

Waived when the score is at least 650 and the deposit is within a cap that grows with the
score; never for a blacklisted person. The cap table is data (docs/credit.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chassis.money import require_positive_amount

YUAN = 100
# (score at least, the largest deposit waived in fen), highest first.
DEPOSIT_WAIVER_CAPS: tuple[tuple[int, int], ...] = (
    (800, 50_000 * YUAN),
    (750, 20_000 * YUAN),
    (700, 5_000 * YUAN),
    (650, 1_000 * YUAN),
)
WAIVER_SCORE_MIN = DEPOSIT_WAIVER_CAPS[-1][0]


class WaiverRefusal(StrEnum):
    NONE = ""
    SCORE_TOO_LOW = "SCORE_TOO_LOW"
    DEPOSIT_ABOVE_CAP = "DEPOSIT_ABOVE_CAP"
    BLACKLISTED = "BLACKLISTED"


@dataclass(frozen=True, slots=True)
class WaiverDecision:
    waived: bool
    cap_fen: int
    refusal: WaiverRefusal


def waiver_cap_fen(score: int) -> int:
    """The largest deposit waived at this score (0 below 650)."""
    return next((cap for floor, cap in DEPOSIT_WAIVER_CAPS if score >= floor), 0)


def decide_deposit_waiver(score: int, blacklisted: bool, deposit_fen: int) -> WaiverDecision:
    """Whether a deposit of deposit_fen is waived for a person with this score."""
    require_positive_amount(deposit_fen, "deposit")
    cap_fen = 0 if blacklisted else waiver_cap_fen(score)
    if blacklisted:
        return WaiverDecision(False, 0, WaiverRefusal.BLACKLISTED)
    if cap_fen == 0:
        return WaiverDecision(False, 0, WaiverRefusal.SCORE_TOO_LOW)
    if deposit_fen > cap_fen:
        return WaiverDecision(False, cap_fen, WaiverRefusal.DEPOSIT_ABOVE_CAP)
    return WaiverDecision(True, cap_fen, WaiverRefusal.NONE)
