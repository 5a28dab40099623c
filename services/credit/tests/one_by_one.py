"""The bureau as it rescored before bulk rescoring: one person after another (the reference).

Each person's blacklist entries are read on their own; in the feed intake each person's
features are saved, their counterparts' standing counted, their stored score read, the
new one written, and a changed one appended to history and the outbox, three to five
round trips a person. test_bulk_rescore.py requires the bulk path to end exactly as this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from chassis.mongo import Session
from services.credit.blacklist import is_blacklisted
from services.credit.features import PersonFeatures
from services.credit.feeds.intake import Bureau
from services.credit.scorecard import Score
from services.credit.wire import score_changed_to_proto


class OneByOneBureau(Bureau):
    async def _refresh_blacklisted(
        self, session: Session, people: dict[str, PersonFeatures]
    ) -> None:
        for person_id, features in list(people.items()):
            entries = await self._store.blacklist.entries_naming(
                person_id, features.resident_id_hash, session
            )
            listed = is_blacklisted(entries)
            if listed != features.blacklisted:
                people[person_id] = dataclasses.replace(features, blacklisted=listed)
                await self._store.persons.save(session, people[person_id])

    async def _rescore(
        self,
        session: Session,
        people: Sequence[tuple[PersonFeatures, str]],
        *,
        saving: bool,
    ) -> list[Score]:
        scores = []
        for features, trigger in people:
            if saving:
                await self._store.persons.save(session, features)
            score = await self.compute(features, trigger, session)
            before = await self._store.persons.current_score(features.person_id, session)
            await self._store.persons.set_score(session, score)
            changed = (
                before is None
                or before.score != score.score
                or before.model_version != score.model_version
                or before.blacklisted != score.blacklisted
            )
            if changed:
                await self._store.history.append(session, score)
                previous = 0 if before is None else before.score
                await self._events.append(
                    session,
                    "credit.score.changed",
                    score.person_id,
                    score_changed_to_proto(score, previous),
                )
            scores.append(score)
        return scores
