"""WithholdingService over real gRPC: a trade's instruction is applied inside its settlement
(one posting: escrow → lender, merchant, fee), a merchant-wide one on every later settlement
until its amount is withheld, refusals change nothing, and the books stay consistent."""

from __future__ import annotations

import grpc
import pytest

from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import withholding_pb2 as wpb
from colony.payment.v1 import withholding_pb2_grpc
from services.payment.tests.support import assert_ledger_consistent, cny, new_key
from services.payment.tests.trade_support import (
    Parties,
    RunningPayment,
    balance_fen,
    confirm,
    create_trade,
    error_info,
    pay_trade,
    refused,
    ship,
    trade_parties,
)

LENDER = "platform:loan:order_test"
W = withholding_pb2_grpc.WithholdingServiceStub


@pytest.fixture(scope="module")
async def withholding(payment: RunningPayment) -> W:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{payment.service.port}")
    await payment.stub.EnsurePlatformAccount(
        pb.EnsurePlatformAccountRequest(
            account_id=LENDER, display_name="order loans", external_party=True
        )
    )
    return withholding_pb2_grpc.WithholdingServiceStub(channel)


async def set_withholding(
    stub: W, merchant: str, fen: int, trade_id: str = "", wid: str | None = None
) -> wpb.Withholding:
    response = await stub.SetWithholding(
        wpb.SetWithholdingRequest(
            idempotency_key=new_key(),
            withholding_id=wid or new_key(),
            merchant_account_id=merchant,
            trade_id=trade_id,
            account_id=LENDER,
            reference="loan-1",
            amount=cny(fen),
        )
    )
    return response.withholding


async def paid_trade(payment: RunningPayment, fen: int, parties: Parties | None = None) -> pb.Trade:
    parties = parties or await trade_parties(payment.stub, buyer_fen=fen)
    trade = await create_trade(payment.stub, parties, fen)
    await pay_trade(payment.stub, trade)
    return trade


async def test_a_trade_instruction_is_withheld_inside_the_settlement(
    payment: RunningPayment, withholding: W
) -> None:
    stub = payment.stub
    trade = await paid_trade(payment, 100_000)
    merchant = trade.merchant_account_id
    lender_before = await balance_fen(stub, LENDER)
    instruction = await set_withholding(withholding, merchant, 80_000, trade.trade_id)
    assert instruction.state == wpb.WITHHOLDING_STATE_ACTIVE
    await ship(stub, trade)
    settled = await confirm(stub, trade)
    # 100,000 - 0.6% fee = 99,400 net: 80,000 to the lender, 19,400 to the merchant
    assert await balance_fen(stub, merchant) == 19_400
    assert await balance_fen(stub, LENDER) == lender_before + 80_000
    got = await withholding.GetWithholding(
        wpb.GetWithholdingRequest(withholding_id=instruction.withholding_id)
    )
    assert got.withholding.state == wpb.WITHHOLDING_STATE_DONE
    [application] = got.withholding.applications
    assert application.posting_id == settled.posting.posting_id
    assert application.amount.amount_fen == 80_000
    await assert_ledger_consistent(payment.store)


async def test_a_merchant_wide_instruction_takes_every_settlement_until_done(
    payment: RunningPayment, withholding: W
) -> None:
    stub = payment.stub
    parties = await trade_parties(stub, buyer_fen=300_000)
    first = await paid_trade(payment, 100_000, parties)
    second = await paid_trade(payment, 100_000, parties)
    instruction = await set_withholding(withholding, parties.merchant, 150_000)
    for trade in (first, second):
        await ship(stub, trade)
        await confirm(stub, trade)
    # 99,400 withheld, then the 50,600 left of 150,000: the merchant keeps 48,800
    assert await balance_fen(stub, parties.merchant) == 99_400 * 2 - 150_000
    listed = await withholding.ListWithholdings(wpb.ListWithholdingsRequest(reference="loan-1"))
    mine = next(w for w in listed.withholdings if w.withholding_id == instruction.withholding_id)
    assert [a.amount.amount_fen for a in mine.applications] == [99_400, 50_600]
    assert mine.state == wpb.WITHHOLDING_STATE_DONE
    third = await paid_trade(payment, 10_000, parties)
    await ship(stub, third)
    await confirm(stub, third)
    assert await balance_fen(stub, parties.merchant) == 99_400 * 2 - 150_000 + 9_940
    await assert_ledger_consistent(payment.store)


async def test_refusals_and_release(payment: RunningPayment, withholding: W) -> None:
    stub = payment.stub
    trade = await paid_trade(payment, 10_000)
    other = await trade_parties(stub, buyer_fen=0)
    error = await refused(
        withholding.SetWithholding(
            wpb.SetWithholdingRequest(
                idempotency_key=new_key(),
                withholding_id="w-not-theirs",
                merchant_account_id=other.merchant,
                trade_id=trade.trade_id,
                account_id=LENDER,
                reference="loan-2",
                amount=cny(1_000),
            )
        )
    )
    assert error_info(error).reason == "ILLEGAL_TRANSITION"
    # a release before the set leaves a tombstone: the late set is refused
    await withholding.ReleaseWithholding(
        wpb.ReleaseWithholdingRequest(idempotency_key=new_key(), withholding_id="w-late")
    )
    late = await refused(
        set_withholding(withholding, trade.merchant_account_id, 1_000, wid="w-late")
    )
    assert late.code() == grpc.StatusCode.FAILED_PRECONDITION
    # a released instruction withholds nothing
    instruction = await set_withholding(
        withholding, trade.merchant_account_id, 5_000, trade.trade_id
    )
    await withholding.ReleaseWithholding(
        wpb.ReleaseWithholdingRequest(
            idempotency_key=new_key(), withholding_id=instruction.withholding_id
        )
    )
    await ship(stub, trade)
    await confirm(stub, trade)
    assert await balance_fen(stub, trade.merchant_account_id) == 9_940
    await assert_ledger_consistent(payment.store)


async def test_a_frozen_store_takes_no_new_trades_and_says_why(
    payment: RunningPayment, withholding: W
) -> None:
    stub = payment.stub
    parties = await trade_parties(stub, buyer_fen=30_000)
    before = await paid_trade(payment, 10_000, parties)
    frozen = await withholding.SetStoreFreeze(
        wpb.SetStoreFreezeRequest(
            idempotency_key=new_key(),
            merchant_account_id=parties.merchant,
            frozen=True,
            reason="order loan ol_1 overdue 95 days",
        )
    )
    assert frozen.freeze.frozen
    error = await refused(create_trade(stub, parties, 5_000))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(error).reason == "STORE_FROZEN"
    assert error_info(error).metadata["reason"] == "order loan ol_1 overdue 95 days"
    # a trade made before still settles
    await ship(stub, before)
    await confirm(stub, before)
    assert await balance_fen(stub, parties.merchant) == 9_940
    no_reason = await refused(
        withholding.SetStoreFreeze(
            wpb.SetStoreFreezeRequest(
                idempotency_key=new_key(), merchant_account_id=parties.merchant, frozen=True
            )
        )
    )
    assert no_reason.code() == grpc.StatusCode.INVALID_ARGUMENT
    await withholding.SetStoreFreeze(
        wpb.SetStoreFreezeRequest(
            idempotency_key=new_key(), merchant_account_id=parties.merchant, frozen=False
        )
    )
    got = await withholding.GetStoreFreeze(
        wpb.GetStoreFreezeRequest(merchant_account_id=parties.merchant)
    )
    assert not got.freeze.frozen
    await create_trade(stub, parties, 5_000)  # open again
