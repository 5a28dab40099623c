"""What the merchant lending RPC groups share: the loan process's keyed RPC base (clock,
events, idempotency: services/loan/rpc_base.py) over the merchant lending store."""

from __future__ import annotations

from chassis.clock import Clock
from chassis.keyed_lock import KeyedLock
from chassis.mongo import MongoClient
from services.loan.merchant.store import MerchantLendingStore
from services.loan.rpc_base import KeyedRpcBase


class MerchantRpcBase(KeyedRpcBase):
    def __init__(self, client: MongoClient, store: MerchantLendingStore, clock: Clock) -> None:
        super().__init__(client, clock, store)
        self._store = store
        # Steps on one facility queue here instead of conflicting in MongoDB.
        self._facility_locks = KeyedLock()
