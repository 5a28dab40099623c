"""An injectable clock: every time-based rule reads one of these (DESIGN.md "Time")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


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
