"""Merchant API keys: how a merchant's own servers call the merchant API (DESIGN.md "Security").

A key is ``ck_live_`` and 32 random URL-safe characters, shown to the merchant once. The
gateway keeps only its SHA-256 digest, in collection ``merchant_api_keys``:
``{_id: key_id, secret_sha256 (unique), prefix, user_id, account_id, scopes, created_at,
expires_at, last_used_at, revoked_at}``.

A key carries scopes and an expiry (issue 21 item 12), so a leaked key is worth only what it
was created for, and not forever. The scopes are the request classes of
gateway.edge.rate_limits: ``read`` (GET), ``write`` (other changes) and ``money`` (routes that
move money, which take an Idempotency-Key): a reporting server gets a ``read`` key, a
checkout server ``read`` and ``money``. A key lives 90 days unless asked otherwise, at most
365; keys created before scopes existed keep every scope and no expiry.

Why a plain SHA-256 and not argon2 (as for log-in passwords): a slow, salted hash protects
*low-entropy* secrets that people choose, whose guesses can be enumerated. A key here is
192 random bits: no dictionary exists and a brute force of 2^192 digests is out of reach at
any hashing speed, so slowness buys nothing while costing tens of milliseconds on every
merchant request. A deterministic digest also lets the key be found by an index lookup.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chassis.clock import Clock
from chassis.errors import NotFound, PermissionDenied
from gateway.edge.rate_limits import RequestClass, request_class
from gateway.edge.routing import route_of

API_KEY_PREFIX = "ck_live_"
# token_urlsafe(24) is 24 random bytes (192 bits) as 32 URL-safe base64 characters.
API_KEY_RANDOM_BYTES = 24
API_KEY_LENGTH = len(API_KEY_PREFIX) + 32
# What the merchant sees of a key after creation: enough to tell keys apart, useless to use.
DISPLAY_PREFIX_LENGTH = len(API_KEY_PREFIX) + 4
ACTIVE_KEYS_PER_MERCHANT_MAX = 20
# Two concurrent creations can both pass the count; a listing still stays bounded.
LISTED_KEYS_MAX = 2 * ACTIVE_KEYS_PER_MERCHANT_MAX
# last_used_at is a hint for the merchant ("is this key still in use?"), not an audit log:
# written at most once a minute per key so that busy keys do not cost a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# A collision of 192 random bits does not happen; the bound only makes the loop finite.
GENERATION_ATTEMPTS_MAX = 3
API_KEY_SCOPES: tuple[str, ...] = tuple(request_class.value for request_class in RequestClass)
LIFETIME_DAYS_DEFAULT = 90
LIFETIME_DAYS_MAX = 365


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A merchant's key as stored: never the secret itself."""

    key_id: str
    prefix: str
    user_id: str
    account_id: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    scopes: tuple[str, ...] = API_KEY_SCOPES
    # None only for keys created before keys expired.
    expires_at: datetime | None = None

    def allows(self, request_class: RequestClass) -> bool:
        return request_class.value in self.scopes


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A freshly created key: the secret for the merchant's one look, and its record."""

    api_key: str
    record: ApiKey


def secret_digest(api_key: str) -> str:
    """The SHA-256 hex digest a key is stored and looked up by."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def generate_api_key() -> str:
    """``ck_live_`` and 32 URL-safe characters from the operating system's CSPRNG."""
    api_key = API_KEY_PREFIX + secrets.token_urlsafe(API_KEY_RANDOM_BYTES)
    assert len(api_key) == API_KEY_LENGTH
    return api_key


def looks_like_api_key(text: str) -> bool:
    """True if text has the shape of a key (checked before any database lookup)."""
    return len(text) == API_KEY_LENGTH and text.startswith(API_KEY_PREFIX) and text.isascii()


def _from_document(document: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=document["_id"],
        prefix=document["prefix"],
        user_id=document["user_id"],
        account_id=document["account_id"],
        created_at=document["created_at"],
        last_used_at=document.get("last_used_at"),
        revoked_at=document.get("revoked_at"),
        scopes=tuple(document.get("scopes", API_KEY_SCOPES)),
        expires_at=document.get("expires_at"),
    )


class ApiKeyStore:
    """The only code that knows the ``merchant_api_keys`` collection."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], clock: Clock) -> None:
        self._collection = collection
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(
            [("secret_sha256", ASCENDING)], unique=True, name="secret_sha256"
        )
        await self._collection.create_index(
            [("user_id", ASCENDING), ("created_at", ASCENDING)], name="user_created"
        )

    async def create(
        self,
        user_id: str,
        account_id: str,
        scopes: tuple[str, ...] = API_KEY_SCOPES,
        lifetime_days: int = LIFETIME_DAYS_DEFAULT,
    ) -> IssuedApiKey:
        """A new key for the merchant, refused once they hold the maximum of active keys."""
        active = await self._collection.count_documents({"user_id": user_id, "revoked_at": None})
        if active >= ACTIVE_KEYS_PER_MERCHANT_MAX:
            raise PermissionDenied(
                f"at most {ACTIVE_KEYS_PER_MERCHANT_MAX} API keys may be active; revoke one first",
                metadata={"active_keys_max": str(ACTIVE_KEYS_PER_MERCHANT_MAX)},
            )
        now = self._clock.now()
        for _ in range(GENERATION_ATTEMPTS_MAX):
            api_key = generate_api_key()
            record = ApiKey(
                key_id="key_" + uuid.uuid4().hex,
                prefix=api_key[:DISPLAY_PREFIX_LENGTH],
                user_id=user_id,
                account_id=account_id,
                created_at=now,
                scopes=scopes,
                expires_at=now + timedelta(days=lifetime_days),
            )
            try:
                await self._collection.insert_one(
                    {
                        "_id": record.key_id,
                        "secret_sha256": secret_digest(api_key),
                        "prefix": record.prefix,
                        "user_id": user_id,
                        "account_id": account_id,
                        "created_at": record.created_at,
                        "scopes": list(scopes),
                        "expires_at": record.expires_at,
                        "last_used_at": None,
                        "revoked_at": None,
                    }
                )
            except DuplicateKeyError:
                continue
            return IssuedApiKey(api_key=api_key, record=record)
        raise AssertionError("could not generate a unique API key")

    async def list_active(self, user_id: str) -> list[ApiKey]:
        """The merchant's keys that are not revoked, oldest first (at most the active maximum)."""
        cursor = self._collection.find({"user_id": user_id, "revoked_at": None}).sort(
            "created_at", ASCENDING
        )
        return [_from_document(document) async for document in cursor.limit(LISTED_KEYS_MAX)]

    async def revoke(self, user_id: str, key_id: str) -> None:
        """Revoke one of the merchant's own keys; NOT_FOUND for anyone else's or an unknown id."""
        result = await self._collection.update_one(
            {"_id": key_id, "user_id": user_id, "revoked_at": None},
            {"$set": {"revoked_at": self._clock.now()}},
        )
        if result.matched_count == 0:
            raise NotFound(f"no active API key {key_id}")

    async def find_active(self, api_key: str) -> ApiKey | None:
        """The active key with this secret, noting its use; None if unknown, revoked or expired.

        The lookup is by digest, so the stored value compared is never the secret and a
        timing difference tells nothing about it.
        """
        now = self._clock.now()
        document = await self._collection.find_one(
            {
                "secret_sha256": secret_digest(api_key),
                "revoked_at": None,
                "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}],
            }
        )
        if document is None:
            return None
        await self._collection.update_one(
            {
                "_id": document["_id"],
                "$or": [
                    {"last_used_at": None},
                    {"last_used_at": {"$lte": now - LAST_USED_RESOLUTION}},
                ],
            },
            {"$set": {"last_used_at": now}},
        )
        return _from_document(document)


def require_api_key_scope(
    api_key_scopes: tuple[str, ...] | None, request_class: RequestClass
) -> None:
    """Refuse a request made with a key that lacks its class's scope (403 PERMISSION_DENIED)."""
    if api_key_scopes is not None and request_class.value not in api_key_scopes:
        raise PermissionDenied(
            f"this API key does not have the {request_class.value!r} scope",
            metadata={"scope": request_class.value},
        )


def api_key_scope_middleware(
    scopes_of: Callable[[web.Request], tuple[str, ...] | None],
) -> Middleware:
    """Admit a request made with an API key only within the key's scopes (after authentication)."""

    @web.middleware
    async def check_scope(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route is not None:
            require_api_key_scope(scopes_of(request), request_class(request.method, route))
        return await handler(request)

    return check_scope
