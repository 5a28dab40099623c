"""Installments (花呗分期): a bill or one purchase paid over 3, 6 or 12 monthly bills.

The total fee is a rate of the principal — 2.5% (3 months), 4.5% (6), 8.8% (12) — rounded
half-even to the fen. Principal and fee are each spread evenly (floor division), the
remainder on the last part. Part k is carried by the k-th statement after the conversion's
reference date (a bill's statement date, or the day a purchase is converted).

Early settlement: repaying a plan's unbilled principal at once settles it; the fees of the
parts not yet billed are waived (parts already billed keep theirs, on their bills).
docs/loans.md "Installments".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from services.loan.statements import statement_dates_after

FEE_RATES: dict[int, Decimal] = {
    3: Decimal("0.025"),
    6: Decimal("0.045"),
    12: Decimal("0.088"),
}


def require_months(months: int) -> int:
    if months not in FEE_RATES:
        raise InvalidArgument("months must be 3, 6 or 12", metadata={"field": "months"})
    return months


def total_fee_fen(principal_fen: int, months: int) -> int:
    """principal x the plan's rate, rounded half-even to the fen."""
    exact = principal_fen * FEE_RATES[require_months(months)]
    return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))


def split_evenly(amount_fen: int, parts: int) -> list[int]:
    """amount in parts equal to the floor, the remainder on the last: 100000/3 → 33333x2, 33334."""
    each = amount_fen // parts
    return [each] * (parts - 1) + [amount_fen - each * (parts - 1)]


@dataclass(frozen=True, slots=True)
class InstallmentPart:
    number: int
    statement_date: date
    principal_fen: int
    fee_fen: int
    bill_id: str = ""
    waived: bool = False

    @property
    def is_unbilled(self) -> bool:
        return not self.bill_id and not self.waived


class PlanState(StrEnum):
    ACTIVE = "active"
    BILLED = "billed"
    SETTLED_EARLY = "settled_early"


@dataclass(frozen=True, slots=True)
class InstallmentPlan:
    plan_id: str
    borrower_id: str
    bill_id: str
    purchase_id: str
    months: int
    principal_fen: int
    fee_fen: int
    parts: tuple[InstallmentPart, ...]
    state: PlanState
    created_at: datetime

    @property
    def fee_rate(self) -> Decimal:
        return FEE_RATES[self.months]

    @property
    def unbilled_principal_fen(self) -> int:
        return sum(part.principal_fen for part in self.parts if part.is_unbilled)

    @property
    def fee_waived_fen(self) -> int:
        return sum(part.fee_fen for part in self.parts if part.waived)


def plan_parts(
    principal_fen: int, months: int, after: date, statement_day: int
) -> list[InstallmentPart]:
    """The parts of a plan whose first part is on the first statement after `after`."""
    fee_fen = total_fee_fen(principal_fen, months)
    dates = statement_dates_after(after, statement_day, months)
    return [
        InstallmentPart(number, day, principal, fee)
        for number, (day, principal, fee) in enumerate(
            zip(
                dates,
                split_evenly(principal_fen, months),
                split_evenly(fee_fen, months),
                strict=True,
            ),
            start=1,
        )
    ]


def plan_installments(
    *,
    plan_id: str,
    borrower_id: str,
    principal_fen: int,
    months: int,
    after: date,
    statement_day: int,
    now: datetime,
    bill_id: str = "",
    purchase_id: str = "",
) -> InstallmentPlan:
    if principal_fen <= 0:
        raise FailedPrecondition(
            "there is no principal to convert", reason="INSTALLMENT_NOT_ALLOWED"
        )
    parts = plan_parts(principal_fen, months, after, statement_day)
    plan = InstallmentPlan(
        plan_id=plan_id,
        borrower_id=borrower_id,
        bill_id=bill_id,
        purchase_id=purchase_id,
        months=months,
        principal_fen=principal_fen,
        fee_fen=sum(part.fee_fen for part in parts),
        parts=tuple(parts),
        state=PlanState.ACTIVE,
        created_at=now,
    )
    assert sum(p.principal_fen for p in parts) == principal_fen, "parts lose principal"
    return plan


def parts_due_by(plan: InstallmentPlan, statement_date: date) -> list[InstallmentPart]:
    """The unbilled parts a statement on statement_date carries (late ones included)."""
    return [p for p in plan.parts if p.is_unbilled and p.statement_date <= statement_date]


def mark_billed(plan: InstallmentPlan, numbers: set[int], bill_id: str) -> InstallmentPlan:
    parts = tuple(replace(p, bill_id=bill_id) if p.number in numbers else p for p in plan.parts)
    state = PlanState.BILLED if all(p.bill_id or p.waived for p in parts) else plan.state
    return replace(plan, parts=parts, state=state)


def settle_early(plan: InstallmentPlan) -> InstallmentPlan:
    """Every unbilled part settled now: principal repaid, fee waived."""
    if plan.state is not PlanState.ACTIVE or plan.unbilled_principal_fen == 0:
        raise FailedPrecondition(
            f"installment plan {plan.plan_id} has nothing left to settle early",
            reason="ILLEGAL_TRANSITION",
            metadata={"state": plan.state.value},
        )
    parts = tuple(replace(p, waived=True) if p.is_unbilled else p for p in plan.parts)
    return replace(plan, parts=parts, state=PlanState.SETTLED_EARLY)
