"""Wallet pay's payment methods (DOMAIN.md §6): which of the user's money pays, and how much.

The user orders their methods (default: balance, then Yu'e Bao; Huabei, the credit
line, when the user names it). Without a split, the first method that covers the whole
amount pays it; with a split, the methods are drawn in order until the amount is
covered. Pure: the caller reads what each method can give now (the available balance; Yu'e
Bao shares up to today's fast redemption allowance; the Huabei line's available amount)
and the saga moves the money.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chassis.errors import FailedPrecondition, InvalidArgument


class PaymentMethod(StrEnum):
    BALANCE = "balance"
    # 余额宝: shares redeemed fast into the balance, then paid from it.
    YUEBAO = "yuebao"
    # 花呗: the consumer credit line (gateway.loans), drawn on and paid from the balance.
    HUABEI = "huabei"


METHODS_DEFAULT = (PaymentMethod.BALANCE, PaymentMethod.YUEBAO)
METHODS_AVAILABLE = frozenset(PaymentMethod)


@dataclass(frozen=True, slots=True)
class Funding:
    """How much of a payment each method pays, in the order they were drawn."""

    parts: tuple[tuple[PaymentMethod, int], ...]

    def fen_of(self, method: PaymentMethod) -> int:
        return sum(fen for part_method, fen in self.parts if part_method is method)

    @property
    def total_fen(self) -> int:
        return sum(fen for _, fen in self.parts)


def parse_methods(raw: object) -> tuple[PaymentMethod, ...]:
    """The request's ``methods``: a non-empty list of distinct known method names."""
    if raw is None:
        return METHODS_DEFAULT
    if not isinstance(raw, list) or not raw or not all(isinstance(m, str) for m in raw):
        raise InvalidArgument(
            'methods must be a non-empty list such as ["balance", "yuebao"]',
            metadata={"field": "methods"},
        )
    known = {method.value: method for method in PaymentMethod}
    methods: list[PaymentMethod] = []
    for name in raw:
        method = known.get(name)
        if method is None:
            raise InvalidArgument(
                f"payment method {name!r} is not one of {', '.join(known)}",
                metadata={"field": "methods"},
            )
        if method not in METHODS_AVAILABLE:
            raise FailedPrecondition(
                f"payment method {name} is not available yet",
                reason="FAILED_PRECONDITION",
                metadata={"field": "methods", "method": name},
            )
        if method in methods:
            raise InvalidArgument(
                f"payment method {name} is listed twice", metadata={"field": "methods"}
            )
        methods.append(method)
    return tuple(methods)


def plan_funding(
    amount_fen: int,
    methods: Sequence[PaymentMethod],
    available_fen: Mapping[PaymentMethod, int],
    *,
    split: bool,
) -> Funding:
    """The methods that pay amount_fen; INSUFFICIENT_FUNDS when they cannot together."""
    assert amount_fen > 0 and methods
    if not split:
        for method in methods:
            if available_fen[method] >= amount_fen:
                return Funding(((method, amount_fen),))
        raise _cannot_pay(amount_fen, methods, available_fen, "no single method covers")
    parts: list[tuple[PaymentMethod, int]] = []
    remaining_fen = amount_fen
    for method in methods:
        part_fen = min(max(available_fen[method], 0), remaining_fen)
        if part_fen:
            parts.append((method, part_fen))
            remaining_fen -= part_fen
        if not remaining_fen:
            return Funding(tuple(parts))
    raise _cannot_pay(amount_fen, methods, available_fen, "the methods together do not cover")


def _cannot_pay(
    amount_fen: int,
    methods: Sequence[PaymentMethod],
    available_fen: Mapping[PaymentMethod, int],
    why: str,
) -> FailedPrecondition:
    return FailedPrecondition(
        f"{why} {amount_fen} fen ("
        + ", ".join(f"{method.value} {available_fen[method]} fen" for method in methods)
        + ")",
        reason="INSUFFICIENT_FUNDS",
        metadata={
            "needed_fen": str(amount_fen),
            **{f"{method.value}_available_fen": str(available_fen[method]) for method in methods},
        },
    )


# OpenAPI: the methods and split properties of a request that pays with the wallet.
METHODS_PROPERTY: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "enum": [method.value for method in PaymentMethod]},
    "minItems": 1,
    "uniqueItems": True,
    "default": [method.value for method in METHODS_DEFAULT],
    "description": "The payer's payment methods in order of preference. Yu'e Bao pays up "
    "to today's fast redemption allowance; huabei up to what is available on the caller's "
    "Huabei credit line. A method that runs out between choosing and paying falls through "
    "to the next one in this order.",
}
SPLIT_PROPERTY: dict[str, Any] = {
    "type": "boolean",
    "default": False,
    "description": "false: the first method that covers the whole amount pays. true: the "
    "methods are drawn in order until the amount is covered.",
}
