"""Cash loans through the real service: apply (the 310 decision), disbursement saga steps,
repayment by the day, early settlement, and the audit."""

from __future__ import annotations

import time
from datetime import timedelta

import grpc
import pytest

from colony.loan.v1 import loan_pb2 as pb
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.loan.v1 import merchant_lending_pb2_grpc
from services.loan.tests.support import (
    RunningLoan,
    advice,
    assert_books_clean,
    cny,
    error_info,
    events_of,
    move_to,
    new_borrower,
    new_key,
    repay,
    today,
)

CASH = pb.REPAYMENT_TARGET_CASH_LOAN


@pytest.fixture(scope="module", autouse=True)
async def capital(loan: RunningLoan) -> None:
    """Cash loans are lent from capital: 1,000,000 yuan paid in (capacity for them all)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{loan.service.port}") as channel:
        await merchant_lending_pb2_grpc.MerchantLendingServiceStub(channel).PayInCapital(
            mpb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(100_000_000))
        )


async def apply(
    loan: RunningLoan, borrower: str, fen: int, **advice_changes: object
) -> pb.CashLoan:
    response = await loan.stub.ApplyCashLoan(
        pb.ApplyCashLoanRequest(
            idempotency_key=new_key(),
            loan_id=f"cl-{new_key()}",
            borrower_id=borrower,
            amount=cny(fen),
            term_months=12,
            method=pb.REPAYMENT_METHOD_BY_DAY,
            advice=advice(borrower, **advice_changes),  # type: ignore[arg-type]
        )
    )
    return response.loan


async def test_borrow_by_the_day_and_repay_early_without_fee(loan: RunningLoan) -> None:
    borrower = new_borrower()
    applied = await apply(loan, borrower, 1_000_000)
    assert applied.state == pb.CASH_LOAN_STATE_PENDING_DISBURSEMENT
    assert applied.daily_rate == "0.0005" and applied.annual_rate == "0.1825"
    disbursed = await loan.stub.ConfirmDisbursement(
        pb.ConfirmDisbursementRequest(
            idempotency_key=new_key(), loan_id=applied.loan_id, payment_posting_id="posting-d1"
        )
    )
    assert disbursed.loan.state == pb.CASH_LOAN_STATE_ACTIVE
    assert len(disbursed.loan.periods) == 12
    # 10 days later: 10 x 500 fen of interest.
    move_to(loan.clock, today(loan.clock) + timedelta(days=10))
    owed = (
        await loan.stub.GetAmountOwed(
            pb.GetAmountOwedRequest(target=CASH, account_id=applied.loan_id)
        )
    ).owed
    assert owed.payoff.amount_fen == 1_000_000 + 5_000
    assert owed.due.total.amount_fen == 0
    paid = await repay(loan.stub, CASH, applied.loan_id, owed.payoff.amount_fen)
    assert paid.repayment.applied.interest.amount_fen == 5_000
    assert paid.repayment.applied.principal.amount_fen == 1_000_000
    settled = await loan.stub.GetCashLoan(pb.GetCashLoanRequest(loan_id=applied.loan_id))
    assert settled.loan.state == pb.CASH_LOAN_STATE_SETTLED
    assert "loan.cash_loan.settled" in await events_of(loan.database, applied.loan_id)
    audit = await assert_books_clean(loan.stub)
    cash = next(a for a in audit.accounts if a.account_id == "platform:loan:cash_loan")
    assert cash.income_collected.amount_fen >= 5_000


async def test_declined_with_reasons_and_exposure_counts(loan: RunningLoan) -> None:
    borrower = new_borrower()
    first = await apply(loan, borrower, 1_500_000)
    assert first.state == pb.CASH_LOAN_STATE_PENDING_DISBURSEMENT
    second = await apply(loan, borrower, 600_000)
    assert second.state == pb.CASH_LOAN_STATE_DECLINED
    assert list(second.decline_reasons) == ["ABOVE_CEILING"]
    await loan.stub.CancelCashLoan(
        pb.CancelCashLoanRequest(idempotency_key=new_key(), loan_id=first.loan_id)
    )
    third = await apply(loan, borrower, 600_000, refusal="BLACKLISTED", ceiling_fen=0)
    assert list(third.decline_reasons) == ["BLACKLISTED"]


async def test_the_decision_comes_back_in_under_a_second(loan: RunningLoan) -> None:
    """The "310" decision is automatic: each of 20 applications (approved or declined, with
    reasons) answers well within a second over gRPC with its transaction committed."""
    slowest = 0.0
    for number in range(20):
        started = time.perf_counter()
        decided = await apply(loan, new_borrower(), 1_000_000 if number % 2 else 9_000_000)
        slowest = max(slowest, time.perf_counter() - started)
        assert decided.state in (
            pb.CASH_LOAN_STATE_PENDING_DISBURSEMENT,
            pb.CASH_LOAN_STATE_DECLINED,
        )
    assert slowest < 1.0, f"the slowest decision took {slowest:.3f} s"


async def test_a_loan_beyond_the_lending_capacity_is_refused_and_stores_nothing(
    loan: RunningLoan,
) -> None:
    """Capacity = capital + bank borrowing; a cash loan that would take the principal lent
    beyond it is LENDING_CAPACITY (the figures in metadata); exactly up to it passes."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{loan.service.port}") as channel:
        merchant = merchant_lending_pb2_grpc.MerchantLendingServiceStub(channel)
        available = (
            await merchant.GetLendingCapacity(mpb.GetLendingCapacityRequest())
        ).capacity.available.amount_fen
        # Fill all but 1,000,000 fen with loans of 1,500,000 (each its own borrower).
        while available > 1_000_000:
            fen = min(1_500_000, available - 1_000_000)
            assert (await apply(loan, new_borrower(), fen)).state == (
                pb.CASH_LOAN_STATE_PENDING_DISBURSEMENT
            )
            available -= fen
        borrower = new_borrower()
        loan_id = f"cl-{new_key()}"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await loan.stub.ApplyCashLoan(
                pb.ApplyCashLoanRequest(
                    idempotency_key=new_key(),
                    loan_id=loan_id,
                    borrower_id=borrower,
                    amount=cny(1_000_001),
                    term_months=12,
                    method=pb.REPAYMENT_METHOD_BY_DAY,
                    advice=advice(borrower),
                )
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        info = error_info(refused.value)
        assert (info.reason, info.metadata["available_fen"]) == ("LENDING_CAPACITY", "1000000")
        with pytest.raises(grpc.aio.AioRpcError):
            await loan.stub.GetCashLoan(pb.GetCashLoanRequest(loan_id=loan_id))
        assert (await apply(loan, borrower, 1_000_000)).state == (
            pb.CASH_LOAN_STATE_PENDING_DISBURSEMENT
        )
        left = (await merchant.GetLendingCapacity(mpb.GetLendingCapacityRequest())).capacity
        assert left.available.amount_fen == 0
