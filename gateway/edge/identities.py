"""The gateway's identity store: who can log in, and which payment account is theirs.

Collection ``users`` of the gateway database, one document per identity:
``{_id: user_id, phone (unique), password_hash, state, account_type, account_id, roles}``.
An identity is written "pending" before its payment account is opened and becomes
"active" once the account exists (see gateway.edge.registration).

An active identity is never changed afterwards (nothing in this store updates one), so every
authenticated request need not read it again: ``get_active`` keeps active identities in a
small in-process cache for ACTIVE_CACHE_SECONDS (issue 22's lean gateway path: that read was
a fifth of the gateway's CPU per REST transfer). Whatever can change about a caller is
checked elsewhere at every request: the operator grant (gateway.edge.operator_grants), API
keys, and the payment account's own state in the payment service. A method that ever
changes an active identity must call ``_forget`` (other replicas see it within the TTL).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chassis.clock import Clock


class IdentityState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"


class AccountType(StrEnum):
    PERSONAL = "personal"
    MERCHANT = "merchant"


class Role(StrEnum):
    """What a caller may do beyond their own account."""

    CUSTOMER = "customer"
    MERCHANT = "merchant"
    # Platform staff: risk rules, blacklist, platform refund decisions, jobs. Never stored:
    # granted at log-in to the phones in COLONY_OPERATOR_PHONES (gateway.edge.authentication).
    OPERATOR = "operator"


ROLES_BY_ACCOUNT_TYPE = {
    AccountType.PERSONAL: (Role.CUSTOMER.value,),
    AccountType.MERCHANT: (Role.MERCHANT.value,),
}


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    phone: str
    password_hash: str
    state: IdentityState
    account_type: AccountType
    roles: tuple[str, ...]
    created_at: datetime
    # The caller's own payment account; set once the identity is active.
    account_id: str | None = None


def mask_phone(phone: str) -> str:
    """138****5678: enough to recognise a number in a log, not to reuse it."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def _to_document(identity: Identity) -> dict[str, Any]:
    return {
        "_id": identity.user_id,
        "phone": identity.phone,
        "password_hash": identity.password_hash,
        "state": identity.state.value,
        "account_type": identity.account_type.value,
        "roles": list(identity.roles),
        "created_at": identity.created_at,
        "account_id": identity.account_id,
    }


def _from_document(document: dict[str, Any]) -> Identity:
    return Identity(
        user_id=document["_id"],
        phone=document["phone"],
        password_hash=document["password_hash"],
        state=IdentityState(document["state"]),
        account_type=AccountType(document["account_type"]),
        roles=tuple(document["roles"]),
        created_at=document["created_at"],
        account_id=document.get("account_id"),
    )


# How long an active identity is served from memory, and how many are kept (least recently
# used first out): bounded staleness and bounded memory.
ACTIVE_CACHE_SECONDS = 60.0
ACTIVE_CACHE_SIZE_MAX = 50_000


class IdentityStore:
    """The only code that knows the ``users`` collection."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        clock: Clock,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._collection = collection
        self._clock = clock
        self._monotonic = monotonic
        # user_id -> (read at, the active identity), oldest use first.
        self._active: OrderedDict[str, tuple[float, Identity]] = OrderedDict()

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("phone", ASCENDING)], unique=True, name="phone")

    async def add_pending(self, identity: Identity) -> bool:
        """Insert a pending identity; False if the phone already has one (pending or active)."""
        assert identity.state is IdentityState.PENDING
        try:
            await self._collection.insert_one(_to_document(identity))
        except DuplicateKeyError:
            return False
        return True

    async def find_by_phone(self, phone: str) -> Identity | None:
        document = await self._collection.find_one({"phone": phone})
        return None if document is None else _from_document(document)

    async def get_active(self, user_id: str, *, fresh: bool = False) -> Identity | None:
        """The active identity with this id (from the cache unless fresh), else None."""
        now = self._monotonic()
        cached = None if fresh else self._active.get(user_id)
        if cached is not None and now - cached[0] < ACTIVE_CACHE_SECONDS:
            self._active.move_to_end(user_id)
            return cached[1]
        document = await self._collection.find_one(
            {"_id": user_id, "state": IdentityState.ACTIVE.value}
        )
        if document is None:
            self._forget(user_id)
            return None
        identity = _from_document(document)
        self._active[user_id] = (now, identity)
        self._active.move_to_end(user_id)
        while len(self._active) > ACTIVE_CACHE_SIZE_MAX:
            self._active.popitem(last=False)
        return identity

    def _forget(self, user_id: str) -> None:
        self._active.pop(user_id, None)

    async def activate(self, user_id: str, account_id: str) -> Identity:
        """Bind the identity to its payment account; a repeat with the same account is a no-op."""
        await self._collection.update_one(
            {"_id": user_id, "state": IdentityState.PENDING.value},
            {
                "$set": {
                    "state": IdentityState.ACTIVE.value,
                    "account_id": account_id,
                    "activated_at": self._clock.now(),
                }
            },
        )
        document = await self._collection.find_one({"_id": user_id})
        assert document is not None, f"identity {user_id} vanished while being activated"
        identity = _from_document(document)
        # One identity, one payment account: a second account for the same user is a bug.
        assert identity.account_id == account_id, (
            f"identity {user_id} is bound to {identity.account_id}, not {account_id}"
        )
        return identity

    async def discard_pending(self, user_id: str) -> None:
        """Forget a registration the payment service refused, so the phone can register again."""
        self._forget(user_id)
        await self._collection.delete_one({"_id": user_id, "state": IdentityState.PENDING.value})
