"""SIGKILL of a payment-service process in the middle of withdrawals, and no client retrying.

A withdrawal is reserved (the payer debited into withdrawals in transit, a pending record),
paid out by the bank outside any transaction, then settled (batch_withdrawals.py,
rpc_withdrawal_payouts.py). The service runs as its own process with a bank that keeps a ledger
of the payouts it was asked for and honours a repeated key across processes
(recording_bank.py). After a restart, nobody sends anything again: the payment service's
recovery job completes every withdrawal the killed process left pending. Then: each
withdrawal's record is settled; the bank paid exactly the withdrawals settled as paid, each
once and for its amount; a declined one returned its money; each payer is debited exactly
once per paid withdrawal; nothing is left in transit; the bank's clearing account moved by
what the bank paid; the ledger audit and `colony audit`'s in-transit reconciliation are
clean. A replay of a request afterwards answers from the record without asking the bank.

Two tests: the kill at exact points (the bank asked and not answered, nothing paid; the bank
paid and not answered, not settled), with one payout the bank pays and one it declines;
and the kill while batches of withdrawals from many payers are in flight.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from pathlib import Path

import grpc
import pytest

from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from services.payment.bank_channel import FAKE_BANK_CLEARING_ACCOUNT_ID, fake_bank_card_for
from services.payment.batch_withdrawals import WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID
from services.payment.store import PaymentStore
from services.payment.tests.bank_crash_support import (
    RECOVERY_TIMEOUT_SECONDS,
    balance,
    kill_while_the_bank_hangs,
    recording_service,
    until,
)
from services.payment.tests.recording_bank import (
    HANG_AFTER_PAYING,
    HANG_BEFORE_PAYING,
    HANG_ENV,
    first_answers,
    paid,
    payouts,
)
from services.payment.tests.support import cny, error_reason, open_person, top_up
from services.payment.tests.test_group_commit_jobs_crash import retried

PAYERS = 24
WITHDRAWALS_PER_PAYER = 8  # under the velocity rule's ten a minute
OPENING_FEN = 50_000  # 500 yuan: under the password challenge, some withdrawals overdraw
ACKNOWLEDGED_BEFORE_KILL = 10
HOLDER = "张三"
CARD = fake_bank_card_for(HOLDER)
PAID_FEN, DECLINED_FEN = 12_300, 4_500  # the test bank declines payouts of DECLINED_FEN


@pytest.mark.parametrize("hang", [HANG_BEFORE_PAYING, HANG_AFTER_PAYING])
async def test_sigkill_between_reserve_and_settle_is_completed_without_the_client(
    mongo_url: str, mongo_client: MongoClient, database_name: str, tmp_path: Path, hang: str
) -> None:
    database = f"{database_name}_withdrawal_kill_{hang.replace('-', '_')}"
    ledger = tmp_path / "bank-payouts.jsonl"
    service = recording_service(mongo_url, database, ledger, DECLINED_FEN, **{HANG_ENV: hang})
    store = PaymentStore(mongo_client[database])
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            payer = await open_payer(stub)
            clearing_before = await balance(stub, FAKE_BANK_CLEARING_ACCOUNT_ID)
            requests = [withdrawal(payer, PAID_FEN), withdrawal(payer, DECLINED_FEN)]
            await kill_while_the_bank_hangs(
                service, stub.Withdraw, requests, lambda: payouts(ledger)
            )
        await check_left_pending(store, ledger, requests, payer, hang)

        del service.environment[HANG_ENV]
        await service.start()  # and nobody sends anything again
        await until(lambda: no_pending(store), within_seconds=RECOVERY_TIMEOUT_SECONDS)
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            clearing_after = await balance(stub, FAKE_BANK_CLEARING_ACCOUNT_ID)
            in_transit = await balance(stub, WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID)
            asked = len(payouts(ledger))
            # A replay answers from the settled record: the reserve's answer, or the refusal.
            paid_request, declined_request = requests
            replayed = await stub.Withdraw(paid_request, timeout=30)
            entries = [(e.account_id, e.amount.amount_fen) for e in replayed.posting.entries]
            assert entries == [(payer, -PAID_FEN), (WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID, PAID_FEN)]
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Withdraw(declined_request, timeout=30)
            assert error_reason(refused.value) == "BANK_DECLINED"
            assert len(payouts(ledger)) == asked, "a settled withdrawal never asks the bank"
    finally:
        service.stop()

    assert paid(ledger) == {paid_request.idempotency_key: PAID_FEN}, "paid once, by its key"
    assert first_answers(ledger)[declined_request.idempotency_key] == "declined"
    states = {r["_id"]: r["state"] async for r in store.withdrawals.find({})}
    assert states == {
        paid_request.idempotency_key: "paid",
        declined_request.idempotency_key: "declined",
    }
    assert (await store.get_account(payer)).balance_fen == OPENING_FEN - PAID_FEN
    assert in_transit == 0
    assert clearing_after - clearing_before == PAID_FEN == sum(paid(ledger).values())
    assert await store.audit_ledger() == []
    assert await store.audit_withdrawals_in_transit() == []


async def check_left_pending(
    store: PaymentStore, ledger: Path, requests: list[pb.WithdrawRequest], payer: str, hang: str
) -> None:
    """What the killed process left: both reserved and pending, the payer debited for both,
    the bank asked (before paying: nothing decided) or its answer recorded (after paying)."""
    killed = {str(p["request_id"]): p["outcome"] for p in payouts(ledger)}
    expected = "asked" if hang == HANG_BEFORE_PAYING else None
    for request in requests:
        record = await store.get_withdrawal(request.idempotency_key)
        assert record is not None and record.state.value == "pending"
        if expected is None:  # after paying: the bank's answer, recorded, never heard
            assert killed[request.idempotency_key] == (
                "paid" if request.amount.amount_fen == PAID_FEN else "declined"
            )
        else:
            assert killed[request.idempotency_key] == expected
    assert (await store.get_account(payer)).balance_fen == OPENING_FEN - PAID_FEN - DECLINED_FEN


async def test_sigkill_mid_batch_of_withdrawals_pays_out_nothing_twice(
    mongo_url: str, mongo_client: MongoClient, database_name: str, tmp_path: Path
) -> None:
    database = f"{database_name}_withdrawal_crash"
    ledger = tmp_path / "bank-payouts.jsonl"
    service = recording_service(mongo_url, database, ledger, DECLINED_FEN)
    store = PaymentStore(mongo_client[database])
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            payers = [await open_payer(stub) for _ in range(PAYERS)]
            clearing_before = await balance(stub, FAKE_BANK_CLEARING_ACCOUNT_ID)
            requests = [
                withdrawal(payer, random.randint(1, OPENING_FEN // 5))
                for _ in range(WITHDRAWALS_PER_PAYER)
                for payer in payers
            ]
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
            service.kill()
            await asyncio.gather(*sending)
        assert len(acknowledged) < len(requests), "the kill came while withdrawals were in flight"

        await service.start()  # nobody sends anything: the recovery job completes them
        await until(lambda: no_pending(store), within_seconds=RECOVERY_TIMEOUT_SECONDS)
        settled = await check_books(store, payers, ledger)
        for key in acknowledged:
            assert settled[key] == "paid", "an acknowledged withdrawal was paid out"
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            assert await balance(stub, WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID) == 0
            clearing_after = await balance(stub, FAKE_BANK_CLEARING_ACCOUNT_ID)
            # Then every request is sent again: an acknowledged one gets its recorded answer.
            for request in requests:
                try:
                    again = await retried(lambda r=request: stub.Withdraw(r, timeout=30))
                except grpc.aio.AioRpcError as error:
                    assert error_reason(error) == "INSUFFICIENT_FUNDS", error
                    continue
                if request.idempotency_key in acknowledged:
                    assert again == acknowledged[request.idempotency_key]
            await until(lambda: no_pending(store), within_seconds=RECOVERY_TIMEOUT_SECONDS)
    finally:
        service.stop()

    assert clearing_after - clearing_before == sum(
        fen for key, fen in paid(ledger).items() if settled.get(key) == "paid"
    )
    await check_books(store, payers, ledger)
    # One driver per withdrawal in a process: no process asked the bank twice for one key.
    asks = Counter((p["pid"], p["request_id"]) for p in payouts(ledger))
    assert max(asks.values()) == 1, asks.most_common(3)


async def check_books(store: PaymentStore, payers: list[str], ledger: Path) -> dict[str, str]:
    """Every withdrawal settled as the bank answered it, each payer debited once per paid
    one, nothing in transit, the audits clean; the state by key."""
    records = [r async for r in store.withdrawals.find({})]
    states = {r["_id"]: r["state"] for r in records}
    assert "pending" not in states.values()
    bank = paid(ledger)  # raises if any key was paid twice
    assert bank == {r["_id"]: r["amount_fen"] for r in records if r["state"] == "paid"}
    reserved = await store.idempotency.count_documents({"_id": {"$regex": "^withdraw:"}})
    assert reserved == len(records), "one withdrawal record per reserve"
    for payer in payers:
        account = await store.get_account(payer)
        sent = sum(
            r["amount_fen"] for r in records if r["account_id"] == payer and r["state"] == "paid"
        )
        assert account.balance_fen == OPENING_FEN - sent
    assert await store.audit_ledger() == []
    assert await store.audit_withdrawals_in_transit() == []
    return states


async def no_pending(store: PaymentStore) -> bool:
    return await store.withdrawals.count_documents({"state": "pending"}) == 0


def withdrawal(payer: str, fen: int) -> pb.WithdrawRequest:
    return pb.WithdrawRequest(
        idempotency_key=uuid.uuid4().hex, account_id=payer, amount=cny(fen), bank_card_number=CARD
    )


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
