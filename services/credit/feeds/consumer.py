"""Upstream feed followers (DESIGN.md "Events"): at least once in, exactly once in effect.

One consumer per upstream feed follows its ``StreamEvents`` from the position saved in the
credit database; each batch is applied together with the new position in one transaction
(Bureau.apply_feed_batch), so a redelivered event is recognised by its position and changes
nothing. A broken stream (either side restarted) is reopened from the saved position after a
bounded, jittered backoff. A lag probe counts the events committed upstream but not applied
(bounded) and how long the oldest of them has waited; GetFeedStatus reports it and it is logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from pymongo.errors import PyMongoError

from chassis.clock import Clock
from colony.common.v1 import events_pb2
from colony.credit.v1 import credit_pb2 as pb
from services.credit.feed_progress import FeedLag
from services.credit.feeds.decoders import DecodedEvent, decode_event
from services.credit.feeds.intake import Bureau

log = logging.getLogger(__name__)

# Every service serves its feed as <package>.<Service>/StreamEvents with the same wire layout.
FEED_METHODS: Mapping[str, str] = {
    "payment": "/colony.payment.v1.PaymentService/StreamEvents",
    "wealth": "/colony.wealth.v1.WealthService/StreamEvents",
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
    name: str
    address: str

    @property
    def method(self) -> str:
        return FEED_METHODS[self.name]


def _backoff_seconds(attempt: int) -> float:
    ceiling = min(RECONNECT_BACKOFF_SECONDS_MAX, RECONNECT_BACKOFF_SECONDS_BASE * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


class FeedConsumer:
    """Follows one upstream feed for the lifetime of the service."""

    def __init__(self, feed: UpstreamFeed, bureau: Bureau, clock: Clock) -> None:
        self.feed = feed
        self.lag = FeedLag()
        self._bureau = bureau
        self._clock = clock

    async def run(self) -> None:
        """Follow and probe until cancelled (a lifetime job of the server)."""
        async with grpc.aio.insecure_channel(self.feed.address) as channel:
            await asyncio.gather(self._follow_forever(channel), self._probe_forever(channel))

    def _stream(
        self, channel: grpc.aio.Channel
    ) -> grpc.aio.UnaryStreamMultiCallable[pb.UpstreamFeedRequest, pb.UpstreamFeedBatch]:
        return channel.unary_stream(
            self.feed.method,
            request_serializer=pb.UpstreamFeedRequest.SerializeToString,
            response_deserializer=pb.UpstreamFeedBatch.FromString,
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
        """One stream from the saved position; applies each batch with its position."""
        position = (await self._bureau.feed_positions([self.feed.name]))[0].position
        request = pb.UpstreamFeedRequest(
            after_position=str(position), follow=True, batch_size=FEED_BATCH_SIZE
        )
        # A follow stream is a subscription, so it has no deadline; the server ends it on
        # shutdown and this consumer reconnects.
        call = self._stream(channel)(request)
        self.lag.connected = True
        async for batch in call:
            decoded = [self._decode(event) for event in batch.events]
            outcome = await self._bureau.apply_feed_batch(self.feed.name, decoded)
            self.lag.last_error = ""
            if outcome.skipped_unknown:
                log.info(
                    "feed %s: skipped %d events of unknown types",
                    self.feed.name,
                    outcome.skipped_unknown,
                )

    def _decode(self, event: events_pb2.Event) -> DecodedEvent:
        try:
            return decode_event(self.feed.name, event)
        except ValueError as error:
            # A payload that breaks its contract is counted with the unknown, never fatal.
            log.error("feed %s: undecodable event %s: %s", self.feed.name, event.position, error)
            return DecodedEvent(
                int(event.position), event.type, event.occurred_at.ToDatetime(tzinfo=UTC), None
            )

    async def _probe_forever(self, channel: grpc.aio.Channel) -> None:
        while True:  # a lifetime job; each probe is bounded by its deadline and batch count
            await asyncio.sleep(LAG_PROBE_SECONDS)
            try:
                await self.probe_lag(channel)
            except grpc.aio.AioRpcError as error:
                self.lag.last_error = f"lag probe: {error.code().name}"
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
        position = (await self._bureau.feed_positions([self.feed.name]))[0].position
        request = pb.UpstreamFeedRequest(
            after_position=str(position), follow=False, batch_size=LAG_PROBE_BATCH
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
