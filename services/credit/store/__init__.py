"""The credit service's storage: one module per aggregate, over the service's own database.

persons (features and current score), scores (history), consents (grants and the access log),
blacklist (entries and changes), feeds (upstream positions), scorecards (model versions).
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from chassis.mongo import Document
from services.credit.store.blacklist import BlacklistStore
from services.credit.store.consents import ConsentStore
from services.credit.store.feeds import FeedPositionStore
from services.credit.store.persons import PersonStore
from services.credit.store.scorecards import ScorecardStore
from services.credit.store.scores import ScoreHistoryStore


class CreditStore:
    """The aggregates' stores over one database."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.database = database
        self.persons = PersonStore(database["persons"])
        self.history = ScoreHistoryStore(database["score_history"])
        self.consents = ConsentStore(database["consents"], database["score_access"])
        self.blacklist = BlacklistStore(database["blacklist"], database["blacklist_changes"])
        self.feeds = FeedPositionStore(database["feed_positions"])
        self.scorecards = ScorecardStore(database["scorecards"])
        self.idempotency_records = database["idempotency"]

    async def ensure_indexes(self) -> None:
        await self.persons.ensure_indexes()
        await self.history.ensure_indexes()
        await self.consents.ensure_indexes()
        await self.blacklist.ensure_indexes()
