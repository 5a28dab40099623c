"""Zhaocaibao (招财宝): products (quota taken by guarded $inc), holdings and their transfer
listings, and reservations."""

from __future__ import annotations

from datetime import date, datetime

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from chassis.errors import AlreadyExists, NotFound
from chassis.mongo import Document, Session
from services.wealth.fixed_term import Holding, HoldingState, Product, ProductState
from services.wealth.fixed_term_reservations import Reservation, ReservationState
from services.wealth.store.collections import WealthCollections, after_key
from services.wealth.store.mapping import (
    holding_from_document,
    holding_to_document,
    product_from_document,
    product_to_document,
    reservation_from_document,
    reservation_to_document,
    to_decimal128,
)
from services.wealth.transfers import StoredHolding
from services.wealth.unknown import holding_not_found


class FixedTermStore(WealthCollections):
    """Zhaocaibao products, holdings and reservations."""

    async def insert_product(
        self, session: Session | None, product: Product, now: datetime
    ) -> None:
        try:
            await self.products.insert_one(product_to_document(product, now), session=session)
        except DuplicateKeyError:
            raise AlreadyExists(
                f"product {product.product_id} already exists",
                metadata={"product_id": product.product_id},
            ) from None

    async def product_exists(self, product_id: str) -> bool:
        return await self.products.find_one({"_id": product_id}, {"_id": 1}) is not None

    async def get_product(self, product_id: str, session: Session | None = None) -> Product:
        document = await self.products.find_one({"_id": product_id}, session=session)
        if document is None:
            raise NotFound(
                f"product {product_id} does not exist", metadata={"product_id": product_id}
            )
        return product_from_document(document)

    async def list_products(
        self,
        page_size: int,
        after: tuple[str, ...] | None,
        on_sale_at: datetime | None,
    ) -> list[Product]:
        """Products newest first; with on_sale_at, only those on sale at that instant."""
        query: Document = {}
        if on_sale_at is not None:
            query = {
                "state": ProductState.LISTED.value,
                "sale_starts_at": {"$lte": on_sale_at},
                "sale_ends_at": {"$gt": on_sale_at},
            }
        if after is not None:
            created_at = datetime.fromisoformat(after[0])
            query = {
                "$and": [query, after_key("created_at", created_at, after[1], descending=True)]
            }
        cursor = (
            self.products.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        return [product_from_document(document) async for document in cursor]

    async def product_created_at(self, product_id: str) -> datetime:
        document = await self.products.find_one({"_id": product_id}, {"created_at": 1})
        assert document is not None
        created_at: datetime = document["created_at"]
        return created_at

    async def close_product(self, session: Session, product: Product) -> None:
        await self.products.update_one(
            {"_id": product.product_id}, {"$set": {"state": product.state.value}}, session=session
        )

    async def take_quota(
        self, session: Session, product_id: str, amount_fen: int, now: datetime
    ) -> Product | None:
        """Add amount_fen to sold_fen only if the product is on sale and quota remains.

        The guard is in the filter: however many subscriptions race, sold never passes the
        quota (each committed $inc was checked against the value it incremented).
        """
        document = await self.products.find_one_and_update(
            {
                "_id": product_id,
                "state": ProductState.LISTED.value,
                "sale_starts_at": {"$lte": now},
                "sale_ends_at": {"$gt": now},
                "$expr": {"$lte": [{"$add": ["$sold_fen", amount_fen]}, "$quota_fen"]},
            },
            {"$inc": {"sold_fen": amount_fen}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        return product_from_document(document) if document else None

    async def release_quota(self, session: Session, product_id: str, amount_fen: int) -> None:
        """Give back quota taken by a cancelled purchase."""
        result = await self.products.update_one(
            {"_id": product_id, "sold_fen": {"$gte": amount_fen}},
            {"$inc": {"sold_fen": -amount_fen}},
            session=session,
        )
        assert result.matched_count == 1, f"product {product_id} sold less than it gives back"

    async def insert_holding(self, session: Session, holding: Holding) -> None:
        await self.holdings.insert_one(holding_to_document(holding), session=session)

    async def get_holding(self, holding_id: str, session: Session | None = None) -> StoredHolding:
        document = await self.holdings.find_one({"_id": holding_id}, session=session)
        if document is None:
            raise holding_not_found(holding_id)
        return StoredHolding(
            holding_from_document(document), document.get("pending_purchase_id", "")
        )

    async def save_holding(
        self,
        session: Session,
        before: Holding,
        after: Holding,
        *,
        pending_purchase_id: str = "",
        expected_pending_purchase_id: str = "",
    ) -> None:
        """Store a holding's new state, if unchanged since read and reserved as expected."""
        document = holding_to_document(after)
        document["pending_purchase_id"] = pending_purchase_id
        result = await self.holdings.replace_one(
            {
                "_id": before.holding_id,
                "state": before.state.value,
                "pending_purchase_id": {"$in": [expected_pending_purchase_id]}
                if expected_pending_purchase_id
                else {"$in": ["", None]},
            },
            document,
            session=session,
        )
        assert result.matched_count == 1, f"holding {before.holding_id} changed underneath"

    async def list_holdings(
        self, investor_id: str, page_size: int, after: tuple[str, ...] | None
    ) -> list[StoredHolding]:
        """The investor's holdings, latest value date first."""
        query: Document = {"investor_id": investor_id}
        if after is not None:
            query = {"$and": [query, after_key("value_date", after[0], after[1], descending=True)]}
        cursor = (
            self.holdings.find(query)
            .sort([("value_date", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        return [
            StoredHolding(holding_from_document(d), d.get("pending_purchase_id", ""))
            async for d in cursor
        ]

    async def list_listings(
        self, product_id: str, today: date, page_size: int, after: str | None
    ) -> list[StoredHolding]:
        """Holdings offered for transfer, not reserved by a buyer nor due, in id order."""
        query: Document = {
            "state": HoldingState.LISTED.value,
            "pending_purchase_id": {"$in": ["", None]},
            "maturity_date": {"$gt": today.isoformat()},
        }
        if product_id:
            query["product_id"] = product_id
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self.holdings.find(query).sort("_id", ASCENDING).limit(page_size)
        return [StoredHolding(holding_from_document(d), "") async for d in cursor]

    async def holdings_due(self, business_date: date, limit: int) -> list[Holding]:
        """Unpaid holdings whose maturity date has come, not reserved by a buyer."""
        cursor = (
            self.holdings.find(
                {
                    "state": {"$in": [HoldingState.HELD.value, HoldingState.LISTED.value]},
                    "maturity_date": {"$lte": business_date.isoformat()},
                    "pending_purchase_id": {"$in": ["", None]},
                }
            )
            .sort([("maturity_date", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [holding_from_document(document) async for document in cursor]

    async def insert_reservation(self, session: Session, reservation: Reservation) -> None:
        await self.reservations.insert_one(reservation_to_document(reservation), session=session)

    async def get_reservation(
        self, reservation_id: str, session: Session | None = None
    ) -> Reservation:
        document = await self.reservations.find_one({"_id": reservation_id}, session=session)
        if document is None:
            raise NotFound(
                f"reservation {reservation_id} does not exist",
                metadata={"reservation_id": reservation_id},
            )
        return reservation_from_document(document)

    async def save_reservation(
        self, session: Session, before: Reservation, after: Reservation
    ) -> None:
        result = await self.reservations.replace_one(
            {
                "_id": before.reservation_id,
                "state": before.state.value,
                "filled_fen": before.filled_fen,
            },
            reservation_to_document(after),
            session=session,
        )
        assert result.matched_count == 1, f"reservation {before.reservation_id} changed"

    async def list_reservations(
        self, investor_id: str, page_size: int, after: tuple[str, ...] | None
    ) -> list[Reservation]:
        query: Document = {"investor_id": investor_id}
        if after is not None:
            created_at = datetime.fromisoformat(after[0])
            query = {
                "$and": [query, after_key("created_at", created_at, after[1], descending=True)]
            }
        cursor = (
            self.reservations.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        return [reservation_from_document(document) async for document in cursor]

    async def candidate_reservations(
        self, product: Product, now: datetime, limit: int, session: Session | None = None
    ) -> list[Reservation]:
        """Live reservations a product may match, in reservation order (the rule decides)."""
        cursor = (
            self.reservations.find(
                {
                    "state": ReservationState.ACTIVE.value,
                    "expires_at": {"$gt": now},
                    "created_at": {"$lte": now},
                    "term_days_max": {"$gte": product.term_days},
                    "annual_yield_min": {"$lte": to_decimal128(product.expected_annual_yield)},
                },
                session=session,
            )
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [reservation_from_document(document) async for document in cursor]

    async def reservations_expired(self, now: datetime, limit: int) -> list[Reservation]:
        cursor = (
            self.reservations.find(
                {"state": ReservationState.ACTIVE.value, "expires_at": {"$lte": now}}
            )
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [reservation_from_document(document) async for document in cursor]
