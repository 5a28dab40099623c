"""Who may see a score (DOMAIN.md §3: privacy of the data subject).

The owner, acting for self; the loan and insurance services acting for the owner; a merchant
only with a live consent grant (merchant, purpose, expiry) the owner gave and has not
revoked. Every merchant read is logged and listed to the owner ("who looked at my score").
Grants are read from the database on every call, so a revoked grant stops working at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.errors import InvalidArgument, PermissionDenied

# The platform services that act for the owner (DOMAIN.md §3: "services acting for that owner").
ACTING_SERVICES = frozenset({"loan", "insurance"})
GRANT_DURATION_MAX = timedelta(days=365)
ID_LENGTH_MAX = 64


class CallerKind(StrEnum):
    OWNER = "owner"
    SERVICE = "service"
    MERCHANT = "merchant"
    OPERATOR = "operator"


class ConsentPurpose(StrEnum):
    SCORE = "score"
    DEPOSIT_WAIVER = "deposit_waiver"


@dataclass(frozen=True, slots=True)
class Caller:
    kind: CallerKind
    id: str


@dataclass(frozen=True, slots=True)
class ConsentGrant:
    grant_id: str
    person_id: str
    merchant_id: str
    purpose: ConsentPurpose
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class ScoreAccess:
    """One merchant read of a person's score, as the owner sees it."""

    access_id: str
    person_id: str
    merchant_id: str
    purpose: ConsentPurpose
    grant_id: str
    method: str
    accessed_at: datetime


def not_allowed(caller: Caller, what: str) -> PermissionDenied:
    return PermissionDenied(
        f"a {caller.kind.value} caller may not {what}",
        reason="CALLER_NOT_ALLOWED",
        metadata={"caller_kind": caller.kind.value},
    )


def require_id(value: str, field: str) -> str:
    if not value or len(value) > ID_LENGTH_MAX:
        raise InvalidArgument(f"{field} is required (at most {ID_LENGTH_MAX} characters)")
    return value


def require_owner(caller: Caller, person_id: str) -> None:
    """Only the person, acting for self (declarations, consents, the access log)."""
    if caller.kind is not CallerKind.OWNER or caller.id != person_id:
        raise not_allowed(caller, "act on another person's credit data")


def require_owner_or_service(caller: Caller, person_id: str) -> None:
    """The owner, or a platform service acting for the owner (history, limit advice)."""
    if caller.kind is CallerKind.SERVICE and caller.id in ACTING_SERVICES:
        return
    require_owner(caller, person_id)


def require_operator(caller: Caller) -> None:
    if caller.kind is not CallerKind.OPERATOR or not caller.id:
        raise not_allowed(caller, "administer the credit service")


def authorize_read(
    caller: Caller,
    person_id: str,
    purpose: ConsentPurpose,
    grants: Iterable[ConsentGrant],
    now: datetime,
) -> ConsentGrant | None:
    """May this caller read the person's score for the purpose? The grant a merchant used.

    None for the owner and acting services (no grant needed, nothing logged); a merchant
    without a live grant for exactly this purpose is refused with CONSENT_REQUIRED.
    """
    if caller.kind is not CallerKind.MERCHANT:
        require_owner_or_service(caller, person_id)
        return None
    for grant in grants:
        if (
            grant.person_id == person_id
            and grant.merchant_id == caller.id
            and grant.purpose is purpose
            and grant.live(now)
        ):
            return grant
    raise PermissionDenied(
        f"merchant {caller.id} has no live consent of the person for {purpose.value}",
        reason="CONSENT_REQUIRED",
        metadata={"merchant_id": caller.id, "purpose": purpose.value},
    )


def grant_consent(
    *,
    grant_id: str,
    person_id: str,
    merchant_id: str,
    purpose: ConsentPurpose,
    expires_at: datetime,
    now: datetime,
) -> ConsentGrant:
    """A new grant, expiring in the future and within a year."""
    if not now < expires_at <= now + GRANT_DURATION_MAX:
        raise InvalidArgument(
            "expires_at must be in the future and within a year",
            metadata={"field": "expires_at"},
        )
    return ConsentGrant(
        grant_id=grant_id,
        person_id=person_id,
        merchant_id=require_id(merchant_id, "merchant_id"),
        purpose=purpose,
        granted_at=now,
        expires_at=expires_at,
    )


def revoke(grant: ConsentGrant, now: datetime) -> ConsentGrant:
    """The grant revoked now (a revoked grant stays revoked: revoking again changes nothing)."""
    if grant.revoked_at is not None:
        return grant
    return dataclasses.replace(grant, revoked_at=now)
