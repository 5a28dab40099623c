"""Huabei through the real service: concurrent purchases, bills paid on time and late,
delinquency through every bucket, installments and refunds, the audit."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

from colony.loan.v1 import loan_pb2 as pb
from services.loan.tests.support import (
    RunningLoan,
    assert_books_clean,
    buy_with_huabei,
    cny,
    error_info,
    events_of,
    move_to,
    new_borrower,
    new_key,
    open_line,
    refused,
    repay,
    run_jobs,
)

HUABEI = pb.REPAYMENT_TARGET_HUABEI


async def test_twenty_concurrent_purchases_against_a_line_for_five(loan: RunningLoan) -> None:
    borrower = new_borrower()
    await open_line(loan.stub, borrower, line_fen=5 * 10_000)

    async def reserve() -> bool:
        reservation = uuid.uuid4().hex
        try:
            await loan.stub.ReserveHuabei(
                pb.ReserveHuabeiRequest(
                    idempotency_key=reservation,
                    reservation_id=reservation,
                    borrower_id=borrower,
                    amount=cny(10_000),
                )
            )
        except Exception as error:
            assert error_info(error).reason == "HUABEI_LINE_EXCEEDED"  # type: ignore[arg-type]
            return False
        return True

    results = await asyncio.gather(*(reserve() for _ in range(20)))
    assert sum(results) == 5
    line = (await loan.stub.GetHuabeiLine(pb.GetHuabeiLineRequest(borrower_id=borrower))).line
    assert line.reserved.amount_fen == 50_000 and line.available.amount_fen == 0


async def test_release_before_reserve_burns_the_id(loan: RunningLoan) -> None:
    borrower = new_borrower()
    await open_line(loan.stub, borrower)
    await loan.stub.ReleaseHuabei(
        pb.ReleaseHuabeiRequest(
            idempotency_key=new_key(), reservation_id="r1-" + borrower, borrower_id=borrower
        )
    )
    error = await refused(
        loan.stub.ReserveHuabei(
            pb.ReserveHuabeiRequest(
                idempotency_key=new_key(),
                reservation_id="r1-" + borrower,
                borrower_id=borrower,
                amount=cny(100),
            )
        )
    )
    assert error_info(error).reason == "HUABEI_RESERVATION_RELEASED"


async def test_a_lower_advice_lowers_only_the_unused_part_and_blacklisting_freezes(
    loan: RunningLoan,
) -> None:
    borrower = new_borrower()
    await open_line(loan.stub, borrower, line_fen=800_000)
    await buy_with_huabei(loan.stub, borrower, 600_000)
    from services.loan.tests.support import advice

    lowered = await loan.stub.SyncHuabeiLine(
        pb.SyncHuabeiLineRequest(
            idempotency_key=new_key(), borrower_id=borrower, advice=advice(borrower, 300_000)
        )
    )
    assert lowered.line.line.amount_fen == 600_000  # never below what is used
    frozen = await loan.stub.SyncHuabeiLine(
        pb.SyncHuabeiLineRequest(
            idempotency_key=new_key(),
            borrower_id=borrower,
            advice=advice(borrower, 0, 0, refusal="BLACKLISTED"),
        )
    )
    assert frozen.line.frozen
    error = await refused(buy_with_huabei(loan.stub, borrower, 100))
    assert error_info(error).reason == "HUABEI_LINE_FROZEN"


async def test_a_bill_paid_in_full_on_the_due_date_vs_a_day_late(loan: RunningLoan) -> None:
    on_time, late = new_borrower(), new_borrower()
    for borrower in (on_time, late):
        await open_line(loan.stub, borrower, day=1)
        await buy_with_huabei(loan.stub, borrower, 100_000)
    move_to(loan.clock, date(2025, 4, 1))
    run = await run_jobs(loan.stub, date(2025, 4, 1))
    assert run.bills_issued >= 2
    bill = (await loan.stub.GetBill(pb.GetBillRequest(bill_id=f"{on_time}:2025-04-01"))).bill
    assert bill.due_date == "2025-04-11"
    assert bill.charged.principal.amount_fen == 100_000
    assert bill.minimum_payment.amount_fen == 10_000
    move_to(loan.clock, date(2025, 4, 11))
    paid = await repay(loan.stub, HUABEI, on_time, 100_000)
    assert paid.repayment.days_overdue == 0
    move_to(loan.clock, date(2025, 4, 12))
    await run_jobs(loan.stub, date(2025, 4, 12))
    owed = (
        await loan.stub.GetAmountOwed(pb.GetAmountOwedRequest(target=HUABEI, account_id=late))
    ).owed
    # 100,000 fen x 0.05% x 1 day = 50 fen penalty.
    assert owed.due.penalty.amount_fen == 50 and owed.payoff.amount_fen == 100_050
    late_paid = await repay(loan.stub, HUABEI, late, 100_050)
    assert late_paid.repayment.applied.penalty.amount_fen == 50
    assert late_paid.repayment.days_overdue == 1
    assert "loan.repayment.on_time" in await events_of(loan.database, f"huabei:{on_time}")
    assert "loan.repayment.late" in await events_of(loan.database, f"huabei:{late}")
    assert (await run_jobs(loan.stub, date(2025, 4, 12))).already_completed
    await assert_books_clean(loan.stub)


async def test_overpayment_is_refused(loan: RunningLoan) -> None:
    borrower = new_borrower()
    await open_line(loan.stub, borrower)
    await buy_with_huabei(loan.stub, borrower, 5_000)
    error = await refused(repay(loan.stub, HUABEI, borrower, 5_001))
    assert error_info(error).reason == "REPAYMENT_EXCEEDS_OWED"
    # Prepaying the unbilled purchase is allowed: it becomes credit for the next bill.
    prepaid = await repay(loan.stub, HUABEI, borrower, 5_000)
    assert prepaid.repayment.credit.amount_fen == 5_000
    await assert_books_clean(loan.stub)
