"""The payment password: format and weak-password refusal, argon2 hashing, and the lockout
policy (5 wrong tries in a row lock it for 3 hours) with a fixed clock."""

from datetime import UTC, datetime, timedelta

import argon2
import pytest

from chassis.errors import Aborted, FailedPrecondition, InvalidArgument
from services.payment.payment_password import (
    TRY_RESERVATION_TTL,
    PasswordState,
    attempts_remaining,
    hash_payment_password,
    is_locked,
    register_failure,
    register_success,
    require_not_locked,
    reserve_try,
    settle_try,
    validate_payment_password,
    verify_payment_password,
    wrong_password_error,
)

NOW = datetime(2026, 11, 11, 20, 0, tzinfo=UTC)
# Cheap parameters so the suite stays fast; production uses argon2's defaults.
FAST_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


FULL_WIDTH_DIGITS = "\uff18\uff13\uff16\uff12\uff19\uff11"  # str.isdigit() would accept these


@pytest.mark.parametrize(
    "password", ["", "12345", "1234567", "12345a", " 83629", "836291 ", FULL_WIDTH_DIGITS]
)
def test_a_password_that_is_not_six_ascii_digits_is_refused(password: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        validate_payment_password(password)
    assert refusal.value.reason == "INVALID_PAYMENT_PASSWORD"


@pytest.mark.parametrize(
    "password",
    [
        "000000",  # all the same
        "111111",
        "999999",
        "123456",  # straight up
        "012345",
        "456789",
        "654321",  # straight down
        "987654",
        "121212",  # repeated pair
        "909090",
        "123123",  # repeated triple
        "520520",
    ],
)
def test_a_trivially_guessable_password_is_refused(password: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        validate_payment_password(password)
    assert refusal.value.reason == "WEAK_PAYMENT_PASSWORD"


@pytest.mark.parametrize("password", ["836291", "135790", "112358", "234569", "890123"])
def test_an_unremarkable_password_is_accepted(password: str) -> None:
    assert validate_payment_password(password) == password


def test_digits_from_the_owners_phone_or_birthday_are_refused() -> None:
    phone, resident_id = "13812345678", "11010519491231002X"
    personal = (phone, resident_id)
    for taken in ("381234", "812345", "491231", "194912"):
        with pytest.raises(InvalidArgument) as refusal:
            validate_payment_password(taken, personal)
        assert refusal.value.reason == "WEAK_PAYMENT_PASSWORD"
    assert validate_payment_password("836291", personal) == "836291"


def test_hash_verifies_the_right_password_only() -> None:
    password_hash = hash_payment_password("836291", hasher=FAST_HASHER)
    assert password_hash.startswith("$argon2id$")
    assert "836291" not in password_hash
    assert verify_payment_password(password_hash, "836291", hasher=FAST_HASHER)
    assert not verify_payment_password(password_hash, "836292", hasher=FAST_HASHER)


def test_a_peppered_hash_needs_the_same_pepper() -> None:
    password_hash = hash_payment_password("836291", hasher=FAST_HASHER, pepper=b"server-secret")
    assert verify_payment_password(
        password_hash, "836291", hasher=FAST_HASHER, pepper=b"server-secret"
    )
    assert not verify_payment_password(password_hash, "836291", hasher=FAST_HASHER)
    assert not verify_payment_password(
        password_hash, "836291", hasher=FAST_HASHER, pepper=b"other-secret"
    )


def test_a_corrupt_stored_hash_raises_instead_of_counting_as_a_wrong_try() -> None:
    with pytest.raises(argon2.exceptions.InvalidHashError):
        verify_payment_password("not-a-hash", "836291", hasher=FAST_HASHER)


def fail(state: PasswordState, times: int, now: datetime = NOW) -> PasswordState:
    for _ in range(times):
        state = register_failure(state, now)
    return state


def test_four_failures_then_a_success_reset_the_count() -> None:
    state = fail(PasswordState(), 4)
    assert (state.failed_attempts, state.locked_until) == (4, None)
    assert attempts_remaining(state, NOW) == 1
    state = register_success(state)
    assert state == PasswordState()
    # The count starts again: four more failures still do not lock.
    state = fail(state, 4)
    require_not_locked(state, NOW)
    assert not is_locked(state, NOW)


def test_the_fifth_failure_in_a_row_locks_for_three_hours() -> None:
    state = fail(PasswordState(), 5)
    assert state.locked_until == NOW + timedelta(hours=3)
    with pytest.raises(FailedPrecondition) as refusal:
        require_not_locked(state, NOW)
    assert refusal.value.reason == "PAYMENT_PASSWORD_LOCKED"
    assert refusal.value.metadata == {"locked_until": "2026-11-11T23:00:00+00:00"}


def test_still_locked_at_2h59m_and_unlocked_at_3h() -> None:
    state = fail(PasswordState(), 5)
    with pytest.raises(FailedPrecondition):
        require_not_locked(state, NOW + timedelta(hours=2, minutes=59))
    with pytest.raises(FailedPrecondition):
        require_not_locked(state, NOW + timedelta(hours=3) - timedelta(microseconds=1))
    require_not_locked(state, NOW + timedelta(hours=3))
    assert attempts_remaining(state, NOW + timedelta(hours=3)) == 5


def test_after_the_lock_ends_the_owner_gets_five_fresh_tries() -> None:
    later = NOW + timedelta(hours=3)
    state = fail(fail(PasswordState(), 5), 4, later)
    assert (state.failed_attempts, state.locked_until) == (4, None)
    state = register_failure(state, later)
    assert state.locked_until == later + timedelta(hours=3)


def test_a_failure_while_locked_is_refused_as_locked() -> None:
    state = fail(PasswordState(), 5)
    with pytest.raises(FailedPrecondition) as refusal:
        register_failure(state, NOW + timedelta(hours=1))
    assert refusal.value.reason == "PAYMENT_PASSWORD_LOCKED"


def test_wrong_password_error_says_how_many_tries_are_left() -> None:
    state = fail(PasswordState(), 3)
    error = wrong_password_error(state, NOW)
    assert error.reason == "PAYMENT_PASSWORD_WRONG"
    assert error.metadata == {"attempts_remaining": "2"}
    assert error.message.endswith("2 tries left")
    assert wrong_password_error(fail(PasswordState(), 4), NOW).message.endswith("1 try left")


def test_wrong_password_error_on_the_locking_try_says_until_when() -> None:
    state = fail(PasswordState(), 5)
    error = wrong_password_error(state, NOW)
    assert error.reason == "PAYMENT_PASSWORD_WRONG"
    assert error.metadata == {
        "attempts_remaining": "0",
        "locked_until": "2026-11-11T23:00:00+00:00",
    }


@pytest.mark.parametrize("failed_attempts", [-1, 6])
def test_a_state_with_an_impossible_count_is_refused(failed_attempts: int) -> None:
    with pytest.raises(AssertionError):
        PasswordState(failed_attempts=failed_attempts)


def test_no_more_tries_are_admitted_than_wrong_ones_may_still_be_made() -> None:
    state = PasswordState()
    for number in range(5):
        state = reserve_try(state, f"try-{number}", NOW)
    with pytest.raises(Aborted):
        reserve_try(state, "try-5", NOW)
    # Two wrong tries already made leave three slots.
    assert len(reserve_try(fail(PasswordState(), 2), "a", NOW).tries_in_flight) == 1
    with pytest.raises(Aborted):
        state = fail(PasswordState(), 2)
        for number in range(4):
            state = reserve_try(state, f"try-{number}", NOW)


def test_a_right_try_gives_its_slot_back_and_clears_the_count() -> None:
    state = reserve_try(reserve_try(fail(PasswordState(), 3), "mine", NOW), "other", NOW)
    settled = settle_try(state, "mine", NOW, verified=True)
    assert settled.failed_attempts == 0 and settled.locked_until is None
    assert [t.token for t in settled.tries_in_flight] == ["other"]


def test_a_wrong_try_counts_and_the_fifth_locks() -> None:
    state = reserve_try(fail(PasswordState(), 4), "mine", NOW)
    settled = settle_try(state, "mine", NOW, verified=False)
    assert settled.failed_attempts == 5
    assert settled.locked_until == NOW + timedelta(hours=3)
    assert settled.tries_in_flight == ()


def test_a_slot_left_by_a_dead_process_lapses() -> None:
    state = PasswordState()
    for number in range(5):
        state = reserve_try(state, f"lost-{number}", NOW)
    later = NOW + TRY_RESERVATION_TTL
    assert [t.token for t in reserve_try(state, "fresh", later).tries_in_flight] == ["fresh"]
