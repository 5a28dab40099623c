"""Hot accounts: credits spread over sub-accounts, balance is their sum, debits draw from them."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from colony.payment.v1 import payment_pb2 as pb
from services.payment.tests.support import (
    assert_ledger_consistent,
    cny,
    error_reason,
    open_merchant,
    open_person,
    top_up,
    transfer,
)


async def test_concurrent_payments_into_a_hot_merchant_all_land(stub, store) -> None:
    merchant = await open_merchant(stub, "Double 11 Flagship Store")
    hot = await stub.SetAccountHot(
        pb.SetAccountHotRequest(account_id=merchant.account_id, hot_shards=8)
    )
    assert hot.account.hot_shards == 8
    buyers = [await open_person(stub) for _ in range(30)]
    await asyncio.gather(*(top_up(stub, b.account_id, 1_000) for b in buyers))

    await asyncio.gather(
        *(transfer(stub, b.account_id, merchant.account_id, 100 + i) for i, b in enumerate(buyers))
    )

    expected_fen = sum(100 + i for i in range(30))  # 30 * 100 + (0 + ... + 29) = 3,435
    account = (await stub.GetAccount(pb.GetAccountRequest(account_id=merchant.account_id))).account
    assert account.balance.amount_fen == expected_fen
    sub_accounts = await store.accounts.count_documents({"shard_of": merchant.account_id})
    assert 1 < sub_accounts <= 8
    lines = (
        await stub.ListStatement(pb.ListStatementRequest(account_id=merchant.account_id))
    ).entries
    assert len(lines) == 20  # the default page
    assert not any(line.has_balance_after for line in lines)
    await assert_ledger_consistent(store)


async def test_a_hot_account_can_spend_across_its_sub_accounts(stub, store) -> None:
    merchant = await open_merchant(stub)
    await stub.SetAccountHot(pb.SetAccountHotRequest(account_id=merchant.account_id, hot_shards=4))
    buyers = [await open_person(stub) for _ in range(12)]
    for buyer in buyers:
        await top_up(stub, buyer.account_id, 500)
        await transfer(stub, buyer.account_id, merchant.account_id, 500)
    supplier = await open_person(stub)
    # 12 * 500 = 6,000 fen spread over up to 4 sub-accounts; spending 5,900 needs several.
    await transfer(stub, merchant.account_id, supplier.account_id, 5_900)
    assert (await store.get_account(merchant.account_id)).balance_fen == 100
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await transfer(stub, merchant.account_id, supplier.account_id, 101)
    assert error_reason(refusal.value) == "INSUFFICIENT_FUNDS"
    await assert_ledger_consistent(store)


async def test_a_hot_account_keeps_its_balance_from_before(stub, store) -> None:
    merchant = await open_merchant(stub)
    await top_up(stub, merchant.account_id, 700)
    await stub.SetAccountHot(pb.SetAccountHotRequest(account_id=merchant.account_id, hot_shards=2))
    buyer = await open_person(stub)
    await top_up(stub, buyer.account_id, 300)
    await transfer(stub, buyer.account_id, merchant.account_id, 300)
    assert (await store.get_account(merchant.account_id)).balance_fen == 1_000
    lines = (
        await stub.ListStatement(pb.ListStatementRequest(account_id=merchant.account_id))
    ).entries
    # Newest first: the hot-mode credit, then the earlier top-up with its running balance.
    assert [(line.amount.amount_fen, line.has_balance_after) for line in lines] == [
        (300, False),
        (700, True),
    ]
    await assert_ledger_consistent(store)


async def test_ensure_platform_account_is_idempotent(stub) -> None:
    request = pb.EnsurePlatformAccountRequest(
        account_id="platform:wealth:yuebao_omnibus", display_name="Yu'e Bao omnibus", hot_shards=8
    )
    first = await stub.EnsurePlatformAccount(request)
    again = await stub.EnsurePlatformAccount(request)
    assert first.account.account_id == again.account.account_id
    assert again.account.kind == pb.ACCOUNT_KIND_PLATFORM
    assert again.account.hot_shards == 8


async def test_platform_account_ids_are_namespaced(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.EnsurePlatformAccount(
            pb.EnsurePlatformAccountRequest(account_id="2088000000000001", display_name="impostor")
        )
    assert refusal.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_platform_account_pays_out_from_its_sub_accounts(stub, store) -> None:
    omnibus = "platform:wealth:test_omnibus"
    await stub.EnsurePlatformAccount(
        pb.EnsurePlatformAccountRequest(
            account_id=omnibus, display_name="Test omnibus", hot_shards=4
        )
    )
    investor = await open_person(stub)
    await top_up(stub, investor.account_id, 5_000)
    hold = await stub.CreateHold(
        pb.CreateHoldRequest(
            hold_id=f"subscribe-{investor.account_id}",
            account_id=investor.account_id,
            amount=cny(5_000),
        )
    )
    await stub.CaptureHold(
        pb.CaptureHoldRequest(hold_id=hold.hold.hold_id, credit_account_id=omnibus)
    )
    request = pb.PlatformTransferRequest(
        idempotency_key=f"payout-{investor.account_id}",
        from_account_id=omnibus,
        to_account_id=investor.account_id,
        amount=cny(2_000),
        reference="redemption-1",
    )
    first = await stub.PlatformTransfer(request)
    again = await stub.PlatformTransfer(request)
    assert again.posting.posting_id == first.posting.posting_id
    assert (await store.get_account(omnibus)).balance_fen == 3_000
    assert (await store.get_account(investor.account_id)).balance_fen == 2_000
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.PlatformTransfer(
            pb.PlatformTransferRequest(
                idempotency_key="too-much",
                from_account_id=omnibus,
                to_account_id=investor.account_id,
                amount=cny(3_001),
            )
        )
    assert error_reason(refusal.value) == "INSUFFICIENT_FUNDS"
    await assert_ledger_consistent(store)


async def test_a_person_cannot_be_paid_out_of_by_a_platform_transfer(stub) -> None:
    person = await open_person(stub)
    other = await open_person(stub)
    await top_up(stub, person.account_id, 1_000)
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.PlatformTransfer(
            pb.PlatformTransferRequest(
                idempotency_key="steal",
                from_account_id=person.account_id,
                to_account_id=other.account_id,
                amount=cny(1),
            )
        )
    assert error_reason(refusal.value) == "ACCOUNT_KIND_NOT_ALLOWED"


async def test_an_external_party_account_books_income_and_may_go_negative(stub, store) -> None:
    income = "platform:wealth:test_income"
    omnibus = "platform:wealth:test_omnibus_2"
    await stub.EnsurePlatformAccount(
        pb.EnsurePlatformAccountRequest(
            account_id=income, display_name="Portfolio income", external_party=True
        )
    )
    await stub.EnsurePlatformAccount(
        pb.EnsurePlatformAccountRequest(account_id=omnibus, display_name="Omnibus")
    )
    await stub.PlatformTransfer(
        pb.PlatformTransferRequest(
            idempotency_key="income-2026-11-25",
            from_account_id=income,
            to_account_id=omnibus,
            amount=cny(476),
        )
    )
    assert (await store.get_account(income)).balance_fen == -476
    assert (await store.get_account(omnibus)).balance_fen == 476
    await assert_ledger_consistent(store)
