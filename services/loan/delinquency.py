"""Delinquency (逾期): buckets by days past due, and what a change of bucket reports.

A credit account — a Huabei line or one cash loan — is as late as its oldest unpaid due
amount. Its bucket is current, 1-30, 31-60, 61-90 or 90+ days. Every change is an event on
the loan feed; entering 90+ reports loan.overdue.entered_90 (the credit service blacklists
the borrower) and leaving delinquency after that reports loan.overdue.settled (it removes
them). docs/loans.md "Overdue".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.loan.periods import Period, days_overdue


class Bucket(StrEnum):
    CURRENT = "current"
    DPD_1_30 = "1-30"
    DPD_31_60 = "31-60"
    DPD_61_90 = "61-90"
    DPD_90_PLUS = "90+"


BUCKET_ORDER = (
    Bucket.CURRENT,
    Bucket.DPD_1_30,
    Bucket.DPD_31_60,
    Bucket.DPD_61_90,
    Bucket.DPD_90_PLUS,
)


def bucket_of(days: int) -> Bucket:
    """The bucket of a number of days past due (90 is still 61-90; 91 is 90+)."""
    if days <= 0:
        return Bucket.CURRENT
    if days <= 30:
        return Bucket.DPD_1_30
    if days <= 60:
        return Bucket.DPD_31_60
    if days <= 90:
        return Bucket.DPD_61_90
    return Bucket.DPD_90_PLUS


def account_days_overdue(periods: Iterable[Period], day: date) -> int:
    """The days past due of the account's oldest unpaid due amount."""
    return max((days_overdue(period, day) for period in periods), default=0)


def overdue_fen(periods: Iterable[Period], day: date) -> int:
    """What is past due on the account (unpaid of every period overdue on day)."""
    return sum(period.unpaid.total_fen for period in periods if days_overdue(period, day) > 0)


@dataclass(frozen=True, slots=True)
class Delinquency:
    """An account's delinquency as last recorded."""

    bucket: Bucket = Bucket.CURRENT
    days_overdue: int = 0
    # Set once loan.overdue.entered_90 is reported, cleared when settled is.
    reported_90: bool = False


@dataclass(frozen=True, slots=True)
class DelinquencyChange:
    """A move between buckets, and the credit reports it causes."""

    before: Delinquency
    after: Delinquency
    entered_90: bool
    settled: bool


def assess_delinquency(
    recorded: Delinquency, days: int
) -> tuple[Delinquency, DelinquencyChange | None]:
    """The account's delinquency at `days` past due, and the change if the bucket moved.

    Settled means back to current after having been reported 90+: a partial payment that
    only moves a 90+ account down a bucket is not yet settled.
    """
    bucket = bucket_of(days)
    entered_90 = bucket is Bucket.DPD_90_PLUS and not recorded.reported_90
    settled = bucket is Bucket.CURRENT and recorded.reported_90
    reported_90 = (recorded.reported_90 or entered_90) and not settled
    after = Delinquency(bucket, days, reported_90)
    if bucket is recorded.bucket and not entered_90 and not settled:
        return after, None
    return after, DelinquencyChange(recorded, after, entered_90, settled)
