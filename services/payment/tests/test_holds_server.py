"""Holds over real gRPC: available balance, capture, void, void-before-create, concurrency."""

from __future__ import annotations

import asyncio
import uuid

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


def hold_id() -> str:
    return f"saga-{uuid.uuid4().hex}:step-1"


async def funded_buyer(stub, fen: int) -> pb.Account:
    buyer = await open_person(stub)
    await top_up(stub, buyer.account_id, fen)
    return buyer


async def test_a_hold_reduces_available_but_not_balance(stub, store) -> None:
    buyer = await funded_buyer(stub, 10_000)
    response = await stub.CreateHold(
        pb.CreateHoldRequest(hold_id=hold_id(), account_id=buyer.account_id, amount=cny(3_000))
    )
    assert response.hold.state == pb.HOLD_STATE_HELD
    assert response.account.balance.amount_fen == 10_000
    assert response.account.available.amount_fen == 7_000
    # Held money cannot be spent elsewhere: 7,001 of the 10,000 is one fen too many.
    merchant = await open_merchant(stub)
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await transfer(stub, buyer.account_id, merchant.account_id, 7_001)
    assert error_reason(refusal.value) == "INSUFFICIENT_FUNDS"
    await assert_ledger_consistent(store)


async def test_a_hold_above_available_is_insufficient_funds(stub) -> None:
    buyer = await funded_buyer(stub, 500)
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.CreateHold(
            pb.CreateHoldRequest(hold_id=hold_id(), account_id=buyer.account_id, amount=cny(501))
        )
    assert error_reason(refusal.value) == "INSUFFICIENT_FUNDS"


async def test_a_hold_reserves_only_what_an_account_that_may_go_negative_has(stub, store) -> None:
    # An external party's account pays beyond its balance by movements, never by a hold.
    external = f"platform:test:external-{uuid.uuid4().hex[:8]}"
    await stub.EnsurePlatformAccount(
        pb.EnsurePlatformAccountRequest(
            account_id=external, display_name="a partner", external_party=True
        )
    )
    person = await open_person(stub)
    await stub.PlatformTransfer(
        pb.PlatformTransferRequest(
            idempotency_key=hold_id(),
            from_account_id=external,
            to_account_id=person.account_id,
            amount=cny(1_000),
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.CreateHold(
            pb.CreateHoldRequest(hold_id=hold_id(), account_id=external, amount=cny(1))
        )
    assert refusal.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refusal.value) == "INSUFFICIENT_FUNDS"
    await assert_ledger_consistent(store)


async def test_capture_posts_the_captured_part_and_releases_the_rest(stub, store) -> None:
    buyer = await funded_buyer(stub, 10_000)
    merchant = await open_merchant(stub)
    hid = hold_id()
    await stub.CreateHold(
        pb.CreateHoldRequest(hold_id=hid, account_id=buyer.account_id, amount=cny(3_000))
    )
    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(hold_id=hid, amount=cny(2_500), credit_account_id=merchant.account_id)
    )
    assert captured.hold.state == pb.HOLD_STATE_CAPTURED
    assert captured.hold.captured_amount.amount_fen == 2_500
    buyer_after = await store.get_account(buyer.account_id)
    assert (buyer_after.balance_fen, buyer_after.available_fen) == (7_500, 7_500)
    assert (await store.get_account(merchant.account_id)).balance_fen == 2_500
    lines = (await stub.ListStatement(pb.ListStatementRequest(account_id=buyer.account_id))).entries
    assert (lines[0].kind, lines[0].amount.amount_fen, lines[0].reference) == (
        "hold_capture",
        -2_500,
        hid,
    )
    again = await stub.CaptureHold(
        pb.CaptureHoldRequest(hold_id=hid, amount=cny(2_500), credit_account_id=merchant.account_id)
    )
    assert again.posting.posting_id == captured.posting.posting_id
    assert (await store.get_account(merchant.account_id)).balance_fen == 2_500
    await assert_ledger_consistent(store)


async def test_void_releases_the_hold_and_is_idempotent(stub, store) -> None:
    buyer = await funded_buyer(stub, 1_000)
    hid = hold_id()
    await stub.CreateHold(
        pb.CreateHoldRequest(hold_id=hid, account_id=buyer.account_id, amount=cny(1_000))
    )
    for _ in range(2):
        voided = await stub.VoidHold(pb.VoidHoldRequest(hold_id=hid, reason="saga compensated"))
        assert voided.hold.state == pb.HOLD_STATE_VOIDED
    assert (await store.get_account(buyer.account_id)).available_fen == 1_000
    await assert_ledger_consistent(store)


async def test_a_void_before_its_hold_burns_the_id(stub, store) -> None:
    buyer = await funded_buyer(stub, 1_000)
    hid = hold_id()
    voided = await stub.VoidHold(pb.VoidHoldRequest(hold_id=hid))
    assert voided.hold.voided_before_created
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.CreateHold(
            pb.CreateHoldRequest(hold_id=hid, account_id=buyer.account_id, amount=cny(100))
        )
    assert refusal.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refusal.value) == "HOLD_VOIDED"
    assert (await store.get_account(buyer.account_id)).available_fen == 1_000


async def test_create_hold_is_idempotent_by_hold_id(stub, store) -> None:
    buyer = await funded_buyer(stub, 1_000)
    request = pb.CreateHoldRequest(hold_id=hold_id(), account_id=buyer.account_id, amount=cny(600))
    first = await stub.CreateHold(request)
    again = await stub.CreateHold(request)
    assert again.hold == first.hold
    assert (await store.get_account(buyer.account_id)).available_fen == 400


async def test_concurrent_captures_capture_once(stub, store) -> None:
    buyer = await funded_buyer(stub, 5_000)
    merchant = await open_merchant(stub)
    hid = hold_id()
    await stub.CreateHold(
        pb.CreateHoldRequest(hold_id=hid, account_id=buyer.account_id, amount=cny(5_000))
    )
    request = pb.CaptureHoldRequest(hold_id=hid, credit_account_id=merchant.account_id)
    responses = await asyncio.gather(*(stub.CaptureHold(request) for _ in range(10)))
    assert len({r.posting.posting_id for r in responses}) == 1
    assert (await store.get_account(merchant.account_id)).balance_fen == 5_000
    assert (await store.get_account(buyer.account_id)).balance_fen == 0
    await assert_ledger_consistent(store)


async def test_capture_racing_void_ends_in_exactly_one_outcome(stub, store) -> None:
    for _ in range(5):
        buyer = await funded_buyer(stub, 1_000)
        merchant = await open_merchant(stub)
        hid = hold_id()
        await stub.CreateHold(
            pb.CreateHoldRequest(hold_id=hid, account_id=buyer.account_id, amount=cny(1_000))
        )
        outcomes = await asyncio.gather(
            stub.CaptureHold(
                pb.CaptureHoldRequest(hold_id=hid, credit_account_id=merchant.account_id)
            ),
            stub.VoidHold(pb.VoidHoldRequest(hold_id=hid)),
            return_exceptions=True,
        )
        hold = (await stub.GetHold(pb.GetHoldRequest(hold_id=hid))).hold
        merchant_fen = (await store.get_account(merchant.account_id)).balance_fen
        if hold.state == pb.HOLD_STATE_CAPTURED:
            assert merchant_fen == 1_000
            assert isinstance(outcomes[1], grpc.aio.AioRpcError)
            assert error_reason(outcomes[1]) == "HOLD_ALREADY_CAPTURED"
        else:
            assert hold.state == pb.HOLD_STATE_VOIDED
            assert merchant_fen == 0
            assert isinstance(outcomes[0], grpc.aio.AioRpcError)
            assert error_reason(outcomes[0]) == "HOLD_VOIDED"
    await assert_ledger_consistent(store)


async def test_unknown_hold_is_not_found(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.GetHold(pb.GetHoldRequest(hold_id="no-such-hold"))
    assert refusal.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_hold_that_reserves_a_payment_is_screened_by_risk_control(stub, store) -> None:
    buyer = await funded_buyer(stub, 10_000)
    merchant = await open_merchant(stub)
    await stub.SetBlacklisted(
        pb.SetBlacklistedRequest(
            account_id=merchant.account_id, blacklisted=True, reason="fraud ring"
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await stub.CreateHold(
            pb.CreateHoldRequest(
                hold_id=hold_id(),
                account_id=buyer.account_id,
                amount=cny(1_000),
                payee_account_id=merchant.account_id,
            )
        )
    assert error_reason(refusal.value) == "RISK_DENIED"
    assert (await store.get_account(buyer.account_id)).available_fen == 10_000
    # A hold for the payer's own purposes (no payee) is not a payment to screen.
    held = await stub.CreateHold(
        pb.CreateHoldRequest(hold_id=hold_id(), account_id=buyer.account_id, amount=cny(1_000))
    )
    assert held.hold.state == pb.HOLD_STATE_HELD
