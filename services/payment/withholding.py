"""Withholding from settlements (代扣): money owed to a platform account taken from a
merchant's settlement before the merchant is paid, inside the settlement's own posting.

An instruction names the merchant, the account the money goes to (a lender's), a reference
(the loan) and a cap. Tied to one trade, it applies to that trade's settlement only (an
order loan repaid from the trades it was lent against), and is done once the trade settles;
with no trade, it applies to every later settlement of the merchant until the cap is
withheld (an overdue loan under post-loan control). At a settlement the trade's own
instruction comes first, then the merchant-wide ones oldest first; each takes what it still
may, as far as the merchant's net (after the acquiring fee) goes. Every application is
recorded on the instruction with the settlement's posting id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chassis.errors import FailedPrecondition


class WithholdingState(StrEnum):
    ACTIVE = "active"
    DONE = "done"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class Application:
    posting_id: str
    trade_id: str
    amount_fen: int
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class Withholding:
    withholding_id: str
    merchant_account_id: str
    trade_id: str  # "" → every settlement of the merchant
    account_id: str
    reference: str
    amount_fen: int
    state: WithholdingState
    created_at: datetime
    withheld_fen: int = 0
    applications: tuple[Application, ...] = ()

    @property
    def remaining_fen(self) -> int:
        return self.amount_fen - self.withheld_fen


def plan_withholding(
    trade_id: str,
    merchant_fen: int,
    instructions: list[Withholding],
    now: datetime,
    posting_id: str,
) -> tuple[list[Withholding], list[tuple[str, int]]]:
    """The instructions after a settlement of trade_id paying the merchant merchant_fen, and
    the legs (account, fen) to take from the merchant's part, in order."""
    ordered = sorted(
        (w for w in instructions if w.state is WithholdingState.ACTIVE),
        key=lambda w: (w.trade_id != trade_id, w.created_at, w.withholding_id),
    )
    available = merchant_fen
    changed: list[Withholding] = []
    legs: list[tuple[str, int]] = []
    for instruction in ordered:
        if instruction.trade_id not in ("", trade_id):
            continue
        take = min(instruction.remaining_fen, available)
        available -= take
        after = instruction
        if take:
            after = replace(
                after,
                withheld_fen=after.withheld_fen + take,
                applications=(
                    *after.applications,
                    Application(posting_id, trade_id, take, now),
                ),
            )
            legs.append((instruction.account_id, take))
        if instruction.trade_id or after.remaining_fen == 0:
            after = replace(after, state=WithholdingState.DONE)
        if after != instruction:
            changed.append(after)
    return changed, legs


def release(withholding: Withholding) -> Withholding:
    """No more withholding under this instruction (what was withheld stays withheld)."""
    if withholding.state is WithholdingState.ACTIVE:
        return replace(withholding, state=WithholdingState.RELEASED)
    return withholding


def require_same(existing: Withholding, wanted: Withholding) -> Withholding:
    """A retried instruction: the same terms, else refused."""
    fields = ("merchant_account_id", "trade_id", "account_id", "reference", "amount_fen")
    if any(getattr(existing, name) != getattr(wanted, name) for name in fields):
        raise FailedPrecondition(
            f"withholding {existing.withholding_id} exists with other terms",
            reason="FAILED_PRECONDITION",
        )
    return existing
