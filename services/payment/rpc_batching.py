"""Group commit: the movements of one process share transactions (issue "Ledger throughput").

A movement arriving while a batch commits waits; when the batch is done, everything that
waited (up to BATCH_SIZE_MAX) becomes the next batch: one transaction that reads what the
batch touches once (store/batches.py), decides every movement in arrival order
(batch.py) and writes in bulk. Under light load a batch is one movement and nothing waits;
under heavy load the round trips per movement fall with the batch's size.

Each movement gets its own answer: a refusal fails it alone. A batch whose transaction
keeps conflicting with other writers (after run_in_transaction's own reruns) is rerun
once, then split in halves, down to single movements, whose failure is their own.
Nothing is acknowledged before its batch commits, so a crash loses no acknowledged
movement, and a retried one finds its idempotency record.

Batched today: Transfer, PayBill, TopUp, PayTrade and Withdraw, a challenge answered by a
payment authorization included: the batch reads the authorizations offered, finds one
usable as the one-transaction path's guarded update would (the payer's, unused, for enough,
unexpired; not spent earlier in the batch) and spends it with the batch's writes.
Beside movements, a batch takes jobs (batch_model.BatchJob, submit_job): holds placed,
captured and released (batch_holds.py), platform transfers (batch_jobs.py), trade
settlements with their withholding and refund decisions (batch_trades.py), payment codes
charged (batch_retail.py), withdrawals' and top-ups' reserves (batch_withdrawals.py,
batch_top_ups.py); each RPC makes its answer of the job's result. A withdrawal's reserve
debits the payer into withdrawals in transit, a top-up's counts it in the day's figure, and
each writes its pending record in the batch's transaction; the bank is never asked inside
it: Withdraw asks for the payout, TopUp for the card charge, and each settles after the
batch committed (rpc_withdrawal_payouts.py, rpc_top_up_charges.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar, cast

from google.protobuf.message import Message
from pymongo.errors import DuplicateKeyError, PyMongoError

from chassis.clock import Clock
from chassis.errors import Aborted
from chassis.mongo import MongoClient, Session, run_in_transaction
from chassis.telemetry import trace_context_now
from colony.payment.v1 import payment_pb2 as pb
from services.payment.batch import decide_movements
from services.payment.batch_model import (
    Accepted,
    BatchJob,
    Done,
    Event,
    JobReads,
    MovementAsk,
    Refused,
    Replayed,
    ReplayOf,
)
from services.payment.batch_top_ups import TopUp, TopUpJob
from services.payment.batch_withdrawals import Withdrawal, WithdrawJob
from services.payment.escrow import Trade
from services.payment.holds import Hold
from services.payment.ledger import Posting
from services.payment.risk import Rule
from services.payment.store import PaymentStore
from services.payment.store.batches import BatchConflict
from services.payment.wire import (
    account_to_proto,
    hold_to_proto,
    posting_to_proto,
    trade_to_proto,
)

log = logging.getLogger(__name__)

BATCH_SIZE_MAX = 64
# A batch that conflicted after run_in_transaction's reruns is tried this many more times
# before it is split.
BATCH_RERUNS_MAX = 1
# Batches committing at once in a process, on movements that touch nothing in common.
BATCHES_IN_FLIGHT_MAX = int(os.environ.get("COLONY_PAYMENT_BATCHES_IN_FLIGHT", "2"))

# The answer of a batched movement: each carries the posting and one party's account.
Response = pb.TransferResponse | pb.PayBillResponse | pb.TopUpResponse | pb.PayTradeResponse
_R = TypeVar("_R", pb.TransferResponse, pb.PayBillResponse, pb.TopUpResponse, pb.PayTradeResponse)
Answer = Message | BaseException
_M = TypeVar("_M", bound=Message)


@dataclass(slots=True)
class _Waiting:
    ask: MovementAsk | BatchJob
    response_type: type[Message]
    answer: asyncio.Future[Message]
    respond: Callable[[object], Message] | None = None  # a job's answer from its result
    # The trace context of the request that queued it (taken in the request's task): the
    # events it causes carry it, so consumers link to that request, not to the batch.
    trace_context: dict[str, str] = field(default_factory=trace_context_now)


def _event_proto(event: Event) -> tuple[str, str, Message, datetime]:
    event_type, aggregate_id, payload, occurred_at = event
    message: Message
    if isinstance(payload, Posting):
        message = posting_to_proto(payload)
    elif isinstance(payload, Hold):
        message = hold_to_proto(payload)
    else:
        assert isinstance(payload, Trade)
        message = trade_to_proto(payload)
    return event_type, aggregate_id, message, occurred_at


def _reads(asks: Sequence[MovementAsk | BatchJob]) -> JobReads:
    """What the batch reads: accounts, trades, holds, codes, whether any trade settles."""
    parties: set[str] = set()
    trades: set[str] = set()
    holds: set[str] = set()
    codes: set[str] = set()
    cards: set[tuple[str, str]] = set()
    digests: set[str] = set()
    settlements = False
    for ask in asks:
        if isinstance(ask, BatchJob):
            reads = ask.reads()
            parties.update(reads.account_ids)
            trades.update(reads.trade_ids)
            holds.update(reads.hold_ids)
            codes.update(reads.code_digests)
            cards.update(reads.bound_cards)
            digests.update(d for d in reads.authorization_digests if d)
            settlements = settlements or reads.settles_trades
            continue
        parties |= {ask.from_account_id, ask.to_account_id}
        if ask.second_factor.authorization_digest:
            digests.add(ask.second_factor.authorization_digest)
        if ask.trade_id:
            trades.add(ask.trade_id)
    return JobReads(
        tuple(parties),
        tuple(trades),
        tuple(holds),
        tuple(codes),
        settlements,
        tuple(cards),
        authorization_digests=tuple(digests),
    )


def _conflicted(error: BaseException) -> bool:
    """A batch-wide failure another try may not repeat: conflicts, a racing same key."""
    if isinstance(error, BatchConflict | DuplicateKeyError):
        return True
    return isinstance(error, PyMongoError) and error.has_error_label("TransientTransactionError")


def _keys(ask: MovementAsk | BatchJob, hot: set[str]) -> set[str]:
    """What a movement or job may write, for keeping batches in flight apart: its accounts
    (a credit to an account known to be hot lands on a leased sub-account: not counted),
    trades, holds and payment codes."""
    if isinstance(ask, MovementAsk):
        keys = {ask.from_account_id, f"trade:{ask.trade_id}"}
        if ask.to_account_id not in hot:
            keys.add(ask.to_account_id)
        return keys
    reads = ask.reads()
    credited_hot = {a for a in reads.credited_only if a in hot}
    return {
        *(a for a in reads.account_ids if a not in credited_hot),
        *(f"trade:{t}" for t in reads.trade_ids),
        *(f"hold:{h}" for h in reads.hold_ids),
        *(f"code:{c}" for c in reads.code_digests),
    }


def _keep_pending(
    ask: MovementAsk | BatchJob, result: object, withdrawals: list[Withdrawal], top_ups: list[TopUp]
) -> None:
    """The pending record a reserve job writes with its batch (a withdrawal's, a top-up's)."""
    if isinstance(ask, WithdrawJob):
        withdrawals.append(ask.pending(cast(tuple[Posting, object], result)[0]))
    elif isinstance(ask, TopUpJob):
        top_ups.append(cast(TopUp, result))


class MovementBatcher:
    """One per process: queues movements and commits them in batches, up to in_flight_max
    batches at a time on movements that touch nothing another batch in flight touches."""

    def __init__(
        self,
        client: MongoClient,
        store: PaymentStore,
        clock: Clock,
        rules: Callable[[], Sequence[Rule]],
        *,
        size_max: int = BATCH_SIZE_MAX,
        in_flight_max: int = BATCHES_IN_FLIGHT_MAX,
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._rules = rules
        self._size_max = size_max
        self._waiting: list[_Waiting] = []
        self._in_flight_max = in_flight_max
        self._workers: set[asyncio.Task[None]] = set()
        self._in_flight: dict[int, set[str]] = {}  # what each batch committing touches
        self._hot: set[str] = set()  # accounts the last batches read as hot
        self.batches = 0  # committed batches, and the movements in them (for the benchmark)
        self.movements = 0

    async def transfer(self, ask: MovementAsk) -> pb.TransferResponse:
        """Queue one Transfer and wait for its batch's answer."""
        return await self.submit(ask, pb.TransferResponse)

    async def submit(self, ask: MovementAsk, response_type: type[_R]) -> _R:
        """Queue one movement and wait for its batch's answer."""
        return await self._queue(_Waiting(ask, response_type, self._future()), response_type)

    async def submit_job(
        self, job: BatchJob, response_type: type[_M], respond: Callable[[object], _M]
    ) -> _M:
        """Queue one job and wait for its batch's answer: respond(the job's result)."""
        waiting = _Waiting(job, response_type, self._future(), respond)
        return await self._queue(waiting, response_type)

    @staticmethod
    def _future() -> asyncio.Future[Message]:
        return asyncio.get_running_loop().create_future()

    async def _queue(self, waiting: _Waiting, response_type: type[_M]) -> _M:
        self._waiting.append(waiting)
        if len(self._workers) < self._in_flight_max:
            worker = asyncio.create_task(self._drain(), name="movement-batcher")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        response = await waiting.answer
        assert isinstance(response, response_type)
        return response

    def _take(self) -> tuple[list[_Waiting], set[str]]:
        """The next batch, in arrival order: movements that touch nothing a batch in flight
        touches, nor anything an earlier movement left waiting touches (each account's
        movements keep their order)."""
        blocked = set().union(*self._in_flight.values())
        batch: list[_Waiting] = []
        keys: set[str] = set()
        left: list[_Waiting] = []
        for waiting in self._waiting:
            touched = _keys(waiting.ask, self._hot) if blocked else set()
            if len(batch) < self._size_max and not touched & blocked:
                batch.append(waiting)
                keys |= touched
            else:
                left.append(waiting)
                blocked |= touched
        self._waiting = left
        return batch, keys

    async def _drain(self) -> None:
        """Commit batches while movements wait; arrivals during a commit join the next one."""
        while self._waiting:
            batch, keys = self._take()
            if not batch:
                return  # all of it waits on batches in flight, whose workers take it next
            if self._in_flight_max > 1 and not keys:
                keys = set().union(*(_keys(w.ask, self._hot) for w in batch))
            token = id(batch)
            self._in_flight[token] = keys
            try:
                await self._commit(batch)
            except BaseException as error:  # never leave a caller waiting
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
            finally:
                del self._in_flight[token]

    async def _commit(self, batch: list[_Waiting], reruns: int = 0) -> None:
        try:
            answers = await self._run(batch)
        except Exception as error:
            if _conflicted(error) and reruns < BATCH_RERUNS_MAX:
                await self._commit(batch, reruns + 1)
            elif len(batch) > 1:
                # Split: a conflict on one hot spot, or one movement that breaks, stays there.
                half = len(batch) // 2
                await self._commit(batch[:half])
                await self._commit(batch[half:])
            else:
                batch[0].answer.set_exception(
                    Aborted("the request conflicted with concurrent writes; retry")
                    if _conflicted(error)
                    else error
                )
            return
        self.batches += 1
        self.movements += len(batch)
        for waiting, answer in zip(batch, answers, strict=True):
            if waiting.answer.done():  # the caller gave up; its movement stands
                continue
            if isinstance(answer, BaseException):
                waiting.answer.set_exception(answer)
            else:
                waiting.answer.set_result(answer)

    async def _run(self, batch: list[_Waiting]) -> list[Answer]:
        asks = [waiting.ask for waiting in batch]
        reads = _reads(asks)

        async def in_transaction(session: Session) -> list[Answer]:
            now = self._clock.now()
            view = await self._store.read_batch(
                session,
                [a.record_id for a in asks if a.record_id],
                reads.account_ids,
                reads.trade_ids,
                reads.hold_ids,
                settlements=reads.settles_trades,
                code_digests=reads.code_digests,
                bound_cards=reads.bound_cards,
                authorization_digests=reads.authorization_digests,
            )
            self._hot = {a for a, account in view.accounts.items() if account.is_hot}
            decision = decide_movements(asks, view, self._rules(), now)
            answers: list[Answer] = []
            withdrawals: list[Withdrawal] = []
            top_ups: list[TopUp] = []
            responses: dict[str, tuple[str, Message]] = {}
            events: list[tuple[str, str, Message, datetime, dict[str, str]]] = []
            for waiting, outcome in zip(batch, decision.outcomes, strict=True):
                ask = waiting.ask
                if isinstance(outcome, Done):
                    assert waiting.respond is not None
                    done = waiting.respond(outcome.result)
                    _keep_pending(ask, outcome.result, withdrawals, top_ups)
                    if ask.record_id:
                        responses[ask.record_id] = (ask.fingerprint, done)
                    events += [
                        (*_event_proto(event), waiting.trace_context) for event in outcome.events
                    ]
                    answers.append(done)
                elif isinstance(outcome, Accepted):
                    assert isinstance(ask, MovementAsk)
                    posting = posting_to_proto(outcome.posting)
                    response: Response
                    if outcome.trade is not None:
                        trade = trade_to_proto(outcome.trade)
                        response = pb.PayTradeResponse(trade=trade, posting=posting)
                    else:
                        account = account_to_proto(outcome.account_after)
                        plain = cast(type[pb.TransferResponse], waiting.response_type)
                        response = plain(posting=posting, account=account)
                    responses[ask.record_id] = (ask.fingerprint, response)
                    events.append(
                        (
                            "payment.posting.recorded",
                            outcome.posting.posting_id,
                            posting,
                            outcome.posting.posted_at,
                            waiting.trace_context,
                        )
                    )
                    if outcome.trade is not None:
                        events.append(
                            (
                                "payment.trade.paid",
                                outcome.trade.trade_id,
                                trade,
                                outcome.posting.posted_at,
                                waiting.trace_context,
                            )
                        )
                    answers.append(response)
                elif isinstance(outcome, Replayed):
                    answers.append(waiting.response_type.FromString(outcome.response))
                elif isinstance(outcome, ReplayOf):
                    answers.append(answers[outcome.index])
                else:
                    assert isinstance(outcome, Refused)
                    answers.append(outcome.error)
            await self._store.write_batch(
                session, decision, responses=responses, events=events, now=now
            )
            await self._store.insert_withdrawals(session, withdrawals)
            await self._store.insert_top_ups(session, top_ups)
            return answers

        with self._store.shard_leases():
            return await run_in_transaction(self._client, in_transaction)
