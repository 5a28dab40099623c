"""The payment methods a payer chose for each payment code (wallet pay, DOMAIN.md §6).

A payment code is issued and charged in the payment service; which of the payer's methods
pay for it (balance, Yu'e Bao, in order, or split) is the wallet's business, so the gateway
keeps it here, keyed like the service keys the code: by its sha256, never the code itself.
The merchant's charge looks the code up to run the wallet payment saga with those methods.
A record lives as long as its code (a TTL index on purge_at, chassis.retention, drops it an
hour after). It may hold a payment
authorization: a single-use stand-in for the payer's password, bound to them and an amount,
that lapses five minutes after it was given -- never the password itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import Clock
from chassis.errors import FailedPrecondition
from chassis.retention import PURGE_FIELD, ensure_purge_index, purge_at
from gateway.payment.methods import PaymentMethod

# Records outlive their code a little, for a charge that started just before it expired.
RETENTION_AFTER_EXPIRY = timedelta(hours=1)


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CodeWallet:
    """Who issued a code and how they chose to pay it."""

    account_id: str
    user_id: str
    methods: tuple[PaymentMethod, ...]
    split: bool
    # A payment authorization the payer gave with the code (their password, exchanged by
    # AuthorizePayment): it answers a risk challenge of the charge, up to its amount.
    payment_authorization: str = ""
    expires_at: datetime | None = None
    # When a charge of the code went through (the gateway's record of it).
    used_at: datetime | None = None


class PaymentCodeWallets:
    """The ``payment_code_wallets`` collection."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], clock: Clock) -> None:
        self._collection = collection
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await ensure_purge_index(
            self._collection, replaces={"retention": ("expires_at", RETENTION_AFTER_EXPIRY)}
        )

    async def remember(self, code: str, wallet: CodeWallet, expires_at: datetime) -> None:
        await self._collection.insert_one(
            {
                "_id": code_digest(code),
                "account_id": wallet.account_id,
                "user_id": wallet.user_id,
                "methods": [method.value for method in wallet.methods],
                "split": wallet.split,
                "payment_authorization": wallet.payment_authorization,
                "expires_at": expires_at,
                PURGE_FIELD: purge_at(self._clock, expires_at, RETENTION_AFTER_EXPIRY),
            }
        )

    async def find(self, code: str) -> CodeWallet | None:
        document = await self._collection.find_one({"_id": code_digest(code)})
        if document is None:
            return None
        return CodeWallet(
            account_id=str(document["account_id"]),
            user_id=str(document["user_id"]),
            methods=tuple(PaymentMethod(method) for method in document["methods"]),
            split=bool(document["split"]),
            payment_authorization=str(document.get("payment_authorization", "")),
            expires_at=document["expires_at"],
            used_at=document.get("used_at"),
        )

    async def mark_used(self, code: str, now: datetime) -> None:
        await self._collection.update_one(
            {"_id": code_digest(code), "used_at": None}, {"$set": {"used_at": now}}
        )


def require_chargeable(wallet: CodeWallet, now: datetime) -> None:
    """Refuse, before anything moves, a code already charged or past its life.

    The payment service decides in the end (ChargePaymentCode); this spares the payer a
    Yu'e Bao redemption, undone moments later, for a code that cannot be charged.
    """
    if wallet.used_at is not None:
        raise FailedPrecondition("the payment code was used already", reason="PAYMENT_CODE_USED")
    if wallet.expires_at is not None and wallet.expires_at <= now:
        raise FailedPrecondition("the payment code has expired", reason="PAYMENT_CODE_EXPIRED")
