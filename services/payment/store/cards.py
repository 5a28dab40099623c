"""Bound bank cards (cards.py): one document per binding of a card to an account."""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chassis.errors import AlreadyExists, NotFound
from chassis.mongo import Document, Session
from services.payment.cards import BoundCard, card_not_bound, require_card_room
from services.payment.store.collections import PaymentCollections


def _card_from_document(document: Document) -> BoundCard:
    return BoundCard(
        card_id=document["_id"],
        account_id=document["account_id"],
        card_number=document["card_number"],
        bound_at=document["bound_at"],
    )


def card_not_found(card_id: str) -> NotFound:
    return NotFound(f"there is no bound card {card_id} of yours", metadata={"card_id": card_id})


class CardStore(PaymentCollections):
    """The bound_cards collection."""

    @property
    def bound_cards(self) -> AsyncCollection[Document]:
        return self.database["bound_cards"]

    async def ensure_card_indexes(self) -> None:
        await self.bound_cards.create_indexes(
            [
                # A card is bound once per account (the bank confirmed the name each time).
                IndexModel([("account_id", ASCENDING), ("card_number", ASCENDING)], unique=True),
                IndexModel([("account_id", ASCENDING), ("bound_at", ASCENDING)]),
            ]
        )

    async def bind_card(self, session: Session, card: BoundCard) -> BoundCard:
        """Record the binding; the same card on the same account is the existing binding."""
        existing = await self.bound_cards.find_one(
            {"account_id": card.account_id, "card_number": card.card_number}, session=session
        )
        if existing is not None:
            return _card_from_document(existing)
        require_card_room(
            await self.bound_cards.count_documents({"account_id": card.account_id}, session=session)
        )
        try:
            await self.bound_cards.insert_one(
                {
                    "_id": card.card_id,
                    "account_id": card.account_id,
                    "card_number": card.card_number,
                    "bound_at": card.bound_at,
                },
                session=session,
            )
        except DuplicateKeyError:
            # A concurrent binding of the same card won the race: the transaction retries
            # and finds it.
            raise AlreadyExists("the card is being bound", reason="CARD_ALREADY_BOUND") from None
        return card

    async def list_bound_cards(self, account_id: str) -> list[BoundCard]:
        """The account's cards, oldest binding first."""
        cursor = self.bound_cards.find({"account_id": account_id}).sort(
            [("bound_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_card_from_document(document) async for document in cursor]

    async def unbind_card(self, account_id: str, card_id: str) -> None:
        """Remove the account's binding; someone else's card answers like a missing one."""
        result = await self.bound_cards.delete_one({"_id": card_id, "account_id": account_id})
        if result.deleted_count == 0:
            raise card_not_found(card_id)

    async def require_bound_card(
        self, session: Session, account_id: str, card_number: str
    ) -> BoundCard:
        """The binding of this card to this account, or CARD_NOT_BOUND."""
        document = await self.bound_cards.find_one(
            {"card_number": card_number, "account_id": account_id}, session=session
        )
        if document is None:
            raise card_not_bound(card_number)
        return _card_from_document(document)
