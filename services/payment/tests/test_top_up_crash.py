"""SIGKILL of the payment service between a top-up's reserve and its settle, no client retry.

A top-up reserves first (the checks, the day's figure, a pending record), asks the bank to
charge the card outside any transaction by its key, then settles (batch_top_ups.py). The
payment service runs as its own process with a bank that keeps a ledger of the charges it
was asked for and honours a repeated key across processes (recording_bank.py), and hangs
on a charge at a chosen point: asked and not decided (nothing charged), or charged and not
answered. The test kills the process there, with one top-up the bank charges and one it
declines in flight, and restarts it; nobody sends anything again: the payment service's
recovery job completes both. Then: the charged one is credited exactly once, the declined
one credits nothing and no longer counts in the day's figure, the bank's clearing account
moved by exactly what the bank charged, the ledger and top-up audits are clean, and a
replay answers from the record (the credit, or BANK_DECLINED) without asking the bank.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from services.payment.bank_channel import FAKE_BANK_CLEARING_ACCOUNT_ID, fake_bank_card_for
from services.payment.store import PaymentStore
from services.payment.tests.bank_crash_support import (
    RECOVERY_TIMEOUT_SECONDS,
    balance,
    kill_while_the_bank_hangs,
    recording_service,
    until,
)
from services.payment.tests.recording_bank import (
    CHARGE,
    HANG_AFTER_PAYING,
    HANG_BEFORE_PAYING,
    HANG_ENV,
    HANG_ON_ENV,
    charges,
    first_answers,
    paid,
)
from services.payment.tests.support import cny, error_reason, open_person

CARD = fake_bank_card_for("张三")
CHARGED_FEN, DECLINED_FEN = 12_300, 4_500  # the test bank declines charges of DECLINED_FEN


@pytest.mark.parametrize("hang", [HANG_BEFORE_PAYING, HANG_AFTER_PAYING])
async def test_sigkill_between_charge_and_settle_is_completed_without_the_client(
    mongo_url: str, mongo_client: MongoClient, database_name: str, tmp_path: Path, hang: str
) -> None:
    database = f"{database_name}_top_up_kill_{hang.replace('-', '_')}"
    ledger = tmp_path / "bank.jsonl"
    service = recording_service(
        mongo_url, database, ledger, DECLINED_FEN, **{HANG_ENV: hang, HANG_ON_ENV: CHARGE}
    )
    store = PaymentStore(mongo_client[database])
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            person = (await open_person(stub)).account_id
            clearing_before = await balance(stub, FAKE_BANK_CLEARING_ACCOUNT_ID)
            requests = [top_up(person, CHARGED_FEN), top_up(person, DECLINED_FEN)]
            await kill_while_the_bank_hangs(service, stub.TopUp, requests, lambda: charges(ledger))
        await check_left_pending(store, ledger, requests, person, hang)

        del service.environment[HANG_ENV]
        await service.start()  # and nobody sends anything again
        await until(lambda: no_pending(store), within_seconds=RECOVERY_TIMEOUT_SECONDS)
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            clearing_after = await balance(stub, FAKE_BANK_CLEARING_ACCOUNT_ID)
            asked = len(charges(ledger))
            charged_request, declined_request = requests
            replayed = await stub.TopUp(charged_request, timeout=30)
            entries = [(e.account_id, e.amount.amount_fen) for e in replayed.posting.entries]
            assert entries == [(FAKE_BANK_CLEARING_ACCOUNT_ID, -CHARGED_FEN), (person, CHARGED_FEN)]
            assert replayed.posting.memo == f"top-up from card ending {CARD[-4:]}"
            assert replayed.account.balance.amount_fen == CHARGED_FEN
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.TopUp(declined_request, timeout=30)
            assert error_reason(refused.value) == "BANK_DECLINED"
            assert len(charges(ledger)) == asked, "a settled top-up never asks the bank"
    finally:
        service.stop()

    await check_books(store, ledger, requests, person, clearing_before - clearing_after)


async def check_books(
    store: PaymentStore,
    ledger: Path,
    requests: list[pb.TopUpRequest],
    person: str,
    clearing_moved: int,
) -> None:
    """The charged top-up credited once, the declined one nothing and given back in the
    day's figure; the clearing account moved by what the bank charged; the audits clean."""
    charged_request, declined_request = requests
    assert paid(ledger, CHARGE) == {charged_request.idempotency_key: CHARGED_FEN}
    assert first_answers(ledger, CHARGE)[declined_request.idempotency_key] == "declined"
    states = {r["_id"]: r["state"] async for r in store.top_ups.find({})}
    assert states == {
        charged_request.idempotency_key: "credited",
        declined_request.idempotency_key: "declined",
    }
    assert (await store.get_account(person)).balance_fen == CHARGED_FEN, "credited once"
    credits = await store.postings.count_documents({"kind": "top_up", "entries.account_id": person})
    assert credits == 1
    assert await topped_up(store, person) == CHARGED_FEN, "the declined one is given back"
    assert clearing_moved == sum(paid(ledger, CHARGE).values())
    assert await store.audit_ledger() == []
    record = await store.get_top_up(charged_request.idempotency_key)
    assert record is not None and record.settled_at is not None
    assert await store.audit_top_ups(record.settled_at) == []


async def check_left_pending(
    store: PaymentStore, ledger: Path, requests: list[pb.TopUpRequest], person: str, hang: str
) -> None:
    """What the killed process left: both reserved and pending, counted in the day's figure,
    nothing credited; the bank asked (before charging) or its answer recorded (after)."""
    killed = {str(c["request_id"]): c["outcome"] for c in charges(ledger)}
    for request in requests:
        record = await store.get_top_up(request.idempotency_key)
        assert record is not None and record.state.value == "pending"
        if hang == HANG_BEFORE_PAYING:
            assert killed[request.idempotency_key] == "asked"
        else:
            assert killed[request.idempotency_key] == (
                "paid" if request.amount.amount_fen == CHARGED_FEN else "declined"
            )
    assert (await store.get_account(person)).balance_fen == 0
    assert await topped_up(store, person) == CHARGED_FEN + DECLINED_FEN
    # At rest with a pending top-up older than the grace: the audit lists it.
    assert len(await store.audit_top_ups(record.created_at + timedelta(seconds=1))) == 2


async def topped_up(store: PaymentStore, account_id: str) -> int:
    document = await store.accounts.find_one({"_id": account_id})
    assert document is not None
    return int(document["top_up_day"]["amount_fen"])


async def no_pending(store: PaymentStore) -> bool:
    return await store.top_ups.count_documents({"state": "pending"}) == 0


def top_up(account_id: str, fen: int) -> pb.TopUpRequest:
    return pb.TopUpRequest(
        idempotency_key=uuid.uuid4().hex,
        account_id=account_id,
        amount=cny(fen),
        bank_card_number=CARD,
    )
