"""Payment codes: the 18-digit "28" format, one use, a 60-second life, only the digest kept."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from chassis.errors import FailedPrecondition, InvalidArgument
from services.payment.payment_code import (
    PaymentCode,
    code_digest,
    generate_payment_code,
    issue_payment_code,
    mark_used,
    require_usable,
    validate_payment_code,
)

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
ACCOUNT_ID = "2088000000000001"


def test_a_generated_code_is_18_digits_starting_with_28() -> None:
    for _ in range(200):
        code = generate_payment_code()
        assert len(code) == 18
        assert code.startswith("28")
        assert code.isascii() and code.isdigit()
        assert validate_payment_code(code) == code


def test_generated_codes_do_not_repeat() -> None:
    codes = {generate_payment_code() for _ in range(1_000)}
    assert len(codes) == 1_000


def test_issued_code_lives_sixty_seconds_and_is_stored_only_as_its_digest() -> None:
    issued = issue_payment_code(ACCOUNT_ID, NOW)
    record = issued.payment_code
    assert (record.account_id, record.issued_at, record.expires_at) == (
        ACCOUNT_ID,
        NOW,
        NOW + timedelta(seconds=60),
    )
    assert not record.used
    assert record.code_digest == hashlib.sha256(issued.code.encode()).hexdigest()
    assert issued.code not in repr(record)


def test_code_digest_is_sha256_hex() -> None:
    # sha256("280000000000000000"), computed independently of the module.
    expected = hashlib.sha256(b"280000000000000000").hexdigest()
    assert code_digest("280000000000000000") == expected
    assert len(expected) == 64


def test_a_code_is_usable_until_one_microsecond_before_it_expires() -> None:
    record = issue_payment_code(ACCOUNT_ID, NOW).payment_code
    require_usable(record, NOW + timedelta(seconds=60) - timedelta(microseconds=1))
    with pytest.raises(FailedPrecondition) as refusal:
        require_usable(record, NOW + timedelta(seconds=60))
    assert refusal.value.reason == "PAYMENT_CODE_EXPIRED"
    assert refusal.value.metadata == {"expires_at": "2026-11-11T12:01:00+00:00"}


def test_a_code_charges_once() -> None:
    record = issue_payment_code(ACCOUNT_ID, NOW).payment_code
    used = mark_used(record, NOW + timedelta(seconds=5))
    assert used.used and used.used_at == NOW + timedelta(seconds=5)
    with pytest.raises(FailedPrecondition) as refusal:
        mark_used(used, NOW + timedelta(seconds=6))
    assert refusal.value.reason == "PAYMENT_CODE_USED"


def test_a_used_and_expired_code_is_reported_as_used() -> None:
    used = PaymentCode("d", ACCOUNT_ID, NOW, NOW + timedelta(seconds=60), used_at=NOW)
    with pytest.raises(FailedPrecondition) as refusal:
        require_usable(used, NOW + timedelta(hours=1))
    assert refusal.value.reason == "PAYMENT_CODE_USED"


def test_an_expired_code_cannot_be_marked_used() -> None:
    record = issue_payment_code(ACCOUNT_ID, NOW).payment_code
    with pytest.raises(FailedPrecondition) as refusal:
        mark_used(record, NOW + timedelta(minutes=2))
    assert refusal.value.reason == "PAYMENT_CODE_EXPIRED"


@pytest.mark.parametrize("ttl", [timedelta(seconds=9), timedelta(minutes=5, seconds=1)])
def test_a_code_life_outside_ten_seconds_to_five_minutes_is_refused(ttl: timedelta) -> None:
    with pytest.raises(InvalidArgument):
        issue_payment_code(ACCOUNT_ID, NOW, ttl)


@pytest.mark.parametrize(
    "scanned",
    [
        "",
        "28000000000000000",  # 17 digits
        "2800000000000000000",  # 19 digits
        "250000000000000000",  # another prefix
        "28000000000000000a",
        " 280000000000000000",
        "280000000000000000\n",
    ],
)
def test_a_scanned_text_that_is_not_a_payment_code_is_refused(scanned: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        validate_payment_code(scanned)
    assert refusal.value.reason == "INVALID_PAYMENT_CODE"
