"""Identifiers every process checks the same way: mainland mobile phones, resident ids.

Pure functions, no I/O: the payment ledger validates what it stores with them, and the
gateway validates a registration with them *before* it spends 64 MiB and tens of
milliseconds hashing the password (issue 21 item 6), so a malformed request costs nothing.
"""

from __future__ import annotations

import re
from datetime import date

from chassis.errors import InvalidArgument

# GB 11643-1999: 17 digits, then a check character from a weighted sum mod 11.
_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK_CHARS = "10X98765432"
_RESIDENT_ID_PATTERN = re.compile(r"[1-9][0-9]{16}[0-9X]")
_MOBILE_PATTERN = re.compile(r"1[3-9][0-9]{9}")


def resident_id_check_char(first_17_digits: str) -> str:
    """The GB 11643 check character for the first 17 digits of a resident id."""
    total = sum(int(d) * w for d, w in zip(first_17_digits, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK_CHARS[total % 11]


def validate_resident_id(resident_id: str) -> str:
    """Return the normalised (upper-case X) resident id, or refuse it with INVALID_RESIDENT_ID."""
    normalised = resident_id.strip().upper()
    refusal = InvalidArgument(
        "resident_id must be an 18-character resident identity number with a valid checksum",
        reason="INVALID_RESIDENT_ID",
    )
    if not _RESIDENT_ID_PATTERN.fullmatch(normalised):
        raise refusal
    try:
        date(int(normalised[6:10]), int(normalised[10:12]), int(normalised[12:14]))
    except ValueError:
        raise refusal from None
    if resident_id_check_char(normalised[:17]) != normalised[17]:
        raise refusal
    return normalised


def validate_phone(phone: str) -> str:
    """Return the phone if it is an 11-digit mainland mobile number, else INVALID_PHONE."""
    if not _MOBILE_PATTERN.fullmatch(phone):
        raise InvalidArgument(
            "phone must be an 11-digit mainland mobile number", reason="INVALID_PHONE"
        )
    return phone
