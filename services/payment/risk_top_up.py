"""Risk control of money coming in: the most one top-up may bring, by KYC level.

A top-up is money from a bank card the payment platform cannot see the holder of; the less
the account holder is identified, the less a top-up may bring in (a stolen card emptied into
a barely identified account is how fraud launders money). The limits, in yuan a top-up:
level 1 (phone only) 1,000; level 2 (real name) 50,000; level 3 (a bound card in the same
name) 200,000. Both the one-at-a-time and the group-commit paths apply this rule before the
card is charged, so a refused top-up charges nothing and changes nothing.

Pure: no I/O.
"""

from __future__ import annotations

from chassis.errors import FailedPrecondition
from services.payment.risk import KycAmounts, KycLevel

_YUAN = 100
TOP_UP_FEN_MAX_BY_KYC_LEVEL = KycAmounts(
    phone_verified_fen=1_000 * _YUAN,
    real_name_fen=50_000 * _YUAN,
    bank_card_verified_fen=200_000 * _YUAN,
)


def top_up_within_limit(kyc_level: int, amount_fen: int) -> bool:
    """True if an account of this KYC level may take a top-up of amount_fen."""
    return amount_fen <= TOP_UP_FEN_MAX_BY_KYC_LEVEL.for_level(KycLevel(kyc_level))


def require_top_up_within_limit(kyc_level: int, amount_fen: int) -> None:
    """Refuse a top-up above the account's KYC level's maximum (TOP_UP_LIMIT_EXCEEDED)."""
    level = KycLevel(kyc_level)
    limit_fen = TOP_UP_FEN_MAX_BY_KYC_LEVEL.for_level(level)
    if amount_fen > limit_fen:
        raise FailedPrecondition(
            f"a top-up of {amount_fen} fen is above the maximum of {limit_fen} fen for KYC "
            f"level {level.value} (bind a bank card in your name to raise it)",
            reason="TOP_UP_LIMIT_EXCEEDED",
            metadata={"limit_fen": str(limit_fen), "kyc_level": str(level.value)},
        )
