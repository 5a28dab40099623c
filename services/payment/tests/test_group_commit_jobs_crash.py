"""SIGKILL of a payment-service process while batches of holds and platform transfers commit.

The service runs as its own process (tests/service_process.py). Many payers each place
holds (TCC try) and capture them (confirm) as soon as they are placed, and the platform pays
out from the bank's clearing account to a lender, all at once, so they share batches
(group commit's jobs, batch_holds.py, batch_jobs.py); the process is killed once a few
have been acknowledged and many are still waiting or committing. After a restart every
request is sent again: the same hold ids, the same keys. An acknowledged capture or payout
gets exactly its recorded posting; each hold was captured once (one posting per hold),
each payout key moved money once (one posting per idempotency record); each payer holds
its opening balance less what its holds captured, nothing stays held, the lender holds
every payout, and the ledger audit is clean (balances = entries, held = open holds).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from services.payment.bank_channel import FAKE_BANK_CLEARING_ACCOUNT_ID
from services.payment.holds import HoldState
from services.payment.store import PaymentStore
from services.payment.tests.support import Stub, cny, open_merchant, open_person, top_up
from tests.service_process import ServiceProcess

PAYERS = 16
HOLDS_PER_PAYER = 3
PAYOUTS = 40
OPENING_FEN = 50_000
LENDER = "platform:test_crash_lender"
ACKNOWLEDGED_BEFORE_KILL = 6
RETRIES_MAX = 45
T = TypeVar("T")


def capture_of(hold: pb.CreateHoldRequest, merchant: str) -> pb.CaptureHoldRequest:
    return pb.CaptureHoldRequest(hold_id=hold.hold_id, credit_account_id=merchant, memo="order")


async def place_and_capture(stub: Stub, hold: pb.CreateHoldRequest, merchant: str) -> pb.Posting:
    await stub.CreateHold(hold, timeout=30)
    return (await stub.CaptureHold(capture_of(hold, merchant), timeout=30)).posting


async def retried(call: Callable[[], Awaitable[T]]) -> T:
    """A request sent again while ABORTED says to retry: the killed process's transaction
    holds its documents until mongod ends it (transactionLifetimeLimitSeconds)."""
    for _ in range(RETRIES_MAX):
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ABORTED:
                raise
            await asyncio.sleep(1.0)
    return await call()


async def test_sigkill_mid_batch_of_holds_and_payouts_loses_nothing_and_applies_nothing_twice(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> None:
    database = f"{database_name}_jobs_crash"
    service = ServiceProcess("payment", mongo_url, database)
    await service.start()
    acknowledged: dict[str, str] = {}  # hold id or payout key -> posting id
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            await stub.EnsurePlatformAccount(
                pb.EnsurePlatformAccountRequest(account_id=LENDER, display_name="Lender")
            )
            payers = [(await open_person(stub)).account_id for _ in range(PAYERS)]
            merchant = (await open_merchant(stub)).account_id
            for payer in payers:
                await top_up(stub, payer, OPENING_FEN)
            holds = [
                pb.CreateHoldRequest(
                    hold_id=uuid.uuid4().hex,
                    account_id=payer,
                    amount=cny(random.randint(1, OPENING_FEN // HOLDS_PER_PAYER)),
                )
                for _ in range(HOLDS_PER_PAYER)
                for payer in payers
            ]
            payouts = [
                pb.PlatformTransferRequest(
                    idempotency_key=uuid.uuid4().hex,
                    from_account_id=FAKE_BANK_CLEARING_ACCOUNT_ID,
                    to_account_id=LENDER,
                    amount=cny(random.randint(1, 10_000)),
                    memo="loan funding",
                )
                for _ in range(PAYOUTS)
            ]
            enough = asyncio.Event()

            async def send(key: str, call: Awaitable[pb.Posting]) -> None:
                try:
                    posting = await call
                except grpc.aio.AioRpcError:
                    return  # the process died under it
                acknowledged[key] = posting.posting_id
                if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                    enough.set()

            async def payout(request: pb.PlatformTransferRequest) -> pb.Posting:
                return (await stub.PlatformTransfer(request, timeout=30)).posting

            sending = [
                asyncio.create_task(send(h.hold_id, place_and_capture(stub, h, merchant)))
                for h in holds
            ]
            sending += [asyncio.create_task(send(p.idempotency_key, payout(p))) for p in payouts]
            await asyncio.wait_for(enough.wait(), timeout=60)
            service.kill()
            await asyncio.gather(*sending)
        assert len(acknowledged) < len(holds) + len(payouts), "the kill came mid-flight"

        await service.start()
        answers: dict[str, str] = {}
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            for hold in holds:
                posting = await retried(lambda h=hold: place_and_capture(stub, h, merchant))
                answers[hold.hold_id] = posting.posting_id
            for request in payouts:
                response = await retried(lambda r=request: stub.PlatformTransfer(r, timeout=30))
                answers[request.idempotency_key] = response.posting.posting_id
        for key, posting_id in acknowledged.items():
            assert answers[key] == posting_id, "a retry after restart is the recorded answer"
    finally:
        service.stop()

    await check_books(PaymentStore(mongo_client[database]), payers, holds, payouts, answers)


async def check_books(
    store: PaymentStore,
    payers: list[str],
    holds: list[pb.CreateHoldRequest],
    payouts: list[pb.PlatformTransferRequest],
    answers: dict[str, str],
) -> None:
    """Each hold captured once, each payout once; balances, holds and the audit agree."""
    captures = [p async for p in store.postings.find({"kind": "hold_capture"})]
    assert sorted(p["reference"] for p in captures) == sorted(h.hold_id for h in holds)
    assert {p["_id"] for p in captures} == {answers[h.hold_id] for h in holds}
    platform = [p async for p in store.postings.find({"kind": "platform_transfer"})]
    records = await store.idempotency.count_documents({"_id": {"$regex": "^platform-transfer:"}})
    assert len(platform) == records == PAYOUTS, "one posting per payout key"
    assert {p["_id"] for p in platform} == {answers[p.idempotency_key] for p in payouts}
    for payer in payers:
        captured_fen = 0
        for hold in holds:
            if hold.account_id == payer:
                stored = await store.get_hold(hold.hold_id)
                assert stored is not None and stored.state is HoldState.CAPTURED
                captured_fen += stored.captured_fen
        account = await store.get_account(payer)
        assert (account.balance_fen, account.held_fen) == (OPENING_FEN - captured_fen, 0)
    lender = await store.get_account(LENDER)
    assert lender.balance_fen == sum(p.amount.amount_fen for p in payouts)
    assert await store.audit_ledger() == []
