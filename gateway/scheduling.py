"""What the gateway's scheduled jobs share (gateway.wealth.schedule, the business-date job;
gateway.loans.merchant.schedule, the order-loan job): a lease on one document of a
collection, claimed by one conditional upsert (two replicas racing get one claim between
them), renewed while the work runs and let go at once if it fails; and the loop that runs a
round every interval for the app's lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chassis.clock import Clock
from gateway.edge.background import run_for_app_lifetime

LEASE_SECONDS = 5 * 60
RENEWALS_PER_LEASE = 3
T = TypeVar("T")


class Leases:
    """Leases on the documents of one collection (its _id: what is claimed)."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        clock: Clock,
        instance_id: str,
        *,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self._collection = collection
        self._clock = clock
        self._instance_id = instance_id
        self._lease_seconds = lease_seconds

    def _until(self) -> Any:
        return self._clock.now() + timedelta(seconds=self._lease_seconds)

    async def claim(
        self, document_id: str, free: dict[str, Any], also_set: dict[str, Any] | None = None
    ) -> str | None:
        """Lease the document if free (the conditions besides its id; an absent document is
        created); the lease's token, or None when it is not free."""
        now = self._clock.now()
        token = uuid.uuid4().hex
        try:
            claimed = await self._collection.find_one_and_update(
                {"_id": document_id, "lease_until": {"$lte": now}, **free},
                {
                    "$set": {
                        "lease_owner": self._instance_id,
                        "lease_token": token,
                        "lease_until": self._until(),
                        "started_at": now,
                        **(also_set or {}),
                    }
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None  # the document exists and is not free
        return token if claimed is not None else None

    async def hold_while(
        self,
        document_id: str,
        token: str,
        work: Callable[[], Awaitable[T]],
        held: dict[str, Any] | None = None,
    ) -> T:
        """Run work renewing the lease; if it fails, let the lease go at once (for the next
        round, or another replica, to retry) and raise. held: conditions the lease keeps."""
        held = held or {}
        renewer = asyncio.create_task(self._keep(document_id, token, held))
        try:
            result = await work()
        except BaseException:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            await asyncio.shield(self._release(document_id, token, held))
            raise
        renewer.cancel()
        await asyncio.gather(renewer, return_exceptions=True)
        return result

    async def complete(self, document_id: str, token: str, update: dict[str, Any]) -> bool:
        """Apply update if the lease is still this token's; False if it was lost."""
        result = await self._collection.update_one(
            {"_id": document_id, "lease_token": token}, update
        )
        return bool(result.matched_count)

    async def _keep(self, document_id: str, token: str, held: dict[str, Any]) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / RENEWALS_PER_LEASE)
            result = await self._collection.update_one(
                {"_id": document_id, "lease_token": token, **held},
                {"$set": {"lease_until": self._until()}},
            )
            if not result.matched_count:
                return  # taken over: completing will say so

    async def _release(self, document_id: str, token: str, held: dict[str, Any]) -> None:
        await self._collection.update_one(
            {"_id": document_id, "lease_token": token, **held},
            {"$set": {"lease_until": self._clock.now()}},
        )


class Periodic:
    """Runs a round every interval for the app's lifetime (nothing when the interval is 0);
    a round that fails is logged and the next one tries again."""

    def __init__(
        self,
        name: str,
        round_: Callable[[], Awaitable[object]],
        interval_seconds: float,
        log: logging.Logger,
    ) -> None:
        self._name = name
        self._round = round_
        self._interval_seconds = interval_seconds
        self._log = log

    def install(self, app: web.Application) -> None:
        if self._interval_seconds > 0:
            run_for_app_lifetime(app, self._name, self._run)

    async def _run(self) -> None:
        while True:
            try:
                await self._round()
            except Exception:
                # A service or the database away: log it; the next round tries again.
                self._log.exception("%s failed", self._name)
            await asyncio.sleep(self._interval_seconds)
