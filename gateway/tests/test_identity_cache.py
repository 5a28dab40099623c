"""Active identities are served from a bounded, short-lived cache (gateway.edge.identities)."""

from __future__ import annotations

from datetime import UTC, datetime

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from gateway.edge.identities import (
    ACTIVE_CACHE_SECONDS,
    AccountType,
    Identity,
    IdentityState,
    IdentityStore,
)

CREATED_AT = datetime(2026, 12, 6, tzinfo=UTC)


class Ticks:
    """A monotonic time the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def pending(user_id: str, phone: str) -> Identity:
    return Identity(
        user_id=user_id,
        phone=phone,
        password_hash="not-a-real-hash",
        state=IdentityState.PENDING,
        account_type=AccountType.PERSONAL,
        roles=("customer",),
        created_at=CREATED_AT,
    )


async def test_an_active_identity_is_read_once_per_ttl(
    mongo_client: MongoClient, database_name: str
) -> None:
    collection = mongo_client[database_name]["users_cache_test"]
    ticks = Ticks()
    store = IdentityStore(collection, ManualClock(CREATED_AT), monotonic=ticks)
    assert await store.add_pending(pending("u-1", "13900000001"))
    assert await store.get_active("u-1") is None  # pending: not active, not cached

    await store.activate("u-1", "acct-1")
    active = await store.get_active("u-1")
    assert active is not None and active.account_id == "acct-1"

    # The document gone (only a test can do this): within the TTL the cached identity
    # answers, a fresh read and a read after the TTL see the database.
    await collection.delete_one({"_id": "u-1"})
    ticks.now += ACTIVE_CACHE_SECONDS - 1
    assert await store.get_active("u-1") == active
    assert await store.get_active("u-1", fresh=True) is None
    ticks.now += 2
    assert await store.get_active("u-1") is None


async def test_a_discarded_registration_is_not_served_from_the_cache(
    mongo_client: MongoClient, database_name: str
) -> None:
    collection = mongo_client[database_name]["users_cache_test_discard"]
    store = IdentityStore(collection, ManualClock(CREATED_AT), monotonic=Ticks())
    assert await store.add_pending(pending("u-2", "13900000002"))
    await store.discard_pending("u-2")
    assert await store.get_active("u-2") is None
    assert await collection.count_documents({}) == 0
