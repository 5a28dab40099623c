"""Zhaocaibao reservations (预约) over real gRPC: the matching run of a newly listed product.

Four standing orders, in reservation order, and a product of 182 days at 4.55% with a
quota of 60,000 yuan (minimum 1,000):
  R1  X wants 50,000, yield >= 4.00%, term <= 200 days; X has 40,000 available -> 40,000
  R2  Y wants 30,000, yield >= 5.00%                    -> no match (the yield is too low)
  R3  Z wants 30,000, yield >= 4.00%, term <= 365; Z has 100,000 -> the 20,000 quota left
  R4  W wants 10,000                                     -> nothing (the quota is gone)
"""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.tests.support import (
    YUAN,
    assert_audit_clean,
    cny,
    error_info,
    new_key,
    new_product,
    refused,
)

X, Y, Z, W = "2088500000000001", "2088500000000002", "2088500000000003", "2088500000000004"


async def reserve(
    stub, investor_id: str, yuan: int, yield_min: str, term_max: int
) -> pb.Reservation:
    response = await stub.CreateReservation(
        pb.CreateReservationRequest(
            idempotency_key=new_key(),
            investor_id=investor_id,
            amount=cny(yuan * YUAN),
            annual_yield_min=yield_min,
            term_days_max=term_max,
        )
    )
    return response.reservation


@pytest.fixture(scope="module")
async def reservations(wealth) -> dict[str, pb.Reservation]:
    stub = wealth.stub
    made = {}
    for name, investor, yuan, yield_min, term_max in (
        ("R1", X, 50_000, "0.04", 200),
        ("R2", Y, 30_000, "0.05", 365),
        ("R3", Z, 30_000, "0.04", 365),
        ("R4", W, 10_000, "0.03", 365),
    ):
        made[name] = await reserve(stub, investor, yuan, yield_min, term_max)
        wealth.clock.advance(timedelta(seconds=1))  # a strict reservation order
    return made


@pytest.fixture(scope="module")
async def product(wealth, reservations) -> pb.Product:
    return await new_product(
        wealth,
        term_days=182,
        yield_text="0.0455",
        quota_fen=60_000 * YUAN,
        amount_min_fen=1_000 * YUAN,
    )


def funds(**available_yuan: int) -> list[pb.InvestorFunds]:
    return [
        pb.InvestorFunds(investor_id=investor, available=cny(yuan * YUAN))
        for investor, yuan in available_yuan.items()
    ]


async def test_a_product_matches_live_reservations_in_order(wealth, reservations, product) -> None:
    matching = await wealth.stub.ListMatchingReservations(
        pb.ListMatchingReservationsRequest(product_id=product.product_id)
    )
    assert [r.reservation_id for r in matching.reservations] == [
        reservations[name].reservation_id for name in ("R1", "R3", "R4")
    ]


async def test_allocation_shares_the_quota_first_come_within_funds(
    wealth, reservations, product
) -> None:
    stub = wealth.stub
    request = pb.AllocateReservationsRequest(
        idempotency_key=new_key(),
        product_id=product.product_id,
        funds=funds(**{X: 40_000, Z: 100_000, W: 10_000}),
    )
    allocated = await stub.AllocateReservations(request)
    assert [
        (a.reservation_id, a.investor_id, a.purchase.amount.amount_fen)
        for a in allocated.allocations
    ] == [
        (reservations["R1"].reservation_id, X, 40_000 * YUAN),
        (reservations["R3"].reservation_id, Z, 20_000 * YUAN),
    ]
    assert all(a.purchase.state == pb.PURCHASE_STATE_PENDING for a in allocated.allocations)
    assert allocated.product.remaining_quota.amount_fen == 0
    assert await stub.AllocateReservations(request) == allocated  # a replay allocates nothing more
    mine = await stub.ListReservations(pb.ListReservationsRequest(investor_id=X))
    (r1,) = mine.reservations
    assert (r1.state, r1.filled.amount_fen) == (pb.RESERVATION_STATE_ACTIVE, 40_000 * YUAN)
    assert [p.product_id for p in r1.purchases] == [product.product_id]

    # X's hold succeeds: the gateway captures and confirms. Z's money is gone: it cancels.
    x_purchase, z_purchase = (a.purchase.purchase_id for a in allocated.allocations)
    holding = (
        await stub.ConfirmPurchase(
            pb.ConfirmPurchaseRequest(idempotency_key=new_key(), purchase_id=x_purchase)
        )
    ).holding
    assert (holding.investor_id, holding.principal.amount_fen) == (X, 40_000 * YUAN)
    await stub.CancelPurchase(
        pb.CancelPurchaseRequest(idempotency_key=new_key(), purchase_id=z_purchase)
    )
    back = (await stub.ListReservations(pb.ListReservationsRequest(investor_id=Z))).reservations[0]
    assert (back.state, back.filled.amount_fen, list(back.purchases)) == (
        pb.RESERVATION_STATE_ACTIVE,
        0,
        [],
    )
    current = (await stub.GetProduct(pb.GetProductRequest(product_id=product.product_id))).product
    assert current.remaining_quota.amount_fen == 20_000 * YUAN
    await assert_audit_clean(stub)

    # A second run with W's funds gives W its 10,000 of the quota handed back.
    again = await stub.AllocateReservations(
        pb.AllocateReservationsRequest(
            idempotency_key=new_key(), product_id=product.product_id, funds=funds(**{W: 10_000})
        )
    )
    assert [(a.investor_id, a.purchase.amount.amount_fen) for a in again.allocations] == [
        (W, 10_000 * YUAN)
    ]
    w_reservation = (
        await stub.ListReservations(pb.ListReservationsRequest(investor_id=W))
    ).reservations[0]
    assert w_reservation.state == pb.RESERVATION_STATE_FULFILLED


async def test_only_the_investor_cancels_a_reservation(wealth, reservations) -> None:
    stub = wealth.stub
    r2 = reservations["R2"].reservation_id
    stranger = await refused(
        stub.CancelReservation(
            pb.CancelReservationRequest(idempotency_key=new_key(), reservation_id=r2, investor_id=X)
        )
    )
    assert stranger.code() == grpc.StatusCode.NOT_FOUND
    cancelled = await stub.CancelReservation(
        pb.CancelReservationRequest(idempotency_key=new_key(), reservation_id=r2, investor_id=Y)
    )
    assert cancelled.reservation.state == pb.RESERVATION_STATE_CANCELLED
    twice = await refused(
        stub.CancelReservation(
            pb.CancelReservationRequest(idempotency_key=new_key(), reservation_id=r2, investor_id=Y)
        )
    )
    assert error_info(twice).reason == "ILLEGAL_TRANSITION"


async def test_reservations_expire_after_30_days(wealth, reservations) -> None:
    stub = wealth.stub
    wealth.clock.advance(timedelta(days=31))
    jobs = await stub.RunFixedTermJobs(
        pb.RunFixedTermJobsRequest(business_date=wealth.clock.now().date().isoformat())
    )
    assert jobs.reservations_expired == 2  # R1 and R3 were still active
    for investor in (X, Z):
        (reservation,) = (
            await stub.ListReservations(pb.ListReservationsRequest(investor_id=investor))
        ).reservations
        assert reservation.state == pb.RESERVATION_STATE_EXPIRED
