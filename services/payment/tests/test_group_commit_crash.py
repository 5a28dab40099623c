"""SIGKILL of a payment-service process while batches of transfers are in flight.

The service runs as its own process (tests/service_process.py); transfers pour in from
many payers at once, so they commit in batches; the process is killed once some have been
acknowledged and many are still waiting or committing. After a restart every transfer is
sent again with its own key: an acknowledged one gets exactly its recorded answer, an
unacknowledged one either its recorded answer (its batch had committed) or a fresh run.
Then each key moved money at most once (one posting per idempotency record), every
acknowledged posting exists, the balances are the opening ones less what the postings
moved, and the ledger audit is clean.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import grpc

from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from services.payment.store import PaymentStore
from services.payment.tests.support import cny, open_merchant, open_person, top_up
from tests.service_process import ServiceProcess

PAYERS = 24
PAYEES = 4
TRANSFERS_PER_PAYER = 8  # under the velocity rule's ten a minute, replays included
OPENING_FEN = 50_000
ACKNOWLEDGED_BEFORE_KILL = 10


async def test_sigkill_mid_batch_loses_nothing_acknowledged_and_applies_nothing_twice(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> None:
    database = f"{database_name}_crash"
    service = ServiceProcess("payment", mongo_url, database)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            payers = [(await open_person(stub)).account_id for _ in range(PAYERS)]
            payees = [(await open_merchant(stub)).account_id for _ in range(PAYEES)]
            for payer in payers:
                await top_up(stub, payer, OPENING_FEN)
            requests = [
                pb.TransferRequest(
                    idempotency_key=uuid.uuid4().hex,
                    from_account_id=payer,
                    to_account_id=random.choice(payees),
                    # Some payers overdraw: their last transfers are refused.
                    amount=cny(random.randint(1, OPENING_FEN // 5)),
                )
                for _ in range(TRANSFERS_PER_PAYER)
                for payer in payers
            ]
            acknowledged: dict[str, pb.TransferResponse] = {}
            enough = asyncio.Event()

            async def send(request: pb.TransferRequest) -> None:
                try:
                    response = await stub.Transfer(request, timeout=30)
                except grpc.aio.AioRpcError:
                    return
                acknowledged[request.idempotency_key] = response
                if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                    enough.set()

            sending = [asyncio.create_task(send(r)) for r in requests]
            await asyncio.wait_for(enough.wait(), timeout=60)
            service.kill()
            await asyncio.gather(*sending)
        assert len(acknowledged) < len(requests), "the kill came while transfers were in flight"

        await service.start()
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            answers: dict[str, pb.TransferResponse] = {}
            for request in requests:
                try:
                    answers[request.idempotency_key] = await stub.Transfer(request, timeout=30)
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
                    assert request.idempotency_key not in acknowledged
            for key, response in acknowledged.items():
                assert answers[key] == response, "a replay after restart is the recorded answer"
    finally:
        service.stop()

    store = PaymentStore(mongo_client[database])
    postings = [p async for p in store.postings.find({"kind": "transfer"})]
    records = await store.idempotency.count_documents({"_id": {"$regex": "^transfer:"}})
    assert len(postings) == records == len(answers), "one posting per key that succeeded"
    posted_ids = {p["_id"] for p in postings}
    assert {r.posting.posting_id for r in answers.values()} == posted_ids
    assert {r.posting.posting_id for r in acknowledged.values()} <= posted_ids
    for payer in payers:
        sent_fen = sum(
            r.posting.entries[1].amount.amount_fen
            for r in answers.values()
            if r.posting.entries[0].account_id == payer
        )
        account = await store.get_account(payer)
        assert account.balance_fen == OPENING_FEN - sent_fen
    assert await store.audit_ledger() == []
