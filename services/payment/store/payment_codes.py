"""Payment codes (付款码): each issued code's digest, until it is used once or lapses.

Bills (bills.py) need no collection of their own: a bill payment is a posting whose
reference is the bill's reference.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING

from chassis.clock import Clock
from chassis.mongo import Session
from chassis.retention import PURGE_FIELD, ensure_purge_index, purge_at
from services.payment.payment_code import (
    PAYMENT_CODE_RETENTION,
    PAYMENT_CODES_LIVE_MAX,
    PaymentCode,
)
from services.payment.store.collections import PaymentCollections
from services.payment.store.mapping import payment_code_from_document, payment_code_to_document


class PaymentCodeStore(PaymentCollections):
    """The payment_codes collection: bounded per account, emptied by a TTL index."""

    async def ensure_payment_code_indexes(self) -> None:
        # mongod's TTL monitor deletes a code PAYMENT_CODE_RETENTION after its expires_at
        # (purge_at, on the wall clock the monitor reads: chassis.retention).
        await ensure_purge_index(
            self.payment_codes,
            replaces={"payment_codes_ttl": ("expires_at", PAYMENT_CODE_RETENTION)},
        )
        await self.payment_codes.create_index(
            [("account_id", ASCENDING), ("used_at", ASCENDING), ("issued_at", DESCENDING)],
            name="payment_codes_live",
        )

    async def insert_payment_code(
        self, code: PaymentCode, clock: Clock, live_max: int = PAYMENT_CODES_LIVE_MAX
    ) -> None:
        """Store code, then retire the account's oldest unused codes beyond live_max.

        Concurrent issues may each see the others' codes: every one retires what is past
        the newest live_max, so the account ends with live_max unused codes at most.
        """
        await self.payment_codes.insert_one(
            {
                **payment_code_to_document(code),
                PURGE_FIELD: purge_at(clock, code.expires_at, PAYMENT_CODE_RETENTION),
            }
        )
        cursor = (
            self.payment_codes.find(
                {"account_id": code.account_id, "used_at": None}, projection={"_id": 1}
            )
            .sort("issued_at", DESCENDING)
            .skip(live_max)
            .limit(100)
        )
        retired = [document["_id"] async for document in cursor]
        if retired:
            await self.payment_codes.delete_many({"_id": {"$in": retired}, "used_at": None})

    async def get_payment_code(self, session: Session, digest: str) -> PaymentCode | None:
        document = await self.payment_codes.find_one({"_id": digest}, session=session)
        return None if document is None else payment_code_from_document(document)

    async def mark_payment_code_used(self, session: Session, code: PaymentCode) -> None:
        result = await self.payment_codes.update_one(
            {"_id": code.code_digest, "used_at": None},
            {"$set": {"used_at": code.used_at}},
            session=session,
        )
        assert result.modified_count == 1, "a payment code is used once"
