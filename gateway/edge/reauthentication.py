"""Re-authentication: a sensitive change asks for the log-in password, not only the token.

Setting or changing the payment password (支付密码) is what turns a stolen session into
spendable money, so the bearer token alone cannot do it (issue 21 item 3). The password is
checked like a log-in: the same per-phone and per-address throttle (gateway.edge.login_throttle)
counts a wrong one, so this route is no side door for guessing passwords.
"""

from __future__ import annotations

from aiohttp import web

from chassis.errors import PermissionDenied
from gateway.edge.authentication import Authenticator, Caller
from gateway.edge.login_throttle import LoginThrottle


class Reauthentication:
    def __init__(self, authenticator: Authenticator, throttle: LoginThrottle) -> None:
        self._authenticator = authenticator
        self._throttle = throttle

    async def require(self, request: web.Request, caller: Caller, login_password: str) -> None:
        """Refuse (403 LOGIN_PASSWORD_WRONG, or 429 while throttled) unless it is theirs."""
        address = request.remote or "unknown"
        await self._throttle.check(caller.phone, address)
        if not await self._authenticator.confirms_password(caller, login_password):
            await self._throttle.record_failure(caller.phone, address)
            raise PermissionDenied(
                "the log-in password is wrong",
                reason="LOGIN_PASSWORD_WRONG",
                metadata={"field": "login_password"},
            )
