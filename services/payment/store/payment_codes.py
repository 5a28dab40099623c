"""Payment codes (付款码): each issued code's digest, until it is used once or lapses.

Bills (bills.py) need no collection of their own: a bill payment is a posting whose
reference is the bill's reference.
"""

from __future__ import annotations

from chassis.mongo import Session
from services.payment.payment_code import PaymentCode
from services.payment.store.collections import PaymentCollections
from services.payment.store.mapping import payment_code_from_document, payment_code_to_document


class PaymentCodeStore(PaymentCollections):
    """The payment_codes collection."""

    async def insert_payment_code(self, code: PaymentCode) -> None:
        await self.payment_codes.insert_one(payment_code_to_document(code))

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
