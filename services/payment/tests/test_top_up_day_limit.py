"""The per-day top-up limit by KYC level (services/payment/risk_top_up.py), in both paths.

A personal account opens at KYC level 2: at most 50,000 yuan a top-up and 100,000 yuan a
business day (China Standard Time). Concurrent top-ups count against each other whether they
are committed one at a time or grouped into one batch, a refused one charges nothing and moves
nothing, and the next business day starts from zero.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from conftest import service_settings
from services.payment.server import build_payment_service
from services.payment.store import PaymentStore
from services.payment.tests.support import (
    DECLINED_CARD,
    Stub,
    assert_ledger_consistent,
    cny,
    error_reason,
    new_key,
    open_person,
    top_up,
)
from services.payment.tests.trade_support import manual_clock

YUAN = 100
TOP_UP_MAX_FEN = 50_000 * YUAN  # level 2, one top-up
DAY_MAX_FEN = 100_000 * YUAN  # level 2, one business day


@contextlib.asynccontextmanager
async def payment(
    mongo_url: str, mongo_client: MongoClient, database_name: str, *, group_commit: bool
) -> AsyncIterator[tuple[Stub, PaymentStore, ManualClock]]:
    name = f"{database_name}_{'batched' if group_commit else 'single'}"
    clock = manual_clock()
    settings = service_settings("payment", mongo_url, name)
    service = await build_payment_service(settings, mongo_client, clock, group_commit=group_commit)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield (
                payment_pb2_grpc.PaymentServiceStub(channel),
                PaymentStore(mongo_client[name]),
                clock,
            )
    finally:
        await service.stop()


async def reason_of(call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call  # type: ignore[misc]
    return error_reason(refused.value)


@pytest.mark.parametrize("group_commit", [True, False], ids=["batched", "one-at-a-time"])
async def test_a_day_s_top_ups_stop_at_the_kyc_level_s_maximum(
    mongo_url: str, mongo_client: MongoClient, database_name: str, group_commit: bool
) -> None:
    async with payment(mongo_url, mongo_client, database_name, group_commit=group_commit) as (
        stub,
        store,
        clock,
    ):
        person = await open_person(stub, "吴芳")
        # Three at once: two fit the day, the third is refused, whichever commits last.
        results = await asyncio.gather(
            *(top_up(stub, person.account_id, TOP_UP_MAX_FEN) for _ in range(3)),
            return_exceptions=True,
        )
        refusals = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(refusals) == 1, results
        assert error_reason(refusals[0]) == "TOP_UP_DAY_LIMIT_EXCEEDED"
        assert (await store.get_account(person.account_id)).balance_fen == DAY_MAX_FEN
        refused = top_up(stub, person.account_id, 1)
        assert await reason_of(refused) == "TOP_UP_DAY_LIMIT_EXCEEDED"
        assert (await store.get_account(person.account_id)).balance_fen == DAY_MAX_FEN
        await assert_ledger_consistent(store)

        clock.advance(timedelta(days=1))  # the next business date starts from zero
        await top_up(stub, person.account_id, TOP_UP_MAX_FEN)
        await top_up(stub, person.account_id, TOP_UP_MAX_FEN)
        assert await reason_of(top_up(stub, person.account_id, 1)) == "TOP_UP_DAY_LIMIT_EXCEEDED"
        assert (await store.get_account(person.account_id)).balance_fen == 2 * DAY_MAX_FEN
        await assert_ledger_consistent(store)


@pytest.mark.parametrize("group_commit", [True, False], ids=["batched", "one-at-a-time"])
async def test_a_declined_card_gives_the_day_back_and_a_frozen_account_is_never_charged(
    mongo_url: str, mongo_client: MongoClient, database_name: str, group_commit: bool
) -> None:
    async with payment(mongo_url, mongo_client, database_name, group_commit=group_commit) as (
        stub,
        store,
        _,
    ):
        person = (await open_person(stub, "郑丽")).account_id
        for _ in range(2):  # a day's worth, declined: reserved, counted, then given back
            declined = stub.TopUp(
                pb.TopUpRequest(
                    idempotency_key=new_key(),
                    account_id=person,
                    amount=cny(TOP_UP_MAX_FEN),
                    bank_card_number=DECLINED_CARD,
                )
            )
            assert await reason_of(declined) == "BANK_DECLINED"
        assert await store.top_ups.count_documents({"state": "declined"}) == 2
        await top_up(stub, person, TOP_UP_MAX_FEN)
        await top_up(stub, person, TOP_UP_MAX_FEN)
        assert (await store.get_account(person)).balance_fen == DAY_MAX_FEN
        assert await reason_of(top_up(stub, person, 1)) == "TOP_UP_DAY_LIMIT_EXCEEDED"

        other = (await open_person(stub, "郑丽")).account_id
        await store.accounts.update_one({"_id": other}, {"$set": {"status": "frozen"}})
        assert await reason_of(top_up(stub, other, 100)) == "ACCOUNT_NOT_ACTIVE"
        assert await store.top_ups.count_documents({"account_id": other}) == 0, "never charged"
        await assert_ledger_consistent(store)
