"""Risk control of money coming in: the most one top-up, and one day's top-ups, may bring.

A top-up is money from a bank card the payment platform cannot see the holder of; the less
the account holder is identified, the less a top-up may bring in (a stolen card emptied into
a barely identified account is how fraud launders money). The limits, in yuan a top-up:
level 1 (phone only) 1,000; level 2 (real name) 50,000; level 3 (a bound card in the same
name) 200,000; in yuan a day (the business date, China Standard Time): 2,000 / 100,000 /
500,000. The day's figure is kept on the account document (``top_up_day``: the business date
and the fen topped up that day), read and written in the top-up's own transaction, as the
velocity rule keeps the payer's outgoing activity (activity.py). Both the one-at-a-time and
the group-commit paths apply these rules in the top-up's reserve, before the card is charged,
so a refused top-up charges nothing and changes nothing; the reserve counts the top-up in
the day's figure, and a card the bank then declines gives it back (top_up_day_given_back).

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from chassis.clock import business_date_of
from chassis.errors import FailedPrecondition
from services.payment.risk import KycAmounts, KycLevel

_YUAN = 100
TOP_UP_FEN_MAX_BY_KYC_LEVEL = KycAmounts(
    phone_verified_fen=1_000 * _YUAN,
    real_name_fen=50_000 * _YUAN,
    bank_card_verified_fen=200_000 * _YUAN,
)
TOP_UP_DAY_FEN_MAX_BY_KYC_LEVEL = KycAmounts(
    phone_verified_fen=2_000 * _YUAN,
    real_name_fen=100_000 * _YUAN,
    bank_card_verified_fen=500_000 * _YUAN,
)


@dataclass(frozen=True, slots=True)
class TopUpDay:
    """The fen topped up into an account on one business date (none yet: no date)."""

    business_date: date | None = None
    amount_fen: int = 0


def topped_up_today(day: TopUpDay | None, now: datetime) -> int:
    """The fen already topped up on now's business date."""
    if day is None or day.business_date != business_date_of(now):
        return 0
    return day.amount_fen


def top_up_day_after(day: TopUpDay | None, now: datetime, amount_fen: int) -> TopUpDay:
    """The day's figure once a top-up of amount_fen went through."""
    return TopUpDay(business_date_of(now), topped_up_today(day, now) + amount_fen)


def top_up_within_day_limit(kyc_level: int, today_fen: int, amount_fen: int) -> bool:
    """True if the day's top-ups, this one included, stay within the KYC level's maximum."""
    return today_fen + amount_fen <= TOP_UP_DAY_FEN_MAX_BY_KYC_LEVEL.for_level(KycLevel(kyc_level))


def require_top_up_within_day_limit(kyc_level: int, today_fen: int, amount_fen: int) -> None:
    """Refuse a top-up taking the day's above the maximum (TOP_UP_DAY_LIMIT_EXCEEDED)."""
    level = KycLevel(kyc_level)
    limit_fen = TOP_UP_DAY_FEN_MAX_BY_KYC_LEVEL.for_level(level)
    if today_fen + amount_fen > limit_fen:
        raise FailedPrecondition(
            f"a top-up of {amount_fen} fen would bring today's top-ups to "
            f"{today_fen + amount_fen} fen, above the maximum of {limit_fen} fen a day for KYC "
            f"level {level.value}",
            reason="TOP_UP_DAY_LIMIT_EXCEEDED",
            metadata={
                "limit_fen": str(limit_fen),
                "today_fen": str(today_fen),
                "kyc_level": str(level.value),
            },
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


def top_up_day_given_back(day: TopUpDay | None, reserved_at: datetime, amount_fen: int) -> TopUpDay:
    """The day's figure once a top-up reserved at reserved_at was declined by the bank: its
    amount no longer counted, if the figure is still of that business date."""
    if day is None or day.business_date != business_date_of(reserved_at):
        return day or TopUpDay()
    return TopUpDay(day.business_date, max(0, day.amount_fen - amount_fen))
