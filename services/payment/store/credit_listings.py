"""The credit blacklist as payment knows it: each account's listings and the feed position.

Risk control follows the credit service's feed (services/payment/feeds/credit_blacklist.py).
An entry that names an account adds its key ("<source>:<case reference>") to the account's
``credit_listings``; its removal takes it away. The account document is read by every
outgoing movement anyway, so the dishonest-debtor rule costs no extra round trip. The feed
position is saved in the same transaction as the listings it covers.
"""

from __future__ import annotations

from chassis.mongo import Session
from services.payment.store.collections import PaymentCollections


class CreditListingStore(PaymentCollections):
    """accounts.credit_listings and feed_positions."""

    async def feed_position(self, feed: str, session: Session | None = None) -> int:
        """The position of the last event applied from feed (0 for none)."""
        document = await self.feed_positions.find_one({"_id": feed}, session=session)
        return 0 if document is None else int(document["position"])

    async def advance_feed_position(
        self, session: Session, feed: str, before: int, after: int
    ) -> None:
        """Move a feed's position forward; a concurrent applier of the same batch conflicts."""
        assert after > before, "a feed position only moves forward"
        # If another applier moved it first, the upsert's insert collides on _id (a
        # DuplicateKeyError): the transaction aborts and the follower re-reads the position.
        await self.feed_positions.update_one(
            {"_id": feed, "position": before},
            {"$set": {"position": after}},
            upsert=True,
            session=session,
        )

    async def set_credit_listing(
        self, session: Session, account_id: str, listing_key: str, *, listed: bool
    ) -> None:
        """Add or take away one credit blacklist entry on an account (both idempotent)."""
        change = {"$addToSet" if listed else "$pull": {"credit_listings": listing_key}}
        await self.accounts.update_one({"_id": account_id}, change, session=session)
