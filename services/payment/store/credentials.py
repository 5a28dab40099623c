"""A payer's credentials: the payment password (hash and lockout) and payment authorizations.

Only digests and hashes are stored; spent or lapsed authorizations are kept a day for the
record, then dropped by a TTL index.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chassis.clock import Clock
from chassis.mongo import Document, Session
from chassis.retention import PURGE_FIELD, ensure_purge_index, purge_at
from services.payment.payment_authorization import PaymentAuthorization
from services.payment.payment_password import PasswordRecord, PasswordState
from services.payment.store.collections import PaymentCollections
from services.payment.store.mapping import (
    authorization_to_document,
    password_record_from_document,
    password_state_to_document,
)

AUTHORIZATION_RETENTION = timedelta(days=1)


def _usable_authorization(digest: str, account_id: str, amount_fen: int, now: datetime) -> Document:
    return {
        "_id": digest,
        "account_id": account_id,
        "amount_fen": {"$gte": amount_fen},
        "expires_at": {"$gt": now},
        "used_at": None,
    }


class CredentialStore(PaymentCollections):
    """The payment_passwords and payment_authorizations collections."""

    async def ensure_credential_indexes(self) -> None:
        # purge_at: on the wall clock mongod's TTL monitor reads (chassis.retention).
        await ensure_purge_index(
            self.payment_authorizations,
            replaces={"expires_at_1": ("expires_at", AUTHORIZATION_RETENTION)},
        )

    async def get_password_record(
        self, account_id: str, session: Session | None = None
    ) -> PasswordRecord | None:
        document = await self.payment_passwords.find_one({"_id": account_id}, session=session)
        return None if document is None else password_record_from_document(document)

    async def save_password_record(
        self, session: Session, account_id: str, password_hash: str, state: PasswordState
    ) -> None:
        """Set (or replace) the payment password, and mark the account as having one."""
        await self.payment_passwords.update_one(
            {"_id": account_id},
            {"$set": {"password_hash": password_hash, **password_state_to_document(state)}},
            upsert=True,
            session=session,
        )
        await self.accounts.update_one(
            {"_id": account_id}, {"$set": {"payment_password_set": True}}, session=session
        )

    async def save_password_state(
        self, account_id: str, state: PasswordState, session: Session | None = None
    ) -> None:
        """Save the lockout state (in the caller's transaction, if given)."""
        await self.payment_passwords.update_one(
            {"_id": account_id}, {"$set": password_state_to_document(state)}, session=session
        )

    async def insert_payment_authorization(
        self, authorization: PaymentAuthorization, clock: Clock
    ) -> None:
        await self.payment_authorizations.insert_one(
            {
                **authorization_to_document(authorization),
                PURGE_FIELD: purge_at(clock, authorization.expires_at, AUTHORIZATION_RETENTION),
            }
        )

    async def use_payment_authorization(
        self, session: Session, digest: str, account_id: str, amount_fen: int, now: datetime
    ) -> bool:
        """Spend the authorization in the movement's transaction; False if it is not usable."""
        result = await self.payment_authorizations.update_one(
            _usable_authorization(digest, account_id, amount_fen, now),
            {"$set": {"used_at": now}},
            session=session,
        )
        return result.modified_count == 1
