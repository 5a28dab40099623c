"""The insurance service through real gRPC and a real mongod: quote → buy → cancel with
refund, claims adjudicated and paid, duplicates, expiry by date, the report and the audit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc

from chassis.clock import business_date_of
from colony.insurance.v1 import insurance_pb2 as pb
from services.insurance.tests.support import (
    OMNIBUS,
    RunningInsurance,
    account_security_inputs,
    audit_balances,
    buy,
    claim,
    cny,
    events_of,
    new_key,
    new_person,
    pay_claim,
    quote,
    reason_of,
    refused,
)

ZHONGAN = "platform:insurance:insurer:zhongan"
FEED_DEADLINE_SECONDS = 10


async def test_products_are_listed_with_insurers_and_commission(
    insurance: RunningInsurance,
) -> None:
    products = (await insurance.stub.ListProducts(pb.ListProductsRequest())).products
    assert {product.product_id for product in products} == {
        "account-security",
        "return-shipping",
        "merchant-deposit",
        "travel",
        "health",
    }
    security = next(p for p in products if p.product_id == "account-security")
    assert security.cover_max.amount_fen == 100_000_000  # 1,000,000 yuan
    assert security.insurer_account_id == ZHONGAN and security.commission_rate == "0.20"


async def test_a_quote_expires_after_15_minutes_and_refuses_other_inputs(
    insurance: RunningInsurance,
) -> None:
    holder = new_person()
    inputs = account_security_inputs(holder, score=700)
    offer = await quote(insurance.stub, inputs)
    assert offer.premium.amount_fen == 108
    other = account_security_inputs(holder, score=900)

    async def try_buy(policy_id: str, with_inputs: pb.QuoteInputs) -> pb.TryBuyPolicyResponse:
        return await insurance.stub.TryBuyPolicy(
            pb.TryBuyPolicyRequest(
                idempotency_key=new_key(),
                policy_id=policy_id,
                quote_id=offer.quote_id,
                inputs=with_inputs,
            )
        )

    assert await refused(try_buy("p-other", other)) == "QUOTE_INPUTS_MISMATCH"
    insurance.clock.advance(timedelta(minutes=15))
    assert await refused(try_buy("p-late", inputs)) == "QUOTE_EXPIRED"


async def test_buy_then_cancel_in_cooling_off_refunds_everything_and_audit_follows(
    insurance: RunningInsurance,
) -> None:
    before = await audit_balances(insurance.stub)
    policy = await buy(insurance.stub, account_security_inputs(new_person(), score=400))
    # score 400: 218 fen; commission 218 x 0.20 = 43.6 -> 44; the insurer gets 174.
    assert policy.state == pb.POLICY_STATE_ACTIVE
    assert (policy.premium.amount_fen, policy.commission.amount_fen) == (218, 44)
    assert policy.cover_remaining.amount_fen == 100_000_000
    bought = await audit_balances(insurance.stub)
    assert bought[OMNIBUS] - before.get(OMNIBUS, 0) == 44
    assert bought[ZHONGAN] - before.get(ZHONGAN, 0) == 174
    assert await events_of(insurance.database, policy.policy_id) == ["insurance.policy.issued"]

    insurance.clock.advance(timedelta(days=14))
    cancelled = (
        await insurance.stub.CancelPolicy(
            pb.CancelPolicyRequest(idempotency_key=new_key(), policy_id=policy.policy_id)
        )
    ).policy
    assert cancelled.state == pb.POLICY_STATE_CANCELLED
    assert cancelled.refund_state == pb.REFUND_STATE_OWED
    assert (cancelled.refund.amount_fen, cancelled.refund_insurer_share.amount_fen) == (218, 174)
    refunded = (
        await insurance.stub.MarkRefundPaid(
            pb.MarkRefundPaidRequest(
                idempotency_key=new_key(),
                policy_id=policy.policy_id,
                insurer_transfer_id="refund-share-1",
                refund_transfer_id="refund-1",
            )
        )
    ).policy
    assert refunded.refund_state == pb.REFUND_STATE_PAID
    after = await audit_balances(insurance.stub)
    assert after[OMNIBUS] == before.get(OMNIBUS, 0)  # the commission went back too
    assert after[ZHONGAN] == before.get(ZHONGAN, 0)
    assert "insurance.policy.cancelled" in await events_of(insurance.database, policy.policy_id)


async def test_a_cancelled_try_burns_the_policy_id(insurance: RunningInsurance) -> None:
    inputs = account_security_inputs(new_person())
    offer = await quote(insurance.stub, inputs)
    cancelled = await insurance.stub.CancelPolicyPurchase(
        pb.CancelPolicyPurchaseRequest(idempotency_key=new_key(), policy_id="p-burnt")
    )
    assert cancelled.policy.state == pb.POLICY_STATE_VOID
    late_try = insurance.stub.TryBuyPolicy(
        pb.TryBuyPolicyRequest(
            idempotency_key=new_key(), policy_id="p-burnt", quote_id=offer.quote_id, inputs=inputs
        )
    )
    assert await refused(late_try) == "POLICY_PURCHASE_CANCELLED"


async def test_return_shipping_claim_is_approved_when_the_trade_is_refunded_and_paid(
    insurance: RunningInsurance,
) -> None:
    before = await audit_balances(insurance.stub)
    inputs = pb.QuoteInputs(
        product_id="return-shipping",
        holder_id=new_person(),
        trade_id="T-100",
        trade_amount=cny(60_000),
        merchant_refund_rate_bps=700,
    )
    policy = await buy(insurance.stub, inputs)
    # 100 + 50 (a 600-yuan trade) = 150 fen; commission 45; the insurer gets 105.
    assert policy.premium.amount_fen == 150
    refunded = pb.Evidence(kind=pb.EVIDENCE_KIND_TRADE_REFUNDED, reference="T-100")
    approved = await claim(insurance.stub, policy.policy_id, "T-100", 0, refunded)
    assert approved.state == pb.CLAIM_STATE_APPROVED and approved.amount.amount_fen == 1200
    paid = await pay_claim(insurance.stub, approved.claim_id)
    assert paid.state == pb.CLAIM_STATE_PAID
    assert await events_of(insurance.database, paid.claim_id) == [
        "insurance.claim.submitted",
        "insurance.claim.approved",
        "insurance.claim.paid",
    ]
    after = await audit_balances(insurance.stub)
    assert after[OMNIBUS] - before.get(OMNIBUS, 0) == 45
    assert after[ZHONGAN] - before.get(ZHONGAN, 0) == 105 - 1200  # insurer funded the claim
    again = claim(insurance.stub, policy.policy_id, "T-100", 0, refunded)
    assert await refused(again) == "DUPLICATE_CLAIM"
    exhausted = (
        await insurance.stub.GetPolicy(pb.GetPolicyRequest(policy_id=policy.policy_id))
    ).policy
    assert (exhausted.claims_paid.amount_fen, exhausted.cover_remaining.amount_fen) == (1200, 0)


async def test_deposit_insurance_pays_the_buyer_within_the_remaining_cover(
    insurance: RunningInsurance,
) -> None:
    merchant, buyer = new_person(), new_person()
    inputs = pb.QuoteInputs(
        product_id="merchant-deposit",
        holder_id=merchant,
        cover=cny(100_000),
        merchant_refund_rate_bps=100,
    )
    policy = await buy(insurance.stub, inputs)
    assert policy.premium.amount_fen == 1_500  # 1,000 yuan x 1.5%
    unfunded = pb.Evidence(kind=pb.EVIDENCE_KIND_MERCHANT_REFUND_UNFUNDED, reference="rf-1")
    first = await claim(
        insurance.stub, policy.policy_id, "rf-1", 70_000, unfunded, beneficiary=buyer
    )
    assert first.state == pb.CLAIM_STATE_APPROVED and first.beneficiary_id == buyer
    too_much = claim(insurance.stub, policy.policy_id, "rf-2", 30_001, beneficiary=buyer)
    assert await refused(too_much) == "CLAIM_EXCEEDS_COVER"
    cancel = insurance.stub.CancelPolicy(
        pb.CancelPolicyRequest(idempotency_key=new_key(), policy_id=policy.policy_id)
    )
    assert await refused(cancel) == "CLAIM_OPEN"
    await pay_claim(insurance.stub, first.claim_id)
    policy_now = (
        await insurance.stub.GetPolicy(pb.GetPolicyRequest(policy_id=policy.policy_id))
    ).policy
    assert policy_now.cover_remaining.amount_fen == 30_000
    await audit_balances(insurance.stub)


async def test_operator_reviews_a_health_claim_and_illegal_moves_are_refused(
    insurance: RunningInsurance,
) -> None:
    inputs = pb.QuoteInputs(
        product_id="health", holder_id=new_person(), insured_age=30, duration_days=180
    )
    policy = await buy(insurance.stub, inputs)
    assert policy.premium.amount_fen == 16_500
    waiting = await claim(insurance.stub, policy.policy_id, "hospital-1", 50_000)
    assert waiting.state == pb.CLAIM_STATE_ADJUDICATING
    queue = await insurance.stub.ListClaims(pb.ListClaimsRequest(state=pb.CLAIM_STATE_ADJUDICATING))
    assert waiting.claim_id in [item.claim_id for item in queue.claims]
    early_payment = pay_claim(insurance.stub, waiting.claim_id)
    assert await refused(early_payment) == "ILLEGAL_TRANSITION"
    rejected = await insurance.stub.ReviewClaim(
        pb.ReviewClaimRequest(
            idempotency_key=new_key(),
            claim_id=waiting.claim_id,
            decision=pb.REVIEW_DECISION_REJECT,
            operator_id="alice",
            reason="the stay is outside the cover",
        )
    )
    assert rejected.claim.state == pb.CLAIM_STATE_REJECTED
    assert rejected.claim.decision_reason == "the stay is outside the cover"
    approve_after = insurance.stub.ReviewClaim(
        pb.ReviewClaimRequest(
            idempotency_key=new_key(),
            claim_id=waiting.claim_id,
            decision=pb.REVIEW_DECISION_APPROVE,
            operator_id="alice",
        )
    )
    assert await refused(approve_after) == "ILLEGAL_TRANSITION"
    assert "insurance.claim.rejected" in await events_of(insurance.database, waiting.claim_id)


async def test_expiry_runs_once_per_business_date(insurance: RunningInsurance) -> None:
    inputs = pb.QuoteInputs(
        product_id="travel", holder_id=new_person(), insured_age=30, duration_days=7
    )
    policy = await buy(insurance.stub, inputs)
    end = policy.end_date
    insurance.clock.advance(timedelta(days=8))
    day = (await insurance.stub.GetPolicy(pb.GetPolicyRequest(policy_id=policy.policy_id))).policy
    assert day.state == pb.POLICY_STATE_ACTIVE
    run_date = business_date_of(insurance.clock.now()).isoformat()
    assert run_date > end
    first = await insurance.stub.RunPolicyExpiry(
        pb.RunPolicyExpiryRequest(idempotency_key=new_key(), business_date=run_date)
    )
    assert first.expired >= 1
    second = await insurance.stub.RunPolicyExpiry(
        pb.RunPolicyExpiryRequest(idempotency_key=new_key(), business_date=run_date)
    )
    assert second.already_completed and second.expired == 0
    expired = (
        await insurance.stub.GetPolicy(pb.GetPolicyRequest(policy_id=policy.policy_id))
    ).policy
    assert expired.state == pb.POLICY_STATE_EXPIRED
    assert "insurance.policy.expired" in await events_of(insurance.database, policy.policy_id)


async def test_report_and_event_feed(insurance: RunningInsurance) -> None:
    await buy(insurance.stub, account_security_inputs(new_person(), score=950))
    report = await insurance.stub.GetInsuranceReport(pb.GetInsuranceReportRequest())
    security = next(row for row in report.products if row.product_id == "account-security")
    assert security.policies_sold >= 1 and security.premiums.amount_fen >= 88
    # The sequencer positions events shortly after commit: poll the feed with a deadline.
    deadline = asyncio.get_running_loop().time() + FEED_DEADLINE_SECONDS
    types: list[str] = []
    while "insurance.policy.issued" not in types:
        assert asyncio.get_running_loop().time() < deadline, f"feed stayed at {types}"
        await asyncio.sleep(0.05)
        stream = insurance.stub.StreamEvents(pb.StreamEventsRequest(follow=False))
        types = [event.type async for batch in stream for event in batch.events]


async def test_concurrent_claims_never_exceed_the_cover_together(
    insurance: RunningInsurance,
) -> None:
    inputs = pb.QuoteInputs(
        product_id="merchant-deposit",
        holder_id=new_person(),
        cover=cny(100_000),
        merchant_refund_rate_bps=100,
    )
    policy = await buy(insurance.stub, inputs)
    buyer = new_person()
    # Five claims of 30,000 fen each against 100,000 of cover: at most three can stand.
    results = await asyncio.gather(
        *(
            claim(insurance.stub, policy.policy_id, f"rf-{n}", 30_000, beneficiary=buyer)
            for n in range(5)
        ),
        return_exceptions=True,
    )
    accepted = [result for result in results if isinstance(result, pb.Claim)]
    assert 1 <= len(accepted) <= 3
    for result in results:
        if not isinstance(result, pb.Claim):
            assert isinstance(result, grpc.aio.AioRpcError)
            assert reason_of(result) in {"CLAIM_EXCEEDS_COVER", "CONCURRENT_UPDATE"}
    after = (await insurance.stub.GetPolicy(pb.GetPolicyRequest(policy_id=policy.policy_id))).policy
    assert after.cover_remaining.amount_fen == 100_000 - 30_000 * len(accepted)
