"""Proto ⇄ value conversions every service shares: money, timestamps, decimals, dates, pages.

A service's own ``wire.py`` converts its domain types; the shapes common to all of them
(colony.common.v1 Money and paging, google.protobuf.Timestamp) are converted here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from google.protobuf.timestamp_pb2 import Timestamp

from chassis.errors import InvalidArgument
from chassis.money import CURRENCY_CNY, Money, require_positive_amount
from chassis.paging import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, page_size_within
from colony.common.v1 import money_pb2, paging_pb2

DECIMAL_TEXT_LENGTH_MAX = 40


def timestamp_to_proto(moment: datetime | None) -> Timestamp:
    """A Timestamp for an instant (the unset Timestamp for None)."""
    stamp = Timestamp()
    if moment is not None:
        stamp.FromDatetime(moment)
    return stamp


def timestamp_from_proto(stamp: Timestamp, field: str) -> datetime:
    """An aware UTC datetime from a required Timestamp field, at MongoDB's milliseconds."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        raise InvalidArgument(f"{field} is required", metadata={"field": field})
    moment = stamp.ToDatetime(tzinfo=UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def money_to_proto(amount_fen: int) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=amount_fen, currency=CURRENCY_CNY)


def amount_from_proto(amount: money_pb2.Money, field: str = "amount") -> int:
    """The positive fen amount of a request's Money; refuses other currencies and non-positive."""
    Money(amount.amount_fen, amount.currency or CURRENCY_CNY)  # validates the currency
    return require_positive_amount(amount.amount_fen, field)


def decimal_from_text(text: str, field: str) -> Decimal:
    """A finite Decimal from a request's decimal string ("0.0420"); refuses anything else."""
    if not text or len(text) > DECIMAL_TEXT_LENGTH_MAX:
        raise InvalidArgument(f"{field} is required as a decimal string", metadata={"field": field})
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or "e" in text.lower():
        raise InvalidArgument(f"{field} {text!r} is not a decimal", metadata={"field": field})
    return value


def decimal_to_text(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def date_text(day: date | None) -> str:
    return day.isoformat() if day else ""


def page_size_of(
    page: paging_pb2.PageRequest, default: int = PAGE_SIZE_DEFAULT, cap: int = PAGE_SIZE_MAX
) -> int:
    """The page size a PageRequest asks for: the default for 0, refused outside 1..cap."""
    return page_size_within(page.page_size, default, cap)


def next_page(count: int, page_size: int, token: Callable[[], str]) -> paging_pb2.PageInfo:
    """A PageInfo with a token when the page came back full (there may be more)."""
    return paging_pb2.PageInfo(next_page_token=token() if count == page_size else "")
