"""Merchant onboarding review: a self-registered merchant neither sells nor is paid until approved.

A merchant account opens ``in_review``; an operator approves or rejects it once (who, when, a
note). Only an approved merchant creates escrow trades or charges payment codes
(MERCHANT_NOT_APPROVED otherwise). The states only ever move forward (in_review to a decision,
never back), so a check made before a transaction stays true inside it.

COLONY_MERCHANT_ONBOARDING chooses how new merchants start: ``review`` (the default, the only
value allowed outside COLONY_ENV=dev) or ``auto-approve`` (dev only: the approval is recorded as
made by "dev auto-approval"). Accounts opened before the review existed carry no onboarding
state and count as approved, as do the platform's own billers.

Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chassis.errors import FailedPrecondition, InvalidArgument

AUTO_APPROVER = "dev auto-approval"
NOTE_LENGTH_MAX = 500
SETTING = "COLONY_MERCHANT_ONBOARDING"


class ReviewState(enum.Enum):
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"


class MerchantOnboarding(enum.Enum):
    """How a new merchant starts (the COLONY_MERCHANT_ONBOARDING setting)."""

    REVIEW = "review"
    AUTO_APPROVE = "auto-approve"


def onboarding_from(environ: Mapping[str, str]) -> MerchantOnboarding:
    """The setting; an unknown value, or auto-approve outside COLONY_ENV=dev, stops the start."""
    value = environ.get(SETTING, MerchantOnboarding.REVIEW.value)
    try:
        onboarding = MerchantOnboarding(value)
    except ValueError:
        raise SystemExit(f"{SETTING} must be 'review' or 'auto-approve', not {value!r}") from None
    if onboarding is MerchantOnboarding.AUTO_APPROVE and environ.get("COLONY_ENV", "") != "dev":
        raise SystemExit(f"{SETTING}=auto-approve is for COLONY_ENV=dev only")
    return onboarding


@dataclass(frozen=True, slots=True)
class Onboarding:
    state: ReviewState
    decided_by: str = ""
    decided_at: datetime | None = None
    note: str = ""


def opening_onboarding(mode: MerchantOnboarding, now: datetime) -> Onboarding:
    """The state a new merchant opens in."""
    if mode is MerchantOnboarding.AUTO_APPROVE:
        return Onboarding(ReviewState.APPROVED, AUTO_APPROVER, now, "approved on opening (dev)")
    return Onboarding(ReviewState.IN_REVIEW)


def onboarding_to_document(onboarding: Onboarding) -> dict[str, Any]:
    return {
        "state": onboarding.state.value,
        "decided_by": onboarding.decided_by,
        "decided_at": onboarding.decided_at,
        "note": onboarding.note,
    }


def onboarding_from_document(document: Mapping[str, Any] | None) -> Onboarding:
    """An account's onboarding; none recorded (opened before the review existed) is approved."""
    if not document:
        return Onboarding(ReviewState.APPROVED)
    return Onboarding(
        ReviewState(document["state"]),
        document.get("decided_by", ""),
        document.get("decided_at"),
        document.get("note", ""),
    )


def require_approved(account_id: str, onboarding: Onboarding, operation: str) -> None:
    """Refuse a merchant not (yet) approved."""
    if onboarding.state is not ReviewState.APPROVED:
        raise FailedPrecondition(
            f"merchant {account_id} cannot {operation}: its onboarding is {onboarding.state.value}",
            reason="MERCHANT_NOT_APPROVED",
            metadata={"account_id": account_id, "onboarding": onboarding.state.value},
        )


def review_state_of(value: str) -> ReviewState:
    """A listing's state filter; empty is in_review."""
    if not value:
        return ReviewState.IN_REVIEW
    try:
        return ReviewState(value)
    except ValueError:
        raise InvalidArgument(
            "state must be in_review, approved or rejected", metadata={"field": "state"}
        ) from None


def decide(
    current: Onboarding, approve: bool, decided_by: str, note: str, now: datetime
) -> Onboarding | None:
    """The decision to record, or None when the same decision stands already (idempotent).

    A decision is final: the other decision on a decided merchant is ALREADY_DECIDED.
    """
    if not decided_by:
        raise InvalidArgument("decided_by is required", metadata={"field": "decided_by"})
    if len(note) > NOTE_LENGTH_MAX:
        raise InvalidArgument(
            f"note must be at most {NOTE_LENGTH_MAX} characters", metadata={"field": "note"}
        )
    wanted = ReviewState.APPROVED if approve else ReviewState.REJECTED
    if current.state is wanted:
        return None
    if current.state is not ReviewState.IN_REVIEW:
        raise FailedPrecondition(
            f"the merchant's onboarding was decided already: {current.state.value}",
            reason="ALREADY_DECIDED",
            metadata={"onboarding": current.state.value},
        )
    return Onboarding(wanted, decided_by, now, note)
