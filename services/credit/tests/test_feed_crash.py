"""The feed consumer SIGKILLed mid-stream and restarted applies every event exactly once.

The credit service runs as its own process following the module's (in-process) payment
service; payment events are produced before, during and after the kill.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from chassis.mongo import MongoClient
from services.credit.store import CreditStore
from services.credit.tests.support import eventually, open_person, top_up, transfer
from tests.service_process import ServiceProcess

pytestmark = pytest.mark.slow

# Payment's velocity rule challenges an 11th payment within a minute: 9 rounds at most.
PEOPLE = 30
ROUNDS_BEFORE = 3
ROUNDS_DURING = 2
ROUNDS_AFTER = 2
TRANSFER_FEN = 100


@pytest.fixture
def credit_process(
    mongo_url: str, database_name: str, payment_address: str
) -> Iterator[ServiceProcess]:
    process = ServiceProcess("credit", mongo_url, f"{database_name}_{uuid.uuid4().hex[:6]}")
    process.environment["COLONY_PAYMENT_ADDRESS"] = payment_address
    process.environment["COLONY_CREDIT_FEEDS"] = "payment"
    try:
        yield process
    finally:
        process.stop()


async def transfer_round(payment, people, rounds: int) -> None:
    """Each person pays the next one TRANSFER_FEN, `rounds` times (one posting event each)."""
    for _ in range(rounds):
        await asyncio.gather(
            *(
                transfer(
                    payment, p.account_id, people[(i + 1) % len(people)].account_id, TRANSFER_FEN
                )
                for i, p in enumerate(people)
            )
        )


async def test_a_killed_consumer_resumes_and_applies_every_event_once(
    credit_process, payment, mongo_client: MongoClient
) -> None:
    people = [await open_person(payment) for _ in range(PEOPLE)]
    for person in people:
        await top_up(payment, person.account_id, 1_000_000)
    await transfer_round(payment, people, ROUNDS_BEFORE)  # 150 events waiting

    store = CreditStore(mongo_client[credit_process.environment["COLONY_CREDIT_DB"]])
    await credit_process.start()

    async def kill_once_applying() -> None:
        await eventually(lambda: store.feeds.load("payment"), lambda p: p.position > 0, 30)
        credit_process.kill()

    # The kill lands while the consumer is applying and new events keep arriving.
    await asyncio.gather(transfer_round(payment, people, ROUNDS_DURING), kill_once_applying())
    killed_at = (await store.feeds.load("payment")).position

    await transfer_round(payment, people, ROUNDS_AFTER)  # produced while credit is down
    await credit_process.start()
    await transfer_round(payment, people, ROUNDS_AFTER)  # and after the restart

    rounds = ROUNDS_BEFORE + ROUNDS_DURING + 2 * ROUNDS_AFTER

    async def everyone():
        return [await store.persons.load(person.account_id) for person in people]

    def all_applied(features) -> bool:
        return all(f is not None and f.payments_total == rounds for f in features)

    # Everyone's last transfer, not one person's: a round's transfers commit concurrently, so
    # one person's may sit earlier in the feed than another's. Up to a minute more: the killed
    # process's open transaction holds its documents until MongoDB aborts it
    # (transactionLifetimeLimitSeconds), and the consumer retries until then. An event lost
    # or applied twice never reaches exactly `rounds` for its person.
    await eventually(everyone, all_applied, 120)
    for person in people:
        features = await store.persons.load(person.account_id)
        # Every person paid and was paid TRANSFER_FEN per round: balance back to the top-up.
        assert features.payments_total == rounds
        assert features.balance_fen == 1_000_000
        assert sum(m.spent_fen for m in features.months) == rounds * TRANSFER_FEN
        assert features.kyc_level == 3
    position = await store.feeds.load("payment")
    assert position.position > killed_at
    assert position.events_skipped_unknown == 0
