"""Merchant facilities (阿里小贷 B2B): the credit decision, the fixed/revolving split, interest.

A facility is 50,000-1,000,000 yuan for one year, split into two parts:
- *fixed* (固定贷): paid out at once when the facility starts, 0.05% a day;
- *revolving* (循环贷): drawn and repaid any time, 0.06% a day, simple interest only on the
  days money is drawn.
The fixed part must be at least 20% of the facility AND at least 50,000 yuan; a facility
failing either is refused (FACILITY_FIXED_PART) naming every rule it fails.

Interest by the day (both parts): each day d in (last accrual, today] accrues the principal
held at the start of d x the daily rate, summed exactly in Decimal; the interest owed is the
exact sum rounded down to the fen (ROUND_DOWN) less what was paid, so no fraction is ever
lost or charged twice. A draw on day D earns nothing on D; repaid on D + 17 it owes 17 days.
*Example:* 100,000 yuan drawn for 17 days: 10,000,000 x 0.0006 x 17 = 102,000 fen.

The credit decision ("pre-loan" control) is data (CreditPolicy) over the merchant's figures
from the payment ledger (MerchantFigures): months with settlements, settled sales and refunds
over the last 12 months, and whether any merchant loan of theirs is overdue. Every failing
reason is given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from chassis.clock import business_date_of
from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import require_positive_amount

MERCHANT_LEDGER_ACCOUNT_ID = "platform:loan:merchant"
FACILITY_MIN_FEN = 50_000_00
FACILITY_MAX_FEN = 1_000_000_00
FIXED_MIN_FEN = 50_000_00
FIXED_MIN_SHARE = Decimal("0.20")
REVOLVING_DAILY_RATE = Decimal("0.0006")
FIXED_DAILY_RATE = Decimal("0.0005")
TERM_YEARS = 1
MAX_SHARE_OF_SALES_CEILING = Decimal(100)


@dataclass(frozen=True, slots=True)
class MerchantFigures:
    """What the payment ledger says about the merchant over the last 12 months."""

    months_with_settlements: int
    settled_sales_fen: int
    refunded_fen: int
    merchant_overdue: bool

    @property
    def refund_rate(self) -> Decimal:
        """Refunds ÷ (settled sales + refunds): the share of paid money that went back."""
        paid = self.settled_sales_fen + self.refunded_fen
        return Decimal(self.refunded_fen) / Decimal(paid) if paid else Decimal(0)


@dataclass(frozen=True, slots=True)
class CreditPolicy:
    """The pre-loan rule, as data."""

    min_months_with_settlements: int = 6
    max_refund_rate: Decimal = Decimal("0.05")
    # The facility may not exceed this share (a multiple, when above 1) of the last 12
    # months' settled sales.
    max_share_of_sales: Decimal = Decimal("0.50")


DEFAULT_POLICY = CreditPolicy()


def require_policy(policy: CreditPolicy) -> CreditPolicy:
    """A usable policy: 0-12 months, a refund rate in [0, 1], a share of sales in (0, 100]."""
    if not 0 <= policy.min_months_with_settlements <= 12:
        raise InvalidArgument(
            "min_months_with_settlements is 0 to 12",
            metadata={"field": "min_months_with_settlements"},
        )
    if not Decimal(0) <= policy.max_refund_rate <= Decimal(1):
        raise InvalidArgument("max_refund_rate is 0 to 1", metadata={"field": "max_refund_rate"})
    if not Decimal(0) < policy.max_share_of_sales <= MAX_SHARE_OF_SALES_CEILING:
        raise InvalidArgument(
            "max_share_of_sales is above 0, at most 100", metadata={"field": "max_share_of_sales"}
        )
    return policy


class Decline(StrEnum):
    SHORT_SETTLEMENT_HISTORY = "SHORT_SETTLEMENT_HISTORY"
    REFUND_RATE_HIGH = "REFUND_RATE_HIGH"
    ABOVE_SALES_LIMIT = "ABOVE_SALES_LIMIT"
    OVERDUE_EXISTING = "OVERDUE_EXISTING"


class FacilityState(StrEnum):
    DECLINED = "declined"
    PENDING_DISBURSEMENT = "pending_disbursement"
    CANCELLED = "cancelled"
    ACTIVE = "active"


class Part(StrEnum):
    FIXED = "fixed"
    REVOLVING = "revolving"


def require_split(amount_fen: int, fixed_fen: int) -> None:
    """The facility's size and its fixed part, else a refusal naming every rule broken."""
    require_positive_amount(amount_fen, "amount")
    if not FACILITY_MIN_FEN <= amount_fen <= FACILITY_MAX_FEN:
        raise InvalidArgument(
            "a facility is 50,000 to 1,000,000 yuan",
            reason="INVALID_AMOUNT",
            metadata={"min_fen": str(FACILITY_MIN_FEN), "max_fen": str(FACILITY_MAX_FEN)},
        )
    if fixed_fen > amount_fen:
        raise InvalidArgument("the fixed part exceeds the facility", reason="INVALID_AMOUNT")
    broken = []
    if Decimal(fixed_fen) < Decimal(amount_fen) * FIXED_MIN_SHARE:
        broken.append("FIXED_AT_LEAST_20_PERCENT")
    if fixed_fen < FIXED_MIN_FEN:
        broken.append("FIXED_AT_LEAST_50000_YUAN")
    if broken:
        raise InvalidArgument(
            "the fixed part must be at least 20% of the facility and at least 50,000 yuan: "
            + ", ".join(broken),
            reason="FACILITY_FIXED_PART",
            metadata={"rules": ",".join(broken), "fixed_fen": str(fixed_fen)},
        )


def decide(figures: MerchantFigures, amount_fen: int, policy: CreditPolicy) -> list[Decline]:
    """Every reason the merchant's figures refuse this facility (empty: approved)."""
    reasons = []
    if figures.months_with_settlements < policy.min_months_with_settlements:
        reasons.append(Decline.SHORT_SETTLEMENT_HISTORY)
    if figures.refund_rate > policy.max_refund_rate:
        reasons.append(Decline.REFUND_RATE_HIGH)
    if Decimal(amount_fen) > Decimal(figures.settled_sales_fen) * policy.max_share_of_sales:
        reasons.append(Decline.ABOVE_SALES_LIMIT)
    if figures.merchant_overdue:
        reasons.append(Decline.OVERDUE_EXISTING)
    return reasons


@dataclass(frozen=True, slots=True)
class Principal:
    """One part's principal and its interest by the day."""

    principal_fen: int = 0
    accrued_through: date | None = None
    interest_exact: Decimal = Decimal(0)
    interest_paid_fen: int = 0
    principal_repaid_fen: int = 0

    @property
    def interest_owed_fen(self) -> int:
        charged = int(self.interest_exact.to_integral_value(rounding=ROUND_DOWN))
        return charged - self.interest_paid_fen

    @property
    def owed_fen(self) -> int:
        return self.principal_fen + self.interest_owed_fen


def accrue(part: Principal, rate: Decimal, day: date) -> Principal:
    """The part with each day up to day accrued (a day already accrued is never again)."""
    if part.accrued_through is None or day <= part.accrued_through:
        return part
    days = (day - part.accrued_through).days
    return replace(
        part,
        accrued_through=day,
        interest_exact=part.interest_exact + Decimal(part.principal_fen) * rate * days,
    )


@dataclass(frozen=True, slots=True)
class Facility:
    facility_id: str
    merchant_id: str
    amount_fen: int
    fixed_fen: int
    state: FacilityState
    declines: tuple[Decline, ...]
    decided_on: date
    decided_at: datetime
    start_date: date | None = None
    end_date: date | None = None
    disbursement_posting_id: str = ""
    fixed: Principal = Principal()
    revolving: Principal = Principal()
    # Draws tried and not yet confirmed or cancelled, and repayments tried, by part.
    drawing_fen: int = 0
    repaying_fixed_fen: int = 0
    repaying_revolving_fen: int = 0
    # Withheld from settlements beyond what was owed, not yet given back (post_loan.py).
    excess_pending_fen: int = 0

    @property
    def revolving_limit_fen(self) -> int:
        return self.amount_fen - self.fixed_fen

    @property
    def revolving_available_fen(self) -> int:
        return self.revolving_limit_fen - self.revolving.principal_fen - self.drawing_fen

    @property
    def principal_outstanding_fen(self) -> int:
        return self.fixed.principal_fen + self.revolving.principal_fen

    @property
    def exposure_fen(self) -> int:
        """Principal lent or about to be lent: what counts against the lending capacity."""
        pending = self.fixed_fen if self.state is FacilityState.PENDING_DISBURSEMENT else 0
        return self.principal_outstanding_fen + self.drawing_fen + pending

    def overdue_on(self, day: date) -> bool:
        """Past its end date with anything still owed."""
        return (
            self.state is FacilityState.ACTIVE
            and self.end_date is not None
            and day > self.end_date
            and self.principal_outstanding_fen > 0
        )

    def part(self, which: Part) -> Principal:
        return self.fixed if which is Part.FIXED else self.revolving

    def repaying_fen(self, which: Part) -> int:
        return self.repaying_fixed_fen if which is Part.FIXED else self.repaying_revolving_fen


def rate_of(which: Part) -> Decimal:
    return FIXED_DAILY_RATE if which is Part.FIXED else REVOLVING_DAILY_RATE


def one_year_after(day: date) -> date:
    """The same day a year later (29 Feb → 28 Feb)."""
    try:
        return day.replace(year=day.year + TERM_YEARS)
    except ValueError:
        return day.replace(year=day.year + TERM_YEARS, day=28)


def apply_for_facility(
    *,
    facility_id: str,
    merchant_id: str,
    amount_fen: int,
    fixed_fen: int,
    figures: MerchantFigures,
    policy: CreditPolicy,
    now: datetime,
) -> Facility:
    """The decided facility: PENDING_DISBURSEMENT (the fixed part to pay out) or DECLINED."""
    require_split(amount_fen, fixed_fen)
    declines = decide(figures, amount_fen, policy)
    state = FacilityState.DECLINED if declines else FacilityState.PENDING_DISBURSEMENT
    return Facility(
        facility_id=facility_id,
        merchant_id=merchant_id,
        amount_fen=amount_fen,
        fixed_fen=fixed_fen,
        state=state,
        declines=tuple(declines),
        decided_on=business_date_of(now),
        decided_at=now,
    )


def start_facility(facility: Facility, posting_id: str, today: date) -> Facility:
    """The fixed part paid out (its posting): the year and both parts' interest start."""
    if facility.state is FacilityState.ACTIVE and facility.disbursement_posting_id == posting_id:
        return facility
    if facility.state is not FacilityState.PENDING_DISBURSEMENT:
        raise FailedPrecondition(
            f"facility {facility.facility_id} is {facility.state.value}",
            reason="FACILITY_NOT_ACTIVE",
            metadata={"state": facility.state.value},
        )
    return replace(
        facility,
        state=FacilityState.ACTIVE,
        start_date=today,
        end_date=one_year_after(today),
        disbursement_posting_id=posting_id,
        fixed=Principal(principal_fen=facility.fixed_fen, accrued_through=today),
        revolving=Principal(accrued_through=today),
    )


def cancel_facility(facility: Facility) -> Facility:
    """The approval lapses (its payout refused); cancelling twice changes nothing."""
    if facility.state in (FacilityState.CANCELLED, FacilityState.DECLINED):
        return facility
    if facility.state is not FacilityState.PENDING_DISBURSEMENT:
        raise FailedPrecondition(
            "an active facility cannot be cancelled", reason="FACILITY_NOT_ACTIVE"
        )
    return replace(facility, state=FacilityState.CANCELLED)


def facility_tombstone(facility_id: str, now: datetime) -> Facility:
    """A cancel that came before its apply: the late apply finds it cancelled."""
    return Facility(facility_id, "", 0, 0, FacilityState.CANCELLED, (), business_date_of(now), now)


def accrue_facility(facility: Facility, day: date) -> Facility:
    """Both parts accrued to day (an inactive facility is returned as is)."""
    if facility.state is not FacilityState.ACTIVE:
        return facility
    return replace(
        facility,
        fixed=accrue(facility.fixed, FIXED_DAILY_RATE, day),
        revolving=accrue(facility.revolving, REVOLVING_DAILY_RATE, day),
    )


def require_active(facility: Facility, today: date) -> None:
    if facility.state is not FacilityState.ACTIVE:
        raise FailedPrecondition(
            f"facility {facility.facility_id} is {facility.state.value}",
            reason="FACILITY_NOT_ACTIVE",
            metadata={"state": facility.state.value},
        )
    if facility.end_date is not None and today > facility.end_date:
        raise FailedPrecondition(
            f"facility {facility.facility_id} ended on {facility.end_date.isoformat()}",
            reason="FACILITY_NOT_ACTIVE",
            metadata={"end_date": facility.end_date.isoformat()},
        )


def reserve_draw(facility: Facility, amount_fen: int, today: date) -> Facility:
    """A revolving draw tried: refused beyond what is available (FACILITY_EXCEEDED)."""
    require_positive_amount(amount_fen)
    require_active(facility, today)
    if amount_fen > facility.revolving_available_fen:
        raise FailedPrecondition(
            "the draw exceeds the revolving part available",
            reason="FACILITY_EXCEEDED",
            metadata={"available_fen": str(facility.revolving_available_fen)},
        )
    return replace(facility, drawing_fen=facility.drawing_fen + amount_fen)


def confirm_draw(facility: Facility, amount_fen: int, today: date) -> Facility:
    """The drawn money paid out: it is principal from today (interest from tomorrow)."""
    accrued = accrue_facility(facility, today)
    return replace(
        accrued,
        drawing_fen=accrued.drawing_fen - amount_fen,
        revolving=replace(
            accrued.revolving, principal_fen=accrued.revolving.principal_fen + amount_fen
        ),
    )


def release_draw(facility: Facility, amount_fen: int) -> Facility:
    return replace(facility, drawing_fen=facility.drawing_fen - amount_fen)


def reserve_repayment(facility: Facility, which: Part, amount_fen: int, today: date) -> Facility:
    """A repayment of one part tried: at most what it owes today less repayments in flight."""
    require_positive_amount(amount_fen)
    accrued = accrue_facility(facility, today)
    if accrued.state is not FacilityState.ACTIVE:
        raise FailedPrecondition("nothing is owed on this facility", reason="FACILITY_NOT_ACTIVE")
    payoff = accrued.part(which).owed_fen - accrued.repaying_fen(which)
    if amount_fen > payoff:
        raise FailedPrecondition(
            "the repayment exceeds what is owed",
            reason="REPAYMENT_EXCEEDS_OWED",
            metadata={"payoff_fen": str(payoff), "part": which.value},
        )
    return _with_repaying(accrued, which, amount_fen)


def _with_repaying(facility: Facility, which: Part, delta_fen: int) -> Facility:
    if which is Part.FIXED:
        return replace(facility, repaying_fixed_fen=facility.repaying_fixed_fen + delta_fen)
    return replace(facility, repaying_revolving_fen=facility.repaying_revolving_fen + delta_fen)


@dataclass(frozen=True, slots=True)
class Applied:
    interest_fen: int
    principal_fen: int


def apply_repayment(
    facility: Facility, which: Part, amount_fen: int, today: date
) -> tuple[Facility, Applied]:
    """A tried repayment collected: interest first, then principal (less from tomorrow)."""
    accrued = _with_repaying(accrue_facility(facility, today), which, -amount_fen)
    part = accrued.part(which)
    interest = min(amount_fen, part.interest_owed_fen)
    principal = amount_fen - interest
    paid = replace(
        part,
        interest_paid_fen=part.interest_paid_fen + interest,
        principal_fen=part.principal_fen - principal,
        principal_repaid_fen=part.principal_repaid_fen + principal,
    )
    updated = (
        replace(accrued, fixed=paid) if which is Part.FIXED else replace(accrued, revolving=paid)
    )
    return updated, Applied(interest_fen=interest, principal_fen=principal)


def release_repayment(facility: Facility, which: Part, amount_fen: int) -> Facility:
    return _with_repaying(facility, which, -amount_fen)
