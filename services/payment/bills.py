"""Utility bill payment (水电煤缴费): paying water, power, gas and phone bills (DOMAIN.md §1).

A biller is a merchant account plus the shape of the reference its customers quote (the
household number on the bill, or a phone number for a top-up). Validating the reference
before money moves catches the typo that would otherwise pay someone else's bill: the
pattern catches a wrong length, the check digit catches a mistyped or swapped digit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from chassis.errors import InvalidArgument, NotFound
from services.payment.bank_channel import luhn_valid

# Checked before the pattern runs, so no pattern ever sees unbounded input.
BILL_REFERENCE_LENGTH_MAX = 64
REFERENCE_PATTERN_LENGTH_MAX = 200


class BillerCategory(StrEnum):
    WATER = "water"
    ELECTRICITY = "electricity"
    GAS = "gas"
    TELECOM = "telecom"


class CheckDigitScheme(StrEnum):
    NONE = "none"
    LUHN = "luhn"  # the last digit is the Luhn (mod 10) check digit of the others


@dataclass(frozen=True, slots=True)
class Biller:
    """A utility company that takes bill payments into its merchant account."""

    biller_id: str
    merchant_account_id: str
    name: str
    category: BillerCategory
    reference_pattern: str
    check_digit: CheckDigitScheme = CheckDigitScheme.NONE
    reference_hint: str = ""

    def __post_init__(self) -> None:
        if len(self.reference_pattern) > REFERENCE_PATTERN_LENGTH_MAX:
            raise ValueError(f"biller {self.biller_id}: reference pattern is too long")
        try:
            re.compile(self.reference_pattern)
        except re.error as problem:
            raise ValueError(f"biller {self.biller_id}: bad reference pattern: {problem}") from None


def _check_digit_valid(scheme: CheckDigitScheme, reference: str) -> bool:
    if scheme is CheckDigitScheme.LUHN:
        return luhn_valid(reference)
    return True


def validate_bill_reference(biller: Biller, reference: str) -> str:
    """Return the reference without spaces if it fits the biller's pattern and check digit."""
    if len(reference) > BILL_REFERENCE_LENGTH_MAX:
        raise _invalid_reference(biller, "is too long")
    # Customers copy numbers printed in groups ("1234 5678 97"); the spaces carry nothing.
    normalised = "".join(reference.split())
    if not normalised or not re.fullmatch(biller.reference_pattern, normalised):
        raise _invalid_reference(biller, "does not have the right form")
    if not _check_digit_valid(biller.check_digit, normalised):
        raise _invalid_reference(biller, "has a wrong check digit (a mistyped digit?)")
    return normalised


def _invalid_reference(biller: Biller, problem: str) -> InvalidArgument:
    hint = f" (expected: {biller.reference_hint})" if biller.reference_hint else ""
    return InvalidArgument(
        f"the reference for {biller.name} {problem}{hint}",
        reason="INVALID_BILL_REFERENCE",
        metadata={"biller_id": biller.biller_id},
    )


def find_biller(billers: Iterable[Biller], biller_id: str) -> Biller:
    """The biller with this id, or NOT_FOUND."""
    for biller in billers:
        if biller.biller_id == biller_id:
            return biller
    raise NotFound(f"biller {biller_id} does not exist", metadata={"biller_id": biller_id})


# Demo billers for `make run` (fictional companies). Their merchant accounts must exist in
# the ledger under these ids; merchant ids start with 2188 like every merchant account.
DEMO_BILLERS: tuple[Biller, ...] = (
    Biller(
        biller_id="westlake-water",
        merchant_account_id="2188000000000101",
        name="西湖水务 West Lake Water",
        category=BillerCategory.WATER,
        reference_pattern=r"[0-9]{10}",
        check_digit=CheckDigitScheme.LUHN,
        reference_hint="the 10-digit customer number (户号) on the water bill",
    ),
    Biller(
        biller_id="jiangnan-power",
        merchant_account_id="2188000000000102",
        name="江南电力 Jiangnan Power",
        category=BillerCategory.ELECTRICITY,
        reference_pattern=r"[0-9]{13}",
        reference_hint="the 13-digit customer number on the electricity bill",
    ),
    Biller(
        biller_id="qiantang-gas",
        merchant_account_id="2188000000000103",
        name="钱塘燃气 Qiantang Gas",
        category=BillerCategory.GAS,
        reference_pattern=r"[0-9]{8}",
        check_digit=CheckDigitScheme.LUHN,
        reference_hint="the 8-digit gas account number",
    ),
    Biller(
        biller_id="huaxia-mobile",
        merchant_account_id="2188000000000104",
        name="华夏通信 Huaxia Mobile",
        category=BillerCategory.TELECOM,
        reference_pattern=r"1[3-9][0-9]{9}",
        reference_hint="the 11-digit mobile number to top up",
    ),
)
