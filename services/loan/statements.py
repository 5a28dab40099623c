"""Statement and due dates (账单日, 还款日): a fixed day each month, due 10 days later.

A statement day of 29, 30 or 31 falls on the last day of a shorter month (31 → 28 February,
29 February in a leap year, 30 April). The due date is the statement date + 10 calendar days;
a bill whose minimum was paid by then is extended to the next statement's due date.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

DUE_DAYS_AFTER_STATEMENT = 10


def last_day_of_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def statement_date_in(year: int, month: int, statement_day: int) -> date:
    """The statement date of a month: its statement day, or its last day if shorter."""
    return date(year, month, min(statement_day, last_day_of_month(year, month)))


def add_months(day: date, months: int, anchor_day: int | None = None) -> date:
    """The same day (anchor_day, default day.day) months later, clamped to the month's end."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    return statement_date_in(year, month + 1, anchor_day or day.day)


def next_statement_after(day: date, statement_day: int) -> date:
    """The first statement date strictly after day."""
    candidate = statement_date_in(day.year, day.month, statement_day)
    if candidate > day:
        return candidate
    return add_months(candidate, 1, statement_day)


def statement_dates_after(day: date, statement_day: int, count: int) -> list[date]:
    """The next count statement dates strictly after day."""
    first = next_statement_after(day, statement_day)
    return [add_months(first, k, statement_day) for k in range(count)]


def statement_days_on(day: date) -> list[int]:
    """The statement days whose statement date is day (29-31 all bill on 28 February)."""
    if day.day == last_day_of_month(day.year, day.month):
        return list(range(day.day, 32))
    return [day.day]


def due_date_of(statement_date: date) -> date:
    return statement_date + timedelta(days=DUE_DAYS_AFTER_STATEMENT)


def extended_due_date_of(statement_date: date, statement_day: int) -> date:
    """The due date of the next statement: how far a bill with its minimum paid is extended."""
    return due_date_of(next_statement_after(statement_date, statement_day))
