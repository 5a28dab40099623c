"""MerchantLendingService over real gRPC and a real mongod: funding and capacity at the
boundary, a facility's life (fixed payout, a revolving draw for 17 days, repayment), the
saga steps' tombstones and retries, and the audit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest

from colony.loan.v1 import loan_pb2 as lpb
from colony.loan.v1 import merchant_lending_pb2 as pb
from colony.loan.v1 import merchant_lending_pb2_grpc
from services.loan.tests.support import (
    RunningLoan,
    buy_with_huabei,
    cny,
    error_info,
    move_to,
    new_borrower,
    new_key,
    open_line,
    refused,
    today,
)

Stub = merchant_lending_pb2_grpc.MerchantLendingServiceStub
YUAN = 100
GOOD = pb.MerchantFigures(
    months_with_settlements=12, settled_sales=cny(10_000_000 * YUAN), refunded=cny(0)
)


@pytest.fixture(scope="module")
async def merchant(loan: RunningLoan) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{loan.service.port}") as channel:
        yield merchant_lending_pb2_grpc.MerchantLendingServiceStub(channel)


def new_merchant() -> str:
    return f"2188{uuid.uuid4().int % 10**12:012d}"


async def open_facility(stub: Stub, amount_fen: int, fixed_fen: int) -> pb.Facility:
    facility_id = f"facility-{uuid.uuid4().hex}"
    applied = await stub.ApplyFacility(
        pb.ApplyFacilityRequest(
            idempotency_key=new_key(),
            facility_id=facility_id,
            merchant_id=new_merchant(),
            amount=cny(amount_fen),
            fixed_amount=cny(fixed_fen),
            figures=GOOD,
        )
    )
    assert applied.facility.state == pb.FACILITY_STATE_PENDING_DISBURSEMENT
    confirmed = await stub.ConfirmFacilityDisbursement(
        pb.ConfirmFacilityDisbursementRequest(
            idempotency_key=new_key(),
            facility_id=facility_id,
            payment_posting_id="p-" + facility_id,
        )
    )
    return confirmed.facility


async def draw(stub: Stub, facility_id: str, fen: int) -> pb.ConfirmDrawResponse:
    draw_id = f"draw-{uuid.uuid4().hex}"
    await stub.TryDraw(
        pb.TryDrawRequest(
            idempotency_key=new_key(), draw_id=draw_id, facility_id=facility_id, amount=cny(fen)
        )
    )
    return await stub.ConfirmDraw(
        pb.ConfirmDrawRequest(
            idempotency_key=new_key(), draw_id=draw_id, payment_posting_id="p-" + draw_id
        )
    )


async def repay(
    stub: Stub, facility_id: str, part: int, fen: int
) -> pb.ConfirmFacilityRepaymentResponse:
    repayment_id = f"repay-{uuid.uuid4().hex}"
    await stub.TryFacilityRepayment(
        pb.TryFacilityRepaymentRequest(
            idempotency_key=new_key(),
            repayment_id=repayment_id,
            facility_id=facility_id,
            part=part,  # type: ignore[arg-type]
            amount=cny(fen),
        )
    )
    return await stub.ConfirmFacilityRepayment(
        pb.ConfirmFacilityRepaymentRequest(
            idempotency_key=new_key(),
            repayment_id=repayment_id,
            payment_posting_id="p-" + repayment_id,
        )
    )


async def capacity(stub: Stub) -> pb.LendingCapacity:
    return (await stub.GetLendingCapacity(pb.GetLendingCapacityRequest())).capacity


async def test_capacity_is_capital_plus_borrowing_and_counts_consumer_lending(
    loan: RunningLoan, merchant: Stub
) -> None:
    # Nothing paid in: the first facility is refused for capacity.
    error = await refused(
        merchant.ApplyFacility(
            pb.ApplyFacilityRequest(
                idempotency_key=new_key(),
                facility_id="f-none",
                merchant_id=new_merchant(),
                amount=cny(200_000 * YUAN),
                fixed_amount=cny(50_000 * YUAN),
                figures=GOOD,
            )
        )
    )
    assert error_info(error).reason == "LENDING_CAPACITY"
    await merchant.PayInCapital(
        pb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(1_000_000 * YUAN))
    )
    key = new_key()
    borrowed = await merchant.BorrowFromBank(
        pb.BorrowFromBankRequest(idempotency_key=key, amount=cny(500_000 * YUAN))
    )
    again = await merchant.BorrowFromBank(
        pb.BorrowFromBankRequest(idempotency_key=key, amount=cny(500_000 * YUAN))
    )
    assert again.capacity == borrowed.capacity  # the same key borrows once
    assert borrowed.capacity.capacity.amount_fen == 1_500_000 * YUAN
    error = await refused(
        merchant.BorrowFromBank(pb.BorrowFromBankRequest(idempotency_key=new_key(), amount=cny(1)))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(error).reason == "BORROWING_LIMIT"

    # A consumer's Huabei purchase of 100,000 yuan counts against the same capacity.
    borrower = new_borrower()
    await open_line(loan.stub, borrower, line_fen=100_000 * YUAN)
    await buy_with_huabei(loan.stub, borrower, 100_000 * YUAN)
    assert (await capacity(merchant)).consumer_used.amount_fen == 100_000 * YUAN

    # Merchant lending up to the boundary: 1,000,000 + 300,000 fixed, 99,999 + 1 yuan drawn.
    big = await open_facility(merchant, 1_000_000 * YUAN, 1_000_000 * YUAN)
    second = await open_facility(merchant, 1_000_000 * YUAN, 300_000 * YUAN)
    assert big.fixed.principal.amount_fen == 1_000_000 * YUAN
    await draw(merchant, second.facility_id, 99_999 * YUAN)
    used = await capacity(merchant)
    assert (used.used.amount_fen, used.available.amount_fen) == (1_499_999 * YUAN, 1 * YUAN)
    # exactly up to capacity is allowed; one fen more is refused and changes nothing
    error = await refused(
        merchant.TryDraw(
            pb.TryDrawRequest(
                idempotency_key=new_key(),
                draw_id="d-over",
                facility_id=second.facility_id,
                amount=cny(1 * YUAN + 1),
            )
        )
    )
    assert error_info(error).reason == "LENDING_CAPACITY"
    assert error_info(error).metadata["available_fen"] == str(1 * YUAN)
    assert (await capacity(merchant)).used == used.used
    await draw(merchant, second.facility_id, 1 * YUAN)
    assert (await capacity(merchant)).available.amount_fen == 0
    # repaying principal returns capacity
    await repay(merchant, second.facility_id, pb.FACILITY_PART_REVOLVING, 100 * YUAN)
    assert (await capacity(merchant)).available.amount_fen == 100 * YUAN
    # more capital: room for the rest of the tests
    await merchant.PayInCapital(
        pb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(10_000_000 * YUAN))
    )


async def test_revolving_100000_drawn_17_days_and_fixed_interest(
    loan: RunningLoan, merchant: Stub
) -> None:
    facility = await open_facility(merchant, 300_000 * YUAN, 100_000 * YUAN)
    assert facility.revolving_available.amount_fen == 200_000 * YUAN
    assert (
        facility.end_date
        == (today(loan.clock).replace(year=today(loan.clock).year + 1)).isoformat()
    )
    drawn = await draw(merchant, facility.facility_id, 100_000 * YUAN)
    assert drawn.facility.revolving_available.amount_fen == 100_000 * YUAN
    move_to(loan.clock, today(loan.clock) + timedelta(days=17))
    now = (
        await merchant.GetFacility(pb.GetFacilityRequest(facility_id=facility.facility_id))
    ).facility
    assert now.revolving.interest_owed.amount_fen == 102_000  # 100,000 x 0.06% x 17
    assert now.fixed.interest_owed.amount_fen == 85_000  # 100,000 x 0.05% x 17
    # overpaying is refused with the payoff
    error = await refused(
        merchant.TryFacilityRepayment(
            pb.TryFacilityRepaymentRequest(
                idempotency_key=new_key(),
                repayment_id="r-over",
                facility_id=facility.facility_id,
                part=pb.FACILITY_PART_REVOLVING,
                amount=cny(100_000 * YUAN + 102_001),
            )
        )
    )
    assert error_info(error).reason == "REPAYMENT_EXCEEDS_OWED"
    assert error_info(error).metadata["payoff_fen"] == str(100_000 * YUAN + 102_000)
    paid = await repay(
        merchant, facility.facility_id, pb.FACILITY_PART_REVOLVING, 100_000 * YUAN + 102_000
    )
    assert paid.repayment.interest_applied.amount_fen == 102_000
    assert paid.repayment.principal_applied.amount_fen == 100_000 * YUAN
    assert paid.facility.revolving.owed.amount_fen == 0
    assert paid.facility.revolving_available.amount_fen == 200_000 * YUAN


async def test_fixed_part_rule_and_credit_decision(merchant: Stub) -> None:
    error = await refused(
        merchant.ApplyFacility(
            pb.ApplyFacilityRequest(
                idempotency_key=new_key(),
                facility_id="f-small-fixed",
                merchant_id=new_merchant(),
                amount=cny(200_000 * YUAN),
                fixed_amount=cny(40_000 * YUAN),
                figures=GOOD,
            )
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(error).reason == "FACILITY_FIXED_PART"
    assert error_info(error).metadata["rules"] == "FIXED_AT_LEAST_50000_YUAN"
    missing = await refused(
        merchant.GetFacility(pb.GetFacilityRequest(facility_id="f-small-fixed"))
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND  # the refusal stored nothing
    declined = await merchant.ApplyFacility(
        pb.ApplyFacilityRequest(
            idempotency_key=new_key(),
            facility_id=f"f-{uuid.uuid4().hex}",
            merchant_id=new_merchant(),
            amount=cny(200_000 * YUAN),
            fixed_amount=cny(50_000 * YUAN),
            figures=pb.MerchantFigures(
                months_with_settlements=3, settled_sales=cny(300_000 * YUAN)
            ),
        )
    )
    assert declined.facility.state == pb.FACILITY_STATE_DECLINED
    assert list(declined.facility.declines) == ["SHORT_SETTLEMENT_HISTORY", "ABOVE_SALES_LIMIT"]


async def test_draw_steps_tombstone_retry_and_mismatch(merchant: Stub) -> None:
    facility = await open_facility(merchant, 100_000 * YUAN, 50_000 * YUAN)
    # a cancel first leaves a tombstone: the late try is refused and reserves nothing
    await merchant.CancelDraw(pb.CancelDrawRequest(idempotency_key=new_key(), draw_id="d-late"))
    error = await refused(
        merchant.TryDraw(
            pb.TryDrawRequest(
                idempotency_key=new_key(),
                draw_id="d-late",
                facility_id=facility.facility_id,
                amount=cny(1_000),
            )
        )
    )
    assert error_info(error).reason == "DRAW_CANCELLED"
    # a tried then cancelled draw gives its reservation back
    await merchant.TryDraw(
        pb.TryDrawRequest(
            idempotency_key=new_key(),
            draw_id="d-back",
            facility_id=facility.facility_id,
            amount=cny(1_000),
        )
    )
    await merchant.CancelDraw(pb.CancelDrawRequest(idempotency_key=new_key(), draw_id="d-back"))
    got = await merchant.GetFacility(pb.GetFacilityRequest(facility_id=facility.facility_id))
    assert got.facility.revolving_available.amount_fen == 50_000 * YUAN
    # confirm twice with the same posting: once; with another posting: refused
    confirmed = await draw(merchant, facility.facility_id, 2_000)
    again = await merchant.ConfirmDraw(
        pb.ConfirmDrawRequest(
            idempotency_key=new_key(),
            draw_id=confirmed.draw.draw_id,
            payment_posting_id=confirmed.draw.payment_posting_id,
        )
    )
    assert again.facility.revolving.principal.amount_fen == 2_000
    error = await refused(
        merchant.ConfirmDraw(
            pb.ConfirmDrawRequest(
                idempotency_key=new_key(),
                draw_id=confirmed.draw.draw_id,
                payment_posting_id="other",
            )
        )
    )
    assert error_info(error).reason == "DRAW_MISMATCH"


async def test_audit_books_agree(merchant: Stub) -> None:
    audit = await merchant.GetMerchantLendingAudit(pb.GetMerchantLendingAuditRequest())
    assert list(audit.breaches) == []
    assert audit.in_flight.amount_fen == 0
    assert (
        audit.lent.amount_fen - audit.principal_repaid.amount_fen
        == audit.principal_outstanding.amount_fen
    )
    assert audit.expected_balance_fen == audit.collected.amount_fen - audit.lent.amount_fen
    _ = lpb  # the consumer contract shares the process


async def test_the_credit_policy_is_data(merchant: Stub) -> None:
    default = await merchant.GetMerchantCreditPolicy(pb.GetMerchantCreditPolicyRequest())
    assert (default.policy.min_months_with_settlements, default.policy.max_refund_rate) == (
        6,
        "0.05",
    )
    bad = pb.MerchantCreditPolicy(
        min_months_with_settlements=13, max_refund_rate="0.05", max_share_of_sales="0.5"
    )
    error = await refused(
        merchant.SetMerchantCreditPolicy(
            pb.SetMerchantCreditPolicyRequest(idempotency_key=new_key(), policy=bad)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    lenient = pb.MerchantCreditPolicy(
        min_months_with_settlements=1, max_refund_rate="0.10", max_share_of_sales="1"
    )
    await merchant.SetMerchantCreditPolicy(
        pb.SetMerchantCreditPolicyRequest(idempotency_key=new_key(), policy=lenient)
    )
    approved = await merchant.ApplyFacility(
        pb.ApplyFacilityRequest(
            idempotency_key=new_key(),
            facility_id=f"f-{uuid.uuid4().hex}",
            merchant_id=new_merchant(),
            amount=cny(200_000 * YUAN),
            fixed_amount=cny(50_000 * YUAN),
            figures=pb.MerchantFigures(
                months_with_settlements=1, settled_sales=cny(200_000 * YUAN)
            ),
        )
    )
    assert approved.facility.state == pb.FACILITY_STATE_PENDING_DISBURSEMENT
    await merchant.CancelFacility(
        pb.CancelFacilityRequest(
            idempotency_key=new_key(), facility_id=approved.facility.facility_id
        )
    )


async def test_a_cancel_before_the_apply_leaves_a_tombstone(merchant: Stub) -> None:
    await merchant.CancelFacility(
        pb.CancelFacilityRequest(idempotency_key=new_key(), facility_id="f-tomb")
    )
    late = await merchant.ApplyFacility(
        pb.ApplyFacilityRequest(
            idempotency_key=new_key(),
            facility_id="f-tomb",
            merchant_id=new_merchant(),
            amount=cny(200_000 * YUAN),
            fixed_amount=cny(50_000 * YUAN),
            figures=GOOD,
        )
    )
    assert late.facility.state == pb.FACILITY_STATE_CANCELLED


def pledged(trade_id: str, fen: int) -> pb.PledgedTrade:
    return pb.PledgedTrade(trade_id=trade_id, in_escrow=cny(fen))


async def test_an_order_loan_repaid_from_settlements_with_a_refund_shortfall(
    loan: RunningLoan, merchant: Stub
) -> None:
    seller = new_merchant()
    trades = [pledged(f"t600-{seller}", 60_000), pledged(f"t400-{seller}", 40_000)]
    over = await refused(
        merchant.ApplyOrderLoan(
            pb.ApplyOrderLoanRequest(
                idempotency_key=new_key(),
                loan_id="ol-over",
                merchant_id=seller,
                amount=cny(80_001),
                trades=trades,
            )
        )
    )
    assert (error_info(over).reason, error_info(over).metadata["cover_fen"]) == (
        "ORDER_LOAN_COVER",
        "80000",
    )
    loan_id = f"ol-{seller}"
    before = (await capacity(merchant)).merchant_used.amount_fen
    await merchant.ApplyOrderLoan(
        pb.ApplyOrderLoanRequest(
            idempotency_key=new_key(),
            loan_id=loan_id,
            merchant_id=seller,
            amount=cny(80_000),
            trades=trades,
        )
    )
    assert (await capacity(merchant)).merchant_used.amount_fen == before + 80_000
    pledged_again = await refused(
        merchant.ApplyOrderLoan(
            pb.ApplyOrderLoanRequest(
                idempotency_key=new_key(),
                loan_id="ol-again",
                merchant_id=seller,
                amount=cny(1_000),
                trades=trades[1:],
            )
        )
    )
    assert error_info(pledged_again).reason == "TRADE_PLEDGED"
    await merchant.ConfirmOrderLoanDisbursement(
        pb.ConfirmOrderLoanDisbursementRequest(
            idempotency_key=new_key(), loan_id=loan_id, payment_posting_id="p-" + loan_id
        )
    )
    move_to(loan.clock, today(loan.clock) + timedelta(days=5))
    # the 600-yuan trade settles: 59,640 net withheld → 200 interest, 59,440 principal
    key = new_key()
    request = pb.ApplyOrderLoanCollectionRequest(
        idempotency_key=key, loan_id=loan_id, application_id="w600:p1", amount=cny(59_640)
    )
    got = await merchant.ApplyOrderLoanCollection(request)
    assert (got.interest_applied.amount_fen, got.principal_applied.amount_fen) == (200, 59_440)
    again = await merchant.ApplyOrderLoanCollection(
        pb.ApplyOrderLoanCollectionRequest(
            idempotency_key=new_key(), loan_id=loan_id, application_id="w600:p1", amount=cny(59_640)
        )
    )
    assert again.principal_applied.amount_fen == 0  # the same application once
    assert again.loan.principal.amount_fen == 20_560
    # the 400-yuan trade is refunded: the shortfall is overdue now
    finished = await merchant.FinishOrderLoanTrades(
        pb.FinishOrderLoanTradesRequest(
            idempotency_key=new_key(),
            loan_id=loan_id,
            trade_ids=[trades[0].trade_id, trades[1].trade_id],
        )
    )
    assert finished.loan.overdue
    # an overdue merchant borrows no more, and a facility is declined
    blocked = await refused(
        merchant.ApplyOrderLoan(
            pb.ApplyOrderLoanRequest(
                idempotency_key=new_key(),
                loan_id="ol-blocked",
                merchant_id=seller,
                amount=cny(1_000),
                trades=[pledged("t-new", 10_000)],
            )
        )
    )
    assert error_info(blocked).reason == "LOAN_OVERDUE"
    declined = await merchant.ApplyFacility(
        pb.ApplyFacilityRequest(
            idempotency_key=new_key(),
            facility_id=f"f-{seller}",
            merchant_id=seller,
            amount=cny(200_000 * YUAN),
            fixed_amount=cny(50_000 * YUAN),
            figures=GOOD,
        )
    )
    assert "OVERDUE_EXISTING" in declined.facility.declines
    # two days later a settlement (merchant-wide withholding) brings 30,000: 20,560 + 20 fen
    # interest (20,560 x 0.05% x 2 = 20.56) owed, 9,420 excess
    move_to(loan.clock, today(loan.clock) + timedelta(days=2))
    paid = await merchant.ApplyOrderLoanCollection(
        pb.ApplyOrderLoanCollectionRequest(
            idempotency_key=new_key(), loan_id=loan_id, application_id="wall:p2", amount=cny(30_000)
        )
    )
    assert (paid.interest_applied.amount_fen, paid.principal_applied.amount_fen) == (20, 20_560)
    assert paid.excess.amount_fen == 9_420
    assert paid.loan.state == pb.ORDER_LOAN_STATE_SETTLED
    audit = await merchant.GetMerchantLendingAudit(pb.GetMerchantLendingAuditRequest())
    assert audit.order_loans.in_flight.amount_fen == 9_420
    await merchant.ConfirmOrderLoanExcessReturned(
        pb.ConfirmOrderLoanExcessReturnedRequest(
            idempotency_key=new_key(),
            loan_id=loan_id,
            application_id="wall:p2",
            payment_posting_id="p-excess",
        )
    )
    audit = await merchant.GetMerchantLendingAudit(pb.GetMerchantLendingAuditRequest())
    books = audit.order_loans
    assert list(books.breaches) == []
    assert (books.in_flight.amount_fen, books.expected_balance_fen) == (0, 59_640 + 20_580 - 80_000)
