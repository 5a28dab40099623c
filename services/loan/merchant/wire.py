"""Merchant lending: proto ⇄ domain (colony.loan.v1 merchant_lending.proto)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from chassis.errors import InvalidArgument
from chassis.wire import amount_from_proto, date_text, decimal_from_text, money_to_proto
from colony.loan.v1 import merchant_lending_pb2 as pb
from services.loan.merchant.facilities import (
    CreditPolicy,
    Facility,
    FacilityState,
    MerchantFigures,
    Part,
    Principal,
    accrue_facility,
    rate_of,
    require_policy,
)
from services.loan.merchant.funding import Capacity
from services.loan.merchant.order_loans import (
    OrderLoan,
    OrderLoanState,
    PledgedTrade,
    accrue_order_loan,
    cover_fen,
)
from services.loan.merchant.steps import Step, StepState

STATE_TO_PROTO = {
    FacilityState.DECLINED: pb.FACILITY_STATE_DECLINED,
    FacilityState.PENDING_DISBURSEMENT: pb.FACILITY_STATE_PENDING_DISBURSEMENT,
    FacilityState.CANCELLED: pb.FACILITY_STATE_CANCELLED,
    FacilityState.ACTIVE: pb.FACILITY_STATE_ACTIVE,
}
PART_TO_PROTO = {Part.FIXED: pb.FACILITY_PART_FIXED, Part.REVOLVING: pb.FACILITY_PART_REVOLVING}
PART_FROM_PROTO = {value: key for key, value in PART_TO_PROTO.items()}
STEP_STATE_TO_PROTO = {
    StepState.PENDING: pb.MERCHANT_STEP_STATE_PENDING,
    StepState.APPLIED: pb.MERCHANT_STEP_STATE_APPLIED,
    StepState.CANCELLED: pb.MERCHANT_STEP_STATE_CANCELLED,
}


def require_part(value: int) -> Part:
    if value not in PART_FROM_PROTO:
        raise InvalidArgument("part is required (FIXED or REVOLVING)", metadata={"field": "part"})
    return PART_FROM_PROTO[value]  # type: ignore[index]


def figures_from_proto(figures: pb.MerchantFigures, overdue: bool) -> MerchantFigures:
    if figures.months_with_settlements < 0 or figures.months_with_settlements > 12:
        raise InvalidArgument(
            "months_with_settlements is 0 to 12", metadata={"field": "months_with_settlements"}
        )
    settled = figures.settled_sales
    refunded = figures.refunded
    return MerchantFigures(
        months_with_settlements=figures.months_with_settlements,
        settled_sales_fen=amount_from_proto(settled, "settled_sales") if settled.amount_fen else 0,
        refunded_fen=amount_from_proto(refunded, "refunded") if refunded.amount_fen else 0,
        merchant_overdue=overdue,
    )


def _principal(part: Principal, which: Part) -> pb.FacilityPrincipal:
    return pb.FacilityPrincipal(
        principal=money_to_proto(part.principal_fen),
        interest_owed=money_to_proto(part.interest_owed_fen),
        owed=money_to_proto(part.owed_fen),
        principal_repaid=money_to_proto(part.principal_repaid_fen),
        interest_paid=money_to_proto(part.interest_paid_fen),
        daily_rate=str(rate_of(which)),
        accrued_through=date_text(part.accrued_through),
    )


def facility_to_proto(facility: Facility, today: date) -> pb.Facility:
    """The facility as of today (interest accrued in the answer, not stored)."""
    accrued = accrue_facility(facility, today)
    return pb.Facility(
        facility_id=accrued.facility_id,
        merchant_id=accrued.merchant_id,
        amount=money_to_proto(accrued.amount_fen),
        fixed_amount=money_to_proto(accrued.fixed_fen),
        state=STATE_TO_PROTO[accrued.state],
        declines=[decline.value for decline in accrued.declines],
        decided_on=accrued.decided_on.isoformat(),
        start_date=date_text(accrued.start_date),
        end_date=date_text(accrued.end_date),
        fixed=_principal(accrued.fixed, Part.FIXED),
        revolving=_principal(accrued.revolving, Part.REVOLVING),
        revolving_available=money_to_proto(
            accrued.revolving_available_fen if accrued.state is FacilityState.ACTIVE else 0
        ),
        overdue=accrued.overdue_on(today),
        disbursement_posting_id=accrued.disbursement_posting_id,
        excess_pending=money_to_proto(accrued.excess_pending_fen),
        owed=money_to_proto(accrued.fixed.owed_fen + accrued.revolving.owed_fen),
    )


def draw_to_proto(step: Step) -> pb.Draw:
    return pb.Draw(
        draw_id=step.step_id,
        facility_id=step.facility_id,
        merchant_id=step.merchant_id,
        amount=money_to_proto(step.amount_fen),
        state=STEP_STATE_TO_PROTO[step.state],
        payment_posting_id=step.posting_id,
    )


def repayment_to_proto(step: Step) -> pb.FacilityRepayment:
    return pb.FacilityRepayment(
        repayment_id=step.step_id,
        facility_id=step.facility_id,
        merchant_id=step.merchant_id,
        part=PART_TO_PROTO[step.part],
        amount=money_to_proto(step.amount_fen),
        state=STEP_STATE_TO_PROTO[step.state],
        interest_applied=money_to_proto(step.interest_fen),
        principal_applied=money_to_proto(step.principal_fen),
        payment_posting_id=step.posting_id,
    )


def capacity_to_proto(capacity: Capacity) -> pb.LendingCapacity:
    book = capacity.book
    return pb.LendingCapacity(
        capital=money_to_proto(book.capital_fen),
        bank_borrowing=money_to_proto(book.borrowing_fen),
        borrowing_allowed=money_to_proto(book.borrowing_allowed_fen),
        capacity=money_to_proto(book.capacity_fen),
        consumer_used=money_to_proto(capacity.consumer_used_fen),
        merchant_used=money_to_proto(capacity.merchant_used_fen),
        used=money_to_proto(capacity.used_fen),
        available=money_to_proto(capacity.available_fen),
        sold_to_pools=money_to_proto(capacity.sold_to_pools_fen),
    )


def policy_from_proto(policy: pb.MerchantCreditPolicy) -> CreditPolicy:
    return require_policy(
        CreditPolicy(
            min_months_with_settlements=policy.min_months_with_settlements,
            max_refund_rate=decimal_from_text(policy.max_refund_rate, "max_refund_rate"),
            max_share_of_sales=decimal_from_text(policy.max_share_of_sales, "max_share_of_sales"),
        )
    )


def policy_to_proto(policy: CreditPolicy) -> pb.MerchantCreditPolicy:
    return pb.MerchantCreditPolicy(
        min_months_with_settlements=policy.min_months_with_settlements,
        max_refund_rate=str(policy.max_refund_rate),
        max_share_of_sales=str(policy.max_share_of_sales),
    )


ORDER_STATE_TO_PROTO = {
    OrderLoanState.PENDING_DISBURSEMENT: pb.ORDER_LOAN_STATE_PENDING_DISBURSEMENT,
    OrderLoanState.CANCELLED: pb.ORDER_LOAN_STATE_CANCELLED,
    OrderLoanState.ACTIVE: pb.ORDER_LOAN_STATE_ACTIVE,
    OrderLoanState.SETTLED: pb.ORDER_LOAN_STATE_SETTLED,
}


def pledged_from_proto(trades: Iterable[pb.PledgedTrade]) -> list[PledgedTrade]:
    pledged = []
    for trade in trades:
        if not trade.trade_id:
            raise InvalidArgument("trade_id is required", metadata={"field": "trades"})
        pledged.append(
            PledgedTrade(trade.trade_id, amount_from_proto(trade.in_escrow, "in_escrow"))
        )
    return pledged


def order_loan_to_proto(loan: OrderLoan, today: date) -> pb.OrderLoan:
    accrued = accrue_order_loan(loan, today)
    part = accrued.principal
    return pb.OrderLoan(
        loan_id=accrued.loan_id,
        merchant_id=accrued.merchant_id,
        trades=[
            pb.PledgedTrade(
                trade_id=t.trade_id, in_escrow=money_to_proto(t.in_escrow_fen), finished=t.finished
            )
            for t in accrued.trades
        ],
        amount=money_to_proto(accrued.amount_fen),
        state=ORDER_STATE_TO_PROTO[accrued.state],
        disbursed_on=date_text(accrued.disbursed_on),
        due_date=date_text(accrued.due_date),
        principal=money_to_proto(part.principal_fen),
        interest_owed=money_to_proto(part.interest_owed_fen),
        owed=money_to_proto(part.owed_fen),
        collected=money_to_proto(accrued.collected_fen),
        excess=[
            pb.ExcessDue(
                application_id=e.application_id,
                amount=money_to_proto(e.amount_fen),
                returned=e.returned,
            )
            for e in accrued.excess
        ],
        overdue=accrued.overdue_on(today),
        overdue_since=date_text(accrued.overdue_since),
        disbursement_posting_id=accrued.disbursement_posting_id,
        cover=money_to_proto(cover_fen(accrued.trades)),
    )
