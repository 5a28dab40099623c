"""What every group of insurance RPCs shares: the store, clock, catalogue, idempotency, events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from google.protobuf.message import Message

from chassis.clock import Clock, business_date_of
from chassis.idempotency import IdempotencyStore
from chassis.mongo import MongoClient, Session
from chassis.outbox import EventLog, OutboxFeed
from colony.insurance.v1 import insurance_pb2 as pb
from services.insurance.claims import Claim, remaining_cover_fen
from services.insurance.policies import Policy
from services.insurance.products import Catalogue
from services.insurance.store import InsuranceStore
from services.insurance.wire import claim_to_proto, policy_to_proto

ResponseT = TypeVar("ResponseT", bound=Message)


class InsuranceRpcBase:
    """State and helpers shared by the InsuranceService RPC groups (mixed into one servicer)."""

    def __init__(
        self,
        client: MongoClient,
        store: InsuranceStore,
        clock: Clock,
        feed: OutboxFeed,
        catalogue: Catalogue,
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._feed = feed
        self._catalogue = catalogue
        self._events = EventLog(store.outbox, clock)
        self._idempotency = IdempotencyStore(store.idempotency, clock)

    def _today(self) -> date:
        """Today's business date (the calendar date in China Standard Time)."""
        return business_date_of(self._clock.now())

    async def _idempotent(
        self,
        scope: str,
        request: Message,
        response_type: type[ResponseT],
        operation: Callable[[Session], Awaitable[ResponseT]],
    ) -> ResponseT:
        """Run operation once per idempotency key, in one transaction with its record."""
        return await self._idempotency.run(
            self._client,
            scope=scope,
            request=request,
            response_type=response_type,
            operation=operation,
        )

    async def _policy_view(self, policy: Policy, session: Session | None = None) -> pb.Policy:
        """The policy with its remaining cover (cover less the claims not rejected)."""
        taken_fen = await self._store.claims_not_rejected_fen(policy.policy_id, session)
        return policy_to_proto(policy, remaining_cover_fen(policy, taken_fen))

    async def _save_policy(
        self, session: Session, before: Policy, after: Policy, event_type: str = ""
    ) -> pb.Policy:
        """Store a changed policy and append its event; an unchanged one is only read back."""
        if after is not before:
            await self._store.save_policy(session, after)
        message = await self._policy_view(after, session)
        if event_type and after is not before:
            await self._events.append(session, event_type, after.policy_id, message)
        return message

    async def _save_claim(self, session: Session, claim: Claim, *event_types: str) -> pb.Claim:
        """Store a claim and append its events (one per state it passed through)."""
        await self._store.save_claim(session, claim)
        message = claim_to_proto(claim)
        for event_type in event_types:
            await self._events.append(session, event_type, claim.claim_id, message)
        return message
