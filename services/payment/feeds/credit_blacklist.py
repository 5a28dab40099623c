"""Risk control follows the credit blacklist (失信被执行人, DOMAIN.md §3) from the credit feed.

The credit service publishes ``credit.blacklist.entered`` / ``credit.blacklist.removed``
(a colony.credit.v1.BlacklistChange naming the person's payment account id once known).
Each change adds or removes one listing on the account, in one transaction with the feed
position, so a change is applied exactly once however often the feed delivers it; the
dishonest-debtor risk rule then reads the account it already loads. The follower streams
within tens of milliseconds of the credit service's commit (chassis.outbox polls at 50 ms).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from chassis.mongo import MongoClient, Session, run_in_transaction
from colony.common.v1 import events_pb2
from colony.credit.v1 import credit_pb2
from services.payment.store import PaymentStore

log = logging.getLogger(__name__)

CREDIT_FEED = "credit"
ENTERED = "credit.blacklist.entered"
REMOVED = "credit.blacklist.removed"


def listing_key(change: credit_pb2.BlacklistChange) -> str:
    """How an account names one blacklist entry: its source and case reference."""
    return f"{change.source}:{change.case_reference}"


class CreditBlacklistIntake:
    """The payment side of the credit feed (a chassis.feed_follower.FeedConsumer)."""

    def __init__(self, client: MongoClient, store: PaymentStore) -> None:
        self._client = client
        self._store = store

    async def saved_position(self, feed: str) -> int:
        return await self._store.feed_position(feed)

    async def apply_batch(self, feed: str, events: Sequence[events_pb2.Event]) -> None:
        """Apply the blacklist changes past the saved position, with the new position."""

        async def apply(session: Session) -> None:
            before = await self._store.feed_position(feed, session)
            fresh = [event for event in events if int(event.position) > before]
            if not fresh:
                return
            for event in fresh:
                await self._apply(session, event)
            await self._store.advance_feed_position(session, feed, before, int(fresh[-1].position))

        await run_in_transaction(self._client, apply)

    async def _apply(self, session: Session, event: events_pb2.Event) -> None:
        if event.type not in (ENTERED, REMOVED):
            return  # scores and other credit events are not risk control's business
        change = credit_pb2.BlacklistChange()
        if not event.payload.Unpack(change):
            log.error("credit feed event %s is not a BlacklistChange", event.position)
            return
        if not change.person_id:
            return  # a listing that names no account yet; its account_opened change will
        await self._store.set_credit_listing(
            session, change.person_id, listing_key(change), listed=event.type == ENTERED
        )
