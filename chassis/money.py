"""Money as integer fen: strict parsing of yuan strings, never a float (DOMAIN.md preamble)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chassis.errors import InvalidArgument

CURRENCY_CNY = "CNY"
SUPPORTED_CURRENCIES = frozenset({CURRENCY_CNY})
FEN_PER_YUAN = 100
# 10 billion yuan: far above any single movement the platform models, far below int64.
AMOUNT_FEN_MAX = 1_000_000_000_000

_YUAN_PATTERN = re.compile(r"(0|[1-9][0-9]{0,10})(\.[0-9]{1,2})?")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in fen (1 yuan = 100 fen) and its currency."""

    fen: int
    currency: str = CURRENCY_CNY

    def __post_init__(self) -> None:
        if type(self.fen) is not int:
            raise TypeError(f"Money.fen must be an int, got {type(self.fen).__name__}")
        if self.currency not in SUPPORTED_CURRENCIES:
            raise InvalidArgument(
                f"currency {self.currency!r} is not supported; use CNY",
                reason="UNSUPPORTED_CURRENCY",
            )

    def __add__(self, other: Money) -> Money:
        self._require_same_currency(other)
        return Money(self.fen + other.fen, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._require_same_currency(other)
        return Money(self.fen - other.fen, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.fen, self.currency)

    def _require_same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def to_yuan_string(self) -> str:
        """Format as a yuan string with exactly two decimals: 1234 fen -> "12.34"."""
        sign = "-" if self.fen < 0 else ""
        whole, fen = divmod(abs(self.fen), FEN_PER_YUAN)
        return f"{sign}{whole}.{fen:02d}"


def parse_yuan(text: str) -> int:
    """Parse a non-negative yuan string ("12", "12.3", "12.34") into fen, exactly.

    Rejects floats, exponents, signs, more than two decimals and thousands separators:
    money arrives as text precisely so that nothing is rounded on the way in.
    """
    if not isinstance(text, str) or not _YUAN_PATTERN.fullmatch(text):
        raise InvalidArgument(
            f'amount {text!r} is not a yuan amount like "12.34" (at most two decimals)',
            reason="INVALID_AMOUNT",
        )
    whole, _, decimals = text.partition(".")
    return int(whole) * FEN_PER_YUAN + int(decimals.ljust(2, "0") or "0")


def require_positive_amount(amount_fen: int, field: str = "amount") -> int:
    """Return amount_fen if it is a positive amount the platform can move, else refuse."""
    if type(amount_fen) is not int or amount_fen <= 0:
        raise InvalidArgument(f"{field} must be a positive number of fen", reason="INVALID_AMOUNT")
    if amount_fen > AMOUNT_FEN_MAX:
        raise InvalidArgument(
            f"{field} exceeds the maximum of {AMOUNT_FEN_MAX} fen", reason="INVALID_AMOUNT"
        )
    return amount_fen
