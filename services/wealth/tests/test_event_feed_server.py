"""The wealth event feed over real gRPC: every change is in it, in commit order, resumable;
a refused call adds nothing. Also: health and reflection are served."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.server import SERVICE_NAME
from services.wealth.tests.support import (
    cny,
    new_investor,
    new_key,
    new_product,
    refused,
    subscribe_yuebao,
)

DEADLINE_SECONDS = 20.0


async def read_feed(stub, after: str, count: int) -> list:
    """Follow the feed from a position until count events arrived (bounded by a deadline)."""
    events: list = []
    call = stub.StreamEvents(pb.StreamEventsRequest(after_position=after, follow=True))
    try:
        async with asyncio.timeout(DEADLINE_SECONDS):
            async for message in call:
                events.extend(message.events)
                if len(events) >= count:
                    break
    finally:
        call.cancel()
    return events


async def all_events(stub) -> list:
    """Everything positioned so far (without following)."""
    events: list = []
    async for message in stub.StreamEvents(pb.StreamEventsRequest(batch_size=500)):
        events.extend(message.events)
    return events


async def test_the_feed_carries_every_change_in_commit_order(wealth) -> None:
    stub = wealth.stub
    investor = new_investor()
    await subscribe_yuebao(stub, investor, 10_000)  # tried, confirmed
    redemption_id = new_key()
    await stub.RedeemShares(
        pb.RedeemSharesRequest(
            idempotency_key=new_key(),
            redemption_id=redemption_id,
            investor_id=investor,
            amount=cny(4_000),
            mode=pb.REDEMPTION_MODE_FAST_ONLY,
        )
    )  # payout recorded, shares redeemed
    await stub.MarkPayoutPaid(
        pb.MarkPayoutPaidRequest(
            idempotency_key=new_key(), payout_id=f"{redemption_id}:fast", payment_posting_id="p-1"
        )
    )  # payout paid
    wealth.clock.advance(timedelta(days=1))
    yesterday = (wealth.clock.now() - timedelta(days=1)).date().isoformat()
    await stub.RunDailyIncome(pb.RunDailyIncomeRequest(business_date=yesterday))
    # run started, income credited, income distributed (no payout: it credited 0 fen)
    product = await new_product(wealth)  # product created

    expected = [
        ("wealth.purchase.tried", pb.Purchase),
        ("wealth.purchase.confirmed", pb.Purchase),
        ("wealth.payout.recorded", pb.Payout),
        ("wealth.yuebao.shares_redeemed", pb.Redemption),
        ("wealth.payout.paid", pb.Payout),
        ("wealth.yuebao.income_run_started", pb.IncomeRun),
        ("wealth.yuebao.income_credited", pb.IncomeCredited),
        ("wealth.yuebao.income_distributed", pb.IncomeRun),
        ("wealth.fixed_term.product_created", pb.Product),
    ]
    events = await read_feed(stub, "", len(expected))
    assert [int(e.position) for e in events] == list(range(1, len(expected) + 1))
    assert [e.type for e in events] == [event_type for event_type, _ in expected]
    for event, (_, payload_type) in zip(events, expected, strict=True):
        payload = payload_type()
        assert event.payload.Unpack(payload), f"{event.type} carries a {payload_type.__name__}"
    credited = pb.IncomeCredited()
    events[6].payload.Unpack(credited)
    # 6,000 shares at 0.4756 per 10,000 = 0.28536 fen: rounds down to nothing.
    assert (credited.income.investor_id, credited.income.income.amount_fen) == (investor, 0)
    assert events[-1].aggregate_id == product.product_id

    # A consumer resumes after any saved position; a refused call appends nothing.
    refusal = await refused(
        stub.RedeemShares(
            pb.RedeemSharesRequest(
                idempotency_key=new_key(),
                redemption_id=new_key(),
                investor_id=investor,
                amount=cny(1_000_000),
                mode=pb.REDEMPTION_MODE_FAST_ONLY,
            )
        )
    )
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION
    await subscribe_yuebao(stub, investor, 1)
    resumed = await read_feed(stub, events[-1].position, 2)
    assert [e.type for e in resumed] == ["wealth.purchase.tried", "wealth.purchase.confirmed"]
    assert len(await all_events(stub)) == len(expected) + 2


async def test_a_bad_position_is_refused(wealth) -> None:
    call = wealth.stub.StreamEvents(pb.StreamEventsRequest(after_position="abc"))
    with_error = await refused(_drain(call))
    assert with_error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_health_reports_the_wealth_service_serving(wealth) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{wealth.service.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert SERVICE_NAME == "colony.wealth.v1.WealthService"


async def _drain(call) -> None:
    async for _ in call:
        pass
