"""The payment service over real gRPC against a real mongod: accounts, money movement, statement."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import grpc
import pytest

from colony.common.v1 import money_pb2, paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import FAKE_BANK_CLEARING_ACCOUNT_ID, fake_bank_card_for
from services.payment.cards import new_card_id
from services.payment.tests.support import (
    CARD,
    assert_ledger_consistent,
    cny,
    error_reason,
    new_key,
    new_phone,
    new_resident_id,
    open_person,
    top_up,
)

ALICE_CARD = fake_bank_card_for("张三")  # open_person's default name


async def test_open_personal_account_masks_the_resident_id(stub, store) -> None:
    resident_id = new_resident_id()
    response = await stub.OpenPersonalAccount(
        pb.OpenPersonalAccountRequest(
            idempotency_key=new_key(),
            owner_ref="user-1",
            real_name="李四",
            resident_id=resident_id,
            phone=new_phone(),
        )
    )
    account = response.account
    assert account.account_id.startswith("2088")
    assert account.kind == pb.ACCOUNT_KIND_PERSONAL
    assert account.resident_id_masked == resident_id[:6] + "********" + resident_id[-4:]
    assert account.balance.amount_fen == 0
    identity = await store.identities.find_one({"_id": account.account_id})
    assert identity is not None and identity["resident_id"] == resident_id
    stored = await store.accounts.find_one({"_id": account.account_id})
    assert resident_id not in str(stored)


async def test_open_account_replays_with_the_same_key(stub) -> None:
    request = pb.OpenPersonalAccountRequest(
        idempotency_key=new_key(),
        owner_ref=uuid.uuid4().hex,
        real_name="王五",
        resident_id=new_resident_id(),
        phone=new_phone(),
    )
    first = await stub.OpenPersonalAccount(request)
    again = await stub.OpenPersonalAccount(request)
    assert again.account.account_id == first.account.account_id


async def test_second_account_for_the_same_phone_is_already_registered(stub) -> None:
    phone = new_phone()
    await stub.OpenPersonalAccount(
        pb.OpenPersonalAccountRequest(
            idempotency_key=new_key(),
            owner_ref=uuid.uuid4().hex,
            real_name="赵六",
            resident_id=new_resident_id(),
            phone=phone,
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.OpenPersonalAccount(
            pb.OpenPersonalAccountRequest(
                idempotency_key=new_key(),
                owner_ref=uuid.uuid4().hex,
                real_name="赵六",
                resident_id=new_resident_id(),
                phone=phone,
            )
        )
    assert refusal.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_reason(refusal.value) == "ALREADY_REGISTERED"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("resident_id", "110105194912300076", "INVALID_RESIDENT_ID"),
        ("phone", "12345", "INVALID_PHONE"),
        ("real_name", "   ", "INVALID_ARGUMENT"),
        ("idempotency_key", "", "IDEMPOTENCY_KEY_MISSING"),
    ],
)
async def test_open_account_refuses_bad_input(stub, field: str, value: str, reason: str) -> None:
    fields = {
        "idempotency_key": new_key(),
        "owner_ref": "u",
        "real_name": "钱七",
        "resident_id": new_resident_id(),
        "phone": new_phone(),
        field: value,
    }
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.OpenPersonalAccount(pb.OpenPersonalAccountRequest(**fields))
    assert refusal.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(refusal.value) == reason


async def test_top_up_credits_the_account_from_the_bank_clearing_account(stub, store) -> None:
    account = await open_person(stub)
    clearing_before = (await store.get_account(FAKE_BANK_CLEARING_ACCOUNT_ID)).balance_fen
    response = await top_up(stub, account.account_id, 10_000)
    assert response.account.balance.amount_fen == 10_000
    assert response.account.available.amount_fen == 10_000
    assert [(e.account_id, e.amount.amount_fen) for e in response.posting.entries] == [
        (FAKE_BANK_CLEARING_ACCOUNT_ID, -10_000),
        (account.account_id, 10_000),
    ]
    clearing_after = (await store.get_account(FAKE_BANK_CLEARING_ACCOUNT_ID)).balance_fen
    assert clearing_after == clearing_before - 10_000
    await assert_ledger_consistent(store)


async def test_top_up_with_a_declined_card_moves_nothing(stub) -> None:
    account = await open_person(stub)
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.TopUp(
            pb.TopUpRequest(
                idempotency_key=new_key(),
                account_id=account.account_id,
                amount=cny(500),
                bank_card_number="4000000000000002",
            )
        )
    assert refusal.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refusal.value) == "BANK_DECLINED"
    after = await stub.GetAccount(pb.GetAccountRequest(account_id=account.account_id))
    assert after.account.balance.amount_fen == 0


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (cny(0), "INVALID_AMOUNT"),
        (cny(-5), "INVALID_AMOUNT"),
        (money_pb2.Money(amount_fen=100, currency="USD"), "UNSUPPORTED_CURRENCY"),
    ],
)
async def test_top_up_refuses_bad_amounts(stub, amount, reason) -> None:
    account = await open_person(stub)
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.TopUp(
            pb.TopUpRequest(
                idempotency_key=new_key(),
                account_id=account.account_id,
                amount=amount,
                bank_card_number=CARD,
            )
        )
    assert error_reason(refusal.value) == reason


async def test_transfer_moves_money_and_both_statements_show_it(stub, store) -> None:
    alice = await open_person(stub, "Alice")
    bob = await open_person(stub, "Bob")
    await top_up(stub, alice.account_id, 5_000)
    response = await stub.Transfer(
        pb.TransferRequest(
            idempotency_key=new_key(),
            from_account_id=alice.account_id,
            to_account_id=bob.account_id,
            amount=cny(1_250),
            memo="lunch",
        )
    )
    assert response.account.balance.amount_fen == 3_750  # 5,000 - 1,250

    alice_lines = (
        await stub.ListStatement(pb.ListStatementRequest(account_id=alice.account_id))
    ).entries
    assert [(e.kind, e.amount.amount_fen, e.balance_after.amount_fen) for e in alice_lines] == [
        ("transfer", -1_250, 3_750),
        ("top_up", 5_000, 5_000),
    ]
    assert alice_lines[0].counterpart_account_id == bob.account_id
    assert alice_lines[0].counterpart_name == "*ob"  # people are masked on others' statements
    assert alice_lines[0].memo == "lunch"
    bob_lines = (
        await stub.ListStatement(pb.ListStatementRequest(account_id=bob.account_id))
    ).entries
    assert [(e.amount.amount_fen, e.balance_after.amount_fen) for e in bob_lines] == [
        (1_250, 1_250)
    ]
    await assert_ledger_consistent(store)


async def test_transfer_beyond_the_balance_is_insufficient_funds_and_moves_nothing(
    stub, store
) -> None:
    alice = await open_person(stub)
    bob = await open_person(stub)
    await top_up(stub, alice.account_id, 100)
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.Transfer(
            pb.TransferRequest(
                idempotency_key=new_key(),
                from_account_id=alice.account_id,
                to_account_id=bob.account_id,
                amount=cny(101),
            )
        )
    assert refusal.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refusal.value) == "INSUFFICIENT_FUNDS"
    assert (await store.get_account(alice.account_id)).balance_fen == 100
    assert (await store.get_account(bob.account_id)).balance_fen == 0


async def test_transfer_to_an_unknown_account_is_not_found(stub) -> None:
    alice = await open_person(stub)
    await top_up(stub, alice.account_id, 100)
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.Transfer(
            pb.TransferRequest(
                idempotency_key=new_key(),
                from_account_id=alice.account_id,
                to_account_id="2088000000000000",
                amount=cny(1),
            )
        )
    assert refusal.value.code() == grpc.StatusCode.NOT_FOUND


async def test_transfer_replayed_with_the_same_key_moves_money_once(stub, store) -> None:
    alice = await open_person(stub)
    bob = await open_person(stub)
    await top_up(stub, alice.account_id, 1_000)
    request = pb.TransferRequest(
        idempotency_key=new_key(),
        from_account_id=alice.account_id,
        to_account_id=bob.account_id,
        amount=cny(300),
    )
    first = await stub.Transfer(request)
    again = await stub.Transfer(request)
    assert again == first
    assert (await store.get_account(alice.account_id)).balance_fen == 700


async def test_same_key_with_a_different_request_is_refused(stub, store) -> None:
    alice = await open_person(stub)
    bob = await open_person(stub)
    await top_up(stub, alice.account_id, 1_000)
    key = new_key()
    await stub.Transfer(
        pb.TransferRequest(
            idempotency_key=key,
            from_account_id=alice.account_id,
            to_account_id=bob.account_id,
            amount=cny(300),
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.Transfer(
            pb.TransferRequest(
                idempotency_key=key,
                from_account_id=alice.account_id,
                to_account_id=bob.account_id,
                amount=cny(301),
            )
        )
    assert refusal.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_reason(refusal.value) == "IDEMPOTENCY_KEY_REUSED"
    assert (await store.get_account(alice.account_id)).balance_fen == 700


async def test_a_refusal_is_replayed_for_the_same_key(stub) -> None:
    alice = await open_person(stub)
    bob = await open_person(stub)
    request = pb.TransferRequest(
        idempotency_key=new_key(),
        from_account_id=alice.account_id,
        to_account_id=bob.account_id,
        amount=cny(50),
    )
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as refusal:
            await stub.Transfer(request)
        assert error_reason(refusal.value) == "INSUFFICIENT_FUNDS"


async def test_withdrawal_pays_out_to_the_bank(stub, store) -> None:
    alice = await open_person(stub)
    await top_up(stub, alice.account_id, 2_000)
    await stub.BindCard(
        pb.BindCardRequest(
            idempotency_key=new_key(), account_id=alice.account_id, bank_card_number=ALICE_CARD
        )
    )
    response = await stub.Withdraw(
        pb.WithdrawRequest(
            idempotency_key=new_key(),
            account_id=alice.account_id,
            amount=cny(1_500),
            bank_card_number=ALICE_CARD,
        )
    )
    assert response.account.balance.amount_fen == 500
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.Withdraw(
            pb.WithdrawRequest(
                idempotency_key=new_key(),
                account_id=alice.account_id,
                amount=cny(501),
                bank_card_number=ALICE_CARD,
            )
        )
    assert error_reason(refusal.value) == "INSUFFICIENT_FUNDS"
    await assert_ledger_consistent(store)


async def test_declined_payout_keeps_the_money_in_the_account(stub, store) -> None:
    alice = await open_person(stub)
    await top_up(stub, alice.account_id, 2_000)
    # The card was bound while the bank still honoured it; it declines the payout.
    await store.bound_cards.insert_one(
        {
            "_id": new_card_id(),
            "account_id": alice.account_id,
            "card_number": "4000000000000002",
            "bound_at": datetime.now(UTC),
        }
    )
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.Withdraw(
            pb.WithdrawRequest(
                idempotency_key=new_key(),
                account_id=alice.account_id,
                amount=cny(1_000),
                bank_card_number="4000000000000002",
            )
        )
    assert error_reason(refusal.value) == "BANK_DECLINED"
    assert (await store.get_account(alice.account_id)).balance_fen == 2_000


async def test_statement_pages_cover_every_entry_once(stub) -> None:
    alice = await open_person(stub)
    for fen in range(1, 8):
        await top_up(stub, alice.account_id, fen)
    seen: list[int] = []
    token = ""
    for _ in range(10):  # 7 entries in pages of 3 need 3 pages
        page = await stub.ListStatement(
            pb.ListStatementRequest(
                account_id=alice.account_id,
                page=paging_pb2.PageRequest(page_size=3, page_token=token),
            )
        )
        seen += [e.amount.amount_fen for e in page.entries]
        token = page.page.next_page_token
        if not token:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]


async def test_statement_refuses_a_forged_page_token(stub) -> None:
    alice = await open_person(stub)
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.ListStatement(
            pb.ListStatementRequest(
                account_id=alice.account_id, page=paging_pb2.PageRequest(page_token="not-a-token")
            )
        )
    assert error_reason(refusal.value) == "INVALID_PAGE_TOKEN"


async def test_find_account_by_phone(stub) -> None:
    alice = await open_person(stub)
    found = await stub.FindAccountByPhone(pb.FindAccountByPhoneRequest(phone=alice.phone))
    assert found.account.account_id == alice.account_id
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.FindAccountByPhone(pb.FindAccountByPhoneRequest(phone="13000000000"))
    assert refusal.value.code() == grpc.StatusCode.NOT_FOUND


async def test_fifty_concurrent_transfers_from_an_account_that_affords_ten(stub, store) -> None:
    payer = await open_person(stub)
    payees = [await open_person(stub) for _ in range(5)]
    await top_up(stub, payer.account_id, 10 * 700)  # affords exactly ten transfers of 700

    async def transfer(i: int) -> bool:
        try:
            await stub.Transfer(
                pb.TransferRequest(
                    idempotency_key=new_key(),
                    from_account_id=payer.account_id,
                    to_account_id=payees[i % 5].account_id,
                    amount=cny(700),
                )
            )
        except grpc.aio.AioRpcError as refusal:
            # Past ten payments a minute, risk control's velocity rule may speak first.
            assert error_reason(refusal) in {"INSUFFICIENT_FUNDS", "RISK_CHALLENGE_REQUIRED"}
            return False
        return True

    outcomes = await asyncio.gather(*(transfer(i) for i in range(50)))
    assert sum(outcomes) == 10
    assert (await store.get_account(payer.account_id)).balance_fen == 0
    received = [(await store.get_account(p.account_id)).balance_fen for p in payees]
    assert sum(received) == 7_000
    await assert_ledger_consistent(store)


async def test_health_and_reflection_are_served(payment_address: str) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async with grpc.aio.insecure_channel(payment_address) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="colony.payment.v1.PaymentService")
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = [s.name async for r in responses for s in r.list_services_response.service]
        assert "colony.payment.v1.PaymentService" in names
