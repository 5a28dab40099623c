"""Login passwords: the policy, and argon2 hashing off the event loop (CONVENTIONS.md)."""

from __future__ import annotations

import asyncio
import secrets

import argon2

from chassis.errors import InvalidArgument

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

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self._hasher = hasher or argon2.PasswordHasher()
        self._decoy_hash: str | None = None

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """True if password matches password_hash."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._verify, password_hash, password)

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
