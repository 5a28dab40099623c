"""Who is calling: log-in, and the middleware that turns credentials into a Caller.

A Caller is built from the identity record on every request, never from the request's
body or the token alone, so the account a handler acts on is always the caller's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.identities import AccountType, IdentityState, IdentityStore
from gateway.passwords import PasswordHasher
from gateway.problems import Unauthenticated
from gateway.routing import AuthScheme, route_of
from gateway.tokens import AccessTokens, IssuedToken

BEARER_PREFIX = "bearer "


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user of a request and the payment account that is theirs."""

    user_id: str
    phone: str
    account_id: str
    account_type: AccountType
    roles: tuple[str, ...]


CALLER = web.RequestKey("colony_caller", Caller)


class Authenticator:
    """Checks passwords at log-in and tokens on every protected request."""

    def __init__(
        self, identities: IdentityStore, passwords: PasswordHasher, tokens: AccessTokens
    ) -> None:
        self._identities = identities
        self._passwords = passwords
        self._tokens = tokens

    async def log_in(self, phone: str, password: str) -> IssuedToken:
        """A token for the active identity with this phone and password.

        Unknown phone, unfinished registration and wrong password get the same answer,
        after the same amount of hashing work, so none can be told apart.
        """
        identity = await self._identities.find_by_phone(phone)
        if identity is None:
            await self._passwords.verify_against_decoy(password)
            raise Unauthenticated("wrong phone or password")
        password_matches = await self._passwords.verify(identity.password_hash, password)
        if not password_matches or identity.state is not IdentityState.ACTIVE:
            raise Unauthenticated("wrong phone or password")
        return self._tokens.issue(identity.user_id, identity.roles)

    async def authenticate_bearer(self, request: web.Request) -> Caller:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith(BEARER_PREFIX):
            raise Unauthenticated("an Authorization: Bearer <access token> header is required")
        user_id = self._tokens.verify(header[len(BEARER_PREFIX) :].strip())
        identity = await self._identities.get_active(user_id)
        if identity is None or identity.account_id is None:
            raise Unauthenticated("the access token's user is not active")
        return Caller(
            user_id=identity.user_id,
            phone=identity.phone,
            account_id=identity.account_id,
            account_type=identity.account_type,
            roles=identity.roles,
        )


def authentication_middleware(authenticator: Authenticator) -> Middleware:
    """Admit a request to a protected route only with valid credentials; store its Caller."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route is not None and route.auth:
            # One scheme exists today; with merchant API keys, pick by the header present.
            assert route.auth == (AuthScheme.BEARER,), f"unsupported schemes {route.auth}"
            request[CALLER] = await authenticator.authenticate_bearer(request)
        return await handler(request)

    return authenticate
