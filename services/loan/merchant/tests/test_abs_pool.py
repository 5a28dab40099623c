"""ABS pools: a worked month by hand, eligibility, and conservation as a property (every fen
the pooled loans pay is the pool's collection or the lender's kept share; every fen the pool
collects goes to investors, the lender or new loans)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.loan.merchant.abs_pool import (
    FACILITY,
    ORDER_LOAN,
    Candidate,
    Collection,
    Eligibility,
    Pool,
    buy_loans,
    ineligibility,
    pass_through,
    pool_share_of,
    sell_units,
)

YUAN = 100
START = date(2026, 1, 1)
RULES = Eligibility(require_current=True, min_remaining_days=30, max_borrower_share=Decimal("0.2"))


def loan(n: int, yuan: int, borrower: str | None = None, *, current: bool = True) -> Candidate:
    return Candidate(
        f"L{n}", borrower or f"m{n}", yuan * YUAN, START + timedelta(days=300), current
    )


def test_a_worked_month() -> None:
    pool = Pool("abs-1", Decimal("0.06"), revolving_until=date(2026, 6, 30), rules=RULES)
    pool = sell_units(pool, 1_000_000 * YUAN)
    pool, bought = buy_loans(pool, [loan(n, 100_000) for n in range(10)], START)
    assert (len(bought), pool.cash_fen, pool.principal_fen) == (10, 0, 1_000_000 * YUAN)

    # January: each loan pays 30 days of 0.05% (1,500 yuan); L0 and L1 repay 100,000 each.
    collections = [
        Collection(f"L{n}", 1_500 * YUAN, 100_000 * YUAN if n < 2 else 0) for n in range(10)
    ]
    offered = [loan(10, 150_000), loan(11, 40_000), loan(12, 30_000)]
    pool, month = pass_through(pool, collections, offered, period_days=30, today=date(2026, 1, 31))
    # coupon: 100,000,000 fen x 6% x 30 / 365 = 493,150.68 → 493,150 fen
    assert month.investor_interest_fen == 493_150
    assert month.excess_spread_fen == 1_500_000 - 493_150
    # 200,000 yuan of principal buys L10 and L11 (190,000); L12 no longer fits: 10,000 carried
    assert month.bought == ("L10", "L11")
    assert (month.purchases_fen, month.carried_out_fen) == (190_000 * YUAN, 10_000 * YUAN)
    assert month.principal_returned_fen == 0
    assert pool.units_fen == 1_000_000 * YUAN


def test_after_the_revolving_period_principal_goes_back_to_investors() -> None:
    pool = sell_units(Pool("abs-2", Decimal("0.05"), date(2026, 1, 15), RULES), 500_000 * YUAN)
    pool, _ = buy_loans(pool, [loan(n, 100_000) for n in range(5)], START)
    collections = [Collection("L0", 0, 100_000 * YUAN), Collection("L1", 0, 50_000 * YUAN)]
    pool, month = pass_through(
        pool, collections, [loan(9, 10_000)], period_days=31, today=date(2026, 2, 1)
    )
    assert month.bought == ()
    assert month.principal_returned_fen == 150_000 * YUAN
    assert month.investor_interest_fen == 0  # no interest collected: nothing to pass through
    assert pool.units_fen == 350_000 * YUAN


def test_eligibility_rules() -> None:
    held = {"m1": 150_000 * YUAN}
    assert ineligibility(loan(2, 50_000, "m1"), RULES, held, 800_000 * YUAN, START) == [
        "BORROWER_SHARE_HIGH"  # 200,000 is above 20% of a pool of 800,000
    ]
    assert ineligibility(loan(2, 10_000, "m1"), RULES, held, 800_000 * YUAN, START) == []
    late = Candidate("L3", "m3", 1_000, START + timedelta(days=29), current=False)
    assert ineligibility(late, RULES, {}, 10_000_000, START) == [
        "NOT_CURRENT",
        "REMAINING_TERM_SHORT",
    ]
    # The product rule: merchant loans only. An order loan is a candidate like a facility;
    # a consumer loan (Huabei, a cash loan) is never pooled.
    order = Candidate("ol_1", "m4", 1_000, START + timedelta(days=30), True, kind=ORDER_LOAN)
    assert ineligibility(order, RULES, {}, 10_000_000, START) == []
    cash = Candidate("cl_1", "p1", 1_000, START + timedelta(days=300), True, kind="cash_loan")
    assert ineligibility(cash, RULES, {}, 10_000_000, START) == ["LOAN_KIND_NOT_POOLED"]


@st.composite
def pool_lives(draw: st.DrawFn) -> tuple[Pool, list[tuple[list[Candidate], int]]]:
    rules = Eligibility(
        require_current=draw(st.booleans()),
        min_remaining_days=draw(st.integers(0, 60)),
        max_borrower_share=Decimal(draw(st.integers(1, 100))) / 100,
    )
    pool = Pool(
        "p",
        Decimal(draw(st.integers(0, 2000))) / 10_000,
        revolving_until=START + timedelta(days=draw(st.integers(0, 200))),
        rules=rules,
    )
    pool = sell_units(pool, draw(st.integers(1, 10_000_000)))
    seq = iter(range(10**6))

    def candidates() -> list[Candidate]:
        return [
            Candidate(
                f"L{next(seq)}",
                draw(st.sampled_from(["a", "b", "c", "d", "e"])),
                draw(st.integers(1, 3_000_000)),
                START + timedelta(days=draw(st.integers(0, 500))),
                draw(st.booleans()),
                draw(st.sampled_from([FACILITY, ORDER_LOAN, "huabei"])),
            )
            for _ in range(draw(st.integers(0, 6)))
        ]

    pool, _ = buy_loans(pool, candidates(), START)
    periods = [(candidates(), draw(st.integers(1, 31))) for _ in range(draw(st.integers(1, 8)))]
    return pool, periods


@settings(max_examples=200, deadline=None)
@given(pool_lives(), st.data())
def test_every_fen_collected_is_accounted_for(
    life: tuple[Pool, list[tuple[list[Candidate], int]]], data: st.DataObject
) -> None:
    pool, periods = life
    today = START
    totals = dict.fromkeys(("collected", "interest", "spread", "purchases", "returned"), 0)
    units_sold = pool.units_fen
    first_cash = pool.cash_fen
    kinds = {c.loan_id: c.kind for offered, _ in periods for c in offered}
    kinds.update({loan_id: FACILITY for loan_id in pool.loans})
    for offered, days in periods:
        today += timedelta(days=days)
        paid = {}  # loan id → (interest, principal) the loan paid in the period, in all
        collections = []
        for loan_id, (_, fen) in sorted(pool.loans.items()):
            if not data.draw(st.booleans()):
                continue
            # the loan pays; a revolving part drawn after the sale (lender's) shares it
            later_draws = data.draw(st.integers(0, 2 * fen)) if kinds[loan_id] == FACILITY else 0
            repaid = data.draw(st.integers(0, fen + later_draws))
            interest_paid = data.draw(st.integers(0, 100_000))
            pool_interest, pool_principal = pool_share_of(
                fen, fen + later_draws - repaid, interest_paid, repaid
            )
            paid[loan_id] = (interest_paid, repaid)
            collections.append(
                Collection(
                    loan_id,
                    pool_interest,
                    pool_principal,
                    data.draw(st.booleans()) and data.draw(st.booleans()),
                    kind=kinds[loan_id],
                    lender_interest_fen=interest_paid - pool_interest,
                    lender_principal_fen=repaid - pool_principal,
                )
            )
        before = pool
        # units bought after the period's start accrue from their day: any unit-days missed
        missed = data.draw(st.integers(0, pool.units_fen * days))
        pool, month = pass_through(
            pool, collections, offered, period_days=days, today=today, missed_unit_days=missed
        )
        # each period: every fen in is a fen out
        assert (
            month.carried_in_fen + month.collected_fen
            == month.investor_interest_fen
            + month.excess_spread_fen
            + month.purchases_fen
            + month.principal_returned_fen
            + month.carried_out_fen
        )
        assert min(month.investor_interest_fen, month.excess_spread_fen, month.carried_out_fen) >= 0
        # every fen the pooled loans paid: the pool's collection or the lender's kept share
        assert month.paid_by_loans_fen == sum(i + p for i, p in paid.values())
        assert min(month.lender_kept_interest_fen, month.lender_kept_principal_fen) >= 0
        # the order loans' part (platform:loan:order's legs) and no consumer loan bought
        assert month.order_loan_collected_fen == sum(
            c.interest_fen + c.principal_fen for c in collections if c.kind == ORDER_LOAN
        )
        assert month.order_loan_purchases_fen == sum(
            c.principal_fen for c in offered if c.loan_id in month.bought and c.kind == ORDER_LOAN
        )
        assert all(kinds[loan_id] != "huabei" for loan_id in month.bought)
        # the pool's assets: loans + cash = units - losses, never more than investors paid in
        assert pool.principal_fen + pool.cash_fen + month.principal_returned_fen <= (
            before.principal_fen + before.cash_fen
        )
        assert pool.units_fen == before.units_fen - month.principal_returned_fen
        totals["collected"] += month.collected_fen
        totals["interest"] += month.investor_interest_fen
        totals["spread"] += month.excess_spread_fen
        totals["purchases"] += month.purchases_fen
        totals["returned"] += month.principal_returned_fen
    # over the whole life: collected + first cash = the four uses + what is still carried
    assert totals["collected"] + first_cash == (
        totals["interest"]
        + totals["spread"]
        + totals["purchases"]
        + totals["returned"]
        + pool.cash_fen
    )
    assert totals["returned"] <= units_sold


def test_the_pool_shares_a_revolving_part_with_later_draws_by_principal() -> None:
    # The pool holds 50,000 yuan; the lender drew 30,000 more; 20,000 was repaid this
    # period, 60,000 is outstanding: base 80,000, the pool's 5/8 of 600 interest and 20,000.
    assert pool_share_of(5_000_000, 6_000_000, 60_000, 2_000_000) == (37_500, 1_250_000)
    # No later draws: every fen is the pool's.
    assert pool_share_of(5_000_000, 3_000_000, 60_001, 2_000_000) == (60_001, 2_000_000)
    # Repaid in full: the pool's principal back whatever the rounding left it.
    assert pool_share_of(1, 0, 7, 3) == (2, 1)
    assert pool_share_of(0, 5, 10, 0) == (0, 0)


@given(st.integers(0, 10**10), st.integers(0, 10**10), st.integers(0, 10**8), st.data())
def test_the_pools_share_never_exceeds_what_it_holds_or_what_was_paid(
    held: int, outstanding: int, interest: int, data: st.DataObject
) -> None:
    principal = data.draw(st.integers(0, 10**10))
    held = min(held, outstanding + principal)  # the pool holds part of that principal
    pool_interest, pool_principal = pool_share_of(held, outstanding, interest, principal)
    assert 0 <= pool_interest <= interest and 0 <= pool_principal <= min(principal, held)
    base = outstanding + principal
    if base:
        assert pool_interest * base <= interest * held < (pool_interest + 1) * base
        assert pool_principal * base <= principal * held < (pool_principal + 1) * base
