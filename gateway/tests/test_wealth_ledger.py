"""The wealth line's accounts in the payment ledger (gateway.wealth.ledger), on a real
payment service: omnibus accounts opened not hot by an earlier version are turned hot, one
that cannot be yet (a hold still open on it) keeps working and is turned hot by a later
start, and a payout from a hot omnibus is posted once however often it is retried."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from chassis.money import Money
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.representations import money_to_proto
from gateway.tests.saga_support import new_key
from gateway.wealth.ledger import (
    FIXED_TERM_OMNIBUS_ACCOUNT_ID,
    OMNIBUS_HOT_SHARDS,
    YUEBAO_INCOME_ACCOUNT_ID,
    YUEBAO_OMNIBUS_ACCOUNT_ID,
    WealthLedger,
)
from services.payment.tests.support import new_phone, new_resident_id


@pytest.fixture(scope="module")
async def payment(payment_address: str) -> AsyncIterator[PaymentClient]:
    channel = grpc.aio.insecure_channel(payment_address)
    try:
        yield PaymentClient(channel, 5.0)
    finally:
        await channel.close()


async def hot_shards(payment: PaymentClient, account_id: str) -> int:
    return (await payment.get_account(account_id)).hot_shards


async def test_omnibus_accounts_become_hot_and_pay_out_once(payment: PaymentClient) -> None:
    # An earlier version's accounts, not hot, with a hold still open on the fixed-term one.
    for account_id in (YUEBAO_OMNIBUS_ACCOUNT_ID, FIXED_TERM_OMNIBUS_ACCOUNT_ID):
        await payment.ensure_platform_account(
            pb.EnsurePlatformAccountRequest(account_id=account_id, display_name="omnibus")
        )
    await payment.ensure_platform_account(
        pb.EnsurePlatformAccountRequest(
            account_id=YUEBAO_INCOME_ACCOUNT_ID, display_name="income", external_party=True
        )
    )
    for account_id in (YUEBAO_OMNIBUS_ACCOUNT_ID, FIXED_TERM_OMNIBUS_ACCOUNT_ID):
        await payment.platform_transfer(
            pb.PlatformTransferRequest(
                idempotency_key=new_key(),
                from_account_id=YUEBAO_INCOME_ACCOUNT_ID,
                to_account_id=account_id,
                amount=money_to_proto(Money(10_000)),
            )
        )
    hold_id = new_key()
    await payment.create_hold(
        pb.CreateHoldRequest(
            hold_id=hold_id,
            account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID,
            amount=money_to_proto(Money(100)),
            memo="an earlier version's payout",
        )
    )

    await WealthLedger(payment).ensure_accounts()
    assert await hot_shards(payment, YUEBAO_OMNIBUS_ACCOUNT_ID) == OMNIBUS_HOT_SHARDS
    assert await hot_shards(payment, FIXED_TERM_OMNIBUS_ACCOUNT_ID) == 0

    await payment.void_hold(pb.VoidHoldRequest(hold_id=hold_id, reason="paid another way"))
    ledger = WealthLedger(payment)
    await ledger.ensure_accounts()
    assert await hot_shards(payment, FIXED_TERM_OMNIBUS_ACCOUNT_ID) == OMNIBUS_HOT_SHARDS

    # A payout from the hot omnibus, retried: one posting.
    payout_id = new_key()
    postings = {
        await ledger.post_payout(
            payout_id, YUEBAO_OMNIBUS_ACCOUNT_ID, YUEBAO_INCOME_ACCOUNT_ID, Money(2_500)
        )
        for _ in range(3)
    }
    assert len(postings) == 1
    omnibus = await payment.get_account(YUEBAO_OMNIBUS_ACCOUNT_ID)
    assert omnibus.balance.amount_fen == 10_000 - 2_500


async def test_undoing_a_payout_takes_it_back_once_and_a_refused_one_moves_nothing(
    payment: PaymentClient,
) -> None:
    ledger = WealthLedger(payment)
    await ledger.ensure_accounts()
    await payment.platform_transfer(
        pb.PlatformTransferRequest(
            idempotency_key=new_key(),
            from_account_id=YUEBAO_INCOME_ACCOUNT_ID,
            to_account_id=YUEBAO_OMNIBUS_ACCOUNT_ID,
            amount=money_to_proto(Money(5_000)),
        )
    )
    opened = await payment.open_personal_account(
        pb.OpenPersonalAccountRequest(
            idempotency_key=new_key(),
            owner_ref=new_key(),
            real_name="张三",
            resident_id=new_resident_id(),
            phone=new_phone(),
        )
    )
    receiver = opened.account.account_id
    before = (await payment.get_account(YUEBAO_OMNIBUS_ACCOUNT_ID)).balance.amount_fen
    assert before >= 1_000

    payout_id, reversal_key = new_key(), new_key()
    await ledger.post_payout(payout_id, YUEBAO_OMNIBUS_ACCOUNT_ID, receiver, Money(1_000))
    for _ in range(2):  # a retried compensation takes it back once
        assert await ledger.undo_payout(
            payout_id, YUEBAO_OMNIBUS_ACCOUNT_ID, receiver, Money(1_000), reversal_key
        )
    assert (await payment.get_account(YUEBAO_OMNIBUS_ACCOUNT_ID)).balance.amount_fen == before
    assert (await payment.get_account(receiver)).balance.amount_fen == 0

    # A payout the omnibus cannot cover is refused again by the undo's replay: nothing moved.
    too_much = Money(before + 1)
    assert not await ledger.undo_payout(
        new_key(), YUEBAO_OMNIBUS_ACCOUNT_ID, receiver, too_much, new_key()
    )
    assert (await payment.get_account(YUEBAO_OMNIBUS_ACCOUNT_ID)).balance.amount_fen == before
