"""TTL purges on the wall clock (chassis.retention): a document written on a manual clock far
in the past is kept as long as it has left on that clock, not deleted at once by mongod."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from chassis.clock import ManualClock, SystemClock
from chassis.mongo import MongoClient
from chassis.retention import PURGE_FIELD, PURGE_INDEX, ensure_purge_index, purge_at

PAST = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def test_a_purge_is_as_far_ahead_on_the_wall_clock_as_the_moment_on_its_own_clock() -> None:
    clock = ManualClock(PAST)
    before = datetime.now(UTC)
    purge = purge_at(clock, PAST + timedelta(minutes=10), timedelta(hours=1))
    after = datetime.now(UTC)
    assert before + timedelta(minutes=70) <= purge <= after + timedelta(minutes=70)


def test_on_the_system_clock_a_purge_is_the_moment_plus_its_retention() -> None:
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    purge = purge_at(SystemClock(), moment, timedelta(days=1))
    assert abs(purge - (moment + timedelta(days=1))) < timedelta(seconds=1)


async def test_an_old_ttl_index_is_replaced_and_its_documents_get_their_purge_time(
    mongo_client: MongoClient, database_name: str
) -> None:
    collection = mongo_client[database_name]["codes"]
    await collection.create_index("expires_at", expireAfterSeconds=3600, name="legacy_ttl")
    far_future = datetime(2100, 1, 1, tzinfo=UTC)
    await collection.insert_one({"_id": "old", "expires_at": far_future})

    legacy = {"legacy_ttl": ("expires_at", timedelta(hours=1))}
    await ensure_purge_index(collection, replaces=legacy)
    await ensure_purge_index(collection, replaces=legacy)  # idempotent

    indexes = await collection.index_information()
    assert "legacy_ttl" not in indexes
    assert indexes[PURGE_INDEX]["key"] == [(PURGE_FIELD, 1)]
    assert indexes[PURGE_INDEX]["expireAfterSeconds"] == 0
    old = await collection.find_one({"_id": "old"})
    assert old is not None
    assert old[PURGE_FIELD].replace(tzinfo=UTC) == far_future + timedelta(hours=1)


async def test_mongod_keeps_a_live_document_of_a_past_clock_and_purges_a_lapsed_one(
    mongo_client: MongoClient, database_name: str
) -> None:
    """The TTL monitor runs every 60 s by default: for this test it runs every second.

    Only the purge of the lapsed document is awaited (bounded); the live one, written on a
    2025 clock with ten minutes left, must still be there afterwards.
    """
    admin = mongo_client.admin
    previous = await admin.command({"getParameter": 1, "ttlMonitorSleepSecs": 1})
    await admin.command({"setParameter": 1, "ttlMonitorSleepSecs": 1})
    try:
        collection = mongo_client[database_name]["verifications"]
        await ensure_purge_index(collection)
        clock = ManualClock(PAST)
        await collection.insert_many(
            [
                {"_id": "live", PURGE_FIELD: purge_at(clock, PAST + timedelta(minutes=10))},
                {"_id": "lapsed", PURGE_FIELD: purge_at(clock, PAST - timedelta(minutes=10))},
            ]
        )
        for _ in range(120):
            if await collection.find_one({"_id": "lapsed"}) is None:
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("mongod never purged the lapsed document")
        assert await collection.find_one({"_id": "live"}) is not None
    finally:
        await admin.command(
            {"setParameter": 1, "ttlMonitorSleepSecs": previous["ttlMonitorSleepSecs"]}
        )
