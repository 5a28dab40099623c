"""Real-name identity (实名认证): resident identity numbers, phone numbers, masking."""

from __future__ import annotations

import hashlib

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.identifiers import resident_id_check_char, validate_phone, validate_resident_id

__all__ = [
    "mask_name",
    "mask_resident_id",
    "resident_id_check_char",
    "resident_id_hash",
    "resident_id_proven_elsewhere",
    "validate_name",
    "validate_phone",
    "validate_resident_id",
]

REAL_NAME_LENGTH_MAX = 64


def resident_id_hash(resident_id: str) -> str:
    """How lists of people (court lists of dishonest debtors) name a resident id: sha256 hex."""
    return hashlib.sha256(resident_id.upper().encode()).hexdigest()


def resident_id_proven_elsewhere() -> FailedPrecondition:
    """Binding a card would prove a resident id another account has proven already.

    Only a caller whose card the bank confirmed in the account's name learns this (a real
    bank channel confirms the holder's id too); the id's holder appeals to the platform.
    """
    return FailedPrecondition(
        "the card cannot be bound as proof of this account's real name: the resident id "
        "this account gave is verified on another account (its holder may appeal to support)",
        reason="CARD_HOLDER_NOT_CONFIRMED",
    )


def mask_resident_id(resident_id: str) -> str:
    """Keep the first 6 (region) and last 4 characters: 110101********1234."""
    return resident_id[:6] + "*" * (len(resident_id) - 10) + resident_id[-4:]


def validate_name(name: str, field: str) -> str:
    """Return the trimmed name if it is non-empty and not too long."""
    trimmed = name.strip()
    if not trimmed or len(trimmed) > REAL_NAME_LENGTH_MAX:
        raise InvalidArgument(f"{field} must be 1 to {REAL_NAME_LENGTH_MAX} characters")
    return trimmed


def mask_name(name: str) -> str:
    """Show a payee's name the way a wallet confirms it: 张三丰 -> *三丰, Alice -> *lice."""
    return "*" + name[1:] if len(name) > 1 else "*"
