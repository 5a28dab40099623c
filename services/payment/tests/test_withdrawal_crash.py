"""SIGKILL of a payment-service process while batches of withdrawals are in flight.

Withdrawals go through group commit (batch_withdrawals.py): the bank pays out inside the
batch's transaction, keyed by the request's idempotency key. The service runs as its own
process with a bank that keeps a ledger of the payouts it was asked for
(recording_bank.py); withdrawals pour in from many payers at once, so they commit in
batches, and the process is killed once some have been acknowledged. After a restart every
withdrawal is sent again with its own key. Then: an acknowledged one got exactly its
recorded answer; each key moved money at most once (one posting per idempotency record);
the balances are the opening ones less what was withdrawn; the bank paid out exactly the
withdrawals the ledger holds, each for its amount (a payout asked for by the killed process
before its batch committed is the same payout when the retry asks again: nothing is paid
twice, and nothing paid is missing from the ledger); no process asked the bank twice for
one key (a batch that reruns keeps the bank's answer); and the ledger audit is clean.
"""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from collections import Counter
from pathlib import Path

import grpc

from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from services.payment.bank_channel import FAKE_BANK_CLEARING_ACCOUNT_ID, fake_bank_card_for
from services.payment.store import PaymentStore
from services.payment.tests.recording_bank import LEDGER_ENV, payouts
from services.payment.tests.support import cny, error_reason, open_person, top_up
from services.payment.tests.test_group_commit_jobs_crash import retried
from tests.service_process import ServiceProcess

PAYERS = 24
WITHDRAWALS_PER_PAYER = 8  # under the velocity rule's ten a minute
OPENING_FEN = 50_000  # 500 yuan: under the password challenge, some withdrawals overdraw
ACKNOWLEDGED_BEFORE_KILL = 10
HOLDER = "张三"
CARD = fake_bank_card_for(HOLDER)


async def test_sigkill_mid_batch_of_withdrawals_pays_out_nothing_twice(
    mongo_url: str, mongo_client: MongoClient, database_name: str, tmp_path: Path
) -> None:
    database = f"{database_name}_withdrawal_crash"
    ledger = tmp_path / "bank-payouts.jsonl"
    service = ServiceProcess("payment", mongo_url, database)
    service.environment |= {
        "COLONY_BANK_CHANNEL": "services.payment.tests.recording_bank:recording_bank",
        LEDGER_ENV: str(ledger),
    }
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            payers = [await open_payer(stub) for _ in range(PAYERS)]
            clearing_before = await balance(stub, FAKE_BANK_CLEARING_ACCOUNT_ID)
            requests = withdrawals(payers)
            acknowledged: dict[str, pb.WithdrawResponse] = {}
            enough = asyncio.Event()

            async def send(request: pb.WithdrawRequest) -> None:
                try:
                    response = await stub.Withdraw(request, timeout=30)
                except grpc.aio.AioRpcError:
                    return
                acknowledged[request.idempotency_key] = response
                if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                    enough.set()

            sending = [asyncio.create_task(send(r)) for r in requests]
            await asyncio.wait_for(enough.wait(), timeout=60)
            assert service.process is not None
            killed_pid = service.process.pid
            service.kill()
            await asyncio.gather(*sending)
        assert len(acknowledged) < len(requests), "the kill came while withdrawals were in flight"
        asked_before_restart = len(payouts(ledger))

        await service.start()
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            answers, sent = await send_again(stub, requests)
            for request in requests:
                if request.idempotency_key not in answers:
                    assert request.idempotency_key not in acknowledged
            for key, response in acknowledged.items():
                assert answers[key] == response, "a replay after restart is the recorded answer"
            clearing_after = await balance(stub, FAKE_BANK_CLEARING_ACCOUNT_ID)
    finally:
        service.stop()

    store = PaymentStore(mongo_client[database])
    withdrawn = await check_ledger(store, payers, answers)
    assert clearing_after - clearing_before == sum(withdrawn.values())
    assert asked_before_restart >= ACKNOWLEDGED_BEFORE_KILL
    check_bank(payouts(ledger), withdrawn, killed_pid, sent)
    assert await store.audit_ledger() == []


async def send_again(
    stub: payment_pb2_grpc.PaymentServiceStub, requests: list[pb.WithdrawRequest]
) -> tuple[dict[str, pb.WithdrawResponse], Counter[str]]:
    """Every withdrawal sent again, one by one (again while ABORTED): the answers of those
    that succeed (the rest overdraw), and how often each key was sent."""
    answers: dict[str, pb.WithdrawResponse] = {}
    sent = Counter[str]()

    async def withdraw(request: pb.WithdrawRequest) -> pb.WithdrawResponse:
        sent[request.idempotency_key] += 1
        return await stub.Withdraw(request, timeout=30)

    for request in requests:
        try:
            answers[request.idempotency_key] = await retried(functools.partial(withdraw, request))
        except grpc.aio.AioRpcError as error:
            assert error_reason(error) == "INSUFFICIENT_FUNDS", error
    return answers, sent


def check_bank(
    asked: list[dict[str, object]], withdrawn: dict[str, int], killed_pid: int, sent: Counter[str]
) -> None:
    """The bank paid exactly the withdrawals the ledger holds, each asked for once a send."""
    paid = {str(p["request_id"]): p["amount_fen"] for p in asked}
    assert paid == withdrawn, "the bank paid exactly the withdrawals the ledger holds"
    # A batch that reruns or splits keeps the bank's answer: a process asks once per send.
    for (pid, key), times in Counter((p["pid"], str(p["request_id"])) for p in asked).items():
        assert times <= (1 if pid == killed_pid else sent[key]), (pid, key, times)


def withdrawals(payers: list[str]) -> list[pb.WithdrawRequest]:
    """Each payer's withdrawals, interleaved; some overdraw (their last are refused)."""
    return [
        pb.WithdrawRequest(
            idempotency_key=uuid.uuid4().hex,
            account_id=payer,
            amount=cny(random.randint(1, OPENING_FEN // 5)),
            bank_card_number=CARD,
        )
        for _ in range(WITHDRAWALS_PER_PAYER)
        for payer in payers
    ]


async def open_payer(stub: payment_pb2_grpc.PaymentServiceStub) -> str:
    """A person with OPENING_FEN and the card the bank issued to their name bound."""
    payer = (await open_person(stub, HOLDER)).account_id
    await top_up(stub, payer, OPENING_FEN)
    await stub.BindCard(
        pb.BindCardRequest(
            idempotency_key=uuid.uuid4().hex, account_id=payer, bank_card_number=CARD
        )
    )
    return payer


async def check_ledger(
    store: PaymentStore, payers: list[str], answers: dict[str, pb.WithdrawResponse]
) -> dict[str, int]:
    """One posting per key that succeeded, the balances after them; the fen by key."""
    postings = [p async for p in store.postings.find({"kind": "withdrawal"})]
    records = await store.idempotency.count_documents({"_id": {"$regex": "^withdraw:"}})
    assert len(postings) == records == len(answers), "one posting per key that succeeded"
    assert {r.posting.posting_id for r in answers.values()} == {p["_id"] for p in postings}
    withdrawn = {key: r.posting.entries[1].amount.amount_fen for key, r in answers.items()}
    for payer in payers:
        account = await store.get_account(payer)
        sent_fen = sum(
            r.posting.entries[1].amount.amount_fen
            for r in answers.values()
            if r.posting.entries[0].account_id == payer
        )
        assert account.balance_fen == OPENING_FEN - sent_fen
    return withdrawn


async def balance(stub: payment_pb2_grpc.PaymentServiceStub, account_id: str) -> int:
    response = await stub.GetAccount(pb.GetAccountRequest(account_id=account_id))
    return response.account.balance.amount_fen
