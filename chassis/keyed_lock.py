"""In-process locks by key, so requests in one process queue instead of conflicting in MongoDB.

Two transactions that write the same document conflict and one of them retries; under a
burst on one account the retries multiply. Holding a per-account lock around the
transaction turns that into a queue inside one process. Correctness never depends on
it: MongoDB's write-conflict detection and the guarded updates still decide across
processes and replicas. Keys are taken in sorted order, so two holders cannot deadlock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable


class KeyedLock:
    """A set of asyncio locks created on demand and dropped when nobody holds or awaits them."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, keys: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of every key (each once, in sorted order) for the block."""
        ordered = sorted(set(keys))
        for key in ordered:
            self._users[key] = self._users.get(key, 0) + 1
            self._locks.setdefault(key, asyncio.Lock())
        acquired: list[str] = []
        try:
            for key in ordered:
                await self._locks[key].acquire()
                acquired.append(key)
            yield
        finally:
            for key in reversed(acquired):
                self._locks[key].release()
            for key in ordered:
                self._users[key] -= 1
                if self._users[key] == 0:
                    del self._users[key]
                    del self._locks[key]

    def __len__(self) -> int:
        """How many keys are held or awaited right now."""
        return len(self._locks)
