"""What a withdrawal's payout and a top-up's card charge share: a bank request asked outside
any transaction, by its key, then settled in one transaction (docs/performance.md
"Withdrawals: reserve, pay out, settle" and "Top-ups: reserve, charge, settle").

Each is reserved first: a pending record by its idempotency key, written in the reserve's
transaction with the request's idempotency record. BankRequests.complete(key) then asks the
bank outside any transaction, by the key (the bank answers a repeated request id with the
same answer: bank_channel.BankChannel), and settles in one transaction conditional on the
record being pending. Both steps are idempotent, so a request may be driven again after any
crash: by a replay of its RPC, or by the recovery job (complete_pending), which drives
records left pending longer than PENDING_GRACE. One driver at a time per key in a process
(a keyed lock), and the bank's answer kept until its settle commits, keep a process from
asking the bank twice for one request; across processes a second ask is the same request at
the bank, and a second settle finds the record settled.

Subclasses say which records (their store), which bank call and what settling moves:
rpc_withdrawal_payouts.WithdrawalPayouts and rpc_top_up_charges.TopUpCharges.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from chassis.clock import Clock
from chassis.keyed_lock import KeyedLock
from chassis.mongo import MongoClient
from chassis.outbox import EventLog
from services.payment.bank_channel import BankChannel, BankDeclined, BankReceipt
from services.payment.store import PaymentStore

log = logging.getLogger(__name__)

# A pending record younger than this is left to the request that reserved it.
PENDING_GRACE = timedelta(seconds=5)
# How often the recovery jobs look, and how many each drives a round.
RECOVERY_INTERVAL_SECONDS = 2.0
RECOVERY_BATCH_MAX = 100

BankAnswer = BankReceipt | BankDeclined
_R = TypeVar("_R")


class BankRequests(ABC, Generic[_R]):
    """Drives reserved bank requests of one kind to settled (see module docstring)."""

    what = "bank request"  # for the logs

    def __init__(
        self, client: MongoClient, store: PaymentStore, bank: BankChannel, clock: Clock
    ) -> None:
        self._client = client
        self._store = store
        self._bank = bank
        self._clock = clock
        self._events = EventLog(store.outbox, clock)
        self._driving = KeyedLock()
        # The bank's answers not settled yet (the settle failed: a conflict, say): the next
        # driver in this process settles on it without asking the bank again.
        self._answers: dict[str, BankAnswer] = {}

    @abstractmethod
    async def _load(self, key: str) -> _R | None:
        """The record by its key, as stored now."""

    @abstractmethod
    def _is_pending(self, record: _R) -> bool: ...

    @abstractmethod
    async def _due(self, created_before: datetime, limit: int) -> list[tuple[str, _R]]:
        """Pending records reserved before created_before, oldest first, with their keys."""

    @abstractmethod
    async def _ask_bank(self, record: _R) -> BankReceipt:
        """The bank call, by the record's key; raises BankDeclined when refused."""

    @abstractmethod
    async def _settle(self, record: _R, answer: BankAnswer) -> None:
        """One transaction, conditional on the record being pending."""

    async def complete(self, key: str) -> _R | None:
        """The record, settled; None if there is no such record (a request answered inside
        its transaction before reserve-first)."""
        async with self._driving.hold((key,)):
            record = await self._load(key)
            if record is None or not self._is_pending(record):
                return record
            answer = self._answers.get(key)
            if answer is None:
                answer = self._answers[key] = await self._ask(record)
            await self._settle(record, answer)
            del self._answers[key]
            settled = await self._load(key)
            assert settled is not None and not self._is_pending(settled)
            return settled

    async def complete_pending(self) -> int:
        """The recovery job: drive every record pending longer than PENDING_GRACE."""
        due = await self._due(self._clock.now() - PENDING_GRACE, RECOVERY_BATCH_MAX)
        completed = 0
        for key, _ in due:
            try:
                await self.complete(key)
            except Exception:  # the bank unreachable, say: the next round tries again
                log.exception("a pending %s could not be completed, retried later", self.what)
                continue
            completed += 1
        return completed

    async def _ask(self, record: _R) -> BankAnswer:
        """Ask the bank, outside any transaction: its receipt, or its refusal. Anything else
        (the bank unreachable) propagates and leaves the record pending."""
        try:
            return await self._ask_bank(record)
        except BankDeclined as refused:
            return refused
