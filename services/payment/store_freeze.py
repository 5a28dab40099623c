"""Store freeze (关店): an operator closes a defaulting merchant's store to raise the cost of
default (post-loan control, DOMAIN.md §4): no new escrow trades while frozen, refused with
STORE_FROZEN and the operator's reason, which the merchant sees. Trades already made go on
(they settle, and their settlements are still withheld from)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chassis.errors import FailedPrecondition, InvalidArgument

REASON_LENGTH_MAX = 200


@dataclass(frozen=True, slots=True)
class StoreFreeze:
    merchant_account_id: str
    frozen: bool
    reason: str
    changed_at: datetime


def require_reason(frozen: bool, reason: str) -> str:
    if frozen and not reason.strip():
        raise InvalidArgument("a freeze needs a reason", metadata={"field": "reason"})
    if len(reason) > REASON_LENGTH_MAX:
        raise InvalidArgument("the reason is too long", metadata={"field": "reason"})
    return reason.strip()


def require_store_open(freeze: StoreFreeze | None) -> None:
    if freeze is not None and freeze.frozen:
        raise FailedPrecondition(
            f"the store is frozen: {freeze.reason}",
            reason="STORE_FROZEN",
            metadata={"reason": freeze.reason, "since": freeze.changed_at.isoformat()},
        )
