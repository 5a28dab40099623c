"""Ant Fortune (蚂蚁聚宝) funds: the catalog, NAV history, risk profiles, orders and each
investor's units per fund."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from chassis.errors import AlreadyExists, NotFound
from chassis.mongo import Document, Session
from services.wealth.fund_orders import FundOrder, FundOrderState
from services.wealth.marketplace import (
    NAV_LOOKBACK_DAYS_MAX,
    ONE_YEAR_DAYS,
    Fund,
    FundCategory,
    RiskProfile,
)
from services.wealth.store.collections import WealthCollections, after_key
from services.wealth.store.mapping import (
    from_decimal128,
    fund_from_document,
    hundredths_to_units,
    order_from_document,
    order_to_document,
    profile_from_document,
    to_decimal128,
    units_to_hundredths,
)
from services.wealth.unknown import fund_order_not_found


class FundsStore(WealthCollections):
    """The fund marketplace's documents."""

    async def insert_fund(self, session: Session | None, fund: Fund, now: datetime) -> None:
        try:
            await self.funds.insert_one(
                {
                    "_id": fund.fund_id,
                    "name": fund.name,
                    "category": fund.category.value,
                    "risk_level": int(fund.risk_level),
                    "created_at": now,
                },
                session=session,
            )
        except DuplicateKeyError:
            raise AlreadyExists(
                f"fund {fund.fund_id} already exists", metadata={"fund_id": fund.fund_id}
            ) from None

    async def fund_exists(self, fund_id: str) -> bool:
        return await self.funds.find_one({"_id": fund_id}, {"_id": 1}) is not None

    async def get_fund(self, fund_id: str, session: Session | None = None) -> Fund:
        document = await self.funds.find_one({"_id": fund_id}, session=session)
        if document is None:
            raise NotFound(f"fund {fund_id} does not exist", metadata={"fund_id": fund_id})
        return fund_from_document(document)

    async def list_funds(
        self, category: FundCategory | None, page_size: int | None, after: str | None
    ) -> list[Fund]:
        query: Document = {}
        if category is not None:
            query["category"] = category.value
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self.funds.find(query).sort("_id", ASCENDING)
        if page_size is not None:
            cursor = cursor.limit(page_size)
        return [fund_from_document(document) async for document in cursor]

    async def insert_nav(
        self, session: Session | None, fund_id: str, nav_date: date, nav_per_unit: Decimal
    ) -> Decimal | None:
        """Record a NAV; returns the NAV already published for that date instead, if any."""
        nav_id = f"{fund_id}:{nav_date.isoformat()}"
        existing = await self.fund_navs.find_one({"_id": nav_id}, session=session)
        if existing is not None:
            return from_decimal128(existing["nav_per_unit"])
        await self.fund_navs.insert_one(
            {
                "_id": nav_id,
                "fund_id": fund_id,
                "nav_date": nav_date.isoformat(),
                "nav_per_unit": to_decimal128(nav_per_unit),
            },
            session=session,
        )
        return None

    async def get_nav(
        self, fund_id: str, nav_date: date, session: Session | None = None
    ) -> Decimal | None:
        document = await self.fund_navs.find_one(
            {"_id": f"{fund_id}:{nav_date.isoformat()}"}, session=session
        )
        return from_decimal128(document["nav_per_unit"]) if document else None

    async def list_navs(
        self, fund_id: str, page_size: int, before_date: str | None
    ) -> list[tuple[date, Decimal]]:
        query: Document = {"fund_id": fund_id}
        if before_date is not None:
            query["nav_date"] = {"$lt": before_date}
        cursor = self.fund_navs.find(query).sort("nav_date", DESCENDING).limit(page_size)
        return [
            (date.fromisoformat(d["nav_date"]), from_decimal128(d["nav_per_unit"]))
            async for d in cursor
        ]

    async def navs_for_one_year_return(
        self, fund_ids: Sequence[str], as_of: date
    ) -> dict[str, dict[date, Decimal]]:
        """The NAVs the 1-year return reads: the last fortnight, and a year and a fortnight ago."""
        lookback = timedelta(days=NAV_LOOKBACK_DAYS_MAX)
        start_high = as_of - timedelta(days=ONE_YEAR_DAYS)
        windows = [
            {"nav_date": {"$gte": (as_of - lookback).isoformat(), "$lte": as_of.isoformat()}},
            {
                "nav_date": {
                    "$gte": (start_high - 2 * lookback).isoformat(),
                    "$lte": start_high.isoformat(),
                }
            },
        ]
        histories: dict[str, dict[date, Decimal]] = {fund_id: {} for fund_id in fund_ids}
        cursor = self.fund_navs.find({"fund_id": {"$in": list(fund_ids)}, "$or": windows})
        async for document in cursor:
            histories[document["fund_id"]][date.fromisoformat(document["nav_date"])] = (
                from_decimal128(document["nav_per_unit"])
            )
        return histories

    async def get_risk_profile(
        self, investor_id: str, session: Session | None = None
    ) -> RiskProfile | None:
        document = await self.risk_profiles.find_one({"_id": investor_id}, session=session)
        return profile_from_document(document) if document else None

    async def save_risk_profile(self, session: Session, profile: RiskProfile) -> None:
        await self.risk_profiles.replace_one(
            {"_id": profile.investor_id},
            {
                "_id": profile.investor_id,
                "score": profile.score,
                "level": int(profile.level),
                "assessed_at": profile.assessed_at,
                "expires_at": profile.expires_at,
            },
            upsert=True,
            session=session,
        )

    async def insert_order(self, session: Session, order: FundOrder) -> None:
        await self.fund_orders.insert_one(order_to_document(order), session=session)

    async def get_order(self, order_id: str, session: Session | None = None) -> FundOrder:
        document = await self.fund_orders.find_one({"_id": order_id}, session=session)
        if document is None:
            raise fund_order_not_found(order_id)
        return order_from_document(document)

    async def save_order(self, session: Session, before: FundOrder, after: FundOrder) -> None:
        result = await self.fund_orders.replace_one(
            {"_id": before.order_id, "state": before.state.value},
            order_to_document(after),
            session=session,
        )
        assert result.matched_count == 1, f"fund order {before.order_id} changed underneath"

    async def list_orders(
        self, investor_id: str, page_size: int, after: tuple[str, ...] | None
    ) -> list[FundOrder]:
        query: Document = {"investor_id": investor_id}
        if after is not None:
            placed_at = datetime.fromisoformat(after[0])
            query = {"$and": [query, after_key("placed_at", placed_at, after[1], descending=True)]}
        cursor = (
            self.fund_orders.find(query)
            .sort([("placed_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        return [order_from_document(document) async for document in cursor]

    async def orders_pending_nav(self, fund_id: str, nav_date: date, limit: int) -> list[FundOrder]:
        cursor = (
            self.fund_orders.find(
                {
                    "state": FundOrderState.PENDING_NAV.value,
                    "fund_id": fund_id,
                    "nav_date": nav_date.isoformat(),
                }
            )
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        return [order_from_document(document) async for document in cursor]

    async def pending_nav_dates(self, up_to: date, limit: int) -> list[tuple[str, date]]:
        """(fund, NAV date) pairs with orders waiting, NAV date on or before up_to."""
        pipeline: list[Document] = [
            {
                "$match": {
                    "state": FundOrderState.PENDING_NAV.value,
                    "nav_date": {"$lte": up_to.isoformat()},
                }
            },
            {"$group": {"_id": {"fund_id": "$fund_id", "nav_date": "$nav_date"}}},
            {"$sort": {"_id.nav_date": 1, "_id.fund_id": 1}},
            {"$limit": limit},
        ]
        return [
            (row["_id"]["fund_id"], date.fromisoformat(row["_id"]["nav_date"]))
            async for row in await self.fund_orders.aggregate(pipeline)
        ]

    async def position_units(
        self, investor_id: str, fund_id: str, session: Session | None = None
    ) -> Decimal:
        document = await self.fund_positions.find_one(
            {"_id": f"{investor_id}:{fund_id}"}, session=session
        )
        return hundredths_to_units(document["unit_hundredths"] if document else 0)

    async def add_units(
        self, session: Session, investor_id: str, fund_id: str, units: Decimal
    ) -> None:
        await self.fund_positions.update_one(
            {"_id": f"{investor_id}:{fund_id}"},
            {
                "$inc": {"unit_hundredths": units_to_hundredths(units)},
                "$setOnInsert": {"investor_id": investor_id, "fund_id": fund_id},
            },
            upsert=True,
            session=session,
        )

    async def take_units(
        self, session: Session, investor_id: str, fund_id: str, units: Decimal
    ) -> None:
        """Remove units being sold; guarded so a position never goes below zero."""
        hundredths = units_to_hundredths(units)
        result = await self.fund_positions.update_one(
            {"_id": f"{investor_id}:{fund_id}", "unit_hundredths": {"$gte": hundredths}},
            {"$inc": {"unit_hundredths": -hundredths}},
            session=session,
        )
        assert result.matched_count == 1, f"position {investor_id}:{fund_id} has too few units"

    async def list_positions(self, investor_id: str, limit: int) -> list[tuple[str, Decimal]]:
        cursor = (
            self.fund_positions.find({"investor_id": investor_id, "unit_hundredths": {"$gt": 0}})
            .sort("fund_id", ASCENDING)
            .limit(limit)
        )
        return [(d["fund_id"], hundredths_to_units(d["unit_hundredths"])) async for d in cursor]
