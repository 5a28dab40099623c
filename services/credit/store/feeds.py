"""Upstream feed positions and counters (collection "feed_positions").

The position of a feed is saved in the transaction that applies its events, so an event's
effects and the position past it commit together: exactly once in effect.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from chassis.mongo import Session
from services.credit.feed_progress import FeedPosition


class FeedPositionStore:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._positions = collection

    async def load(self, feed: str, session: Session | None = None) -> FeedPosition:
        document = await self._positions.find_one({"_id": feed}, session=session)
        if document is None:
            return FeedPosition(feed)
        return FeedPosition(
            feed=feed,
            position=document["position"],
            events_applied=document["events_applied"],
            events_skipped_unknown=document["events_skipped_unknown"],
            last_applied_at=document["last_applied_at"],
            last_event_at=document["last_event_at"],
        )

    async def save(self, session: Session, before: FeedPosition, after: FeedPosition) -> None:
        """Advance the position; the filter on the old one makes a concurrent applier conflict."""
        assert after.position > before.position, "a feed position only moves forward"
        await self._positions.update_one(
            {"_id": after.feed, "position": before.position},
            {
                "$set": {
                    "position": after.position,
                    "events_applied": after.events_applied,
                    "events_skipped_unknown": after.events_skipped_unknown,
                    "last_applied_at": after.last_applied_at,
                    "last_event_at": after.last_event_at,
                }
            },
            upsert=True,
            session=session,
        )
