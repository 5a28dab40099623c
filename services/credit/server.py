"""The credit gRPC servicer: proto in, who-may-see check, one bureau or domain call, proto out.

Rules live in the domain modules (scorecard, consent, blacklist, deposit_waiver,
credit_advice, features); use cases spanning aggregates in feeds/intake.py; documents in store/.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import Message

from chassis.clock import Clock
from chassis.errors import AlreadyExists, InvalidArgument, NotFound
from chassis.feed_follower import FeedFollower, UpstreamFeed
from chassis.grpc_server import Context, GrpcService, build_grpc_service
from chassis.idempotency import IdempotencyStore
from chassis.mongo import MongoClient, Session, run_in_transaction
from chassis.outbox import EventFeedRpc, EventLog, OutboxFeed
from chassis.paging import decode_page_token, encode_page_token
from chassis.settings import ServiceSettings
from chassis.wire import (
    amount_from_proto,
    next_page,
    page_size_of,
    timestamp_from_proto,
    timestamp_to_proto,
)
from colony.credit.v1 import credit_pb2 as pb
from colony.credit.v1 import credit_pb2_grpc
from services.credit import wire
from services.credit.blacklist import require_listings, require_source
from services.credit.consent import (
    Caller,
    CallerKind,
    ConsentPurpose,
    ScoreAccess,
    authorize_read,
    grant_consent,
    not_allowed,
    require_id,
    require_operator,
    require_owner,
    require_owner_or_service,
    revoke,
)
from services.credit.credit_advice import advise_credit_limit
from services.credit.deposit_waiver import decide_deposit_waiver
from services.credit.features import PersonFeatures, declare
from services.credit.feeds.intake import ActiveModel, Bureau
from services.credit.rpc_metrics import export_credit_metrics
from services.credit.scorecard import Model, for_viewer, newcomer_score, parse_model
from services.credit.store import CreditStore
from services.credit.store.scorecards import StoredModel

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["CreditService"].full_name
DEFAULT_MODEL_PATH = Path(__file__).parent / "models" / "sesame-2025.1.json"
SCORECARD_REFRESH_SECONDS = 10.0
RESCORE_INTERVAL_SECONDS = 5.0
RESCORE_BATCH_MAX = 200
ResponseT = TypeVar("ResponseT", bound=Message)


def _position(token_part: tuple[str, ...] | None) -> tuple[datetime, str] | None:
    return None if token_part is None else (datetime.fromisoformat(token_part[0]), token_part[1])


class CreditServicer(EventFeedRpc, credit_pb2_grpc.CreditServiceServicer):
    feed_response = pb.StreamEventsResponse

    def __init__(
        self,
        client: MongoClient,
        *,
        store: CreditStore,
        bureau: Bureau,
        clock: Clock,
        feed: OutboxFeed,
        active: ActiveModel,
        consumers: Sequence[FeedFollower] = (),
    ) -> None:
        self._client = client
        self._store = store
        self._bureau = bureau
        self._clock = clock
        self._feed = feed
        self._active = active
        self._consumers = tuple(consumers)
        self._idempotency = IdempotencyStore(store.idempotency_records, clock)

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

    async def _authorize_read(
        self, caller: Caller, person_id: str, purpose: ConsentPurpose, method: str
    ) -> None:
        """Refuse a caller who may not read; log the read of a merchant with consent."""
        is_merchant = caller.kind is CallerKind.MERCHANT
        grants = await self._store.consents.grants_of(person_id, caller.id) if is_merchant else []
        now = self._clock.now()
        grant = authorize_read(caller, person_id, purpose, grants, now)
        if grant is not None:
            access = ScoreAccess(
                uuid.uuid4().hex, person_id, caller.id, purpose, grant.grant_id, method, now
            )
            await self._store.consents.log_access(access)

    # Scores.

    async def GetScore(self, request: pb.GetScoreRequest, context: Context) -> pb.GetScoreResponse:
        caller = wire.caller_from_proto(request.caller)
        person_id = require_id(request.person_id, "person_id")
        is_merchant = caller.kind is CallerKind.MERCHANT
        purpose = wire.purpose_from_proto(request.purpose) if is_merchant else ConsentPurpose.SCORE
        await self._authorize_read(caller, person_id, purpose, "GetScore")
        score = await self._bureau.current_score(person_id)
        shown = for_viewer(score, owner=caller.kind is CallerKind.OWNER, merchant=is_merchant)
        return pb.GetScoreResponse(score=wire.score_to_proto(shown))

    async def GetScoreHistory(
        self, request: pb.GetScoreHistoryRequest, context: Context
    ) -> pb.GetScoreHistoryResponse:
        caller = wire.caller_from_proto(request.caller)
        person_id = require_id(request.person_id, "person_id")
        require_owner_or_service(caller, person_id)
        page_size = page_size_of(request.page)
        query = f"score-history:{person_id}"
        after = _position(decode_page_token(request.page.page_token, query, 2))
        rows = await self._store.history.list(person_id, after, page_size)
        last_at, last_id = (rows[-1][1].computed_at.isoformat(), rows[-1][0]) if rows else ("", "")
        return pb.GetScoreHistoryResponse(
            scores=[
                wire.score_to_proto(for_viewer(s, owner=False, merchant=False)) for _, s in rows
            ],
            page=next_page(
                len(rows), page_size, lambda: encode_page_token(query, last_at, last_id)
            ),
        )

    async def DeclareData(
        self, request: pb.DeclareDataRequest, context: Context
    ) -> pb.DeclareDataResponse:
        caller = wire.caller_from_proto(request.caller)
        person_id = require_id(request.person_id, "person_id")
        require_owner(caller, person_id)
        declaration = wire.declaration_from_proto(request.declaration)

        async def declare_in(session: Session) -> pb.DeclareDataResponse:
            features = await self._store.persons.load(person_id, session)
            stamped = dataclasses.replace(declaration, declared_at=self._clock.now())
            declared = declare(features or PersonFeatures(person_id), stamped)
            await self._store.persons.save(session, declared)
            (score,) = await self._bureau.rescore(session, [declared], "declaration")
            return pb.DeclareDataResponse(
                declaration=wire.declaration_to_proto(stamped), score=wire.score_to_proto(score)
            )

        return await self._idempotent("declare-data", request, pb.DeclareDataResponse, declare_in)

    # Consent.

    async def GrantConsent(
        self, request: pb.GrantConsentRequest, context: Context
    ) -> pb.GrantConsentResponse:
        caller = wire.caller_from_proto(request.caller)
        person_id = require_id(request.person_id, "person_id")
        require_owner(caller, person_id)
        purpose = wire.purpose_from_proto(request.purpose)
        expires_at = timestamp_from_proto(request.expires_at, "expires_at")

        async def grant_in(session: Session) -> pb.GrantConsentResponse:
            now = self._clock.now()
            grant = grant_consent(
                grant_id=uuid.uuid4().hex,
                person_id=person_id,
                merchant_id=request.merchant_id,
                purpose=purpose,
                expires_at=expires_at,
                now=now,
            )
            await self._store.consents.insert(session, grant)
            return pb.GrantConsentResponse(grant=wire.grant_to_proto(grant, grant.live(now)))

        return await self._idempotent("grant-consent", request, pb.GrantConsentResponse, grant_in)

    async def RevokeConsent(
        self, request: pb.RevokeConsentRequest, context: Context
    ) -> pb.RevokeConsentResponse:
        caller = wire.caller_from_proto(request.caller)
        person_id = require_id(request.person_id, "person_id")
        require_owner(caller, person_id)
        grant_id = require_id(request.grant_id, "grant_id")

        async def revoke_in(session: Session) -> pb.RevokeConsentResponse:
            grant = await self._store.consents.get(grant_id, session)
            if grant is None or grant.person_id != person_id:
                raise NotFound(f"consent grant {grant_id} does not exist")
            revoked = revoke(grant, self._clock.now())
            await self._store.consents.save(session, revoked)
            return pb.RevokeConsentResponse(grant=wire.grant_to_proto(revoked, live=False))

        return await self._idempotent(
            "revoke-consent", request, pb.RevokeConsentResponse, revoke_in
        )

    async def ListConsents(
        self, request: pb.ListConsentsRequest, context: Context
    ) -> pb.ListConsentsResponse:
        caller = wire.caller_from_proto(request.caller)
        person_id = require_id(request.person_id, "person_id")
        require_owner(caller, person_id)
        page_size = page_size_of(request.page)
        query = f"consents:{person_id}"
        after = _position(decode_page_token(request.page.page_token, query, 2))
        grants = await self._store.consents.list_grants(person_id, after, page_size)
        now = self._clock.now()
        last = grants[-1] if grants else None
        return pb.ListConsentsResponse(
            grants=[wire.grant_to_proto(g, g.live(now)) for g in grants],
            page=next_page(
                len(grants),
                page_size,
                lambda: (
                    encode_page_token(query, last.granted_at.isoformat(), last.grant_id)
                    if last
                    else ""
                ),
            ),
        )

    async def ListScoreAccess(
        self, request: pb.ListScoreAccessRequest, context: Context
    ) -> pb.ListScoreAccessResponse:
        caller = wire.caller_from_proto(request.caller)
        person_id = require_id(request.person_id, "person_id")
        require_owner(caller, person_id)
        page_size = page_size_of(request.page)
        query = f"score-access:{person_id}"
        after = _position(decode_page_token(request.page.page_token, query, 2))
        accesses = await self._store.consents.list_accesses(person_id, after, page_size)
        last = accesses[-1] if accesses else None
        return pb.ListScoreAccessResponse(
            accesses=[wire.access_to_proto(a) for a in accesses],
            page=next_page(
                len(accesses),
                page_size,
                lambda: (
                    encode_page_token(query, last.accessed_at.isoformat(), last.access_id)
                    if last
                    else ""
                ),
            ),
        )

    # Uses.

    async def CheckDepositWaiver(
        self, request: pb.CheckDepositWaiverRequest, context: Context
    ) -> pb.CheckDepositWaiverResponse:
        caller = wire.caller_from_proto(request.caller)
        person_id = require_id(request.person_id, "person_id")
        merchant_id = require_id(request.merchant_id, "merchant_id")
        if caller.kind is CallerKind.MERCHANT and caller.id != merchant_id:
            raise not_allowed(caller, "ask for another merchant")
        deposit_fen = amount_from_proto(request.deposit, "deposit")
        await self._authorize_read(
            caller, person_id, ConsentPurpose.DEPOSIT_WAIVER, "CheckDepositWaiver"
        )
        score = await self._bureau.current_score(person_id)
        decision = decide_deposit_waiver(score.score, score.blacklisted, deposit_fen)
        return wire.waiver_to_proto(decision, score)

    async def GetCreditLimitAdvice(
        self, request: pb.GetCreditLimitAdviceRequest, context: Context
    ) -> pb.GetCreditLimitAdviceResponse:
        caller = wire.caller_from_proto(request.caller)
        person_id = require_id(request.person_id, "person_id")
        require_owner_or_service(caller, person_id)
        score = await self._bureau.current_score(person_id)
        advice = advise_credit_limit(score.score, score.blacklisted)
        return pb.GetCreditLimitAdviceResponse(advice=wire.advice_to_proto(advice, score))

    # The blacklist.

    async def ImportBlacklist(
        self, request: pb.ImportBlacklistRequest, context: Context
    ) -> pb.ImportBlacklistResponse:
        require_operator(wire.caller_from_proto(request.caller))
        source = require_source(request.source)
        listings = require_listings(wire.listings_from_proto(list(request.listings)))

        async def import_in(session: Session) -> pb.ImportBlacklistResponse:
            entered, already, matched = await self._bureau.import_listings(
                session, source, listings
            )
            return pb.ImportBlacklistResponse(
                entered=entered, already_listed=already, matched_person_ids=matched
            )

        return await self._idempotent(
            "import-blacklist", request, pb.ImportBlacklistResponse, import_in
        )

    async def RemoveBlacklistEntries(
        self, request: pb.RemoveBlacklistEntriesRequest, context: Context
    ) -> pb.RemoveBlacklistEntriesResponse:
        require_operator(wire.caller_from_proto(request.caller))
        source = require_source(request.source)
        reason = wire.removal_reason_from_proto(request.reason)
        references = list(dict.fromkeys(request.case_references))
        if not 1 <= len(references) <= 1_000:
            raise InvalidArgument("between 1 and 1,000 case_references per call")

        async def remove_in(session: Session) -> pb.RemoveBlacklistEntriesResponse:
            removed, not_listed = await self._bureau.remove_entries(
                session, source, references, reason, request.note
            )
            return pb.RemoveBlacklistEntriesResponse(removed=removed, not_listed=not_listed)

        return await self._idempotent(
            "remove-blacklist", request, pb.RemoveBlacklistEntriesResponse, remove_in
        )

    async def GetBlacklistStatus(
        self, request: pb.GetBlacklistStatusRequest, context: Context
    ) -> pb.GetBlacklistStatusResponse:
        caller = wire.caller_from_proto(request.caller)
        if caller.kind is not CallerKind.OPERATOR:
            require_owner_or_service(caller, require_id(request.person_id, "person_id"))
        person_id, resident_id_hash = request.person_id, request.resident_id_hash
        if person_id and not resident_id_hash:
            person = await self._store.persons.load(person_id)
            resident_id_hash = person.resident_id_hash if person else ""
        if not person_id and not resident_id_hash:
            raise InvalidArgument("person_id or resident_id_hash is required")
        entries = await self._store.blacklist.entries_naming(person_id, resident_id_hash)
        changes = await self._store.blacklist.changes_naming(person_id, resident_id_hash)
        return pb.GetBlacklistStatusResponse(
            blacklisted=any(e.listed for e in entries),
            entries=[wire.entry_to_proto(e) for e in entries],
            changes=[wire.change_to_proto(c) for c in changes],
        )

    # The scorecard model.

    async def LoadScorecard(
        self, request: pb.LoadScorecardRequest, context: Context
    ) -> pb.LoadScorecardResponse:
        require_operator(wire.caller_from_proto(request.caller))
        model = parse_model(request.model_json)

        async def load_in(session: Session) -> pb.LoadScorecardResponse:
            stored = await self._store.scorecards.get(model.version, session)
            if stored is not None and stored.model_json != request.model_json:
                raise AlreadyExists(
                    f"scorecard version {model.version} exists with other content",
                    reason="SCORECARD_VERSION_EXISTS",
                )
            loaded = StoredModel(model.version, request.model_json, self._clock.now())
            await self._store.scorecards.activate(session, loaded)
            return pb.LoadScorecardResponse(
                model_version=model.version, newcomer_score=newcomer_score(model)
            )

        response = await self._idempotent(
            "load-scorecard", request, pb.LoadScorecardResponse, load_in
        )
        self._active.model = model  # people are rescored by the periodic catch-up
        return response

    async def GetScorecard(
        self, request: pb.GetScorecardRequest, context: Context
    ) -> pb.GetScorecardResponse:
        stored = await self._store.scorecards.active()
        if stored is None:
            raise NotFound("no scorecard model is active")
        return pb.GetScorecardResponse(
            model_version=stored.version,
            model_json=stored.model_json,
            loaded_at=timestamp_to_proto(stored.loaded_at),
        )

    async def GetFeedStatus(
        self, request: pb.GetFeedStatusRequest, context: Context
    ) -> pb.GetFeedStatusResponse:
        consumers = {c.feed.name: c for c in self._consumers}
        positions = await self._bureau.feed_positions(consumers)
        return pb.GetFeedStatusResponse(
            feeds=[wire.feed_status_to_proto(p, consumers[p.feed].lag) for p in positions]
        )

    # Periodic jobs.

    async def refresh_scorecard(self) -> int:
        """Follow a model another replica activated (0 or 1 change)."""
        stored = await self._store.scorecards.active()
        if stored is None or stored.version == self._active.model.version:
            return 0
        self._active.model = parse_model(stored.model_json)
        return 1

    async def rescore_catch_up(self) -> int:
        """Rescore people scored by another model version (a bounded batch per round)."""
        stale = await self._store.persons.scored_by_another_version(
            self._active.model.version, RESCORE_BATCH_MAX
        )
        return await self._bureau.rescore_ids(stale, "model_loaded")


def _read_text(path: Path) -> str:
    """A small file read once at start-up (the shipped model)."""
    return path.read_text(encoding="utf-8")


async def load_active_model(
    client: MongoClient, store: CreditStore, clock: Clock, default_path: Path
) -> Model:
    """The active model from the database, or the shipped default activated on first start."""
    stored = await store.scorecards.active()
    if stored is not None:
        return parse_model(stored.model_json)
    model_json = _read_text(default_path)
    model = parse_model(model_json)

    async def activate(session: Session) -> None:
        if await store.scorecards.active(session) is None:
            await store.scorecards.activate(
                session, StoredModel(model.version, model_json, clock.now())
            )

    await run_in_transaction(client, activate)
    return model


async def build_credit_service(
    settings: ServiceSettings,
    client: MongoClient,
    clock: Clock,
    upstream_feeds: Sequence[UpstreamFeed] = (),
) -> GrpcService:
    """Prepare the credit database and build its gRPC server with one consumer per feed."""
    store = CreditStore(client[settings.database_name])
    await store.ensure_indexes()
    feed = OutboxFeed(client, store.database)
    await feed.ensure_indexes()
    active = ActiveModel(await load_active_model(client, store, clock, DEFAULT_MODEL_PATH))
    bureau = Bureau(client, store, EventLog(feed.outbox, clock), clock, active)
    consumers = [FeedFollower(upstream, bureau, clock) for upstream in upstream_feeds]
    servicer = CreditServicer(
        client,
        store=store,
        bureau=bureau,
        clock=clock,
        feed=feed,
        active=active,
        consumers=consumers,
    )
    service = build_grpc_service(
        settings,
        register=[
            lambda server: credit_pb2_grpc.add_CreditServiceServicer_to_server(servicer, server)
        ],
        service_names=[SERVICE_NAME],
    )
    service.add_background("outbox-sequencer", feed.run_sequencer)
    for consumer in consumers:
        service.add_background(f"feed-{consumer.feed.name}", consumer.run)
    service.add_periodic("scorecard-refresh", SCORECARD_REFRESH_SECONDS, servicer.refresh_scorecard)
    service.add_periodic("rescore-catch-up", RESCORE_INTERVAL_SECONDS, servicer.rescore_catch_up)
    export_credit_metrics(service, consumers)
    return service
