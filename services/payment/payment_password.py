"""The payment password (支付密码): six digits that confirm a payment (DOMAIN.md §1, issue 3).

It answers a risk CHALLENGE and guards large payments. Six digits are a million guesses,
so the real protection is online: PAYMENT_PASSWORD_FAILURES_MAX consecutive wrong tries
lock the password for PAYMENT_PASSWORD_LOCKOUT. The lockout policy is pure (PasswordState
in, PasswordState out); the caller persists the new state before raising the refusal.

Concurrent tries cannot get past the limit: each try reserves a slot before its (slow)
verification, and no more tries are admitted than wrong ones may still be made
(``reserve_try``). Settling a try gives its slot back; only a wrong try counts towards the
lock, and a right one clears the count (``settle_try``) — so the owner's own concurrent
payments never lock them out. A slot left by a process that died mid-verification lapses
after TRY_RESERVATION_TTL.

Offline, an argon2 hash of a six-digit secret falls to a brute force of 10^6 guesses, so
the hash store must stay private; passing a `pepper` (a server-side secret kept out of
the database) makes a leaked hash alone useless. Hashing costs tens of milliseconds:
callers run hash/verify in an executor (CONVENTIONS.md "Async all the way").
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import argon2

from chassis.errors import Aborted, FailedPrecondition, InvalidArgument

PAYMENT_PASSWORD_LENGTH = 6
PAYMENT_PASSWORD_FAILURES_MAX = 5
PAYMENT_PASSWORD_LOCKOUT = timedelta(hours=3)
# Longer than any verification takes (argon2 runs in tens of milliseconds).
TRY_RESERVATION_TTL = timedelta(seconds=60)
_SIX_DIGITS = re.compile(r"[0-9]{6}")
# Periods of a repeating pattern refused as weak: 111111 (1), 121212 (2), 123123 (3).
_WEAK_REPEAT_PERIODS = (1, 2, 3)
_PERSONAL_NUMBER_LENGTH_MAX = 32


def _is_straight(password: str) -> bool:
    """Each digit one more (123456) or one less (654321) than the last."""
    steps = {int(b) - int(a) for a, b in itertools.pairwise(password)}
    return steps in ({1}, {-1})


def _is_repeating(password: str) -> bool:
    return any(
        password == password[:period] * (PAYMENT_PASSWORD_LENGTH // period)
        for period in _WEAK_REPEAT_PERIODS
    )


def validate_payment_password(password: str, personal_numbers: Iterable[str] = ()) -> str:
    """Return the password if it is six digits and not guessable, else refuse it.

    Refused as weak: all one digit, straight runs up or down, short repeats (121212,
    123123), and any run of six digits taken from the owner's own numbers (phone,
    resident id: the birthday in it is the first thing an attacker tries).
    """
    if not isinstance(password, str) or not _SIX_DIGITS.fullmatch(password):
        raise InvalidArgument(
            "the payment password must be exactly 6 digits",
            reason="INVALID_PAYMENT_PASSWORD",
        )
    weak = _is_straight(password) or _is_repeating(password)
    weak = weak or any(
        password in number[:_PERSONAL_NUMBER_LENGTH_MAX] for number in personal_numbers
    )
    if weak:
        raise InvalidArgument(
            "the payment password is too easy to guess: avoid repeated or consecutive "
            "digits and digits from your phone or ID number",
            reason="WEAK_PAYMENT_PASSWORD",
        )
    return password


def _peppered(password: str, pepper: bytes) -> str:
    if not pepper:
        return password
    return hmac.new(pepper, password.encode(), hashlib.sha256).hexdigest()


def hash_payment_password(
    password: str, *, hasher: argon2.PasswordHasher, pepper: bytes = b""
) -> str:
    """The argon2id hash to store (CPU-heavy: call it in an executor)."""
    return hasher.hash(_peppered(password, pepper))


def verify_payment_password(
    password_hash: str, password: str, *, hasher: argon2.PasswordHasher, pepper: bytes = b""
) -> bool:
    """True if password matches password_hash (CPU-heavy: call it in an executor).

    Only a mismatch is False: a corrupt stored hash raises, rather than counting as the
    owner's wrong try and locking them out.
    """
    try:
        return hasher.verify(password_hash, _peppered(password, pepper))
    except argon2.exceptions.VerifyMismatchError:
        return False


@dataclass(frozen=True, slots=True)
class TryReservation:
    """A try admitted for verification and not yet settled."""

    token: str
    reserved_at: datetime


@dataclass(frozen=True, slots=True)
class PasswordState:
    """Consecutive wrong tries, when a lock ends, and the tries being verified right now."""

    failed_attempts: int = 0
    locked_until: datetime | None = None
    tries_in_flight: tuple[TryReservation, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.failed_attempts <= PAYMENT_PASSWORD_FAILURES_MAX:
            raise AssertionError(f"failed_attempts {self.failed_attempts} out of range")


def is_locked(state: PasswordState, now: datetime) -> bool:
    """True while a lock is in force (it ends exactly at locked_until)."""
    return state.locked_until is not None and now < state.locked_until


def attempts_remaining(state: PasswordState, now: datetime) -> int:
    """Wrong tries left before the lock; a lock that has ended gives a fresh set."""
    if is_locked(state, now):
        return 0
    if state.locked_until is not None:
        return PAYMENT_PASSWORD_FAILURES_MAX
    return PAYMENT_PASSWORD_FAILURES_MAX - state.failed_attempts


def require_not_locked(state: PasswordState, now: datetime) -> None:
    """Refuse with PAYMENT_PASSWORD_LOCKED while the lock is in force (checked before verifying)."""
    if state.locked_until is not None and is_locked(state, now):
        locked_until = state.locked_until.isoformat()
        raise FailedPrecondition(
            f"the payment password is locked after {PAYMENT_PASSWORD_FAILURES_MAX} wrong tries "
            f"until {locked_until}",
            reason="PAYMENT_PASSWORD_LOCKED",
            metadata={"locked_until": locked_until},
        )


def register_failure(state: PasswordState, now: datetime) -> PasswordState:
    """One more wrong try; the fifth in a row locks the password for three hours."""
    require_not_locked(state, now)
    # A lock that has ended starts a fresh count, so the owner gets five more tries.
    failed_attempts = PAYMENT_PASSWORD_FAILURES_MAX - attempts_remaining(state, now) + 1
    if failed_attempts >= PAYMENT_PASSWORD_FAILURES_MAX:
        return PasswordState(failed_attempts, locked_until=now + PAYMENT_PASSWORD_LOCKOUT)
    return PasswordState(failed_attempts)


def register_success(state: PasswordState) -> PasswordState:
    """A right password clears the count of wrong tries."""
    return PasswordState()


def reserve_try(state: PasswordState, token: str, now: datetime) -> PasswordState:
    """Admit one more try for verification, or refuse while the lock is on.

    While as many tries are being verified as wrong ones may still be made, another waits
    (REQUEST_IN_PROGRESS: retrying is safe), so concurrent guesses never exceed the limit.
    """
    require_not_locked(state, now)
    live = tuple(t for t in state.tries_in_flight if now - t.reserved_at < TRY_RESERVATION_TTL)
    if len(live) >= attempts_remaining(state, now):
        raise Aborted("other payment password tries are being checked; retry in a moment")
    return replace(state, tries_in_flight=(*live, TryReservation(token, now)))


def settle_try(state: PasswordState, token: str, now: datetime, *, verified: bool) -> PasswordState:
    """The state after one admitted try was verified: a right one clears, a wrong one counts."""
    others = tuple(t for t in state.tries_in_flight if t.token != token)
    if verified:
        return replace(register_success(state), tries_in_flight=others)
    if is_locked(state, now):
        return replace(state, tries_in_flight=others)  # other wrong tries locked it meanwhile
    return replace(register_failure(state, now), tries_in_flight=others)


def wrong_password_error(state: PasswordState, now: datetime) -> FailedPrecondition:
    """The refusal for a wrong try, from the state after register_failure (raise after saving)."""
    remaining = attempts_remaining(state, now)
    metadata = {"attempts_remaining": str(remaining)}
    message = f"wrong payment password; {remaining} {'try' if remaining == 1 else 'tries'} left"
    if state.locked_until is not None and remaining == 0:
        metadata["locked_until"] = state.locked_until.isoformat()
        message = f"wrong payment password; locked until {state.locked_until.isoformat()}"
    return FailedPrecondition(message, reason="PAYMENT_PASSWORD_WRONG", metadata=metadata)


@dataclass(frozen=True, slots=True)
class PasswordRecord:
    """A payer's stored payment password: its argon2 hash and the lockout state."""

    password_hash: str
    state: PasswordState


def require_password_set(record: PasswordRecord | None) -> PasswordRecord:
    """Refuse verifying a payment password the payer has never set."""
    if record is None:
        raise FailedPrecondition(
            "no payment password has been set", reason="PAYMENT_PASSWORD_NOT_SET"
        )
    return record


def require_current_password_given(password_set: bool, current_password: str) -> None:
    """Changing a payment password takes the current one (setting the first one does not)."""
    if password_set and not current_password:
        raise FailedPrecondition(
            "the current payment password is required to change it",
            reason="PAYMENT_PASSWORD_WRONG",
        )
