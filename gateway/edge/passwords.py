"""Login passwords: the policy, and argon2 hashing off the event loop (CONVENTIONS.md)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from typing import TypeVar

import argon2

from chassis.errors import InvalidArgument, Unavailable

T = TypeVar("T")
# Hashes computed at once: each argon2 hash takes 64 MiB and a core for tens of milliseconds.
HASHING_CONCURRENCY_DEFAULT = os.cpu_count() or 2
# Requests that may wait for a slot; beyond that a sign-in is answered 503 with Retry-After
# instead of queueing memory and time without bound (an unauthenticated caller can send many).
HASHING_WAITERS_PER_SLOT = 8
RETRY_AFTER_SECONDS = "1"

PASSWORD_LENGTH_MIN = 8
PASSWORD_LENGTH_MAX = 128


def require_acceptable_password(password: str) -> str:
    """Return the password if the policy allows it (8 to 128 characters), else refuse it."""
    if not PASSWORD_LENGTH_MIN <= len(password) <= PASSWORD_LENGTH_MAX:
        raise InvalidArgument(
            f"password must be {PASSWORD_LENGTH_MIN} to {PASSWORD_LENGTH_MAX} characters",
            reason="INVALID_ARGUMENT",
            metadata={"field": "password"},
        )
    return password


class PasswordHasher:
    """argon2id hashes, computed in the default executor: each one costs tens of milliseconds."""

    def __init__(
        self,
        hasher: argon2.PasswordHasher | None = None,
        concurrency: int = HASHING_CONCURRENCY_DEFAULT,
    ) -> None:
        self._hasher = hasher or argon2.PasswordHasher()
        self._decoy_hash: str | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._waiting_max = concurrency * HASHING_WAITERS_PER_SLOT
        self._waiting = 0

    async def hash(self, password: str) -> str:
        return await self._bounded(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """True if password matches password_hash."""
        return await self._bounded(self._verify, password_hash, password)

    async def _bounded(self, work: Callable[..., T], *args: str) -> T:
        """Run work in the executor within the concurrency bound, or refuse when it is full."""
        if self._waiting >= self._waiting_max:
            raise Unavailable(
                "too many sign-ins at once; retry in a moment",
                metadata={"retry_after_seconds": RETRY_AFTER_SECONDS},
            )
        self._waiting += 1
        try:
            async with self._slots:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(None, work, *args)
        finally:
            self._waiting -= 1

    async def verify_against_decoy(self, password: str) -> None:
        """Spend the time a real verification takes, so an unknown phone is not told apart."""
        if self._decoy_hash is None:
            self._decoy_hash = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._decoy_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
