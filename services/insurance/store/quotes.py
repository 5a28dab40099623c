"""Quotes by id."""

from __future__ import annotations

from chassis.errors import NotFound
from chassis.mongo import Session
from services.insurance.quotes import Quote
from services.insurance.store.collections import InsuranceCollections
from services.insurance.store.mapping import quote_from_document, quote_to_document


class QuoteStore(InsuranceCollections):
    async def get_quote(self, quote_id: str, session: Session | None = None) -> Quote:
        document = await self.quotes.find_one({"_id": quote_id}, session=session)
        if document is None:
            raise NotFound(f"quote {quote_id} not found", metadata={"quote_id": quote_id})
        return quote_from_document(document)

    async def save_quote(self, session: Session, quote: Quote) -> None:
        await self.quotes.replace_one(
            {"_id": quote.quote_id}, quote_to_document(quote), upsert=True, session=session
        )
