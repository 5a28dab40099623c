"""Bill payment: references are checked against the biller's pattern and check digit."""

import pytest

from chassis.errors import InvalidArgument, NotFound
from services.payment.bills import (
    DEMO_BILLERS,
    Biller,
    BillerCategory,
    CheckDigitScheme,
    find_biller,
    validate_bill_reference,
)

WATER = find_biller(DEMO_BILLERS, "westlake-water")  # 10 digits, Luhn
POWER = find_biller(DEMO_BILLERS, "jiangnan-power")  # 13 digits, no check digit
GAS = find_biller(DEMO_BILLERS, "qiantang-gas")  # 8 digits, Luhn
MOBILE = find_biller(DEMO_BILLERS, "huaxia-mobile")  # mainland mobile number

# Luhn check digit of 123456789, doubling every second digit from the right:
# 9*2=18->9, 8, 7*2=14->5, 6, 5*2=10->1, 4, 3*2=6, 2, 1*2=2; sum 43; check (10 - 3) % 10 = 7.
WATER_REFERENCE = "1234567897"
# Luhn check digit of 1234567: 7*2=14->5, 6, 5*2=10->1, 4, 3*2=6, 2, 1*2=2; sum 26; check 4.
GAS_REFERENCE = "12345674"


@pytest.mark.parametrize(
    ("biller", "reference", "expected"),
    [
        (WATER, WATER_REFERENCE, WATER_REFERENCE),
        (WATER, "1234 5678 97", WATER_REFERENCE),  # typed in groups, as printed
        (WATER, " 1234567897\t", WATER_REFERENCE),
        (GAS, GAS_REFERENCE, GAS_REFERENCE),
        (POWER, "0000000000001", "0000000000001"),  # no check digit: any 13 digits
        (MOBILE, "13812345678", "13812345678"),
    ],
)
def test_a_well_formed_reference_is_accepted_without_spaces(
    biller: Biller, reference: str, expected: str
) -> None:
    assert validate_bill_reference(biller, reference) == expected


@pytest.mark.parametrize(
    ("biller", "reference"),
    [
        (WATER, "1234567898"),  # one digit mistyped: check digit fails
        (WATER, "2134567897"),  # two digits swapped: check digit fails
        (WATER, "123456789"),  # too short
        (WATER, "12345678970"),  # too long
        (WATER, "12345-67897"),
        (WATER, "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff17"),  # full-width
        (WATER, ""),
        (WATER, "   "),
        (WATER, "1" * 65),  # refused by length before the pattern runs
        (GAS, "12345675"),
        (POWER, "000000000001"),  # 12 digits
        (MOBILE, "12812345678"),  # no mobile number starts with 12
    ],
)
def test_a_malformed_reference_is_refused(biller: Biller, reference: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        validate_bill_reference(biller, reference)
    assert refusal.value.reason == "INVALID_BILL_REFERENCE"
    assert refusal.value.metadata == {"biller_id": biller.biller_id}


def test_the_refusal_tells_the_customer_what_is_expected() -> None:
    with pytest.raises(InvalidArgument) as refusal:
        validate_bill_reference(WATER, "1234567898")
    assert "check digit" in refusal.value.message
    assert "10-digit customer number" in refusal.value.message


def test_demo_billers_cover_every_category_with_distinct_ids_and_accounts() -> None:
    assert {biller.category for biller in DEMO_BILLERS} == set(BillerCategory)
    assert len({biller.biller_id for biller in DEMO_BILLERS}) == len(DEMO_BILLERS)
    assert len({biller.merchant_account_id for biller in DEMO_BILLERS}) == len(DEMO_BILLERS)
    assert all(biller.merchant_account_id.startswith("2188") for biller in DEMO_BILLERS)


def test_an_unknown_biller_is_not_found() -> None:
    with pytest.raises(NotFound):
        find_biller(DEMO_BILLERS, "moon-water")


def test_a_biller_with_a_broken_pattern_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        Biller("b", "2188", "B", BillerCategory.GAS, "[0-9", CheckDigitScheme.NONE)
    with pytest.raises(ValueError):
        Biller("b", "2188", "B", BillerCategory.GAS, "x" * 201)
