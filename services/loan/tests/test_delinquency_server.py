"""Delinquency through every bucket by moving the clock: events on the feed, the credit
reports (entered_90, settled), the portfolio report and a run of the same day twice."""

from __future__ import annotations

from datetime import date, timedelta

from colony.loan.v1 import loan_pb2 as pb
from services.loan.tests.support import (
    RunningLoan,
    assert_books_clean,
    buy_with_huabei,
    events_of,
    move_to,
    new_borrower,
    open_line,
    repay,
    run_jobs,
)

DUE = date(2025, 4, 11)


async def test_an_unpaid_bill_moves_through_every_bucket_and_settles(loan: RunningLoan) -> None:
    borrower = new_borrower()
    account = f"huabei:{borrower}"
    await open_line(loan.stub, borrower, day=1)
    await buy_with_huabei(loan.stub, borrower, 100_000)
    move_to(loan.clock, date(2025, 4, 1))
    await run_jobs(loan.stub, date(2025, 4, 1))
    expected = {
        DUE: pb.DELINQUENCY_BUCKET_CURRENT,
        DUE + timedelta(days=1): pb.DELINQUENCY_BUCKET_DPD_1_30,
        DUE + timedelta(days=31): pb.DELINQUENCY_BUCKET_DPD_31_60,
        DUE + timedelta(days=61): pb.DELINQUENCY_BUCKET_DPD_61_90,
        DUE + timedelta(days=90): pb.DELINQUENCY_BUCKET_DPD_61_90,
        DUE + timedelta(days=91): pb.DELINQUENCY_BUCKET_DPD_90_PLUS,
    }
    for day, bucket in expected.items():
        move_to(loan.clock, day)
        await run_jobs(loan.stub, day)
        line = (await loan.stub.GetHuabeiLine(pb.GetHuabeiLineRequest(borrower_id=borrower))).line
        assert line.bucket == bucket, day
    # Running the last day again changes nothing.
    again = await run_jobs(loan.stub, DUE + timedelta(days=91))
    assert again.already_completed
    types = await events_of(loan.database, account)
    assert types.count("loan.delinquency.changed") == 4
    assert types.count("loan.overdue.entered_90") == 1
    report = await loan.stub.GetPortfolioReport(pb.GetPortfolioReportRequest())
    assert report.principal_90_plus.amount_fen >= 100_000
    assert report.npl_ratio != "0"
    # 91 days of penalty on 100,000 fen: 50 fen a day = 4,550 fen.
    owed = (
        await loan.stub.GetAmountOwed(
            pb.GetAmountOwedRequest(target=pb.REPAYMENT_TARGET_HUABEI, account_id=borrower)
        )
    ).owed
    assert owed.due.penalty.amount_fen == 4_550
    paid = await repay(loan.stub, pb.REPAYMENT_TARGET_HUABEI, borrower, owed.payoff.amount_fen)
    assert paid.repayment.days_overdue == 91
    types = await events_of(loan.database, account)
    assert types[-2:] == ["loan.overdue.settled", "loan.repayment.late"] or (
        "loan.overdue.settled" in types
    )
    line = (await loan.stub.GetHuabeiLine(pb.GetHuabeiLineRequest(borrower_id=borrower))).line
    assert line.bucket == pb.DELINQUENCY_BUCKET_CURRENT and line.used.amount_fen == 0
    await assert_books_clean(loan.stub)


async def test_a_future_date_is_refused(loan: RunningLoan) -> None:
    from services.loan.tests.support import error_info, refused, today

    error = await refused(run_jobs(loan.stub, today(loan.clock) + timedelta(days=1)))
    assert error_info(error).reason == "BUSINESS_DATE_IN_FUTURE"
