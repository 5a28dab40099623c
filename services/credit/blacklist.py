"""The dishonest-debtor blacklist (失信被执行人, 老赖; DOMAIN.md §3).

Entries come from court and partner lists (a resident-id hash and a case reference) and
from the platform's own loans (a loan 90+ days overdue names its borrower). An entry is
removed when the debt is settled or its list withdraws it. Entries are never deleted: every
change is recorded with its reason, and each one is published on the credit feed
(credit.blacklist.entered / removed) for payment risk control to follow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chassis.errors import InvalidArgument

RESIDENT_ID_HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
SOURCE_PATTERN = re.compile(r"(court|partner):[A-Za-z0-9_.\-]{1,60}")
CASE_REFERENCE_LENGTH_MAX = 100
NOTE_LENGTH_MAX = 500
LISTINGS_PER_CALL_MAX = 1_000
LOAN_SOURCE = "loan"


class Change(StrEnum):
    ENTERED = "entered"
    REMOVED = "removed"


class ChangeReason(StrEnum):
    COURT_LIST = "court_list"
    PARTNER_LIST = "partner_list"
    LOAN_OVERDUE_90 = "loan_overdue_90"
    SETTLED = "settled"
    LIST_WITHDRAWN = "list_withdrawn"
    LOAN_SETTLED = "loan_settled"
    ACCOUNT_OPENED = "account_opened"


REMOVAL_REASONS = frozenset({ChangeReason.SETTLED, ChangeReason.LIST_WITHDRAWN})


@dataclass(frozen=True, slots=True)
class Listing:
    resident_id_hash: str
    case_reference: str


@dataclass(frozen=True, slots=True)
class BlacklistEntry:
    source: str
    case_reference: str
    resident_id_hash: str
    person_id: str
    listed: bool
    listed_at: datetime
    removed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BlacklistChange:
    source: str
    case_reference: str
    resident_id_hash: str
    person_id: str
    change: Change
    reason: ChangeReason
    note: str
    changed_at: datetime


def resident_id_hash(resident_id: str) -> str:
    """sha256 of the 18-character resident id (a final x upper-cased), lower-case hex.

    The same digest the payment service is to publish on payment.account.opened, and the
    one court and partner lists are imported with: the credit service never sees the id.
    """
    return hashlib.sha256(resident_id.strip().upper().encode()).hexdigest()


def require_source(source: str) -> str:
    if not SOURCE_PATTERN.fullmatch(source):
        raise InvalidArgument(
            "source must be 'court:<name>' or 'partner:<name>'", metadata={"field": "source"}
        )
    return source


def require_case_reference(case_reference: str) -> str:
    if not case_reference or len(case_reference) > CASE_REFERENCE_LENGTH_MAX:
        raise InvalidArgument(
            f"case_reference is required (at most {CASE_REFERENCE_LENGTH_MAX} characters)",
            metadata={"field": "case_reference"},
        )
    return case_reference


def require_listings(listings: list[Listing]) -> list[Listing]:
    if not 1 <= len(listings) <= LISTINGS_PER_CALL_MAX:
        raise InvalidArgument(f"between 1 and {LISTINGS_PER_CALL_MAX} listings per call")
    for listing in listings:
        if not RESIDENT_ID_HASH_PATTERN.fullmatch(listing.resident_id_hash):
            raise InvalidArgument(
                "resident_id_hash must be a lower-case hex sha256 digest",
                metadata={"case_reference": listing.case_reference},
            )
        require_case_reference(listing.case_reference)
    return listings


def entered_reason_of(source: str) -> ChangeReason:
    if source == LOAN_SOURCE:
        return ChangeReason.LOAN_OVERDUE_90
    return ChangeReason.COURT_LIST if source.startswith("court:") else ChangeReason.PARTNER_LIST


def enter(
    source: str, listing: Listing, person_id: str, now: datetime
) -> tuple[BlacklistEntry, BlacklistChange]:
    """A new listed entry and the change that records it."""
    entry = BlacklistEntry(
        source=source,
        case_reference=listing.case_reference,
        resident_id_hash=listing.resident_id_hash,
        person_id=person_id,
        listed=True,
        listed_at=now,
    )
    return entry, change_of(entry, Change.ENTERED, entered_reason_of(source), "", now)


def remove(
    entry: BlacklistEntry, reason: ChangeReason, note: str, now: datetime
) -> tuple[BlacklistEntry, BlacklistChange]:
    """The entry removed for a reason, and the change that records it."""
    assert entry.listed, "only a listed entry is removed"
    if len(note) > NOTE_LENGTH_MAX:
        raise InvalidArgument(f"note is longer than {NOTE_LENGTH_MAX} characters")
    removed = dataclasses.replace(entry, listed=False, removed_at=now)
    return removed, change_of(removed, Change.REMOVED, reason, note, now)


def change_of(
    entry: BlacklistEntry, change: Change, reason: ChangeReason, note: str, now: datetime
) -> BlacklistChange:
    return BlacklistChange(
        source=entry.source,
        case_reference=entry.case_reference,
        resident_id_hash=entry.resident_id_hash,
        person_id=entry.person_id,
        change=change,
        reason=reason,
        note=note,
        changed_at=now,
    )


def is_blacklisted(entries: list[BlacklistEntry]) -> bool:
    return any(entry.listed for entry in entries)
