"""Per-user request budgets: money movement, other writes and reads, each a token bucket.

A caller's requests are counted after authentication (the caller is known) and before any
work: a request over budget is answered 429 RATE_LIMITED with Retry-After, and changes
nothing. The class of a request comes from its Route: a money-moving route (it takes an
Idempotency-Key) spends from the "money" bucket, any other non-GET from "write", a GET from
"read". Budgets are generous for a person and a merchant's server alike; they exist to stop a
stolen token or a runaway client from turning into a flood.

The buckets live in each gateway replica's memory: N replicas admit at most N times the
budget. That is the usual trade (no round trip per request); a shared limiter (Redis, an
API gateway in front) is the deployment's choice when an exact global budget matters
(docs/security.md). Memory is bounded: the least recently seen callers are forgotten first,
which only ever gives a forgotten caller a full bucket again.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from chassis.errors import DomainError, ErrorKind
from gateway.edge.routing import Route, route_of

BUCKETS_MAX = 100_000


class RateLimited(DomainError):
    """429: the caller spent its budget; Retry-After says when a request is allowed again."""

    kind = ErrorKind.RESOURCE_EXHAUSTED
    default_reason = "RATE_LIMITED"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(
            message, metadata={"retry_after_seconds": str(max(1, retry_after_seconds))}
        )


class RequestClass(StrEnum):
    MONEY = "money"
    WRITE = "write"
    READ = "read"


def request_class(method: str, route: Route) -> RequestClass:
    if route.idempotency_key_required:
        return RequestClass.MONEY
    if method in ("GET", "HEAD"):
        return RequestClass.READ
    return RequestClass.WRITE


@dataclass(frozen=True, slots=True)
class Budget:
    """Sustained requests per minute and the burst allowed on top; per_minute 0: unlimited."""

    per_minute: float
    burst: int

    @property
    def unlimited(self) -> bool:
        return self.per_minute == 0


DEFAULT_BUDGETS: Mapping[RequestClass, Budget] = {
    RequestClass.MONEY: Budget(per_minute=60, burst=30),
    RequestClass.WRITE: Budget(per_minute=120, burst=60),
    RequestClass.READ: Budget(per_minute=1200, burst=200),
}


class TokenBuckets:
    """A token bucket per key: ``burst`` tokens, refilled at ``per_minute`` / 60 a second."""

    def __init__(
        self,
        budget: Budget,
        monotonic: Callable[[], float] = time.monotonic,
        buckets_max: int = BUCKETS_MAX,
    ) -> None:
        self._budget = budget
        self._monotonic = monotonic
        self._buckets_max = buckets_max
        # key -> (tokens left, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend one token: 0 if allowed, else the seconds until one is available."""
        if self._budget.unlimited:
            return 0.0
        now = self._monotonic()
        rate = self._budget.per_minute / 60
        tokens, counted_at = self._buckets.pop(key, (float(self._budget.burst), now))
        tokens = min(float(self._budget.burst), tokens + (now - counted_at) * rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1 - tokens) / rate
        if len(self._buckets) > self._buckets_max:
            self._buckets.popitem(last=False)
        return wait


class RateLimits:
    """One set of buckets per request class."""

    def __init__(
        self,
        budgets: Mapping[RequestClass, Budget] = DEFAULT_BUDGETS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._buckets = {
            request_class: TokenBuckets(budget, monotonic)
            for request_class, budget in budgets.items()
        }

    def admit(self, caller_key: str, request_class: RequestClass) -> None:
        """Raise RateLimited if the caller has no budget left in this class."""
        wait = self._buckets[request_class].take(caller_key)
        if wait > 0:
            raise RateLimited(
                f"too many {request_class.value} requests; slow down",
                math.ceil(wait),
            )


def rate_limit_middleware(
    limits: RateLimits, caller_key: Callable[[web.Request], str | None]
) -> Middleware:
    """Admit an authenticated request within its caller's budget (after authentication)."""

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        key = caller_key(request) if route is not None else None
        if route is not None and key is not None:
            limits.admit(key, request_class(request.method, route))
        return await handler(request)

    return limit
