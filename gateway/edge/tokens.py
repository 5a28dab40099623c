"""Short-lived access tokens: HS256 JWTs whose subject is the gateway's user id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import jwt

from chassis.clock import Clock
from chassis.errors import Unauthenticated

TOKEN_ISSUER = "colony-gateway"
TOKEN_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a valid token says: whose it is and the roles it was issued with."""

    user_id: str
    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in_seconds: int


class AccessTokens:
    """Issues and verifies access tokens; expiry is judged by the injected clock."""

    def __init__(self, secret: str, ttl_seconds: int, clock: Clock) -> None:
        self._secret = secret
        self._ttl_seconds = ttl_seconds
        self._clock = clock

    def issue(self, user_id: str, roles: Iterable[str]) -> IssuedToken:
        issued_at = self._clock.now()
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": user_id,
            "iat": int(issued_at.timestamp()),
            "exp": int((issued_at + timedelta(seconds=self._ttl_seconds)).timestamp()),
            "roles": sorted(roles),
        }
        token = jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM)
        return IssuedToken(access_token=token, expires_in_seconds=self._ttl_seconds)

    def verify(self, token: str) -> VerifiedToken:
        """The user and roles of a valid, unexpired token; Unauthenticated otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[TOKEN_ALGORITHM],
                issuer=TOKEN_ISSUER,
                # pyjwt would judge time by the wall clock; expiry is checked below against
                # the injected clock instead, so tests and replays can move time.
                options={
                    "require": ["iss", "sub", "iat", "exp"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError:
            raise Unauthenticated("the access token is not valid") from None
        expires_at = claims["exp"]
        roles = claims.get("roles", [])
        if (
            type(expires_at) is not int
            or not claims["sub"]
            or not isinstance(roles, list)
            or not all(isinstance(role, str) for role in roles)
        ):
            raise Unauthenticated("the access token is not valid")
        if expires_at <= self._clock.now().timestamp():
            raise Unauthenticated("the access token has expired; log in again")
        return VerifiedToken(user_id=str(claims["sub"]), roles=frozenset(roles))
