"""Rescoring many people at once: read once per collection, score in memory, write in bulk.

The feed intake, a blacklist change, a declaration and the catch-up after a new model all
rescore a set of people. Their current scores and their counterparts' standing are read
with one query each, every score is computed in memory (the scorecard is pure), and the
scores, history lines and score-change events are written with one bulk operation each:
a handful of round trips for the whole set instead of three to five a person.

The outcome is the one of rescoring the people one after another in the given order
(services/credit/tests/one_by_one.py keeps that path; the property test in
test_bulk_rescore.py compares the two): the feed intake saved each person's features right
before scoring them, so a person scored later saw the new standing (blacklisted, 90+ days
overdue) of the batch's people scored before, and the stored one of those after.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chassis.telemetry import trace_context_now
from services.credit.features import PersonFeatures, feature_vector
from services.credit.scorecard import Model, Score, explain
from services.credit.wire import score_changed_to_proto

SCORE_CHANGED = "credit.score.changed"


@dataclass(frozen=True, slots=True)
class Rescored:
    """A person's new score and the one stored before (None for a first score)."""

    score: Score
    before: Score | None

    @property
    def changed(self) -> bool:
        before = self.before
        return (
            before is None
            or before.score != self.score.score
            or before.model_version != self.score.model_version
            or before.blacklisted != self.score.blacklisted
        )


def rescore_in_turn(
    model: Model,
    people: Sequence[tuple[PersonFeatures, str]],
    stored_scores: Mapping[str, Score],
    stored_not_in_good_standing: Set[str],
    now: datetime,
    *,
    saved_in_turn: bool,
) -> list[Rescored]:
    """Each (features, trigger)'s new score, in order, as if scored one after another.

    stored_not_in_good_standing: those of the people's counterparts the database holds as
    blacklisted or 90+ days overdue. With saved_in_turn, each person's features count as
    saved right before their scoring (the feed intake), so their standing changes for the
    people after them.
    """
    not_good = set(stored_not_in_good_standing)
    rescored = []
    for features, trigger in people:
        if saved_in_turn:
            if features.in_good_standing:
                not_good.discard(features.person_id)
            else:
                not_good.add(features.person_id)
        good = sum(1 for c in set(features.counterparts) if c not in not_good)
        score = explain(
            model,
            features.person_id,
            feature_vector(features, good, now),
            computed_at=now,
            trigger=trigger,
            newcomer=features.opened_at is None,
        )
        rescored.append(Rescored(score, stored_scores.get(features.person_id)))
    return rescored


def score_event_documents(changed: Sequence[Rescored], occurred_at: datetime) -> list[Any]:
    """The outbox documents of these score changes, in order (as chassis.outbox.append_event
    writes one, with the current span's trace context)."""
    trace_context = trace_context_now()
    documents = []
    for rescored in changed:
        previous = 0 if rescored.before is None else rescored.before.score
        payload = score_changed_to_proto(rescored.score, previous)
        document: dict[str, Any] = {
            "_id": uuid.uuid4().hex,
            "type": SCORE_CHANGED,
            "aggregate_id": rescored.score.person_id,
            "occurred_at": occurred_at,
            "payload_type": payload.DESCRIPTOR.full_name,
            "payload": payload.SerializeToString(deterministic=True),
        }
        if trace_context:
            document["trace_context"] = dict(trace_context)
        documents.append(document)
    return documents
