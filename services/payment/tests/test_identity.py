"""Real-name identity rules: resident id checksum (GB 11643), phones, masking."""

import pytest

from chassis.errors import InvalidArgument
from services.payment.bank_channel import luhn_valid
from services.payment.identity import (
    mask_name,
    mask_resident_id,
    resident_id_check_char,
    validate_phone,
    validate_resident_id,
)


@pytest.mark.parametrize(
    ("first_17", "check"),
    [
        # 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10+0*5+0*8+0*4+7*2 = 172;
        # 172 mod 11 = 7 -> "10X98765432"[7] = "5"
        ("11010519491230007", "5"),
        # 4*7+4*9+0*10+3*5+0*8+4*4+1*2+9*1+9*6+0*3+0*7+1*9+0*10+1*5+1*8+2*4+3*2 = 196;
        # 196 mod 11 = 9 -> "10X98765432"[9] = "3"
        ("44030419900101123", "3"),
    ],
)
def test_resident_id_check_char(first_17: str, check: str) -> None:
    assert resident_id_check_char(first_17) == check


def test_valid_resident_id_is_normalised_to_upper_case_x() -> None:
    first_17 = "11010119900307001"
    check = resident_id_check_char(first_17)
    assert validate_resident_id(first_17 + check.lower()) == first_17 + check


@pytest.mark.parametrize(
    "resident_id",
    [
        "110105194912300076",  # wrong check digit (should be 5)
        "11010519491230007",  # 17 characters
        "01010519491230007X",  # region code cannot start with 0
        "110105194913300075",  # month 13
        "11010519491230007A",  # not a digit or X
        "",
    ],
)
def test_invalid_resident_ids_are_refused(resident_id: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        validate_resident_id(resident_id)
    assert refusal.value.reason == "INVALID_RESIDENT_ID"


def test_mask_resident_id_keeps_region_and_last_four() -> None:
    assert mask_resident_id("110105194912300075") == "110105********0075"


@pytest.mark.parametrize("phone", ["13800138000", "19912345678"])
def test_valid_phones(phone: str) -> None:
    assert validate_phone(phone) == phone


@pytest.mark.parametrize(
    "phone", ["12800138000", "1380013800", "138001380000", "+8613800138000", "13800138001\n"]
)
def test_invalid_phones(phone: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        validate_phone(phone)
    assert refusal.value.reason == "INVALID_PHONE"


@pytest.mark.parametrize(("name", "masked"), [("张三丰", "*三丰"), ("李四", "*四"), ("王", "*")])
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("card", "valid"),
    [
        ("4000000000000002", True),
        ("4000000000000003", False),
        ("79927398713", True),
        ("12a4", False),
    ],
)
def test_luhn(card: str, valid: bool) -> None:
    assert luhn_valid(card) is valid
