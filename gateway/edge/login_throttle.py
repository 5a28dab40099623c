"""Failed log-ins slow down, then lock, the phone they target and the address they come from.

Two counters, each a document in ``login_failures`` shared by every gateway replica:
``{_id: "phone:<phone>" | "address:<ip>", failures, last_failure_at, locked_until,
purge_at}``. A failed log-in increments both (one atomic upsert each); a success clears
the phone's counter (not the address's: one right password among many wrong ones from an
address says nothing of the others). A counter is forgotten ``WINDOW`` after its last
failure, or after its lock ends (a TTL index on purge_at, chassis.retention).

The policy (ThrottlePolicy, pure): the first ``free_failures`` failures cost nothing; each
later one makes the next attempt wait twice as long as the one before (1 s, 2 s, 4 s, … up
to ``delay_max``); ``lock_after`` failures lock the key for ``lock``. A phone is guarded
tightly (a person mistypes a few times; a guesser needs many tries); an address loosely
(many people can share one NAT address), so that credential stuffing across phones from
one address still ends in a lock.

An attempt while its key waits or is locked is refused before the password is hashed,
with 429 RATE_LIMITED and Retry-After: it costs the attacker a try and the gateway nothing.
An unknown phone counts like a known one, so the lock reveals no registration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import Clock
from chassis.retention import PURGE_FIELD, ensure_purge_index, wall_offset
from gateway.edge.rate_limits import RateLimited

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How many failures are free, how the wait grows, and when a key locks."""

    free_failures: int
    lock_after: int
    lock: timedelta
    delay_max: timedelta = timedelta(minutes=5)

    def wait_after(self, failures: int) -> timedelta:
        """How long after the last failure the next attempt must wait (0 while free)."""
        if failures <= self.free_failures:
            return timedelta(0)
        doublings = failures - self.free_failures - 1
        return min(timedelta(seconds=2**doublings), self.delay_max)

    def locks_at(self, failures: int) -> bool:
        return failures >= self.lock_after


PHONE_POLICY = ThrottlePolicy(free_failures=4, lock_after=10, lock=timedelta(minutes=15))
ADDRESS_POLICY = ThrottlePolicy(free_failures=20, lock_after=100, lock=timedelta(minutes=15))


@dataclass(frozen=True, slots=True)
class Counter:
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None

    def next_attempt_at(self, policy: ThrottlePolicy) -> datetime:
        waited = self.last_failure_at + policy.wait_after(self.failures)
        if self.locked_until is not None and self.locked_until > waited:
            return self.locked_until
        return waited


def login_throttled(retry_after: timedelta, locked: bool) -> RateLimited:
    """429: this phone or address must wait before the next log-in attempt."""
    seconds = max(1, math.ceil(retry_after.total_seconds()))
    what = "locked after too many failed log-ins" if locked else "too many failed log-ins"
    return RateLimited(f"log-in {what}; try again in {seconds} s", seconds)


class LoginThrottle:
    """The two counters of a log-in attempt, over the ``login_failures`` collection."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        clock: Clock,
        phone_policy: ThrottlePolicy = PHONE_POLICY,
        address_policy: ThrottlePolicy = ADDRESS_POLICY,
    ) -> None:
        self._collection = collection
        self._clock = clock
        self._policies = {"phone": phone_policy, "address": address_policy}

    async def ensure_indexes(self) -> None:
        await ensure_purge_index(
            self._collection, replaces={"forget_after_window": ("expires_at", timedelta(0))}
        )

    async def check(self, phone: str, address: str) -> None:
        """Refuse the attempt (429 RATE_LIMITED) if either key must still wait."""
        now = self._clock.now()
        keys = _keys(phone, address)
        async for document in self._collection.find({"_id": {"$in": list(keys)}}):
            policy = self._policies[keys[document["_id"]]]
            counter = _counter(document)
            if counter.last_failure_at < now - WINDOW and counter.locked_until is None:
                continue
            allowed_at = counter.next_attempt_at(policy)
            if allowed_at > now:
                locked = counter.locked_until is not None and counter.locked_until > now
                raise login_throttled(allowed_at - now, locked)

    async def record_failure(self, phone: str, address: str) -> None:
        """Count a failure against both keys, locking a key that reaches its limit.

        One atomic update per key: a counter idle for longer than WINDOW, or whose lock has
        run out, starts again at 1; so correctness never waits for the TTL index, which only
        clears old documents away.
        """
        now = self._clock.now()
        # The TTL monitor reads the wall clock: forget WINDOW after the last failure or the
        # lock's end, stated on that clock.
        forget_after_ms = (WINDOW + wall_offset(self._clock)) // timedelta(milliseconds=1)
        for key, kind in _keys(phone, address).items():
            policy = self._policies[kind]
            locked_until = {"$ifNull": ["$locked_until", None]}
            lock_ran_out = {"$and": [{"$ne": [locked_until, None]}, {"$lte": [locked_until, now]}]}
            stale = {"$or": [{"$lt": ["$last_failure_at", now - WINDOW]}, lock_ran_out]}
            await self._collection.update_one(
                {"_id": key},
                [
                    {
                        "$set": {
                            "failures": {
                                "$cond": [stale, 1, {"$add": [{"$ifNull": ["$failures", 0]}, 1]}]
                            },
                            "locked_until": {"$cond": [stale, None, locked_until]},
                        }
                    },
                    {
                        "$set": {
                            "last_failure_at": now,
                            "locked_until": {
                                "$cond": [
                                    {
                                        "$and": [
                                            {"$eq": ["$locked_until", None]},
                                            {"$gte": ["$failures", policy.lock_after]},
                                        ]
                                    },
                                    now + policy.lock,
                                    "$locked_until",
                                ]
                            },
                        }
                    },
                    {
                        "$set": {
                            PURGE_FIELD: {
                                "$add": [{"$max": [now, "$locked_until"]}, forget_after_ms]
                            }
                        }
                    },
                ],
                upsert=True,
            )

    async def record_success(self, phone: str) -> None:
        """A right password clears the phone's failures (a locked phone never gets here)."""
        await self._collection.delete_one({"_id": f"phone:{phone}"})


def _keys(phone: str, address: str) -> dict[str, str]:
    return {f"phone:{phone}": "phone", f"address:{address}": "address"}


def _counter(document: dict[str, Any]) -> Counter:
    return Counter(
        failures=document["failures"],
        last_failure_at=document["last_failure_at"],
        locked_until=document.get("locked_until"),
    )
