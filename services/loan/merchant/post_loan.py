"""Post-loan control of a facility (贷后): past its end date with money owed, it is withheld
from every later settlement of the merchant until repaid (the payment service's
merchant-wide withholding). A collection pays the revolving part first (the dearer), then
the fixed, each its interest then principal, as a repayment would; what it brings beyond
what is owed is excess, given back to the merchant.

*Example:* a facility owing revolving 10,000 + 60 interest and fixed 5,000 + 25 fen; a
settlement withholds 16,000 → revolving 10,060, fixed 5,025, excess 915.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from chassis.money import require_positive_amount
from services.loan.merchant.facilities import (
    Applied,
    Facility,
    Part,
    accrue_facility,
    apply_repayment,
)

COLLECTION_ORDER = (Part.REVOLVING, Part.FIXED)


@dataclass(frozen=True, slots=True)
class Collection:
    parts: tuple[tuple[Part, int, Applied], ...]  # (part, amount, its split)
    excess_fen: int


def collect(facility: Facility, amount_fen: int, today: date) -> tuple[Facility, Collection]:
    """The facility after a withheld amount, and where it went."""
    require_positive_amount(amount_fen)
    after = accrue_facility(facility, today)
    left = amount_fen
    parts = []
    for which in COLLECTION_ORDER:
        owed = after.part(which).owed_fen - after.repaying_fen(which)
        take = min(left, max(owed, 0))
        if not take:
            continue
        reserved = (
            replace(after, repaying_fixed_fen=after.repaying_fixed_fen + take)
            if which is Part.FIXED
            else replace(after, repaying_revolving_fen=after.repaying_revolving_fen + take)
        )
        after, split = apply_repayment(reserved, which, take, today)
        parts.append((which, take, split))
        left -= take
    return replace(after, excess_pending_fen=after.excess_pending_fen + left), Collection(
        tuple(parts), left
    )


def excess_returned(facility: Facility, amount_fen: int) -> Facility:
    return replace(facility, excess_pending_fen=facility.excess_pending_fen - amount_fen)
