"""What the merchant lending RPC groups share: the store, clock, idempotency, events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from google.protobuf.message import Message

from chassis.clock import Clock, business_date_of
from chassis.idempotency import IdempotencyStore
from chassis.keyed_lock import KeyedLock
from chassis.mongo import MongoClient, Session
from chassis.outbox import EventLog
from services.loan.merchant.store import MerchantLendingStore

ResponseT = TypeVar("ResponseT", bound=Message)


class MerchantRpcBase:
    def __init__(self, client: MongoClient, store: MerchantLendingStore, clock: Clock) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._events = EventLog(store.outbox, clock)
        self._idempotency = IdempotencyStore(store.idempotency, clock)
        # Steps on one facility queue here instead of conflicting in MongoDB.
        self._facility_locks = KeyedLock()

    def _today(self) -> date:
        return business_date_of(self._clock.now())

    async def _idempotent(
        self,
        scope: str,
        request: Message,
        response_type: type[ResponseT],
        operation: Callable[[Session], Awaitable[ResponseT]],
    ) -> ResponseT:
        return await self._idempotency.run(
            self._client,
            scope=scope,
            request=request,
            response_type=response_type,
            operation=operation,
        )
