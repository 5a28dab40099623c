"""Merchant lending documents ⇄ domain objects."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal
from typing import Any

from chassis.mongo import Document
from services.loan.merchant.facilities import Decline, Facility, FacilityState, Part, Principal
from services.loan.merchant.funding import FundingBook
from services.loan.merchant.steps import Step, StepKind, StepState


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _text(day: date | None) -> str | None:
    return day.isoformat() if day else None


def principal_to_document(part: Principal) -> Document:
    return {
        "principal_fen": part.principal_fen,
        "accrued_through": _text(part.accrued_through),
        "interest_exact": str(part.interest_exact),
        "interest_paid_fen": part.interest_paid_fen,
        "principal_repaid_fen": part.principal_repaid_fen,
    }


def principal_from_document(document: Document) -> Principal:
    return Principal(
        principal_fen=document["principal_fen"],
        accrued_through=_day(document["accrued_through"]),
        interest_exact=Decimal(document["interest_exact"]),
        interest_paid_fen=document["interest_paid_fen"],
        principal_repaid_fen=document["principal_repaid_fen"],
    )


def facility_to_document(facility: Facility) -> Document:
    return {
        "_id": facility.facility_id,
        "merchant_id": facility.merchant_id,
        "amount_fen": facility.amount_fen,
        "fixed_fen": facility.fixed_fen,
        "state": facility.state.value,
        "declines": [decline.value for decline in facility.declines],
        "decided_on": facility.decided_on.isoformat(),
        "decided_at": facility.decided_at,
        "start_date": _text(facility.start_date),
        "end_date": _text(facility.end_date),
        "disbursement_posting_id": facility.disbursement_posting_id,
        "fixed": principal_to_document(facility.fixed),
        "revolving": principal_to_document(facility.revolving),
        "drawing_fen": facility.drawing_fen,
        "repaying_fixed_fen": facility.repaying_fixed_fen,
        "repaying_revolving_fen": facility.repaying_revolving_fen,
        "excess_pending_fen": facility.excess_pending_fen,
        "end_date_text": facility.end_date.isoformat() if facility.end_date else "",
        # Denormalised for the capacity and audit sums.
        "principal_outstanding_fen": facility.principal_outstanding_fen,
        "exposure_fen": facility.exposure_fen,
    }


def facility_from_document(document: Document) -> Facility:
    return Facility(
        facility_id=document["_id"],
        merchant_id=document["merchant_id"],
        amount_fen=document["amount_fen"],
        fixed_fen=document["fixed_fen"],
        state=FacilityState(document["state"]),
        declines=tuple(Decline(value) for value in document["declines"]),
        decided_on=date.fromisoformat(document["decided_on"]),
        decided_at=document["decided_at"].replace(tzinfo=UTC),
        start_date=_day(document["start_date"]),
        end_date=_day(document["end_date"]),
        disbursement_posting_id=document["disbursement_posting_id"],
        fixed=principal_from_document(document["fixed"]),
        revolving=principal_from_document(document["revolving"]),
        drawing_fen=document["drawing_fen"],
        repaying_fixed_fen=document["repaying_fixed_fen"],
        repaying_revolving_fen=document["repaying_revolving_fen"],
        excess_pending_fen=document.get("excess_pending_fen", 0),
    )


def step_to_document(step: Step) -> Document:
    return {
        "_id": step.step_id,
        "kind": step.kind.value,
        "facility_id": step.facility_id,
        "merchant_id": step.merchant_id,
        "part": step.part.value,
        "amount_fen": step.amount_fen,
        "state": step.state.value,
        "posting_id": step.posting_id,
        "interest_fen": step.interest_fen,
        "principal_fen": step.principal_fen,
    }


def step_from_document(document: Document) -> Step:
    return Step(
        step_id=document["_id"],
        kind=StepKind(document["kind"]),
        facility_id=document["facility_id"],
        merchant_id=document["merchant_id"],
        part=Part(document["part"]),
        amount_fen=document["amount_fen"],
        state=StepState(document["state"]),
        posting_id=document["posting_id"],
        interest_fen=document["interest_fen"],
        principal_fen=document["principal_fen"],
    )


def funding_from_document(document: Any) -> FundingBook:
    if document is None:
        return FundingBook()
    return FundingBook(capital_fen=document["capital_fen"], borrowing_fen=document["borrowing_fen"])
