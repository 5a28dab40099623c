"""Property: a feed batch rescored in bulk ends exactly as rescoring one person after another.

Two bureaus on their own databases, the same clock and model: one is the intake today
(bulk reads and writes, feeds/rescoring.py), the other the path before it (one_by_one.py:
each person saved, scored and written in turn). Random feed events (hypothesis): accounts
opened (one whose resident-id hash a court already listed), transfers between the people
and to a merchant (counterparts), top-ups, trades, Yu'e Bao moves, repayments, loans 90
days overdue and settled (the blacklist moves, and with it the standing of everyone who
paid that person), unknown types; the same people several times in a batch. They are
delivered in batches that overlap (a redelivery after a crash), with blacklist imports,
removals and the model catch-up in between. After every step both databases must hold the
same people, scores, history, score-change and blacklist events in the same order,
blacklist entries and feed position.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pymongo import ASCENDING, AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from chassis.clock import ManualClock
from chassis.mongo import MongoClient, Session, run_in_transaction
from chassis.outbox import EventLog
from services.credit.blacklist import ChangeReason, Listing
from services.credit.features import (
    AccountOpened,
    Asset,
    AssetMoved,
    Fact,
    OverdueEntered90,
    OverdueSettled,
    PostingEntry,
    PostingRecorded,
    Repayment,
    TradeFinished,
    facts_of_posting,
)
from services.credit.feeds.decoders import DecodedEvent
from services.credit.feeds.intake import ActiveModel, Bureau
from services.credit.scorecard import parse_model
from services.credit.server import DEFAULT_MODEL_PATH
from services.credit.store import CreditStore
from services.credit.tests.one_by_one import OneByOneBureau

PEOPLE = tuple(f"20889900000010{n:02d}" for n in range(6))
# Persons 4 and 5 are two accounts of one resident id, which a court listed before either
# opened: the entry names the first to open; the other matches it by the hash alone.
HASHES = (*(f"{n:064x}" for n in range(1, 6)), f"{5:064x}")
LISTED_HASH = 4
MERCHANT = "2188000000000999"
PLATFORM = "platform:bank_clearing"
COURT = "court:beijing-2"
START = datetime(2026, 6, 15, 4, tzinfo=UTC)
AT = START - timedelta(days=3)
FEED = "payment"

Step = tuple[str, tuple[Fact, ...] | None]


def _posting(kind: str, payer: str, payee: str, fen: int) -> Step:
    entries = (PostingEntry(payer, -fen), PostingEntry(payee, fen))
    return (f"payment.{kind}", facts_of_posting(PostingRecorded(kind, entries, AT)))


person = st.integers(0, len(PEOPLE) - 1)
fen = st.integers(1, 5_000_000)
steps: st.SearchStrategy[Step] = st.one_of(
    st.builds(
        lambda i, kyc: ("payment.account_opened", (AccountOpened(PEOPLE[i], kyc, AT, HASHES[i]),)),
        person,
        st.integers(1, 3),
    ),
    st.builds(
        lambda a, b, f: _posting("transfer", PEOPLE[a], PEOPLE[b] if b != a else MERCHANT, f),
        person,
        person,
        fen,
    ),
    st.builds(lambda a, f: _posting("transfer", PEOPLE[a], MERCHANT, f), person, fen),
    st.builds(lambda a, f: _posting("top_up", PLATFORM, PEOPLE[a], f), person, fen),
    st.builds(
        lambda a, r: ("payment.trade", (TradeFinished(PEOPLE[a], MERCHANT, r),)),
        person,
        st.booleans(),
    ),
    st.builds(
        lambda a, d: ("wealth.moved", (AssetMoved(PEOPLE[a], Asset.YUEBAO, d),)),
        person,
        st.integers(-1_000_000, 10_000_000),
    ),
    st.builds(
        lambda a, k, on_time: ("loan.repaid", (Repayment(PEOPLE[a], f"L{a}-{k}", on_time, AT),)),
        person,
        st.integers(0, 1),
        st.booleans(),
    ),
    st.builds(
        lambda a, k: ("loan.overdue_90", (OverdueEntered90(PEOPLE[a], f"L{a}-{k}", AT),)),
        person,
        st.integers(0, 1),
    ),
    st.builds(
        lambda a, k: ("loan.settled", (OverdueSettled(PEOPLE[a], f"L{a}-{k}", AT),)),
        person,
        st.integers(0, 1),
    ),
    st.just(("payment.brand_new", None)),
)
# Between deliveries: a court lists or unlists a resident id, or the model catch-up runs.
operations = st.one_of(
    st.tuples(st.just("deliver"), st.integers(1, 12), st.integers(0, 4)),
    st.tuples(st.just("list"), person, st.just(0)),
    st.tuples(st.just("unlist"), person, st.just(0)),
    st.tuples(st.just("rescore_ids"), st.just(0), st.just(0)),
)


def _events(drawn: list[Step]) -> list[DecodedEvent]:
    """Everyone but the last two opens first; then the drawn events, positions 1, 2, ..."""
    opening: list[Step] = [
        ("payment.account_opened", (AccountOpened(p, 2, AT, h),))
        for p, h in zip(PEOPLE[:4], HASHES[:4], strict=True)
    ]
    return [
        DecodedEvent(position, event_type, AT, facts)
        for position, (event_type, facts) in enumerate([*opening, *drawn], start=1)
    ]


async def _bureau(
    kind: type[Bureau], client: MongoClient, name: str, clock: ManualClock
) -> tuple[Bureau, AsyncDatabase[Any]]:
    await client.drop_database(name)
    store = CreditStore(client[name])
    await store.ensure_indexes()
    model = parse_model(DEFAULT_MODEL_PATH.read_text(encoding="utf-8"))
    events = EventLog(store.database["outbox"], clock)
    return kind(client, store, events, clock, ActiveModel(model)), store.database


async def _stored(database: AsyncDatabase[Any]) -> dict[str, list[Any]]:
    """Every document of the bureau's database; appended ones in insertion order, ids
    (random) left out."""

    async def in_order(name: str) -> list[Any]:
        cursor = database[name].find({}, sort=[("$natural", ASCENDING)])
        return [{k: v for k, v in d.items() if k != "_id"} async for d in cursor]

    async def by_id(name: str) -> list[Any]:
        return [d async for d in database[name].find({}, sort=[("_id", ASCENDING)])]

    return {
        "persons": await by_id("persons"),
        "blacklist": await by_id("blacklist"),
        "feed_positions": await by_id("feed_positions"),
        "score_history": await in_order("score_history"),
        "outbox": await in_order("outbox"),
        "blacklist_changes": await in_order("blacklist_changes"),
    }


async def _operate(
    bureau: Bureau, client: MongoClient, operation: tuple[str, int, int], batch: list[DecodedEvent]
) -> None:
    kind, value, _ = operation
    if kind == "deliver":
        await bureau.apply_feed_batch(FEED, batch)
        return
    if kind == "rescore_ids":
        await bureau.rescore_ids(PEOPLE, "model_loaded")
        return
    listing = Listing(HASHES[value], f"case-{value}")

    async def change(session: Session) -> None:
        if kind == "list":
            await bureau.import_listings(session, COURT, [listing])
        else:
            await bureau.remove_entries(
                session, COURT, [listing.case_reference], ChangeReason.SETTLED, ""
            )

    await run_in_transaction(client, change)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drawn=st.lists(steps, min_size=1, max_size=30),
    plan=st.lists(operations, min_size=1, max_size=6),
)
async def test_bulk_rescoring_ends_as_one_person_after_another(
    mongo_client: MongoClient, database_name: str, drawn: list[Step], plan: list[Any]
) -> None:
    clock = ManualClock(START)
    bulk, bulk_db = await _bureau(Bureau, mongo_client, f"{database_name}_bulk", clock)
    one, one_db = await _bureau(OneByOneBureau, mongo_client, f"{database_name}_one", clock)
    for bureau in (bulk, one):
        await _operate(bureau, mongo_client, ("list", LISTED_HASH, 0), [])
    events = _events(drawn)
    delivered = 0
    # The plan, then the rest of the feed in one batch.
    for operation in [*plan, ("deliver", len(events), 0)]:
        kind, count, back = operation
        start = max(0, delivered - back)  # a redelivery overlaps what was applied
        batch = events[start : min(len(events), delivered + count)] if kind == "deliver" else []
        if kind == "deliver" and not batch:
            continue
        for bureau in (bulk, one):
            await _operate(bureau, mongo_client, operation, batch)
        if kind == "deliver":
            delivered = max(delivered, start + len(batch))
        event(f"{kind}")
        assert await _stored(bulk_db) == await _stored(one_db), operation
        clock.advance(timedelta(minutes=7))
    changes = await bulk_db["outbox"].count_documents({"type": "credit.score.changed"})
    assert changes >= 4, "everyone opened was scored and announced"


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def _commands_for(
    mongo_url: str, name: str, apply: Callable[[Bureau], Awaitable[object]]
) -> list[str]:
    """The database commands a bureau sends while apply runs (a client that listens)."""
    listener = _Commands()
    counted: MongoClient = AsyncMongoClient(
        mongo_url, tz_aware=True, w="majority", event_listeners=[listener]
    )
    try:
        bureau, _ = await _bureau(Bureau, counted, name, ManualClock(START))
        listener.names.clear()
        await apply(bureau)
        return listener.names
    finally:
        await counted.close()


async def test_a_batch_costs_the_same_round_trips_however_many_people_it_touches(
    mongo_url: str, database_name: str
) -> None:
    async def commands(payers: int) -> list[str]:
        opened = [(f"2088770000{n:06d}", HASHES[n % 6]) for n in range(payers)]
        events: list[Step] = [
            ("payment.account_opened", (AccountOpened(p, 2, AT, ""),)) for p, _ in opened
        ]
        events += [_posting("transfer", p, opened[0][0], 100) for p, _ in opened[1:]]
        batch = [DecodedEvent(n, t, AT, facts) for n, (t, facts) in enumerate(events, start=1)]
        return await _commands_for(
            mongo_url,
            f"{database_name}_rt{payers}",
            lambda bureau: bureau.apply_feed_batch(FEED, batch),
        )

    few, many = await commands(3), await commands(60)
    assert few == many, (few, many)  # per batch, not per person
    assert len(many) <= 12, many
