"""How far the bureau has read each upstream feed (its lag: chassis.feed_follower.FeedLag)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Saved with the effects of the events it covers (exactly once in effect)."""

    feed: str
    position: int = 0
    events_applied: int = 0
    events_skipped_unknown: int = 0
    last_applied_at: datetime | None = None
    last_event_at: datetime | None = None  # occurred_at of the last applied event
