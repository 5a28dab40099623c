"""Who is calling: log-in, and the middleware that turns credentials into a Caller.

A Caller is built from the identity record on every request, never from the request's
body or the token alone, so the account a handler acts on is always the caller's own.
Two schemes prove identity (gateway.edge.routing.AuthScheme): a bearer access token, and a
merchant API key (gateway.edge.api_keys). A route lists the schemes it accepts and the role it
requires; the middleware refuses everything else before a handler runs.

The operator role is never stored with an identity: it comes from an explicit grant
(gateway.edge.operator_grants, made with `colony operator grant`), checked at log-in and on
every request with an operator token, so a revocation takes effect at once. Every
/v1/admin/* request that changes something is written to the operators' audit log before it
is answered (gateway.edge.audit_log). COLONY_OPERATOR_PHONES, a phone list, is a dev and test
convenience that gateway.__main__ refuses outside COLONY_ENV=dev.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from chassis.errors import PermissionDenied, Unauthenticated
from gateway.edge.api_keys import ApiKeyStore, looks_like_api_key
from gateway.edge.audit_log import AuditActor, OperatorAuditLog, is_audited
from gateway.edge.identities import AccountType, Identity, IdentityState, IdentityStore, Role
from gateway.edge.operator_grants import OperatorGrants
from gateway.edge.passwords import PasswordHasher
from gateway.edge.routing import AuthScheme, Route, route_of
from gateway.edge.tokens import AccessTokens, IssuedToken

BEARER_PREFIX = "bearer "
API_KEY_PREFIX = "apikey "
_SCHEME_HEADER_EXAMPLES = {
    AuthScheme.BEARER: "Bearer <access token>",
    AuthScheme.API_KEY: "ApiKey <merchant API key>",
}


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user of a request and the payment account that is theirs."""

    user_id: str
    phone: str
    account_id: str
    account_type: AccountType
    roles: tuple[str, ...]
    # The merchant API key the request came with; None for an access token.
    api_key_id: str | None = None
    # That key's scopes (gateway.edge.api_keys); None for an access token.
    api_key_scopes: tuple[str, ...] | None = None

    def has_role(self, role: Role) -> bool:
        return role.value in self.roles


CALLER = web.RequestKey("colony_caller", Caller)


class Authenticator:
    """Checks passwords at log-in, and tokens or API keys on every protected request."""

    def __init__(
        self,
        identities: IdentityStore,
        passwords: PasswordHasher,
        tokens: AccessTokens,
        api_keys: ApiKeyStore,
        *,
        operator_phones: Set[str] = frozenset(),
        operator_grants: OperatorGrants,
        audit_log: OperatorAuditLog,
    ) -> None:
        self._identities = identities
        self._passwords = passwords
        self._tokens = tokens
        self._api_keys = api_keys
        self._operator_phones = frozenset(operator_phones)
        self._operator_grants = operator_grants
        self.audit_log = audit_log

    async def _is_operator(self, identity: Identity) -> bool:
        """Granted explicitly (or, in dev and tests only, listed by phone)."""
        if identity.phone in self._operator_phones:
            return True
        return await self._operator_grants.is_operator(identity.user_id)

    async def ensure_indexes(self) -> None:
        await self._operator_grants.ensure_indexes()
        await self.audit_log.ensure_indexes()

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
        roles = identity.roles
        if await self._is_operator(identity):
            roles = (*roles, Role.OPERATOR.value)
        return self._tokens.issue(identity.user_id, roles)

    async def confirms_password(self, caller: Caller, password: str) -> bool:
        """True if password is the caller's log-in password (re-authentication for a
        sensitive change: the bearer token alone is not enough)."""
        identity = await self._identities.get_active(caller.user_id, fresh=True)
        if identity is None:
            return False
        return await self._passwords.verify(identity.password_hash, password)

    async def authenticate_bearer(self, credentials: str) -> Caller:
        token = self._tokens.verify(credentials)
        identity = await self._identities.get_active(token.user_id)
        if identity is None or identity.account_id is None:
            raise Unauthenticated("the access token's user is not active")
        roles = identity.roles
        # The operator role lives only in the token (it is never stored), and only while
        # the grant stands: a revocation ends its operator rights at once, not when its
        # tokens expire.
        if Role.OPERATOR.value in token.roles and await self._is_operator(identity):
            roles = (*roles, Role.OPERATOR.value)
        return Caller(
            user_id=identity.user_id,
            phone=identity.phone,
            account_id=identity.account_id,
            account_type=identity.account_type,
            roles=roles,
        )

    async def authenticate_api_key(self, credentials: str) -> Caller:
        """The merchant whose active key this is; an unknown or revoked key is refused."""
        refusal = Unauthenticated("the API key is not valid (unknown or revoked)")
        if not looks_like_api_key(credentials):
            raise refusal
        api_key = await self._api_keys.find_active(credentials)
        if api_key is None:
            raise refusal
        identity = await self._identities.get_active(api_key.user_id)
        if (
            identity is None
            or identity.account_type is not AccountType.MERCHANT
            or identity.account_id != api_key.account_id
        ):
            raise refusal
        return Caller(
            user_id=identity.user_id,
            phone=identity.phone,
            account_id=api_key.account_id,
            account_type=identity.account_type,
            roles=identity.roles,
            api_key_id=api_key.key_id,
            api_key_scopes=api_key.scopes,
        )

    async def authenticate(self, request: web.Request, route: Route) -> Caller:
        """The Caller of a protected route, by whichever accepted scheme the header uses."""
        header = request.headers.get("Authorization", "")
        lowered = header.lower()
        if lowered.startswith(BEARER_PREFIX) and AuthScheme.BEARER in route.auth:
            return await self.authenticate_bearer(header[len(BEARER_PREFIX) :].strip())
        if lowered.startswith(API_KEY_PREFIX) and AuthScheme.API_KEY in route.auth:
            return await self.authenticate_api_key(header[len(API_KEY_PREFIX) :].strip())
        accepted = " or ".join(_SCHEME_HEADER_EXAMPLES[scheme] for scheme in route.auth)
        raise Unauthenticated(f"an Authorization: {accepted} header is required")


def require_role(caller: Caller, route: Route) -> None:
    """Refuse a caller without the route's role (a personal user on a merchant route)."""
    if route.required_role is not None and not caller.has_role(route.required_role):
        raise PermissionDenied(f"this operation is for {route.required_role.value} users only")


def authentication_middleware(authenticator: Authenticator) -> Middleware:
    """Admit a request to a protected route only with valid credentials; store its Caller."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route is not None and route.auth:
            caller = await authenticator.authenticate(request, route)
            require_role(caller, route)
            request[CALLER] = caller
            if is_audited(request):
                actor = AuditActor(caller.user_id, caller.phone)
                return await authenticator.audit_log.around(request, actor, handler)
        return await handler(request)

    return authenticate
