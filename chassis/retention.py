"""Documents that MongoDB deletes by itself once they stop mattering (TTL indexes).

mongod's TTL monitor compares a date field with the *database server's* wall clock, about
once a minute. The rules that decide whether such a document still counts (a code's expiry,
a login window, an idempotency record's retention) read the service's injectable clock
(chassis.clock). In production the two are the same clock; on a ManualClock (tests, replays
of business dates) they are not, and a TTL index on a field written from the manual clock
would delete a document that is still live for the rules (a 2025 test clock makes every
expiry look two years old), or keep one long after.

So every such collection has one field for the rules (``expires_at``, ``created_at``, …, on
the service's clock) and one for the TTL monitor, ``purge_at``, on the wall clock: the
document lives on the wall clock as long as it has left on the service's clock, plus any
retention. ``purge_at`` is only ever read by mongod.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import Clock

PURGE_FIELD = "purge_at"
PURGE_INDEX = "purge"


def wall_offset(clock: Clock) -> timedelta:
    """How far the wall clock is ahead of clock (zero, give or take, on the system clock)."""
    return datetime.now(UTC) - clock.now()


def purge_at(clock: Clock, moment: datetime, retention: timedelta = timedelta(0)) -> datetime:
    """The wall-clock instant at which a document that stops mattering at moment (on clock),
    kept for retention after that, may be deleted."""
    return moment + wall_offset(clock) + retention


async def ensure_purge_index(
    collection: AsyncCollection[dict[str, Any]],
    replaces: dict[str, tuple[str, timedelta]] | None = None,
) -> None:
    """The TTL index on ``purge_at``.

    replaces names the TTL indexes from before this module (index name -> the rules' field it
    was on and its expireAfterSeconds): each is dropped, and documents written before it get
    ``purge_at`` = that field + that retention, so an existing database upgrades in place and
    nothing is kept forever.
    """
    existing = {index["name"] async for index in await collection.list_indexes()}
    for name, (field, retention) in (replaces or {}).items():
        if name in existing and name != PURGE_INDEX:
            milliseconds = retention // timedelta(milliseconds=1)
            await collection.update_many(
                {PURGE_FIELD: {"$exists": False}},
                [{"$set": {PURGE_FIELD: {"$add": [f"${field}", milliseconds]}}}],
            )
            await collection.drop_index(name)
    await collection.create_index(PURGE_FIELD, name=PURGE_INDEX, expireAfterSeconds=0)
