"""The loan-side steps of the draw and repayment sagas: tried → applied, or cancelled.

A step is tried (its amount reserved on the facility), then applied with the payment
posting that moved the money, or cancelled. A cancel that arrives before the try leaves a
tombstone, so the late try is refused (DRAW_CANCELLED / REPAYMENT_CANCELLED) and nothing is
ever reserved with nobody to release it. Applying again with the same posting changes
nothing; with another posting it is refused (…_MISMATCH).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from chassis.errors import AlreadyExists, FailedPrecondition
from services.loan.merchant.facilities import Part


class StepState(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    CANCELLED = "cancelled"


class StepKind(StrEnum):
    DRAW = "draw"
    REPAYMENT = "repayment"
    # What a settlement's withholding brought beyond the debt: PENDING until given back.
    EXCESS = "excess"


REASONS = {
    StepKind.DRAW: ("DRAW_CANCELLED", "DRAW_MISMATCH"),
    StepKind.REPAYMENT: ("REPAYMENT_CANCELLED", "REPAYMENT_MISMATCH"),
    StepKind.EXCESS: ("REPAYMENT_CANCELLED", "REPAYMENT_MISMATCH"),
}


@dataclass(frozen=True, slots=True)
class Step:
    """A draw (part REVOLVING) or a repayment of one part."""

    step_id: str
    kind: StepKind
    facility_id: str
    merchant_id: str
    part: Part
    amount_fen: int
    state: StepState
    posting_id: str = ""
    interest_fen: int = 0
    principal_fen: int = 0


def tombstone(step_id: str, kind: StepKind) -> Step:
    """A cancel that came before its try."""
    return Step(step_id, kind, "", "", Part.REVOLVING, 0, StepState.CANCELLED)


def require_retry_matches(existing: Step, facility_id: str, part: Part, amount_fen: int) -> Step:
    """A try seen before: the same step again (its record), else refused."""
    cancelled, mismatch = REASONS[existing.kind]
    if existing.state is StepState.CANCELLED:
        raise FailedPrecondition(
            f"{existing.kind.value} {existing.step_id} was cancelled", reason=cancelled
        )
    if (existing.facility_id, existing.part, existing.amount_fen) != (
        facility_id,
        part,
        amount_fen,
    ):
        raise AlreadyExists(
            f"{existing.kind.value} {existing.step_id} exists with other terms", reason=mismatch
        )
    return existing


def require_pending(step: Step, posting_id: str) -> bool:
    """True if the step is to be applied now; False if already applied with this posting."""
    cancelled, mismatch = REASONS[step.kind]
    if step.state is StepState.CANCELLED:
        raise FailedPrecondition(
            f"{step.kind.value} {step.step_id} was cancelled", reason=cancelled
        )
    if step.state is StepState.APPLIED:
        if step.posting_id != posting_id:
            raise AlreadyExists(
                f"{step.kind.value} {step.step_id} was applied with another posting",
                reason=mismatch,
            )
        return False
    return True


def applied(step: Step, posting_id: str, interest_fen: int, principal_fen: int) -> Step:
    return replace(
        step,
        state=StepState.APPLIED,
        posting_id=posting_id,
        interest_fen=interest_fen,
        principal_fen=principal_fen,
    )


def can_cancel(step: Step) -> bool:
    """True if the step is pending (to be released); an applied step cannot be cancelled."""
    if step.state is StepState.APPLIED:
        reason = "REPAYMENT_ALREADY_APPLIED" if step.kind is StepKind.REPAYMENT else "DRAW_MISMATCH"
        raise FailedPrecondition(f"{step.kind.value} {step.step_id} is applied", reason=reason)
    return step.state is StepState.PENDING


def cancelled(step: Step) -> Step:
    return replace(step, state=StepState.CANCELLED)
