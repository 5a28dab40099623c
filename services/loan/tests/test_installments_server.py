"""Installments and refunds through the real service: a bill converted into 3 parts, billed
month by month, settled early; a refund lowering the current bill."""

from __future__ import annotations

from datetime import date

from colony.loan.v1 import loan_pb2 as pb
from services.loan.tests.support import (
    RunningLoan,
    assert_books_clean,
    buy_with_huabei,
    cny,
    move_to,
    new_borrower,
    new_key,
    open_line,
    repay,
    run_jobs,
)


async def test_a_bill_in_three_installments_settled_early(loan: RunningLoan) -> None:
    borrower = new_borrower()
    await open_line(loan.stub, borrower, day=1)
    await buy_with_huabei(loan.stub, borrower, 100_000)
    move_to(loan.clock, date(2025, 4, 1))
    await run_jobs(loan.stub, date(2025, 4, 1))
    bill_id = f"{borrower}:2025-04-01"
    offers = await loan.stub.GetInstallmentOffers(
        pb.GetInstallmentOffersRequest(borrower_id=borrower, bill_id=bill_id)
    )
    assert [o.fee.amount_fen for o in offers.offers] == [2_500, 4_500, 8_800]
    plan = (
        await loan.stub.ConvertToInstallments(
            pb.ConvertToInstallmentsRequest(
                idempotency_key=new_key(), borrower_id=borrower, bill_id=bill_id, months=3
            )
        )
    ).plan
    bill = (await loan.stub.GetBill(pb.GetBillRequest(bill_id=bill_id))).bill
    assert bill.unpaid.total.amount_fen == 0 and bill.state == pb.BILL_STATE_PAID
    move_to(loan.clock, date(2025, 5, 1))
    await run_jobs(loan.stub, date(2025, 5, 1))
    may = (await loan.stub.GetBill(pb.GetBillRequest(bill_id=f"{borrower}:2025-05-01"))).bill
    # Part 1: principal 33,333 + fee 833; the minimum is the whole part.
    assert may.charged.principal.amount_fen == 33_333 and may.charged.fee.amount_fen == 833
    assert may.minimum_payment.amount_fen == 34_166
    await repay(loan.stub, pb.REPAYMENT_TARGET_HUABEI, borrower, 34_166)
    # Settle early: parts 2 and 3's principal (66,667); their fees (1,667) are waived.
    settled = await repay(loan.stub, pb.REPAYMENT_TARGET_INSTALLMENT_PLAN, plan.plan_id, 66_667)
    assert settled.repayment.applied.principal.amount_fen == 66_667
    plans = await loan.stub.ListInstallmentPlans(
        pb.ListInstallmentPlansRequest(borrower_id=borrower)
    )
    assert plans.plans[0].fee_waived.amount_fen == 1_667
    line = (await loan.stub.GetHuabeiLine(pb.GetHuabeiLineRequest(borrower_id=borrower))).line
    assert line.used.amount_fen == 0
    await assert_books_clean(loan.stub)


async def test_a_refund_lowers_the_current_bill(loan: RunningLoan) -> None:
    borrower = new_borrower()
    await open_line(loan.stub, borrower, day=2)
    purchase = await buy_with_huabei(loan.stub, borrower, 30_000)
    move_to(loan.clock, date(2025, 5, 2))
    await run_jobs(loan.stub, date(2025, 5, 2))
    refund = await loan.stub.RefundHuabeiPurchase(
        pb.RefundHuabeiPurchaseRequest(
            idempotency_key=new_key(),
            refund_id=f"refund-{purchase}",
            purchase_id=purchase,
            amount=cny(10_000),
            payment_posting_id="posting-refund",
        )
    )
    assert refund.applied_to_bill.amount_fen == 10_000
    bill = (await loan.stub.GetBill(pb.GetBillRequest(bill_id=refund.bill_id))).bill
    assert bill.unpaid.principal.amount_fen == 20_000
    assert refund.line.used.amount_fen == 20_000
    await assert_books_clean(loan.stub)


async def test_a_refund_after_the_bill_was_paid_reduces_the_next_bill(loan: RunningLoan) -> None:
    """300 yuan billed on 1 June and paid; a 100-yuan refund then has no open bill to lower:
    it is credit, netted on the next bill (1 July: a 250-yuan purchase bills 150)."""
    borrower = new_borrower()
    await open_line(loan.stub, borrower, day=1)
    purchase = await buy_with_huabei(loan.stub, borrower, 30_000)
    move_to(loan.clock, date(2025, 6, 1))
    await run_jobs(loan.stub, date(2025, 6, 1))
    await repay(loan.stub, pb.REPAYMENT_TARGET_HUABEI, borrower, 30_000)
    refund = await loan.stub.RefundHuabeiPurchase(
        pb.RefundHuabeiPurchaseRequest(
            idempotency_key=new_key(),
            refund_id=f"refund-{purchase}",
            purchase_id=purchase,
            amount=cny(10_000),
            payment_posting_id="posting-refund",
        )
    )
    assert (refund.applied_to_bill.amount_fen, refund.credited.amount_fen) == (0, 10_000)
    assert (refund.line.used.amount_fen, refund.line.credit.amount_fen) == (-10_000, 10_000)
    await buy_with_huabei(loan.stub, borrower, 25_000)
    move_to(loan.clock, date(2025, 7, 1))
    await run_jobs(loan.stub, date(2025, 7, 1))
    july = (await loan.stub.GetBill(pb.GetBillRequest(bill_id=f"{borrower}:2025-07-01"))).bill
    assert (july.purchases.amount_fen, july.credit_netted.amount_fen) == (25_000, 10_000)
    assert july.unpaid.principal.amount_fen == 15_000
    line = (await loan.stub.GetHuabeiLine(pb.GetHuabeiLineRequest(borrower_id=borrower))).line
    assert (line.used.amount_fen, line.credit.amount_fen) == (15_000, 0)
    await assert_books_clean(loan.stub)
