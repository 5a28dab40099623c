"""Huabei lines follow the credit feed: re-evaluated when a score changes, frozen when listed.

The credit service publishes ``credit.score.changed`` (a colony.credit.v1.ScoreChanged,
also when only the blacklisted flag changed) and ``credit.blacklist.entered`` / ``removed``
(a BlacklistChange naming the person once known). For every person those events name who
has a Huabei line, the intake asks the credit service for the person's current limit advice
(GetCreditLimitAdvice as the loan service, CALLER_KIND_SERVICE) and re-evaluates the line
with the same rule as SyncHuabeiLine (huabei.sync_line): a higher advice raises the line; a
lower one lowers only the unused part, never below what is used and reserved; a blacklisted
person's line is frozen, and unfrozen when the advice no longer says BLACKLISTED. A raise
is limited by the lending capacity exactly as SyncHuabeiLine limits it (huabei.sync_line's
room_fen: the line rises at most to used + reserved + the capacity available, claimed like a
payout in the same transaction; not limited before any capital is paid in; docs/loans.md
"Funding").

The advice is read before the transaction; the lines and the new feed position are then
written in one transaction, so a batch delivered twice changes nothing more (the second
time the line already stands on the advice: nothing is written). The advice read is the
person's current one, so events applied late or out of order still leave the line on the
latest advice. A line that the event leaves as it was is not written (no event).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import grpc

from chassis.clock import Clock
from chassis.mongo import MongoClient, Session, run_in_transaction
from chassis.outbox import EventLog
from colony.common.v1 import events_pb2
from colony.credit.v1 import credit_pb2, credit_pb2_grpc
from services.loan.credit_advice import CreditAdvice
from services.loan.huabei import HuabeiLine, sync_line
from services.loan.merchant.store import MerchantLendingStore
from services.loan.store import LoanStore
from services.loan.wire import advice_from_proto, line_to_proto

log = logging.getLogger(__name__)

CREDIT_FEED = "credit"
SCORE_CHANGED = "credit.score.changed"
BLACKLIST_CHANGES = ("credit.blacklist.entered", "credit.blacklist.removed")
ADVICE_DEADLINE_SECONDS = 5.0
LOAN_SERVICE_CALLER = credit_pb2.Caller(kind=credit_pb2.CALLER_KIND_SERVICE, id="loan")

AdviceSource = Callable[[str], Awaitable[CreditAdvice]]


def credit_advice_source(channel: grpc.aio.Channel) -> AdviceSource:
    """The person's current advice from the credit service, asked as the loan service."""
    stub = credit_pb2_grpc.CreditServiceStub(channel)

    async def advice_of(person_id: str) -> CreditAdvice:
        response = await stub.GetCreditLimitAdvice(
            credit_pb2.GetCreditLimitAdviceRequest(caller=LOAN_SERVICE_CALLER, person_id=person_id),
            timeout=ADVICE_DEADLINE_SECONDS,
        )
        return advice_from_proto(response.advice, person_id)

    return advice_of


def people_named(events: Sequence[events_pb2.Event]) -> list[str]:
    """The person ids of the score and blacklist changes, in order, each once."""
    people: dict[str, None] = {}
    for event in events:
        if event.type == SCORE_CHANGED:
            changed = credit_pb2.ScoreChanged()
            if event.payload.Unpack(changed) and changed.person_id:
                people[changed.person_id] = None
        elif event.type in BLACKLIST_CHANGES:
            change = credit_pb2.BlacklistChange()
            if event.payload.Unpack(change) and change.person_id:
                people[change.person_id] = None
    return list(people)


def _stands_on(line: HuabeiLine, synced: HuabeiLine) -> bool:
    return replace(synced, updated_at=line.updated_at) == line


class CreditScoreIntake:
    """The loan side of the credit feed (a chassis.feed_follower.FeedConsumer)."""

    def __init__(
        self, client: MongoClient, store: LoanStore, clock: Clock, advice_of: AdviceSource
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._events = EventLog(store.outbox, clock)
        self._advice_of = advice_of

    async def saved_position(self, feed: str) -> int:
        return await self._store.feed_position(feed)

    async def apply_batch(self, feed: str, events: Sequence[events_pb2.Event]) -> None:
        """Re-evaluate the lines the events name, and save the new position, in one go."""
        before = await self._store.feed_position(feed)
        fresh = [event for event in events if int(event.position) > before]
        if not fresh:
            return
        advices: dict[str, CreditAdvice] = {}
        for person_id in people_named(fresh):
            if await self._store.find_line(person_id) is not None:
                advices[person_id] = await self._advice_of(person_id)
        last = int(fresh[-1].position)

        async def apply(session: Session) -> None:
            if await self._store.feed_position(feed, session) >= last:
                return  # another follower of this database applied it meanwhile
            for person_id, advice in advices.items():
                await self._resync(session, person_id, advice)
            await self._store.advance_feed_position(session, feed, last)

        await run_in_transaction(self._client, apply)

    async def _resync(self, session: Session, person_id: str, advice: CreditAdvice) -> None:
        line = await self._store.find_line(person_id, session)
        if line is None:
            return
        room_fen: int | None = None
        if advice.huabei_line_fen > line.line_fen:
            # A raise is a new promise to lend: within the capacity, as SyncHuabeiLine.
            capacity = await MerchantLendingStore(self._store.database).claim_capacity(session)
            room_fen = capacity.available_fen if capacity.book.capital_fen > 0 else None
        synced = sync_line(line, advice, self._clock.now(), room_fen=room_fen)
        if _stands_on(line, synced):
            return
        await self._store.save_line(session, synced)
        await self._events.append(
            session, "loan.huabei.line_synced", person_id, line_to_proto(synced)
        )
        log.info(
            "huabei line re-evaluated from the credit feed",
            extra={
                "borrower_id": person_id,
                "line_fen": synced.line_fen,
                "frozen": synced.frozen,
            },
        )
