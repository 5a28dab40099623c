"""One account's close of a business day: accrual up to the day, then its delinquency.

The daily job (RunLoanJobs) closes every account that can accrue or be late; a repayment
closes its account on the day it is applied (so settling a late account reports at once).
Both are idempotent: accrual remembers the last day accrued, delinquency the last bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from services.loan.bills import Bill
from services.loan.cash_loans import CashLoan, accrue_loan
from services.loan.delinquency import (
    DelinquencyChange,
    account_days_overdue,
    assess_delinquency,
    overdue_fen,
)
from services.loan.huabei import HuabeiLine
from services.loan.periods import accrue_period


@dataclass(frozen=True, slots=True)
class HuabeiDay:
    line: HuabeiLine
    bills: list[Bill]
    change: DelinquencyChange | None
    overdue_fen: int


def close_huabei_day(line: HuabeiLine, bills: Sequence[Bill], day: date) -> HuabeiDay:
    """The line's unpaid bills accrued to day, and its delinquency on day."""
    accrued = [replace(bill, period=accrue_period(bill.period, day)) for bill in bills]
    periods = [bill.period for bill in accrued]
    days = account_days_overdue(periods, day)
    delinquency, change = assess_delinquency(line.delinquency, days)
    return HuabeiDay(
        replace(line, delinquency=delinquency), accrued, change, overdue_fen(periods, day)
    )


@dataclass(frozen=True, slots=True)
class LoanDay:
    loan: CashLoan
    change: DelinquencyChange | None
    overdue_fen: int


def close_cash_loan_day(loan: CashLoan, day: date) -> LoanDay:
    """The loan accrued to day (interest by the day, penalties), and its delinquency on day."""
    accrued = accrue_loan(loan, day)
    days = account_days_overdue(accrued.periods, day)
    delinquency, change = assess_delinquency(accrued.delinquency, days)
    return LoanDay(
        replace(accrued, delinquency=delinquency), change, overdue_fen(accrued.periods, day)
    )
