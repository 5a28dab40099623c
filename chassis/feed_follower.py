"""Following another service's event feed: at least once in, exactly once in effect.

A consumer (the credit bureau following payment and wealth, payment's risk control following
the credit blacklist) runs one FeedFollower per upstream feed. The follower streams the
feed's ``StreamEvents`` from the position the consumer saved, and hands each batch to the
consumer's ``apply_batch``, which must apply the events *and save the new position in one
transaction* (skipping any event at or below the saved position): a batch delivered twice
then changes nothing. A broken stream (either side restarted, or the consumer's database
busy) is reopened from the saved position after a bounded, jittered backoff.

A lag probe, every few seconds, counts the upstream events past the saved position
(bounded) and how long the oldest has waited; ``lag`` holds the last measurement and it is
logged. Every service's StreamEvents has the layout of colony.common.v1.FeedRequest /
FeedBatch, so the follower needs no stubs of the service it follows.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import grpc
from opentelemetry import trace
from pymongo.errors import PyMongoError

from chassis.clock import Clock
from chassis.telemetry import links_to
from chassis.tls import PROCESS_TLS, open_channel
from colony.common.v1 import events_pb2

log = logging.getLogger("colony.feeds")
_tracer = trace.get_tracer("colony.feeds")

# Every service serves its feed as <package>.<Service>/StreamEvents with the same layout.
FEED_METHODS: Mapping[str, str] = {
    "payment": "/colony.payment.v1.PaymentService/StreamEvents",
    "wealth": "/colony.wealth.v1.WealthService/StreamEvents",
    "credit": "/colony.credit.v1.CreditService/StreamEvents",
    "loan": "/colony.loan.v1.LoanService/StreamEvents",
    "insurance": "/colony.insurance.v1.InsuranceService/StreamEvents",
}
FEED_BATCH_SIZE = 100
RECONNECT_BACKOFF_SECONDS_BASE = 0.2
RECONNECT_BACKOFF_SECONDS_MAX = 10.0
LAG_PROBE_SECONDS = 5.0
LAG_PROBE_DEADLINE_SECONDS = 5.0
LAG_PROBE_BATCH = 500
LAG_PROBE_BATCHES_MAX = 20  # events behind is counted up to 10,000, then reported as capped


@dataclass(frozen=True, slots=True)
class UpstreamFeed:
    """A feed to follow: the producing service's name and where it listens; with types,
    only events of those types are sent (the producer filters, so a follower interested in
    refunds does not decode every posting)."""

    name: str
    address: str
    types: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        return FEED_METHODS[self.name]


@dataclass
class FeedLag:
    """What a follower last measured (in memory: lag is a live measurement)."""

    connected: bool = False
    last_error: str = ""
    events_behind: int = 0
    events_behind_capped: bool = False
    seconds_behind: float = 0.0
    measured_at: datetime | None = None
    reconnects: int = 0


class FeedConsumer(Protocol):
    """What a service that follows a feed provides: its saved position and the applier."""

    async def saved_position(self, feed: str) -> int:
        """The position of the last event applied from feed (0 for none)."""
        ...

    async def apply_batch(self, feed: str, events: Sequence[events_pb2.Event]) -> None:
        """Apply the events past the saved position and save the new one, in one transaction."""
        ...


def _backoff_seconds(attempt: int) -> float:
    ceiling = min(RECONNECT_BACKOFF_SECONDS_MAX, RECONNECT_BACKOFF_SECONDS_BASE * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


class FeedFollower:
    """Follows one upstream feed for the lifetime of the service that runs it."""

    def __init__(self, feed: UpstreamFeed, consumer: FeedConsumer, clock: Clock) -> None:
        self.feed = feed
        self.lag = FeedLag()
        self._consumer = consumer
        self._clock = clock

    async def run(self) -> None:
        """Follow and probe until cancelled (a background job of the server)."""
        # Mutual TLS with this service's certificate when it has one (chassis.tls).
        async with open_channel(self.feed.address, self.feed.name, PROCESS_TLS.get()) as channel:
            await asyncio.gather(self._follow_forever(channel), self._probe_forever(channel))

    def _stream(
        self, channel: grpc.aio.Channel
    ) -> grpc.aio.UnaryStreamMultiCallable[events_pb2.FeedRequest, events_pb2.FeedBatch]:
        return channel.unary_stream(
            self.feed.method,
            request_serializer=events_pb2.FeedRequest.SerializeToString,
            response_deserializer=events_pb2.FeedBatch.FromString,
        )

    async def _follow_forever(self, channel: grpc.aio.Channel) -> None:
        attempt = 0
        while True:  # a subscription for the server's lifetime; each retry waits a bounded time
            try:
                await self._follow(channel)
                attempt = 0
            except grpc.aio.AioRpcError as error:
                self._broke(f"{error.code().name}: {error.details()}")
            except PyMongoError as error:
                # Conflicts outlasting the transaction's retries: a transaction left open by a
                # killed process holds its documents until MongoDB aborts it (60 s by default).
                self._broke(f"database: {error}")
            await asyncio.sleep(_backoff_seconds(attempt))
            attempt += 1

    def _broke(self, why: str) -> None:
        self.lag.connected = False
        self.lag.last_error = why
        self.lag.reconnects += 1
        log.warning("feed %s: following again after: %s", self.feed.name, why)

    async def _follow(self, channel: grpc.aio.Channel) -> None:
        """One stream from the saved position; the consumer applies each batch with it."""
        position = await self._consumer.saved_position(self.feed.name)
        request = events_pb2.FeedRequest(
            after_position=str(position),
            follow=True,
            batch_size=FEED_BATCH_SIZE,
            types=self.feed.types,
        )
        # A follow stream is a subscription, so it has no deadline; the server ends it on
        # shutdown and this follower reconnects.
        call = self._stream(channel)(request)
        self.lag.connected = True
        async for batch in call:
            # One span per batch, linked to the spans that appended its events (their
            # producers' requests); the consumer's database commands are its children.
            with _tracer.start_as_current_span(
                f"apply {self.feed.name} events",
                kind=trace.SpanKind.CONSUMER,
                links=links_to(event.trace_context for event in batch.events),
                attributes={"colony.feed": self.feed.name, "colony.events": len(batch.events)},
            ):
                await self._consumer.apply_batch(self.feed.name, batch.events)
            self.lag.last_error = ""

    async def _probe_forever(self, channel: grpc.aio.Channel) -> None:
        while True:  # a lifetime job; each probe is bounded by its deadline and batch count
            await asyncio.sleep(LAG_PROBE_SECONDS)
            try:
                await self.probe_lag(channel)
            except (grpc.aio.AioRpcError, PyMongoError) as error:
                self.lag.last_error = f"lag probe: {type(error).__name__}"
                continue
            log.info(
                "feed lag",
                extra={
                    "feed": self.feed.name,
                    "events_behind": self.lag.events_behind,
                    "seconds_behind": round(self.lag.seconds_behind, 3),
                },
            )

    async def probe_lag(self, channel: grpc.aio.Channel) -> FeedLag:
        """Count the upstream events past the saved position (bounded) and the oldest's age."""
        position = await self._consumer.saved_position(self.feed.name)
        request = events_pb2.FeedRequest(
            after_position=str(position),
            follow=False,
            batch_size=LAG_PROBE_BATCH,
            types=self.feed.types,
        )
        behind = 0
        oldest: datetime | None = None
        batches = 0
        capped = False
        call = self._stream(channel)(request, timeout=LAG_PROBE_DEADLINE_SECONDS)
        try:
            async for batch in call:
                if oldest is None and batch.events:
                    oldest = batch.events[0].occurred_at.ToDatetime(tzinfo=UTC)
                behind += len(batch.events)
                batches += 1
                if batches >= LAG_PROBE_BATCHES_MAX:
                    capped = True
                    break
        finally:
            call.cancel()
        now = self._clock.now()
        self.lag.events_behind = behind
        self.lag.events_behind_capped = capped
        self.lag.seconds_behind = (
            0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        )
        self.lag.measured_at = now
        return self.lag
