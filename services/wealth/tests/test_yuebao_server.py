"""Yu'e Bao over real gRPC: subscription TCC, redemption, the fast cap per date, payouts, audit."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import grpc

from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.payouts import YUEBAO_OMNIBUS_ACCOUNT_ID
from services.wealth.tests.support import (
    YUAN,
    assert_audit_clean,
    cny,
    error_info,
    new_investor,
    new_key,
    omnibus,
    refused,
    subscribe_yuebao,
)

FAST_CAP_FEN = 10_000 * YUAN


def redeem_request(
    investor_id: str, fen: int, mode: int = pb.REDEMPTION_MODE_FAST_THEN_NORMAL
) -> pb.RedeemSharesRequest:
    return pb.RedeemSharesRequest(
        idempotency_key=new_key(),
        redemption_id=f"saga-{uuid.uuid4().hex}:redeem",
        investor_id=investor_id,
        amount=cny(fen),
        mode=mode,
    )


async def account(stub, investor_id: str) -> pb.YuebaoAccount:
    return (
        await stub.GetYuebaoAccount(pb.GetYuebaoAccountRequest(investor_id=investor_id))
    ).account


async def test_shares_are_issued_pending_and_credited_at_confirm(wealth) -> None:
    stub = wealth.stub
    investor = new_investor()
    request = pb.IssueSharesRequest(
        idempotency_key=new_key(),
        purchase_id="saga-1:issue",
        investor_id=investor,
        amount=cny(1_234),
    )
    issued = await stub.IssueShares(request)
    assert issued.purchase.state == pb.PURCHASE_STATE_PENDING
    assert issued.purchase.credit_account_id == YUEBAO_OMNIBUS_ACCOUNT_ID
    assert issued.purchase.amount.amount_fen == 1_234
    pending = await account(stub, investor)
    assert (pending.shares.amount_fen, pending.pending_subscriptions.amount_fen) == (0, 1_234)

    confirm = pb.ConfirmPurchaseRequest(
        idempotency_key=new_key(), purchase_id="saga-1:issue", payment_posting_id="posting-1"
    )
    confirmed = await stub.ConfirmPurchase(confirm)
    assert confirmed.purchase.state == pb.PURCHASE_STATE_CONFIRMED
    assert confirmed.yuebao_account.shares.amount_fen == 1_234  # NAV 1.00: a share per fen
    assert confirmed.yuebao_account.pending_subscriptions.amount_fen == 0
    # Replays (the same key, or the same purchase under another key) change nothing.
    assert await stub.IssueShares(request) == issued
    assert await stub.ConfirmPurchase(confirm) == confirmed
    again = await stub.ConfirmPurchase(
        pb.ConfirmPurchaseRequest(
            idempotency_key=new_key(), purchase_id="saga-1:issue", payment_posting_id="posting-1"
        )
    )
    assert again.purchase == confirmed.purchase
    settled = await account(stub, investor)
    assert (settled.shares.amount_fen, settled.pending_subscriptions.amount_fen) == (1_234, 0)
    await assert_audit_clean(stub)


async def test_an_idempotency_key_reused_with_other_terms_is_refused(wealth) -> None:
    request = pb.IssueSharesRequest(
        idempotency_key=new_key(), purchase_id=new_key(), investor_id=new_investor(), amount=cny(5)
    )
    await wealth.stub.IssueShares(request)
    request.amount.amount_fen = 6
    error = await refused(wealth.stub.IssueShares(request))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(error).reason == "IDEMPOTENCY_KEY_REUSED"


async def test_the_minimum_subscription_is_one_fen(wealth) -> None:
    investor = new_investor()
    confirmed = await subscribe_yuebao(wealth.stub, investor, 1)
    assert confirmed.yuebao_account.shares.amount_fen == 1
    error = await refused(
        wealth.stub.IssueShares(
            pb.IssueSharesRequest(
                idempotency_key=new_key(),
                purchase_id=new_key(),
                investor_id=investor,
                amount=cny(0),
            )
        )
    )
    assert (error.code(), error_info(error).reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_AMOUNT",
    )


async def test_a_cancelled_issue_credits_nothing_and_cannot_be_confirmed(wealth) -> None:
    stub = wealth.stub
    investor = new_investor()
    purchase_id = new_key()
    await stub.IssueShares(
        pb.IssueSharesRequest(
            idempotency_key=new_key(),
            purchase_id=purchase_id,
            investor_id=investor,
            amount=cny(700),
        )
    )
    cancelled = await stub.CancelPurchase(
        pb.CancelPurchaseRequest(idempotency_key=new_key(), purchase_id=purchase_id)
    )
    assert cancelled.purchase.state == pb.PURCHASE_STATE_CANCELLED
    error = await refused(
        stub.ConfirmPurchase(
            pb.ConfirmPurchaseRequest(idempotency_key=new_key(), purchase_id=purchase_id)
        )
    )
    assert error_info(error).reason == "PURCHASE_CANCELLED"
    figures = await account(stub, investor)
    assert (figures.shares.amount_fen, figures.pending_subscriptions.amount_fen) == (0, 0)


async def test_a_cancel_before_the_issue_burns_the_purchase_id(wealth) -> None:
    purchase_id = new_key()
    tombstone = await wealth.stub.CancelPurchase(
        pb.CancelPurchaseRequest(idempotency_key=new_key(), purchase_id=purchase_id)
    )
    assert tombstone.purchase.cancelled_before_tried
    error = await refused(
        wealth.stub.IssueShares(
            pb.IssueSharesRequest(
                idempotency_key=new_key(),
                purchase_id=purchase_id,
                investor_id=new_investor(),
                amount=cny(100),
            )
        )
    )
    assert (error.code(), error_info(error).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PURCHASE_CANCELLED",
    )


async def test_a_confirmed_purchase_cannot_be_cancelled(wealth) -> None:
    confirmed = await subscribe_yuebao(wealth.stub, new_investor(), 300)
    error = await refused(
        wealth.stub.CancelPurchase(
            pb.CancelPurchaseRequest(
                idempotency_key=new_key(), purchase_id=confirmed.purchase.purchase_id
            )
        )
    )
    assert error_info(error).reason == "PURCHASE_ALREADY_CONFIRMED"


async def test_redeem_is_idempotent_and_owes_a_saga_payout(wealth) -> None:
    stub = wealth.stub
    investor = new_investor()
    await subscribe_yuebao(stub, investor, 5_000 * YUAN)
    request = redeem_request(investor, 1_000 * YUAN)
    redeemed = await stub.RedeemShares(request)
    assert (redeemed.redemption.fast.amount_fen, redeemed.redemption.normal.amount_fen) == (
        1_000 * YUAN,
        0,
    )
    (payout,) = redeemed.redemption.payouts
    assert payout.payout_id == f"{request.redemption_id}:fast"
    assert (payout.from_account_id, payout.to_account_id) == (YUEBAO_OMNIBUS_ACCOUNT_ID, investor)
    assert (payout.settlement, payout.state) == (pb.PAYOUT_SETTLEMENT_SAGA, pb.PAYOUT_STATE_DUE)
    assert redeemed.account.shares.amount_fen == 4_000 * YUAN
    assert await stub.RedeemShares(request) == redeemed
    # The same redemption id under a new key is the same redemption, not a second one.
    request.idempotency_key = new_key()
    again = await stub.RedeemShares(request)
    assert again.redemption == redeemed.redemption
    assert (await account(stub, investor)).shares.amount_fen == 4_000 * YUAN
    await assert_audit_clean(stub)


async def test_redeeming_more_than_held_is_insufficient_funds(wealth) -> None:
    investor = new_investor()
    await subscribe_yuebao(wealth.stub, investor, 500)
    error = await refused(wealth.stub.RedeemShares(redeem_request(investor, 501)))
    assert (error.code(), error_info(error).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INSUFFICIENT_FUNDS",
    )


async def test_concurrent_redemptions_never_redeem_more_than_held(wealth) -> None:
    investor = new_investor()
    await subscribe_yuebao(wealth.stub, investor, 1_000)
    outcomes = await asyncio.gather(
        *(wealth.stub.RedeemShares(redeem_request(investor, 200)) for _ in range(10)),
        return_exceptions=True,
    )
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(outcomes) - len(refusals) == 5
    assert {error_info(e).reason for e in refusals} == {"INSUFFICIENT_FUNDS"}
    assert (await account(wealth.stub, investor)).shares.amount_fen == 0
    await assert_audit_clean(wealth.stub)


async def test_a_cancelled_redemption_gives_back_shares_and_the_fast_allowance(wealth) -> None:
    stub = wealth.stub
    investor = new_investor()
    await subscribe_yuebao(stub, investor, 3_000 * YUAN)
    request = redeem_request(investor, 3_000 * YUAN, pb.REDEMPTION_MODE_FAST_ONLY)
    redeemed = await stub.RedeemShares(request)
    assert redeemed.account.fast_redemption_allowance.amount_fen == FAST_CAP_FEN - 3_000 * YUAN
    for _ in range(2):
        cancelled = await stub.CancelRedemption(
            pb.CancelRedemptionRequest(
                idempotency_key=new_key(), redemption_id=request.redemption_id
            )
        )
        assert cancelled.redemption.state == pb.REDEMPTION_STATE_CANCELLED
        assert [p.state for p in cancelled.redemption.payouts] == [pb.PAYOUT_STATE_CANCELLED]
    restored = await account(stub, investor)
    assert restored.shares.amount_fen == 3_000 * YUAN
    assert restored.fast_redemption_allowance.amount_fen == FAST_CAP_FEN
    request.idempotency_key = new_key()
    error = await refused(stub.RedeemShares(request))
    assert error_info(error).reason == "REDEMPTION_CANCELLED"
    await assert_audit_clean(stub)


async def test_a_cancel_before_the_redemption_burns_its_id(wealth) -> None:
    investor = new_investor()
    await subscribe_yuebao(wealth.stub, investor, 100)
    request = redeem_request(investor, 100)
    tombstone = await wealth.stub.CancelRedemption(
        pb.CancelRedemptionRequest(idempotency_key=new_key(), redemption_id=request.redemption_id)
    )
    assert tombstone.redemption.cancelled_before_created
    error = await refused(wealth.stub.RedeemShares(request))
    assert error_info(error).reason == "REDEMPTION_CANCELLED"
    assert (await account(wealth.stub, investor)).shares.amount_fen == 100


async def test_a_paid_redemption_cannot_be_cancelled(wealth) -> None:
    investor = new_investor()
    await subscribe_yuebao(wealth.stub, investor, 800)
    request = redeem_request(investor, 800, pb.REDEMPTION_MODE_FAST_ONLY)
    await wealth.stub.RedeemShares(request)
    await wealth.stub.MarkPayoutPaid(
        pb.MarkPayoutPaidRequest(
            idempotency_key=new_key(),
            payout_id=f"{request.redemption_id}:fast",
            payment_posting_id="posting-fast",
        )
    )
    error = await refused(
        wealth.stub.CancelRedemption(
            pb.CancelRedemptionRequest(
                idempotency_key=new_key(), redemption_id=request.redemption_id
            )
        )
    )
    assert error_info(error).reason == "REDEMPTION_ALREADY_PAID"


async def test_fast_redemption_is_capped_per_business_date(wealth) -> None:
    stub = wealth.stub
    investor = new_investor()
    await subscribe_yuebao(stub, investor, 30_000 * YUAN)
    first = await stub.RedeemShares(redeem_request(investor, 8_000 * YUAN))
    assert first.redemption.fast.amount_fen == 8_000 * YUAN
    # Paying with Yu'e Bao is fast only: 3,000 yuan is above the 2,000 left today.
    error = await refused(
        stub.RedeemShares(redeem_request(investor, 3_000 * YUAN, pb.REDEMPTION_MODE_FAST_ONLY))
    )
    assert (error.code(), error_info(error).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "FAST_REDEMPTION_LIMIT_EXCEEDED",
    )
    assert error_info(error).metadata["allowance_fen"] == str(2_000 * YUAN)
    # A plain redemption takes the 2,000 left fast and the rest normal, settling tomorrow.
    split = await stub.RedeemShares(redeem_request(investor, 3_000 * YUAN))
    assert (split.redemption.fast.amount_fen, split.redemption.normal.amount_fen) == (
        2_000 * YUAN,
        1_000 * YUAN,
    )
    today = split.redemption.business_date
    assert split.redemption.settles_on > today
    fast, normal = split.redemption.payouts
    assert (fast.due_on, fast.settlement) == (today, pb.PAYOUT_SETTLEMENT_SAGA)
    assert (normal.due_on, normal.settlement) == (
        split.redemption.settles_on,
        pb.PAYOUT_SETTLEMENT_SCHEDULED,
    )
    assert split.account.fast_redemption_allowance.amount_fen == 0

    wealth.clock.advance(timedelta(days=1))  # the next business date: a fresh allowance
    assert (await account(stub, investor)).fast_redemption_allowance.amount_fen == FAST_CAP_FEN
    next_day = await stub.RedeemShares(
        redeem_request(investor, 10_000 * YUAN, pb.REDEMPTION_MODE_FAST_ONLY)
    )
    assert next_day.redemption.fast.amount_fen == FAST_CAP_FEN
    assert next_day.account.shares.amount_fen == 9_000 * YUAN
    await assert_audit_clean(stub)


async def test_a_normal_redemption_is_paid_by_the_payout_job_on_the_next_date(wealth) -> None:
    stub = wealth.stub
    investor = new_investor()
    await subscribe_yuebao(stub, investor, 600)
    redeemed = await stub.RedeemShares(
        redeem_request(investor, 600, pb.REDEMPTION_MODE_NORMAL_ONLY)
    )
    (payout,) = redeemed.redemption.payouts
    today, tomorrow = redeemed.redemption.business_date, redeemed.redemption.settles_on

    async def due_ids(business_date: str) -> set[str]:
        ids: set[str] = set()
        token = ""
        for _ in range(100):
            page = await stub.ListDuePayouts(
                pb.ListDuePayoutsRequest(
                    business_date=business_date, page={"page_size": 50, "page_token": token}
                )
            )
            ids.update(p.payout_id for p in page.payouts)
            token = page.page.next_page_token
            if not token:
                return ids
        raise AssertionError("more pages than expected")

    assert payout.payout_id not in await due_ids(today)
    assert payout.payout_id in await due_ids(tomorrow)
    mark = pb.MarkPayoutPaidRequest(
        idempotency_key=new_key(), payout_id=payout.payout_id, payment_posting_id="posting-n"
    )
    paid = await stub.MarkPayoutPaid(mark)
    assert paid.payout.state == pb.PAYOUT_STATE_PAID
    mark.idempotency_key = new_key()
    assert (await stub.MarkPayoutPaid(mark)).payout == paid.payout  # the same posting again
    mark.idempotency_key, mark.payment_posting_id = new_key(), "another-posting"
    error = await refused(stub.MarkPayoutPaid(mark))
    assert error_info(error).reason == "PAYOUT_ALREADY_PAID"
    assert payout.payout_id not in await due_ids(tomorrow)


async def test_the_audit_expects_the_omnibus_to_follow_shares_and_unpaid_payouts(wealth) -> None:
    stub = wealth.stub

    async def expected_fen() -> int:
        audit = await assert_audit_clean(stub)
        return omnibus(audit, YUEBAO_OMNIBUS_ACCOUNT_ID).expected_balance.amount_fen

    before = await expected_fen()
    investor = new_investor()
    await subscribe_yuebao(stub, investor, 10_000)  # the saga captured 10,000 into the omnibus
    assert await expected_fen() == before + 10_000
    request = redeem_request(investor, 2_500, pb.REDEMPTION_MODE_FAST_ONLY)
    await stub.RedeemShares(request)  # owed, not yet paid out: still in the omnibus
    assert await expected_fen() == before + 10_000
    await stub.MarkPayoutPaid(
        pb.MarkPayoutPaidRequest(
            idempotency_key=new_key(),
            payout_id=f"{request.redemption_id}:fast",
            payment_posting_id="posting-a",
        )
    )
    assert await expected_fen() == before + 7_500
