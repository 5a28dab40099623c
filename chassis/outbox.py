"""The transactional outbox and the ordered event feed built on it (DESIGN.md "Events").

A service appends an event with ``append_event(session, ...)`` inside the transaction
that makes the change, so an event exists exactly when its change committed.

Consumers need the events in commit order and must resume from a saved position with
nothing lost or repeated. Commit order is what a change stream over the outbox reports,
but a change stream's resume tokens only live as long as the oplog. So a sequencer
follows the change stream and stamps each event with a durable integer ``position``,
saving its resume token in the same transaction; positions are dense (1, 2, 3, ...)
and outlive the oplog, and a restarted sequencer carries on from the saved token.
Readers serve events by position.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from chassis.errors import InvalidArgument
from chassis.mongo import Document, MongoClient, Session, run_in_transaction
from chassis.telemetry import trace_context_now
from colony.common.v1 import events_pb2

log = logging.getLogger(__name__)

OUTBOX_COLLECTION = "outbox"
FEED_STATE_COLLECTION = "outbox_feed"
SEQUENCER_STATE_ID = "sequencer"
SEQUENCER_BATCH_MAX = 500
SEQUENCER_BATCH_SECONDS = 0.02
SEQUENCER_AWAIT_MS = 200
SEQUENCER_RESTART_DELAY_SECONDS = 1.0
FEED_BATCH_DEFAULT = 100
FEED_BATCH_MAX = 500
FEED_POLL_SECONDS = 0.05
CHANGE_STREAM_HISTORY_LOST = 286


async def append_event(
    outbox: AsyncCollection[dict[str, Any]],
    session: Session,
    *,
    event_type: str,
    aggregate_id: str,
    payload: Message,
    occurred_at: datetime,
) -> str:
    """Append one event inside the caller's transaction; returns its event id.

    The event carries the current span's trace context (if any), so that its consumers'
    spans link back to the request that caused it.
    """
    event_id = uuid.uuid4().hex
    document: dict[str, Any] = {
        "_id": event_id,
        "type": event_type,
        "aggregate_id": aggregate_id,
        "occurred_at": occurred_at,
        "payload_type": payload.DESCRIPTOR.full_name,
        "payload": payload.SerializeToString(deterministic=True),
    }
    trace_context = trace_context_now()
    if trace_context:
        document["trace_context"] = trace_context
    await outbox.insert_one(document, session=session)
    return event_id


class _Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class EventLog:
    """A service's outbox with its clock: ``append`` is the one way its code records an event."""

    outbox: AsyncCollection[dict[str, Any]]
    clock: _Clock

    async def append(
        self,
        session: Session,
        event_type: str,
        aggregate_id: str,
        payload: Message,
        occurred_at: datetime | None = None,
    ) -> str:
        """Append one event (stamped now unless told) in the caller's transaction; its id."""
        return await append_event(
            self.outbox,
            session,
            event_type=event_type,
            aggregate_id=aggregate_id,
            payload=payload,
            occurred_at=occurred_at or self.clock.now(),
        )


def parse_position(position: str) -> int:
    """A feed position from its wire form ("" is the start, 0)."""
    if position == "":
        return 0
    if not position.isdigit():
        raise InvalidArgument(f"position {position!r} is not valid", reason="INVALID_POSITION")
    return int(position)


def event_to_proto(document: Document) -> events_pb2.Event:
    """The wire envelope of a stored, positioned event."""
    payload = any_pb2.Any(
        type_url=f"type.googleapis.com/{document['payload_type']}", value=document["payload"]
    )
    occurred_at = Timestamp()
    occurred_at.FromDatetime(document["occurred_at"])
    return events_pb2.Event(
        event_id=document["_id"],
        position=str(document["position"]),
        type=document["type"],
        aggregate_id=document["aggregate_id"],
        occurred_at=occurred_at,
        payload=payload,
        trace_context=document.get("trace_context", {}),
    )


@dataclass
class OutboxFeed:
    """The sequencer and the reader of one service's outbox."""

    client: MongoClient
    database: AsyncDatabase[Document]

    @property
    def outbox(self) -> AsyncCollection[Document]:
        return self.database[OUTBOX_COLLECTION]

    @property
    def state(self) -> AsyncCollection[Document]:
        return self.database[FEED_STATE_COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.outbox.create_indexes(
            [
                IndexModel([("position", ASCENDING)], unique=True, sparse=True),
                IndexModel([("occurred_at", ASCENDING)]),
                # A follower of some types only (FeedRequest.types) reads this index.
                IndexModel([("type", ASCENDING), ("position", ASCENDING)]),
            ]
        )

    async def read(
        self, after_position: int, limit: int, types: Sequence[str] = ()
    ) -> list[Document]:
        """Up to limit events with position > after_position (of these types, when given),
        in position order."""
        query: Document = {"position": {"$gt": after_position}}
        if types:
            query["type"] = {"$in": list(types)}
        cursor = self.outbox.find(query).sort("position", ASCENDING).limit(limit)
        return [document async for document in cursor]

    async def follow(
        self, after_position: int, batch_size: int, *, follow: bool, types: Sequence[str] = ()
    ) -> AsyncIterator[list[events_pb2.Event]]:
        """Batches of events after a position; with follow, wait for more as they commit.

        A follower is a subscription: it ends when the consumer cancels the call or the
        server shuts down. Each wait is a short poll of the position index.
        """
        position = after_position
        while True:
            documents = await self.read(position, batch_size, types)
            if documents:
                position = documents[-1]["position"]
                yield [event_to_proto(document) for document in documents]
                continue
            if not follow:
                return
            await asyncio.sleep(FEED_POLL_SECONDS)

    async def run_sequencer(self) -> None:
        """Stamp positions on new events in commit order until cancelled; restarts on errors."""
        while True:
            try:
                await self._sequence()
            except asyncio.CancelledError:
                raise
            except PyMongoError as error:
                log.warning("outbox sequencer restarting after: %s", error)
                await asyncio.sleep(SEQUENCER_RESTART_DELAY_SECONDS)

    async def _sequence(self) -> None:
        state = await self.state.find_one({"_id": SEQUENCER_STATE_ID}) or {}
        resume_token = state.get("resume_token")
        pipeline = [{"$match": {"operationType": "insert"}}]
        try:
            stream = await self.outbox.watch(
                pipeline, resume_after=resume_token, max_await_time_ms=SEQUENCER_AWAIT_MS
            )
        except OperationFailure as failure:
            if failure.code != CHANGE_STREAM_HISTORY_LOST:
                raise
            log.error("outbox resume token fell off the oplog; backfilling by occurred_at")
            resume_token = None
            stream = await self.outbox.watch(pipeline, max_await_time_ms=SEQUENCER_AWAIT_MS)
        async with stream:
            if resume_token is None:
                # Opened the stream first, then backfill: nothing committed in between is missed.
                await self._backfill(stream.resume_token)
            loop = asyncio.get_running_loop()
            while stream.alive:
                event_ids: list[str] = []
                change = await stream.try_next()
                # A batch closes when the stream has nothing more right now, at
                # SEQUENCER_BATCH_MAX events, or SEQUENCER_BATCH_SECONDS after it opened: under
                # a steady stream of commits it would otherwise wait for the count alone.
                batch_closes_at = loop.time() + SEQUENCER_BATCH_SECONDS
                while change is not None:
                    event_ids.append(change["documentKey"]["_id"])
                    if len(event_ids) >= SEQUENCER_BATCH_MAX or loop.time() >= batch_closes_at:
                        break
                    change = await stream.try_next()
                if event_ids:
                    await self._assign(event_ids, stream.resume_token)

    async def _backfill(self, resume_token: Any) -> None:
        """Position events that were appended while no sequencer ran (first start)."""
        while True:
            cursor = (
                self.outbox.find({"position": {"$exists": False}}, {"_id": 1})
                .sort([("occurred_at", ASCENDING), ("_id", ASCENDING)])
                .limit(SEQUENCER_BATCH_MAX)
            )
            event_ids = [document["_id"] async for document in cursor]
            if not event_ids:
                return
            await self._assign(event_ids, resume_token)

    async def _assign(self, event_ids: list[str], resume_token: Any) -> None:
        """Give each not-yet-positioned event the next position, and save the resume token."""

        async def assign(session: Session) -> None:
            state = await self.state.find_one({"_id": SEQUENCER_STATE_ID}, session=session)
            next_position = (state or {}).get("next_position", 1)
            # Three round trips a batch, however long: which of these still lack a position,
            # then every assignment in one bulk write, then the state.
            unpositioned = {
                document["_id"]
                async for document in self.outbox.find(
                    {"_id": {"$in": event_ids}, "position": {"$exists": False}},
                    {"_id": 1},
                    session=session,
                )
            }
            assignments = []
            for event_id in event_ids:  # commit order, as the change stream reported it
                if event_id in unpositioned:
                    assignments.append(
                        UpdateOne(
                            {"_id": event_id, "position": {"$exists": False}},
                            {"$set": {"position": next_position}},
                        )
                    )
                    next_position += 1
            if assignments:
                result = await self.outbox.bulk_write(assignments, ordered=True, session=session)
                assert result.modified_count == len(assignments), "an event was positioned twice"
            await self.state.update_one(
                {"_id": SEQUENCER_STATE_ID},
                {"$set": {"next_position": next_position, "resume_token": resume_token}},
                upsert=True,
                session=session,
            )

        await run_in_transaction(self.client, assign)


class FeedRequest(Protocol):
    """The fields every service's StreamEventsRequest has."""

    after_position: str
    batch_size: int
    follow: bool
    types: Sequence[str]


class EventFeedRpc:
    """The StreamEvents RPC, served the same way by every service (mixed into its servicer).

    The servicer sets ``_feed`` (its OutboxFeed) and, as a class attribute,
    ``feed_response`` (its StreamEventsResponse message class).
    """

    _feed: OutboxFeed
    feed_response: Callable[..., Message]

    # Typed loosely on purpose: each service's generated servicer declares StreamEvents with
    # its own request and response classes, and this one definition serves them all.
    async def StreamEvents(  # noqa: N802 (the RPC's name in the proto)
        self, request: Any, context: Any
    ) -> Any:
        feed_request: FeedRequest = request
        after_position = parse_position(feed_request.after_position)
        batch_size = feed_request.batch_size or FEED_BATCH_DEFAULT
        if not 1 <= batch_size <= FEED_BATCH_MAX:
            raise InvalidArgument(f"batch_size must be between 1 and {FEED_BATCH_MAX}")
        async for events in self._feed.follow(
            after_position, batch_size, follow=feed_request.follow, types=feed_request.types
        ):
            yield self.feed_response(events=events)
