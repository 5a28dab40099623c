"""Cash loans through the real service: apply (the 310 decision), disbursement saga steps,
repayment by the day, early settlement, and the audit."""

from __future__ import annotations

import time
from datetime import timedelta

from colony.loan.v1 import loan_pb2 as pb
from services.loan.tests.support import (
    RunningLoan,
    advice,
    assert_books_clean,
    cny,
    events_of,
    move_to,
    new_borrower,
    new_key,
    repay,
    today,
)

CASH = pb.REPAYMENT_TARGET_CASH_LOAN


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
