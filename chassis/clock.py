"""An injectable clock: every time-based rule reads one of these (DESIGN.md "Time")."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from chassis.errors import InvalidArgument

# Business dates are calendar dates in China Standard Time (UTC+8, no daylight saving): the
# day a trade auto-confirms, a Yu'e Bao income date, a risk daily limit's day.
BUSINESS_TIMEZONE = ZoneInfo("Asia/Shanghai")
_BUSINESS_DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """The real wall clock, at MongoDB's precision (milliseconds).

    Truncating here means a value returned to a caller equals the value stored and read
    back, so an idempotent replay is byte-for-byte the first answer.
    """

    def now(self) -> datetime:
        moment = datetime.now(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class ManualClock:
    """A clock that only moves when told to: for tests and for replaying business dates."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move time forward (never backward) by delta."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        self._now += delta


def business_date_of(moment: datetime) -> date:
    """The business date of an instant: the calendar date in China Standard Time."""
    if moment.tzinfo is None:
        raise ValueError("a business date needs a timezone-aware instant")
    return moment.astimezone(BUSINESS_TIMEZONE).date()


def parse_business_date(text: str, field: str = "business_date") -> date:
    """A YYYY-MM-DD date from a request, or INVALID_BUSINESS_DATE naming the field."""
    try:
        if not _BUSINESS_DATE_PATTERN.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{field} must be a date as YYYY-MM-DD",
            reason="INVALID_BUSINESS_DATE",
            metadata={"field": field},
        ) from None
