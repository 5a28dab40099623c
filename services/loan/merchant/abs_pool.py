"""Asset securitisation (ABS, 资产证券化): a pool of loan receivables sold to investors.

An operator creates a pool with eligibility rules (the loan current, at least
``min_remaining_days`` of term left, no borrower above ``max_borrower_share`` of the
investors' units, and the product rule: a merchant-lending pool holds merchant loans only,
facilities and order loans, never consumer loans) and a revolving period. Investors buy
units with wallet money (1 unit = 1 fen of principal); the pool buys eligible loans at par
with that cash, so the lender's capacity returns. Each period's collections on pooled loans
pass through, in this order:

1. interest collected pays investors the coupon on their unit-days in the period
   (units x days held: units bought mid-period accrue from their purchase day;
   unit-days x coupon / 365, ROUND_DOWN to the fen), as far as it goes;
2. the rest of the interest is *excess spread* (to the lender, the pool's residual holder);
3. principal collected (with any cash carried from before) buys new eligible loans during
   the revolving period (循环购买; what no eligible loan absorbs is carried to the next
   period); after it, all of it is returned to investors, reducing their units.
A defaulted loan leaves the pool with its principal unpaid (the investors' loss, no cash).

Every fen the pooled loans pay in a period is either the pool's collection or kept by the
lender (its share of a revolving part drawn after the sale, ``pool_share_of``):
  paid by the pooled loans = collected + lender kept
and every fen the pool has is accounted for, each period:
  carried in + interest collected + principal collected
    = investor interest + excess spread + revolving purchases + principal returned + carried out
and over a pool's whole life (nothing is carried once the revolving period is over):
  collected = investor interest + excess spread + revolving purchases + principal returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_DOWN, Decimal

from chassis.errors import FailedPrecondition, InvalidArgument

DAYS_PER_YEAR = 365
POOL_ACCOUNT_PREFIX = "platform:loan:abs:"
FACILITY = "facility"
ORDER_LOAN = "order_loan"
# The product rule: a merchant-lending ABS holds merchant loans only. Consumer loans (Huabei,
# cash loans) are small, many and unsecured by trades: they are not offered to pools.
POOLED_KINDS = (FACILITY, ORDER_LOAN)


def pool_account_id(pool_id: str) -> str:
    """The pool's cash in the payment ledger (the gateway opens and moves it)."""
    return POOL_ACCOUNT_PREFIX + pool_id


@dataclass(frozen=True, slots=True)
class Eligibility:
    require_current: bool = True
    min_remaining_days: int = 30
    max_borrower_share: Decimal = Decimal("0.2")
    loan_kinds: tuple[str, ...] = POOLED_KINDS  # the product rule (not chosen per pool)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A loan the lender offers the pool: its principal outstanding, borrower, state."""

    loan_id: str
    borrower_id: str
    principal_fen: int
    end_date: date
    current: bool
    kind: str = FACILITY


def ineligibility(
    candidate: Candidate,
    rules: Eligibility,
    held: Mapping[str, int],
    pool_size_fen: int,
    today: date,
) -> list[str]:
    """Why the pool may not buy this loan (empty: eligible). held: borrower → principal
    in the pool; pool_size_fen: the investors' units (a borrower's share is of those)."""
    reasons = []
    if candidate.kind not in rules.loan_kinds:
        reasons.append("LOAN_KIND_NOT_POOLED")
    if rules.require_current and not candidate.current:
        reasons.append("NOT_CURRENT")
    if (candidate.end_date - today).days < rules.min_remaining_days:
        reasons.append("REMAINING_TERM_SHORT")
    borrower = held.get(candidate.borrower_id, 0) + candidate.principal_fen
    if Decimal(borrower) > Decimal(pool_size_fen) * rules.max_borrower_share:
        reasons.append("BORROWER_SHARE_HIGH")
    if candidate.principal_fen <= 0:
        reasons.append("NOTHING_OUTSTANDING")
    return reasons


@dataclass(frozen=True, slots=True)
class Pool:
    pool_id: str
    coupon_rate: Decimal  # annual, simple
    revolving_until: date
    rules: Eligibility
    units_fen: int = 0  # investors' principal outstanding
    cash_fen: int = 0  # unitholders' cash not yet invested or returned
    loans: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # id → (borrower, fen)

    @property
    def principal_fen(self) -> int:
        return sum(fen for _, fen in self.loans.values())

    def by_borrower(self) -> dict[str, int]:
        held: dict[str, int] = {}
        for borrower, fen in self.loans.values():
            held[borrower] = held.get(borrower, 0) + fen
        return held


def require_pool_terms(coupon_rate: Decimal, rules: Eligibility) -> None:
    if not Decimal(0) <= coupon_rate <= Decimal(1):
        raise InvalidArgument("coupon_rate is 0 to 1", metadata={"field": "coupon_rate"})
    if rules.min_remaining_days < 0:
        raise InvalidArgument("min_remaining_days >= 0", metadata={"field": "min_remaining_days"})
    if not Decimal(0) < rules.max_borrower_share <= Decimal(1):
        raise InvalidArgument(
            "max_borrower_share is above 0, at most 1", metadata={"field": "max_borrower_share"}
        )


def sell_units(pool: Pool, amount_fen: int) -> Pool:
    """An investor's purchase of units: their cash joins the pool's."""
    if amount_fen <= 0:
        raise InvalidArgument("amount must be positive", reason="INVALID_AMOUNT")
    return replace(pool, units_fen=pool.units_fen + amount_fen, cash_fen=pool.cash_fen + amount_fen)


def buy_loans(
    pool: Pool, candidates: Iterable[Candidate], today: date
) -> tuple[Pool, list[Candidate]]:
    """Buy, in the order offered, each eligible loan the pool's cash covers, at par."""
    loans = dict(pool.loans)
    cash = pool.cash_fen
    bought = []
    for candidate in candidates:
        if candidate.loan_id in loans or candidate.principal_fen > cash:
            continue
        held = replace(pool, loans=loans).by_borrower()
        reasons = ineligibility(candidate, pool.rules, held, pool.units_fen, today)
        if reasons:
            continue
        loans[candidate.loan_id] = (candidate.borrower_id, candidate.principal_fen)
        cash -= candidate.principal_fen
        bought.append(candidate)
    return replace(pool, loans=loans, cash_fen=cash), bought


@dataclass(frozen=True, slots=True)
class Collection:
    """What one pooled loan paid the pool this period (principal ≤ its outstanding), or its
    default; lender_*: what it paid in the period that the lender keeps (pool_share_of)."""

    loan_id: str
    interest_fen: int = 0
    principal_fen: int = 0
    defaulted: bool = False
    kind: str = FACILITY
    lender_interest_fen: int = 0
    lender_principal_fen: int = 0


def pool_share_of(
    held_fen: int, outstanding_fen: int, interest_fen: int, principal_fen: int
) -> tuple[int, int]:
    """The pool's part of what a pooled facility paid in a period (interest, principal).

    The pool owns the principal it holds (held_fen); draws the lender made on a revolving
    part after the sale are the lender's. What the facility paid in the period is shared
    pro rata between them by principal: the pool's share is held / (principal outstanding
    now + principal repaid in the period), i.e. of all the principal outstanding at some time
    in the period (at its start, or drawn during it), each ROUND_DOWN to the fen, the rest
    the lender's; the pool's principal is at most what it holds. With no later draws the
    base equals what the pool holds and every fen is the pool's."""
    if min(held_fen, outstanding_fen, interest_fen, principal_fen) < 0:
        raise InvalidArgument("amounts are not negative")
    base = outstanding_fen + principal_fen
    if base <= 0 or held_fen >= base:
        return interest_fen, min(principal_fen, held_fen)
    return interest_fen * held_fen // base, principal_fen * held_fen // base


@dataclass(frozen=True, slots=True)
class PeriodReport:
    """Every fen of one period: where the collections went."""

    carried_in_fen: int
    interest_collected_fen: int
    principal_collected_fen: int
    investor_interest_fen: int
    excess_spread_fen: int
    purchases_fen: int
    principal_returned_fen: int
    carried_out_fen: int
    defaulted_fen: int
    bought: tuple[str, ...]
    # Of the collections and the purchases, the order loans' part (their own books).
    order_loan_collected_fen: int = 0
    order_loan_purchases_fen: int = 0
    # What the pooled loans paid that the lender kept (stays in the lender's cash).
    lender_kept_interest_fen: int = 0
    lender_kept_principal_fen: int = 0

    @property
    def collected_fen(self) -> int:
        return self.interest_collected_fen + self.principal_collected_fen

    @property
    def paid_by_loans_fen(self) -> int:
        """Every fen the pooled loans paid in the period: the pool's and the lender's."""
        return self.collected_fen + self.lender_kept_interest_fen + self.lender_kept_principal_fen


def coupon_due_fen(units_fen: int, coupon_rate: Decimal, days: int) -> int:
    exact = Decimal(units_fen) * coupon_rate * days / DAYS_PER_YEAR
    return int(exact.to_integral_value(rounding=ROUND_DOWN))


def pass_through(
    pool: Pool,
    collections: Iterable[Collection],
    candidates: Iterable[Candidate],
    *,
    period_days: int,
    today: date,
    missed_unit_days: int = 0,
) -> tuple[Pool, PeriodReport]:
    """Apply one period's collections: the waterfall in the module docstring.
    missed_unit_days: units x days not held in the period (units bought after its start)."""
    if period_days <= 0:
        raise InvalidArgument("period_days must be positive", metadata={"field": "period_days"})
    if not 0 <= missed_unit_days <= pool.units_fen * period_days:
        raise InvalidArgument("missed_unit_days is 0 to units x days")
    loans = dict(pool.loans)
    interest = principal = defaulted = order_collected = kept_interest = kept_principal = 0
    for item in collections:
        if item.loan_id not in loans:
            raise FailedPrecondition(f"loan {item.loan_id} is not in pool {pool.pool_id}")
        borrower, outstanding = loans[item.loan_id]
        if item.interest_fen < 0 or not 0 <= item.principal_fen <= outstanding:
            raise InvalidArgument(f"collection on {item.loan_id} out of range")
        if min(item.lender_interest_fen, item.lender_principal_fen) < 0:
            raise InvalidArgument(f"the lender's part of {item.loan_id} is negative")
        interest += item.interest_fen
        principal += item.principal_fen
        kept_interest += item.lender_interest_fen
        kept_principal += item.lender_principal_fen
        if item.kind == ORDER_LOAN:
            order_collected += item.interest_fen + item.principal_fen
        left = outstanding - item.principal_fen
        if item.defaulted:
            defaulted += left
            left = 0
        if left:
            loans[item.loan_id] = (borrower, left)
        else:
            del loans[item.loan_id]
    unit_days = pool.units_fen * period_days - missed_unit_days
    investor_interest = min(interest, coupon_due_fen(unit_days, pool.coupon_rate, 1))
    excess = interest - investor_interest
    available = pool.cash_fen + principal
    after = replace(pool, loans=loans, cash_fen=available)
    bought: list[Candidate] = []
    returned = 0
    if today <= pool.revolving_until:
        after, bought = buy_loans(after, candidates, today)
    else:
        returned = min(available, after.units_fen)
        after = replace(after, cash_fen=available - returned, units_fen=after.units_fen - returned)
    purchases = sum(candidate.principal_fen for candidate in bought)
    report = PeriodReport(
        carried_in_fen=pool.cash_fen,
        interest_collected_fen=interest,
        principal_collected_fen=principal,
        investor_interest_fen=investor_interest,
        excess_spread_fen=excess,
        purchases_fen=purchases,
        principal_returned_fen=returned,
        carried_out_fen=after.cash_fen,
        defaulted_fen=defaulted,
        bought=tuple(candidate.loan_id for candidate in bought),
        order_loan_collected_fen=order_collected,
        order_loan_purchases_fen=sum(c.principal_fen for c in bought if c.kind == ORDER_LOAN),
        lender_kept_interest_fen=kept_interest,
        lender_kept_principal_fen=kept_principal,
    )
    return after, report
