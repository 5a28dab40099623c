"""Hold rules (TCC), pure: create, capture, void, expiry, and the void-before-create tombstone."""

from datetime import UTC, datetime, timedelta

import pytest

from chassis.errors import FailedPrecondition, InvalidArgument
from services.payment.holds import (
    HOLD_TTL_SECONDS_DEFAULT,
    HoldState,
    check_repeated_create,
    plan_capture,
    plan_hold,
    plan_void,
    void_before_create,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def open_hold(amount_fen: int = 1_000, ttl_seconds: int = 0):
    return plan_hold(
        hold_id="h1",
        account_id="a",
        amount_fen=amount_fen,
        ttl_seconds=ttl_seconds,
        memo="",
        now=NOW,
    )


def test_new_hold_expires_after_the_default_ttl() -> None:
    hold = open_hold()
    assert hold.state is HoldState.HELD
    assert hold.expires_at == NOW + timedelta(seconds=HOLD_TTL_SECONDS_DEFAULT)


@pytest.mark.parametrize("ttl_seconds", [-1, 7 * 24 * 3600 + 1])
def test_ttl_out_of_range_is_refused(ttl_seconds: int) -> None:
    with pytest.raises(InvalidArgument):
        open_hold(ttl_seconds=ttl_seconds)


def test_partial_capture_records_the_captured_amount() -> None:
    captured = plan_capture(
        open_hold(), amount_fen=400, credit_account_id="m", posting_id="p", now=NOW
    )
    assert (captured.state, captured.captured_fen, captured.credit_account_id) == (
        HoldState.CAPTURED,
        400,
        "m",
    )


def test_capture_of_zero_means_the_whole_hold() -> None:
    captured = plan_capture(
        open_hold(), amount_fen=0, credit_account_id="m", posting_id="p", now=NOW
    )
    assert captured.captured_fen == 1_000


def test_capture_above_the_held_amount_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        plan_capture(open_hold(), amount_fen=1_001, credit_account_id="m", posting_id="p", now=NOW)


def test_repeated_capture_with_the_same_terms_returns_the_same_hold() -> None:
    captured = plan_capture(
        open_hold(), amount_fen=400, credit_account_id="m", posting_id="p", now=NOW
    )
    assert (
        plan_capture(captured, amount_fen=400, credit_account_id="m", posting_id="other", now=NOW)
        is captured
    )


def test_repeated_capture_with_other_terms_is_refused() -> None:
    captured = plan_capture(
        open_hold(), amount_fen=400, credit_account_id="m", posting_id="p", now=NOW
    )
    with pytest.raises(FailedPrecondition) as refusal:
        plan_capture(captured, amount_fen=500, credit_account_id="m", posting_id="q", now=NOW)
    assert refusal.value.reason == "HOLD_ALREADY_CAPTURED"


def test_capture_after_void_is_refused() -> None:
    voided = plan_void(open_hold(), NOW)
    with pytest.raises(FailedPrecondition) as refusal:
        plan_capture(voided, amount_fen=0, credit_account_id="m", posting_id="p", now=NOW)
    assert refusal.value.reason == "HOLD_VOIDED"


def test_capture_at_the_ttl_is_refused_as_expired() -> None:
    hold = open_hold(ttl_seconds=60)
    with pytest.raises(FailedPrecondition) as refusal:
        plan_capture(
            hold,
            amount_fen=0,
            credit_account_id="m",
            posting_id="p",
            now=NOW + timedelta(seconds=60),
        )
    assert refusal.value.reason == "HOLD_EXPIRED"


def test_void_after_capture_is_refused() -> None:
    captured = plan_capture(
        open_hold(), amount_fen=0, credit_account_id="m", posting_id="p", now=NOW
    )
    with pytest.raises(FailedPrecondition) as refusal:
        plan_void(captured, NOW)
    assert refusal.value.reason == "HOLD_ALREADY_CAPTURED"


def test_void_twice_changes_nothing_the_second_time() -> None:
    voided = plan_void(open_hold(), NOW)
    assert plan_void(voided, NOW + timedelta(seconds=1)) is voided


def test_a_create_after_a_void_before_create_is_refused() -> None:
    tombstone = void_before_create("h1", NOW)
    with pytest.raises(FailedPrecondition) as refusal:
        check_repeated_create(tombstone, open_hold())
    assert refusal.value.reason == "HOLD_VOIDED"


def test_a_repeated_create_returns_the_existing_hold() -> None:
    hold = open_hold()
    assert check_repeated_create(hold, open_hold()) is hold


def test_a_create_with_other_terms_is_a_mismatch() -> None:
    with pytest.raises(FailedPrecondition) as refusal:
        check_repeated_create(open_hold(), open_hold(amount_fen=999))
    assert refusal.value.reason == "HOLD_MISMATCH"
