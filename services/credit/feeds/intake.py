"""The credit bureau's use cases that span its aggregates: facts in, people rescored, events out.

The feed intake applies a batch of upstream events to the people they name, moves the
blacklist where a loan event says so, rescores everyone touched and saves the feed position,
all in one transaction (exactly once in effect, however often the feed redelivers). The
servicer uses the same rescoring after a declaration, a blacklist change or a new model.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from chassis.clock import Clock
from chassis.mongo import MongoClient, Session, run_in_transaction
from chassis.outbox import EventLog
from colony.common.v1 import events_pb2
from services.credit.blacklist import (
    LOAN_SOURCE,
    BlacklistChange,
    BlacklistEntry,
    Change,
    ChangeReason,
    Listing,
    change_of,
    enter,
    remove,
)
from services.credit.features import (
    AccountOpened,
    Fact,
    OverdueEntered90,
    OverdueSettled,
    PersonFeatures,
    apply_fact,
    feature_vector,
)
from services.credit.feed_progress import FeedPosition
from services.credit.feeds.decoders import DecodedEvent, decode_or_skip
from services.credit.feeds.rescoring import rescore_in_turn, score_event_documents
from services.credit.scorecard import Model, Score, explain
from services.credit.store import CreditStore
from services.credit.wire import change_to_proto

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    applied: int
    skipped_unknown: int
    rescored: int
    position: int


@dataclass
class ActiveModel:
    """The scorecard in force in this process (replaced when an operator loads a version)."""

    model: Model


class Bureau:
    def __init__(
        self,
        client: MongoClient,
        store: CreditStore,
        events: EventLog,
        clock: Clock,
        active: ActiveModel,
    ) -> None:
        self._client = client
        self._store = store
        self._events = events
        self._clock = clock
        self._active = active

    @property
    def model(self) -> Model:
        return self._active.model

    # Scores.

    async def compute(
        self, features: PersonFeatures, trigger: str, session: Session | None = None
    ) -> Score:
        """The person's score now under the active model (reads counterparts' standing)."""
        bad = await self._store.persons.counterparts_not_in_good_standing(
            features.counterparts, session
        )
        vector = feature_vector(features, len(features.counterparts) - bad, self._clock.now())
        return explain(
            self.model,
            features.person_id,
            vector,
            computed_at=self._clock.now(),
            trigger=trigger,
            newcomer=features.opened_at is None,
        )

    async def rescore(
        self, session: Session, people: Iterable[PersonFeatures], trigger: str
    ) -> list[Score]:
        """Recompute and store each person's score; a changed one goes to history and the feed."""
        return await self._rescore(session, [(p, trigger) for p in people], saving=False)

    async def _rescore(
        self,
        session: Session,
        people: Sequence[tuple[PersonFeatures, str]],
        *,
        saving: bool,
    ) -> list[Score]:
        """Rescore (features, trigger) in bulk (feeds/rescoring.py); with saving, the features
        are saved too, each as if right before their scoring."""
        if not people:
            return []
        persons = self._store.persons
        stored = await persons.scores_of((f.person_id for f, _ in people), session)
        not_good = await persons.not_in_good_standing(
            (c for f, _ in people for c in f.counterparts), session
        )
        now = self._clock.now()
        rescored = rescore_in_turn(self.model, people, stored, not_good, now, saved_in_turn=saving)
        scores = [r.score for r in rescored]
        if saving:
            await persons.save_many(
                session, [f for f, _ in people], {s.person_id: s for s in scores}
            )
        else:
            await persons.set_scores(session, scores)
        changed = [r for r in rescored if r.changed]
        if changed:
            await self._store.history.append_many(session, [r.score for r in changed])
            await self._events.outbox.insert_many(
                score_event_documents(changed, now), ordered=True, session=session
            )
        return scores

    async def current_score(self, person_id: str) -> Score:
        """The stored score if the active model made it, else computed now (not stored)."""
        stored = await self._store.persons.current_score(person_id)
        if stored is not None and stored.model_version == self.model.version:
            return stored
        features = await self._store.persons.load(person_id) or PersonFeatures(person_id)
        return await self.compute(features, "read")

    async def rescore_ids(self, person_ids: Sequence[str], trigger: str) -> int:
        """Rescore these people in one transaction (the periodic catch-up after a new model)."""

        async def rescore_in(session: Session) -> int:
            people = await self._store.persons.load_many(person_ids, session)
            await self._refresh_blacklisted(session, people)
            return len(await self.rescore(session, people.values(), trigger))

        return await run_in_transaction(self._client, rescore_in) if person_ids else 0

    # The blacklist.

    async def _publish(self, session: Session, change: BlacklistChange) -> None:
        await self._store.blacklist.record_change(session, change)
        await self._events.append(
            session,
            f"credit.blacklist.{change.change.value}",
            change.person_id or change.resident_id_hash,
            change_to_proto(change),
        )

    async def _refresh_blacklisted(
        self, session: Session, people: dict[str, PersonFeatures]
    ) -> None:
        """Set each person's blacklisted flag from the listed entries naming them (in place;
        one read for all, one bulk write of those whose flag moved)."""
        if not people:
            return
        listed = await self._store.blacklist.listed_naming_any(
            list(people), [f.resident_id_hash for f in people.values()], session
        )
        named_people = {e.person_id for e in listed if e.person_id}
        named_hashes = {e.resident_id_hash for e in listed if e.resident_id_hash}
        moved = []
        for person_id, features in list(people.items()):
            blacklisted = person_id in named_people or features.resident_id_hash in named_hashes
            if blacklisted != features.blacklisted:
                people[person_id] = dataclasses.replace(features, blacklisted=blacklisted)
                moved.append(people[person_id])
        await self._store.persons.save_many(session, moved)

    async def import_listings(
        self, session: Session, source: str, listings: Sequence[Listing]
    ) -> tuple[int, int, list[str]]:
        """Enter new listings (entered, already listed, matched person ids) and rescore."""
        now = self._clock.now()
        entered = 0
        matched: dict[str, PersonFeatures] = {}
        for listing in listings:
            existing = await self._store.blacklist.get(source, listing.case_reference, session)
            if existing is not None and existing.listed:
                continue
            people = await self._store.persons.find_by_resident_id_hash(
                listing.resident_id_hash, session
            )
            person_id = people[0].person_id if people else ""
            entry, change = enter(source, listing, person_id, now)
            await self._store.blacklist.save(session, entry)
            await self._publish(session, change)
            entered += 1
            matched.update({p.person_id: p for p in people})
        await self._refresh_blacklisted(session, matched)
        await self.rescore(session, matched.values(), "blacklist")
        return entered, len(listings) - entered, sorted(matched)

    async def remove_entries(
        self,
        session: Session,
        source: str,
        case_references: Sequence[str],
        reason: ChangeReason,
        note: str,
    ) -> tuple[int, list[str]]:
        """Remove listed entries (removed count, references not listed) and rescore."""
        removed_count = 0
        not_listed: list[str] = []
        touched: dict[str, PersonFeatures] = {}
        for case_reference in case_references:
            entry = await self._store.blacklist.get(source, case_reference, session)
            if entry is None or not entry.listed:
                not_listed.append(case_reference)
                continue
            removed, change = remove(entry, reason, note, self._clock.now())
            await self._store.blacklist.save(session, removed)
            await self._publish(session, change)
            removed_count += 1
            touched.update(await self._people_named(session, removed))
        await self._refresh_blacklisted(session, touched)
        await self.rescore(session, touched.values(), "blacklist")
        return removed_count, not_listed

    async def _people_named(
        self, session: Session, entry: BlacklistEntry
    ) -> dict[str, PersonFeatures]:
        people = {}
        if entry.person_id:
            people.update(await self._store.persons.load_many([entry.person_id], session))
        if entry.resident_id_hash:
            found = await self._store.persons.find_by_resident_id_hash(
                entry.resident_id_hash, session
            )
            people.update({p.person_id: p for p in found})
        return people

    async def _follow_loan_overdue(self, session: Session, fact: Fact) -> None:
        """A loan 90+ days overdue enters its borrower; its settlement removes the entry."""
        now = self._clock.now()
        if isinstance(fact, OverdueEntered90):
            existing = await self._store.blacklist.get(LOAN_SOURCE, fact.loan_id, session)
            if existing is None or not existing.listed:
                entry, change = enter(LOAN_SOURCE, Listing("", fact.loan_id), fact.person_id, now)
                await self._store.blacklist.save(session, entry)
                await self._publish(session, change)
        elif isinstance(fact, OverdueSettled):
            listed = await self._store.blacklist.get(LOAN_SOURCE, fact.loan_id, session)
            if listed is not None and listed.listed:
                removed, change = remove(listed, ChangeReason.LOAN_SETTLED, "", now)
                await self._store.blacklist.save(session, removed)
                await self._publish(session, change)

    async def _match_new_account(self, session: Session, features: PersonFeatures) -> None:
        """A new account whose resident-id hash is already listed: name the person on it."""
        if not features.resident_id_hash:
            return
        entries = await self._store.blacklist.entries_naming("", features.resident_id_hash, session)
        for entry in entries:
            if entry.listed and not entry.person_id:
                named = dataclasses.replace(entry, person_id=features.person_id)
                await self._store.blacklist.save(session, named)
                change = change_of(
                    named, Change.ENTERED, ChangeReason.ACCOUNT_OPENED, "", self._clock.now()
                )
                await self._publish(session, change)

    # The feed intake.

    async def apply_feed_batch(self, feed: str, events: Sequence[DecodedEvent]) -> BatchOutcome:
        """Apply upstream events past the saved position, with the new position, atomically."""

        async def apply(session: Session) -> BatchOutcome:
            before = await self._store.feeds.load(feed, session)
            fresh = [e for e in events if e.position > before.position]
            if not fresh:
                return BatchOutcome(0, 0, 0, before.position)
            touched, triggers = await self._apply_facts(session, fresh)
            await self._refresh_blacklisted(session, touched)
            people = [(features, triggers[p]) for p, features in touched.items()]
            await self._rescore(session, people, saving=True)
            unknown = sum(1 for e in fresh if e.facts is None)
            after = FeedPosition(
                feed=feed,
                position=fresh[-1].position,
                events_applied=before.events_applied + len(fresh) - unknown,
                events_skipped_unknown=before.events_skipped_unknown + unknown,
                last_applied_at=self._clock.now(),
                last_event_at=fresh[-1].occurred_at,
            )
            await self._store.feeds.save(session, before, after)
            return BatchOutcome(len(fresh) - unknown, unknown, len(touched), after.position)

        return await run_in_transaction(self._client, apply)

    async def _apply_facts(
        self, session: Session, events: Sequence[DecodedEvent]
    ) -> tuple[dict[str, PersonFeatures], dict[str, str]]:
        """The people the events changed (features after), and the last event type for each."""
        facts = [(e.event_type, f) for e in events for f in (e.facts or ())]
        people = await self._store.persons.load_many((f.person_id for _, f in facts), session)
        touched: dict[str, PersonFeatures] = {}
        triggers: dict[str, str] = {}
        for event_type, fact in facts:
            if isinstance(fact, AccountOpened) and fact.person_id not in people:
                people[fact.person_id] = PersonFeatures(fact.person_id)
            if fact.person_id not in people:
                continue  # a merchant or platform account: not a person the bureau scores
            people[fact.person_id] = apply_fact(people[fact.person_id], fact)
            touched[fact.person_id] = people[fact.person_id]
            triggers[fact.person_id] = event_type
            if isinstance(fact, AccountOpened):
                await self._match_new_account(session, people[fact.person_id])
            await self._follow_loan_overdue(session, fact)
        return touched, triggers

    async def feed_positions(self, feeds: Iterable[str]) -> list[FeedPosition]:
        return [await self._store.feeds.load(feed) for feed in feeds]

    # What chassis.feed_follower.FeedFollower asks of the bureau (a FeedConsumer).

    async def saved_position(self, feed: str) -> int:
        return (await self._store.feeds.load(feed)).position

    async def apply_batch(self, feed: str, events: Sequence[events_pb2.Event]) -> None:
        """Decode a batch of the feed and apply it with its position (one transaction)."""
        outcome = await self.apply_feed_batch(feed, [decode_or_skip(feed, e) for e in events])
        if outcome.skipped_unknown:
            log.info("feed %s: skipped %d events of unknown types", feed, outcome.skipped_unknown)

    def now(self) -> datetime:
        return self._clock.now()
