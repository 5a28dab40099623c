"""ABS investors (abs_pool.py holds the pool's rules): who holds a pool's units, and how a
period's investor interest and returned principal are shared among them.

A share is pro rata, to the fen by the largest remainder: each investor gets
amount x weight / total rounded down, and the fen left over go one each to the largest
remainders (ties by investor id), so the shares sum to the amount exactly. The coupon's
weight is the investor's **unit-days** in the period (units x days held: units bought
mid-period accrue from their purchase day); returned principal's is units, and it reduces
each investor's units by their share.

Unit-days are kept as what was *not* held: a purchase of n units on day d of a period that
started on s records n x (d - s) in ``missed_unit_days``; at the period's end e the
investor's unit-days are units x (e - s) - missed_unit_days, and missed resets to 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

from chassis.errors import FailedPrecondition, InvalidArgument
from services.loan.merchant.abs_pool import PeriodReport
from services.loan.statements import add_months


@dataclass(frozen=True, slots=True)
class Holding:
    """One investor's units in one pool (1 unit = 1 fen of principal)."""

    investor_id: str
    units_fen: int = 0
    bought_fen: int = 0
    interest_fen: int = 0
    returned_fen: int = 0
    missed_unit_days: int = 0  # units x days not held this period (bought after its start)

    def unit_days(self, period_days: int) -> int:
        return self.units_fen * period_days - self.missed_unit_days


@dataclass(frozen=True, slots=True)
class Share:
    investor_id: str
    interest_fen: int
    returned_fen: int


@dataclass(frozen=True, slots=True)
class Period:
    """One pass-through: its dates, the waterfall's figures and each investor's share."""

    period_id: str
    start: date
    end: date
    report: PeriodReport
    shares: tuple[Share, ...]
    posted: bool = False  # every leg posted in the payment ledger

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def period_id_of(pool_id: str, end: date) -> str:
    return f"{pool_id}:{end.isoformat()}"


def require_period_over(start: date, today: date, *, monthly: bool) -> None:
    """A period ends after its start: any later day by hand, a whole month later (the same
    day, clamped to the month's end) for the scheduled job."""
    due = add_months(start, 1) if monthly else start + timedelta(days=1)
    if today < due:
        raise FailedPrecondition(
            f"the period from {start.isoformat()} is not over before {due.isoformat()}",
            reason="POOL_PERIOD_NOT_OVER",
            metadata={"last_period_end": start.isoformat(), "due": due.isoformat()},
        )


def split_pro_rata(amount_fen: int, weights: Mapping[str, int]) -> dict[str, int]:
    """amount split by weight, to the fen (largest remainder; ties by key)."""
    if amount_fen < 0 or any(weight < 0 for weight in weights.values()):
        raise InvalidArgument("amounts and weights are not negative")
    total = sum(weights.values())
    if amount_fen == 0:
        return {key: 0 for key in weights}
    if total <= 0:
        raise FailedPrecondition("nothing to share by: no units", reason="POOL_HAS_NO_UNITS")
    shares = {key: amount_fen * weight // total for key, weight in weights.items()}
    left = amount_fen - sum(shares.values())
    by_remainder = sorted(weights, key=lambda key: (-(amount_fen * weights[key] % total), key))
    for key in by_remainder[:left]:
        shares[key] += 1
    return shares


def buy_units(
    holdings: Mapping[str, Holding], investor_id: str, amount_fen: int, days_into_period: int = 0
) -> Holding:
    """The investor's holding after buying amount_fen of units days_into_period days after
    the current period started (they accrue the coupon from then)."""
    if days_into_period < 0:
        raise InvalidArgument("units are bought within the current period")
    held = holdings.get(investor_id, Holding(investor_id))
    return replace(
        held,
        units_fen=held.units_fen + amount_fen,
        bought_fen=held.bought_fen + amount_fen,
        missed_unit_days=held.missed_unit_days + amount_fen * days_into_period,
    )


def missed_unit_days(holdings: Mapping[str, Holding]) -> int:
    """The pool's units x days not held this period (the coupon is not due on them)."""
    return sum(held.missed_unit_days for held in holdings.values())


def distribute(
    holdings: Mapping[str, Holding], interest_fen: int, returned_fen: int, period_days: int
) -> tuple[dict[str, Holding], tuple[Share, ...]]:
    """A period's investor interest shared by unit-days, returned principal by units (as
    they were before the return); the holdings after it (the next period starts now)."""
    units = {investor: held.units_fen for investor, held in holdings.items()}
    unit_days = {investor: held.unit_days(period_days) for investor, held in holdings.items()}
    interest = split_pro_rata(interest_fen, unit_days)
    returned = split_pro_rata(returned_fen, units)
    after = {
        investor: replace(
            held,
            units_fen=held.units_fen - returned[investor],
            interest_fen=held.interest_fen + interest[investor],
            returned_fen=held.returned_fen + returned[investor],
            missed_unit_days=0,
        )
        for investor, held in holdings.items()
    }
    shares = tuple(
        Share(investor, interest[investor], returned[investor])
        for investor in sorted(holdings)
        if interest[investor] or returned[investor]
    )
    return after, shares
