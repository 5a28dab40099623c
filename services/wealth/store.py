"""The wealth service's collections: the only module that knows documents and queries.

Collections in the service's own database:
  purchases           the wealth side of every purchase (purchases.py), tombstones included
  payouts             money the wealth accounts owe, until the gateway marks it paid
  yuebao_accounts     one document per Yu'e Bao holder: shares, income figures, fast usage
  yuebao_redemptions  redemptions (and tombstones of redemptions cancelled first)
  yuebao_income       one document per (holder, business date) paid: the exactly-once marker
                      of the daily income, written with the holder's share credit
  yuebao_income_runs  one document per business date: quote, progress cursor, totals
  yuebao_fund         the fund: portfolio (data) and the residue carried from run to run
  products            Zhaocaibao products; sold_fen only moves by guarded $inc
  holdings            Zhaocaibao holdings
  reservations        Zhaocaibao reservations
  funds, fund_navs    the marketplace's funds and their NAV history
  fund_orders         buy and sell orders
  fund_positions      units per (investor, fund), in hundredths of a unit
  risk_profiles       one per investor
  idempotency         idempotency records (chassis.idempotency)
  outbox              domain events (chassis.outbox)

Dates are stored as ISO strings (they sort), decimals as Decimal128, units as integer
hundredths (so a sale can be a guarded $inc).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chassis.errors import AlreadyExists, InvalidArgument, NotFound
from chassis.mongo import Document, Session
from services.wealth.fixed_term import (
    Holding,
    HoldingState,
    Product,
    ProductState,
    Reservation,
    ReservationPurchase,
    ReservationState,
)
from services.wealth.fund_orders import FundOrder, FundOrderState, OrderSide
from services.wealth.marketplace import (
    NAV_LOOKBACK_DAYS_MAX,
    ONE_YEAR_DAYS,
    UNITS_QUANTUM,
    Fund,
    FundCategory,
    InvestorLevel,
    RiskLevel,
    RiskProfile,
)
from services.wealth.payouts import Payout, PayoutKind, PayoutSettlement, PayoutState
from services.wealth.purchases import Purchase, PurchaseKind, PurchaseState
from services.wealth.yuebao import Allocation, AssetClass, Portfolio
from services.wealth.yuebao_accounts import (
    Redemption,
    RedemptionMode,
    RedemptionState,
    YuebaoAccount,
)

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
YUEBAO_FUND_ID = "yuebao"
RECENT_QUOTES_MAX = 7


def _decimal(value: Decimal) -> Decimal128:
    return Decimal128(value)


def _from_decimal(value: Any) -> Decimal:
    return value.to_decimal() if isinstance(value, Decimal128) else Decimal(value)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def units_to_hundredths(units: Decimal) -> int:
    """0.01-unit steps of a unit count kept to 2 decimals (exact)."""
    hundredths = units / UNITS_QUANTUM
    if hundredths != hundredths.to_integral_value():
        raise AssertionError(f"units {units} have more than 2 decimals")
    return int(hundredths)


def hundredths_to_units(hundredths: int) -> Decimal:
    return Decimal(hundredths) * UNITS_QUANTUM


# --- page tokens ---------------------------------------------------------------------------


def encode_page_token(*cursor: str) -> str:
    """An opaque token for the position after the last item returned."""
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode()


def decode_page_token(token: str, parts: int) -> tuple[str, ...] | None:
    """The cursor of a token (None for the first page); refuses a forged one."""
    if not token:
        return None
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        cursor = None
    if not isinstance(cursor, list) or len(cursor) != parts:
        raise InvalidArgument("page_token is not valid", reason="INVALID_PAGE_TOKEN")
    if not all(isinstance(part, str) for part in cursor):
        raise InvalidArgument("page_token is not valid", reason="INVALID_PAGE_TOKEN")
    return tuple(cursor)


def _after(field: str, value: Any, item_id: str, descending: bool) -> Document:
    """The keyset filter for items after (value, item_id) in (field, _id) order."""
    compare = "$lt" if descending else "$gt"
    return {"$or": [{field: {compare: value}}, {field: value, "_id": {compare: item_id}}]}


# --- documents ⇄ domain ----------------------------------------------------------------------


def _purchase_from_document(document: Document) -> Purchase:
    return Purchase(
        purchase_id=document["_id"],
        kind=PurchaseKind(document["kind"]),
        investor_id=document["investor_id"],
        amount_fen=document["amount_fen"],
        credit_account_id=document["credit_account_id"],
        created_at=document["created_at"],
        business_date=_day(document.get("business_date")),
        state=PurchaseState(document["state"]),
        product_id=document.get("product_id", ""),
        holding_id=document.get("holding_id", ""),
        fund_order_id=document.get("fund_order_id", ""),
        reservation_id=document.get("reservation_id", ""),
        closed_at=document.get("closed_at"),
        payment_posting_id=document.get("payment_posting_id", ""),
        cancelled_before_tried=document.get("cancelled_before_tried", False),
    )


def _purchase_to_document(purchase: Purchase) -> Document:
    return {
        "_id": purchase.purchase_id,
        "kind": purchase.kind.value,
        "investor_id": purchase.investor_id,
        "amount_fen": purchase.amount_fen,
        "credit_account_id": purchase.credit_account_id,
        "created_at": purchase.created_at,
        "business_date": _iso(purchase.business_date),
        "state": purchase.state.value,
        "product_id": purchase.product_id,
        "holding_id": purchase.holding_id,
        "fund_order_id": purchase.fund_order_id,
        "reservation_id": purchase.reservation_id,
        "closed_at": purchase.closed_at,
        "payment_posting_id": purchase.payment_posting_id,
        "cancelled_before_tried": purchase.cancelled_before_tried,
    }


def _payout_from_document(document: Document) -> Payout:
    return Payout(
        payout_id=document["_id"],
        kind=PayoutKind(document["kind"]),
        from_account_id=document["from_account_id"],
        to_account_id=document["to_account_id"],
        amount_fen=document["amount_fen"],
        due_on=date.fromisoformat(document["due_on"]),
        settlement=PayoutSettlement(document["settlement"]),
        investor_id=document.get("investor_id", ""),
        reference=document.get("reference", ""),
        created_at=document["created_at"],
        state=PayoutState(document["state"]),
        paid_at=document.get("paid_at"),
        payment_posting_id=document.get("payment_posting_id", ""),
    )


def _payout_to_document(payout: Payout) -> Document:
    return {
        "_id": payout.payout_id,
        "kind": payout.kind.value,
        "from_account_id": payout.from_account_id,
        "to_account_id": payout.to_account_id,
        "amount_fen": payout.amount_fen,
        "due_on": payout.due_on.isoformat(),
        "settlement": payout.settlement.value,
        "investor_id": payout.investor_id,
        "reference": payout.reference,
        "created_at": payout.created_at,
        "state": payout.state.value,
        "paid_at": payout.paid_at,
        "payment_posting_id": payout.payment_posting_id,
    }


def _yuebao_account_from_document(document: Document) -> YuebaoAccount:
    return YuebaoAccount(
        investor_id=document["_id"],
        shares_fen=document.get("shares_fen", 0),
        cumulative_income_fen=document.get("cumulative_income_fen", 0),
        last_income_fen=document.get("last_income_fen", 0),
        last_income_date=_day(document.get("last_income_date")),
        fast_redeemed_on=_day(document.get("fast_redeemed_on")),
        fast_redeemed_fen=document.get("fast_redeemed_fen", 0),
        moved_on=_day(document.get("moved_on")),
        subscribed_on_date_fen=document.get("subscribed_on_date_fen", 0),
        redeemed_on_date_fen=document.get("redeemed_on_date_fen", 0),
    )


def _redemption_from_document(document: Document) -> Redemption:
    return Redemption(
        redemption_id=document["_id"],
        investor_id=document["investor_id"],
        amount_fen=document["amount_fen"],
        fast_fen=document["fast_fen"],
        normal_fen=document["normal_fen"],
        business_date=date.fromisoformat(document["business_date"]),
        settles_on=date.fromisoformat(document["settles_on"]),
        created_at=document["created_at"],
        mode=RedemptionMode(document["mode"]),
        state=RedemptionState(document["state"]),
        cancelled_before_created=document.get("cancelled_before_created", False),
    )


def _redemption_to_document(redemption: Redemption) -> Document:
    return {
        "_id": redemption.redemption_id,
        "investor_id": redemption.investor_id,
        "amount_fen": redemption.amount_fen,
        "fast_fen": redemption.fast_fen,
        "normal_fen": redemption.normal_fen,
        "business_date": redemption.business_date.isoformat(),
        "settles_on": redemption.settles_on.isoformat(),
        "created_at": redemption.created_at,
        "mode": redemption.mode.value,
        "state": redemption.state.value,
        "cancelled_before_created": redemption.cancelled_before_created,
    }


def _portfolio_to_document(portfolio: Portfolio) -> list[Document]:
    return [
        {
            "asset_class": allocation.asset_class.value,
            "weight": _decimal(allocation.weight),
            "annual_rate": _decimal(allocation.annual_rate),
        }
        for allocation in portfolio.allocations
    ]


def _portfolio_from_document(allocations: list[Document]) -> Portfolio:
    return Portfolio(
        allocations=tuple(
            Allocation(
                AssetClass(allocation["asset_class"]),
                _from_decimal(allocation["weight"]),
                _from_decimal(allocation["annual_rate"]),
            )
            for allocation in allocations
        )
    )


def _product_from_document(document: Document) -> Product:
    return Product(
        product_id=document["_id"],
        issuer=document["issuer"],
        insurer=document["insurer"],
        term_days=document["term_days"],
        expected_annual_yield=_from_decimal(document["expected_annual_yield"]),
        amount_fen_min=document["amount_fen_min"],
        quota_fen=document["quota_fen"],
        sale_starts_at=document["sale_starts_at"],
        sale_ends_at=document["sale_ends_at"],
        state=ProductState(document["state"]),
        sold_fen=document["sold_fen"],
    )


def _product_to_document(product: Product, created_at: datetime) -> Document:
    return {
        "_id": product.product_id,
        "issuer": product.issuer,
        "insurer": product.insurer,
        "term_days": product.term_days,
        "expected_annual_yield": _decimal(product.expected_annual_yield),
        "amount_fen_min": product.amount_fen_min,
        "quota_fen": product.quota_fen,
        "sale_starts_at": product.sale_starts_at,
        "sale_ends_at": product.sale_ends_at,
        "state": product.state.value,
        "sold_fen": product.sold_fen,
        "created_at": created_at,
    }


def _holding_from_document(document: Document) -> Holding:
    return Holding(
        holding_id=document["_id"],
        product_id=document["product_id"],
        holder_id=document["investor_id"],
        principal_fen=document["principal_fen"],
        annual_yield=_from_decimal(document["annual_yield"]),
        term_days=document["term_days"],
        value_date=date.fromisoformat(document["value_date"]),
        maturity_date=date.fromisoformat(document["maturity_date"]),
        cost_fen=document["cost_fen"],
        state=HoldingState(document["state"]),
        listing_price_fen=document.get("listing_price_fen", 0),
        listed_on=_day(document.get("listed_on")),
        acquired_from_holding_id=document.get("acquired_from_holding_id", ""),
    )


def _holding_to_document(holding: Holding) -> Document:
    return {
        "_id": holding.holding_id,
        "product_id": holding.product_id,
        "investor_id": holding.holder_id,
        "principal_fen": holding.principal_fen,
        "annual_yield": _decimal(holding.annual_yield),
        "term_days": holding.term_days,
        "value_date": holding.value_date.isoformat(),
        "maturity_date": holding.maturity_date.isoformat(),
        "cost_fen": holding.cost_fen,
        "state": holding.state.value,
        "listing_price_fen": holding.listing_price_fen,
        "listed_on": _iso(holding.listed_on),
        "acquired_from_holding_id": holding.acquired_from_holding_id,
    }


@dataclass(frozen=True, slots=True)
class StoredHolding:
    """A holding and the buyer's purchase reserving its listing ("" if none)."""

    holding: Holding
    pending_purchase_id: str


def _reservation_from_document(document: Document) -> Reservation:
    return Reservation(
        reservation_id=document["_id"],
        investor_id=document["investor_id"],
        amount_fen=document["amount_fen"],
        annual_yield_min=_from_decimal(document["annual_yield_min"]),
        term_days_max=document["term_days_max"],
        created_at=document["created_at"],
        expires_at=document["expires_at"],
        state=ReservationState(document["state"]),
        filled_fen=document["filled_fen"],
        purchases=tuple(
            ReservationPurchase(p["product_id"], p["amount_fen"], p["purchased_at"])
            for p in document.get("purchases", [])
        ),
    )


def _reservation_to_document(reservation: Reservation) -> Document:
    return {
        "_id": reservation.reservation_id,
        "investor_id": reservation.investor_id,
        "amount_fen": reservation.amount_fen,
        "annual_yield_min": _decimal(reservation.annual_yield_min),
        "term_days_max": reservation.term_days_max,
        "created_at": reservation.created_at,
        "expires_at": reservation.expires_at,
        "state": reservation.state.value,
        "filled_fen": reservation.filled_fen,
        "purchases": [
            {
                "product_id": p.product_id,
                "amount_fen": p.amount_fen,
                "purchased_at": p.purchased_at,
            }
            for p in reservation.purchases
        ],
    }


def _fund_from_document(document: Document) -> Fund:
    return Fund(
        fund_id=document["_id"],
        name=document["name"],
        category=FundCategory(document["category"]),
        risk_level=RiskLevel(document["risk_level"]),
    )


def _order_from_document(document: Document) -> FundOrder:
    nav = document.get("nav_per_unit")
    return FundOrder(
        order_id=document["_id"],
        investor_id=document["investor_id"],
        fund_id=document["fund_id"],
        side=OrderSide(document["side"]),
        state=FundOrderState(document["state"]),
        placed_at=document["placed_at"],
        nav_date=date.fromisoformat(document["nav_date"]),
        amount_fen=document.get("amount_fen", 0),
        units=hundredths_to_units(document.get("unit_hundredths", 0)),
        risk_acknowledged=document.get("risk_acknowledged", False),
        nav_per_unit=_from_decimal(nav) if nav is not None else None,
        priced_at=document.get("priced_at"),
        residue_fen=_from_decimal(document.get("residue_fen", Decimal128("0"))),
        payout_id=document.get("payout_id", ""),
    )


def _order_to_document(order: FundOrder) -> Document:
    return {
        "_id": order.order_id,
        "investor_id": order.investor_id,
        "fund_id": order.fund_id,
        "side": order.side.value,
        "state": order.state.value,
        "placed_at": order.placed_at,
        "nav_date": order.nav_date.isoformat(),
        "amount_fen": order.amount_fen,
        "unit_hundredths": units_to_hundredths(order.units),
        "risk_acknowledged": order.risk_acknowledged,
        "nav_per_unit": _decimal(order.nav_per_unit) if order.nav_per_unit is not None else None,
        "priced_at": order.priced_at,
        "residue_fen": _decimal(order.residue_fen),
        "payout_id": order.payout_id,
    }


def _profile_from_document(document: Document) -> RiskProfile:
    return RiskProfile(
        investor_id=document["_id"],
        score=document["score"],
        level=InvestorLevel(document["level"]),
        assessed_at=document["assessed_at"],
        expires_at=document["expires_at"],
    )


@dataclass(frozen=True, slots=True)
class IncomeRun:
    """The progress of one business date's income distribution."""

    business_date: date
    completed: bool
    income_per_10k_yuan: Decimal
    cursor: str
    holders_paid: int
    credited_fen: int
    residue_added_fen: Decimal
    started_at: datetime
    completed_at: datetime | None
    payout_id: str


def _income_run_from_document(document: Document) -> IncomeRun:
    return IncomeRun(
        business_date=date.fromisoformat(document["_id"]),
        completed=document["state"] == "completed",
        income_per_10k_yuan=_from_decimal(document["income_per_10k_yuan"]),
        cursor=document["cursor"],
        holders_paid=document["holders_paid"],
        credited_fen=document["credited_fen"],
        residue_added_fen=_from_decimal(document["residue_added_fen"]),
        started_at=document["started_at"],
        completed_at=document.get("completed_at"),
        payout_id=document.get("payout_id", ""),
    )


@dataclass(frozen=True, slots=True)
class IncomeRecord:
    """One holder's income for one business date."""

    investor_id: str
    business_date: date
    income_fen: int
    shares_before_fen: int
    income_per_10k_yuan: Decimal
    cumulative_income_fen: int


def _income_from_document(document: Document) -> IncomeRecord:
    return IncomeRecord(
        investor_id=document["investor_id"],
        business_date=date.fromisoformat(document["business_date"]),
        income_fen=document["income_fen"],
        shares_before_fen=document["shares_before_fen"],
        income_per_10k_yuan=_from_decimal(document["income_per_10k_yuan"]),
        cumulative_income_fen=document["cumulative_income_fen"],
    )


async def _sum(collection: Any, match: Document, field: str, session: Session | None = None) -> int:
    pipeline: list[Document] = [
        {"$match": match},
        {"$group": {"_id": None, "total": {"$sum": f"${field}"}}},
    ]
    rows = [row async for row in await collection.aggregate(pipeline, session=session)]
    return int(rows[0]["total"]) if rows else 0


class WealthStore:
    """Reads and writes the wealth service's documents; every write takes the caller's session."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.database = database
        self.purchases = database["purchases"]
        self.payouts = database["payouts"]
        self.yuebao_accounts = database["yuebao_accounts"]
        self.yuebao_redemptions = database["yuebao_redemptions"]
        self.yuebao_income = database["yuebao_income"]
        self.yuebao_income_runs = database["yuebao_income_runs"]
        self.yuebao_fund = database["yuebao_fund"]
        self.products = database["products"]
        self.holdings = database["holdings"]
        self.reservations = database["reservations"]
        self.funds = database["funds"]
        self.fund_navs = database["fund_navs"]
        self.fund_orders = database["fund_orders"]
        self.fund_positions = database["fund_positions"]
        self.risk_profiles = database["risk_profiles"]
        self.idempotency = database["idempotency"]
        self.outbox = database["outbox"]

    async def ensure_indexes(self) -> None:
        """Create the indexes the queries below rely on (idempotent)."""
        await self.purchases.create_indexes(
            [
                IndexModel([("investor_id", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("kind", ASCENDING), ("state", ASCENDING)]),
            ]
        )
        await self.payouts.create_indexes(
            [
                IndexModel(
                    [
                        ("settlement", ASCENDING),
                        ("state", ASCENDING),
                        ("due_on", ASCENDING),
                        ("_id", ASCENDING),
                    ]
                ),
                IndexModel([("from_account_id", ASCENDING), ("state", ASCENDING)]),
                IndexModel([("to_account_id", ASCENDING), ("state", ASCENDING)]),
            ]
        )
        await self.yuebao_income.create_index(
            [("investor_id", ASCENDING), ("business_date", DESCENDING)]
        )
        await self.yuebao_income_runs.create_index([("state", ASCENDING), ("_id", DESCENDING)])
        await self.products.create_index([("created_at", DESCENDING), ("_id", DESCENDING)])
        await self.holdings.create_indexes(
            [
                IndexModel([("investor_id", ASCENDING), ("value_date", DESCENDING)]),
                IndexModel([("state", ASCENDING), ("maturity_date", ASCENDING)]),
                IndexModel([("state", ASCENDING), ("product_id", ASCENDING)]),
            ]
        )
        await self.reservations.create_indexes(
            [
                IndexModel([("state", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)]),
                IndexModel([("investor_id", ASCENDING), ("created_at", DESCENDING)]),
            ]
        )
        await self.fund_navs.create_index([("fund_id", ASCENDING), ("nav_date", DESCENDING)])
        await self.fund_orders.create_indexes(
            [
                IndexModel([("investor_id", ASCENDING), ("placed_at", DESCENDING)]),
                IndexModel([("state", ASCENDING), ("fund_id", ASCENDING), ("nav_date", ASCENDING)]),
            ]
        )
        await self.fund_positions.create_index("investor_id")

    # --- purchases -----------------------------------------------------------------------------

    async def get_purchase(
        self, purchase_id: str, session: Session | None = None
    ) -> Purchase | None:
        document = await self.purchases.find_one({"_id": purchase_id}, session=session)
        return _purchase_from_document(document) if document else None

    async def purchase_planned_holding(self, purchase_id: str, session: Session) -> Holding:
        """The holding a product subscription's try planned (inserted at confirm)."""
        document = await self.purchases.find_one(
            {"_id": purchase_id}, {"planned_holding": 1}, session=session
        )
        assert document and document.get("planned_holding"), f"{purchase_id} planned no holding"
        return _holding_from_document(document["planned_holding"])

    async def insert_purchase(
        self, session: Session, purchase: Purchase, planned_holding: Holding | None = None
    ) -> None:
        document = _purchase_to_document(purchase)
        if planned_holding is not None:
            document["planned_holding"] = _holding_to_document(planned_holding)
        await self.purchases.insert_one(document, session=session)

    async def save_purchase(self, session: Session, before: Purchase, after: Purchase) -> None:
        """Store a purchase's new state, if nobody changed it since `before` was read."""
        result = await self.purchases.update_one(
            {"_id": before.purchase_id, "state": before.state.value},
            {
                "$set": {
                    "state": after.state.value,
                    "closed_at": after.closed_at,
                    "payment_posting_id": after.payment_posting_id,
                    "fund_order_id": after.fund_order_id,
                }
            },
            session=session,
        )
        assert result.matched_count == 1, f"purchase {before.purchase_id} changed underneath"

    async def pending_purchases_fen(
        self,
        kinds: Iterable[PurchaseKind],
        investor_id: str | None = None,
        session: Session | None = None,
    ) -> int:
        """What purchases of these kinds (of one investor) are tried and not yet closed."""
        match: Document = {
            "state": PurchaseState.PENDING.value,
            "kind": {"$in": [kind.value for kind in kinds]},
        }
        if investor_id is not None:
            match["investor_id"] = investor_id
        return await _sum(self.purchases, match, "amount_fen", session)

    # --- payouts -------------------------------------------------------------------------------

    async def insert_payouts(self, session: Session, payouts: Iterable[Payout]) -> None:
        documents = [_payout_to_document(payout) for payout in payouts]
        if documents:
            await self.payouts.insert_many(documents, session=session)

    async def get_payout(self, payout_id: str, session: Session | None = None) -> Payout:
        document = await self.payouts.find_one({"_id": payout_id}, session=session)
        if document is None:
            raise NotFound(f"payout {payout_id} does not exist", metadata={"payout_id": payout_id})
        return _payout_from_document(document)

    async def get_payouts(
        self, payout_ids: Sequence[str], session: Session | None = None
    ) -> tuple[Payout, ...]:
        """The payouts among these ids that exist, in the order given."""
        cursor = self.payouts.find({"_id": {"$in": list(payout_ids)}}, session=session)
        found = {document["_id"]: _payout_from_document(document) async for document in cursor}
        return tuple(found[payout_id] for payout_id in payout_ids if payout_id in found)

    async def save_payout(self, session: Session, before: Payout, after: Payout) -> None:
        result = await self.payouts.update_one(
            {"_id": before.payout_id, "state": before.state.value},
            {
                "$set": {
                    "state": after.state.value,
                    "paid_at": after.paid_at,
                    "payment_posting_id": after.payment_posting_id,
                }
            },
            session=session,
        )
        assert result.matched_count == 1, f"payout {before.payout_id} changed underneath"

    async def list_due_payouts(
        self, business_date: date, page_size: int, after: tuple[str, ...] | None
    ) -> list[Payout]:
        """SCHEDULED unpaid payouts due on or before business_date, oldest first."""
        query: Document = {
            "settlement": PayoutSettlement.SCHEDULED.value,
            "state": PayoutState.DUE.value,
            "due_on": {"$lte": business_date.isoformat()},
        }
        if after is not None:
            query = {"$and": [query, _after("due_on", after[0], after[1], descending=False)]}
        cursor = (
            self.payouts.find(query)
            .sort([("due_on", ASCENDING), ("_id", ASCENDING)])
            .limit(page_size)
        )
        return [_payout_from_document(document) async for document in cursor]

    # --- Yu'e Bao ------------------------------------------------------------------------------

    async def get_yuebao_account(
        self, investor_id: str, session: Session | None = None
    ) -> YuebaoAccount:
        """The holder's account (an empty one if the investor never held shares)."""
        document = await self.yuebao_accounts.find_one({"_id": investor_id}, session=session)
        return _yuebao_account_from_document(document or {"_id": investor_id})

    async def save_yuebao_account(
        self, session: Session, before: YuebaoAccount, after: YuebaoAccount, now: datetime
    ) -> None:
        """Store a holder's shares and counters, guarded on the shares read (opened if new)."""
        result = await self.yuebao_accounts.update_one(
            {"_id": before.investor_id, "shares_fen": before.shares_fen},
            {
                "$set": {
                    "shares_fen": after.shares_fen,
                    "fast_redeemed_on": _iso(after.fast_redeemed_on),
                    "fast_redeemed_fen": after.fast_redeemed_fen,
                    "moved_on": _iso(after.moved_on),
                    "subscribed_on_date_fen": after.subscribed_on_date_fen,
                    "redeemed_on_date_fen": after.redeemed_on_date_fen,
                },
                "$setOnInsert": {"opened_at": now},
            },
            # A first subscription opens the account; read in this transaction as empty, a
            # concurrent opening conflicts (and retries) rather than inserting twice.
            upsert=before.shares_fen == 0,
            session=session,
        )
        assert result.matched_count == 1 or result.upserted_id is not None, (
            f"Yu'e Bao account {before.investor_id} changed underneath"
        )

    async def get_redemption(
        self, redemption_id: str, session: Session | None = None
    ) -> Redemption | None:
        document = await self.yuebao_redemptions.find_one({"_id": redemption_id}, session=session)
        return _redemption_from_document(document) if document else None

    async def insert_redemption(self, session: Session, redemption: Redemption) -> None:
        await self.yuebao_redemptions.insert_one(
            _redemption_to_document(redemption), session=session
        )

    async def save_redemption(
        self, session: Session, before: Redemption, after: Redemption
    ) -> None:
        result = await self.yuebao_redemptions.update_one(
            {"_id": before.redemption_id, "state": before.state.value},
            {"$set": {"state": after.state.value}},
            session=session,
        )
        assert result.matched_count == 1, f"redemption {before.redemption_id} changed underneath"

    async def ensure_yuebao_fund(self, portfolio: Portfolio, now: datetime) -> None:
        """Seed the fund's portfolio (data) and a zero residue, once."""
        await self.yuebao_fund.update_one(
            {"_id": YUEBAO_FUND_ID},
            {
                "$setOnInsert": {
                    "allocations": _portfolio_to_document(portfolio),
                    "residue_fen": Decimal128("0"),
                    "updated_at": now,
                }
            },
            upsert=True,
        )

    async def get_yuebao_fund(self, session: Session | None = None) -> tuple[Portfolio, Decimal]:
        """The portfolio and the residue carried (fractions of a fen not yet paid)."""
        document = await self.yuebao_fund.find_one({"_id": YUEBAO_FUND_ID}, session=session)
        assert document is not None, "the Yu'e Bao fund document is seeded at start-up"
        return (
            _portfolio_from_document(document["allocations"]),
            _from_decimal(document["residue_fen"]),
        )

    async def set_portfolio(self, session: Session, portfolio: Portfolio, now: datetime) -> None:
        await self.yuebao_fund.update_one(
            {"_id": YUEBAO_FUND_ID},
            {"$set": {"allocations": _portfolio_to_document(portfolio), "updated_at": now}},
            session=session,
        )

    async def set_residue(
        self, session: Session, carried_fen: Decimal, residue_fen: Decimal
    ) -> None:
        """Replace the carried residue, guarded on the value the distribution started from."""
        result = await self.yuebao_fund.update_one(
            {"_id": YUEBAO_FUND_ID, "residue_fen": _decimal(carried_fen)},
            {"$set": {"residue_fen": _decimal(residue_fen)}},
            session=session,
        )
        assert result.matched_count == 1, "the Yu'e Bao residue changed under a distribution"

    async def claim_income_date(self, session: Session, business_date: date) -> bool:
        """Record business_date as the latest date whose income has started; False if a
        later date already has (runs start in date order)."""
        result = await self.yuebao_fund.update_one(
            {
                "_id": YUEBAO_FUND_ID,
                "$or": [
                    {"latest_income_date": {"$lt": business_date.isoformat()}},
                    {"latest_income_date": None},
                ],
            },
            {"$set": {"latest_income_date": business_date.isoformat()}},
            session=session,
        )
        return result.matched_count == 1

    async def get_income_run(
        self, business_date: date, session: Session | None = None
    ) -> IncomeRun | None:
        document = await self.yuebao_income_runs.find_one(
            {"_id": business_date.isoformat()}, session=session
        )
        return _income_run_from_document(document) if document else None

    async def insert_income_run(
        self, session: Session, business_date: date, income_per_10k_yuan: Decimal, now: datetime
    ) -> None:
        await self.yuebao_income_runs.insert_one(
            {
                "_id": business_date.isoformat(),
                "state": "running",
                "income_per_10k_yuan": _decimal(income_per_10k_yuan),
                "cursor": "",
                "holders_paid": 0,
                "credited_fen": 0,
                "residue_added_fen": Decimal128("0"),
                "started_at": now,
            },
            session=session,
        )

    async def advance_income_run(
        self,
        session: Session,
        run: IncomeRun,
        *,
        cursor: str,
        holders_paid: int,
        credited_fen: int,
        residue_added_fen: Decimal,
    ) -> None:
        """Move a running date's checkpoint past one page, guarded on the cursor read."""
        result = await self.yuebao_income_runs.update_one(
            {"_id": run.business_date.isoformat(), "state": "running", "cursor": run.cursor},
            {
                "$set": {
                    "cursor": cursor,
                    "residue_added_fen": _decimal(run.residue_added_fen + residue_added_fen),
                },
                "$inc": {"holders_paid": holders_paid, "credited_fen": credited_fen},
            },
            session=session,
        )
        assert result.matched_count == 1, f"income run {run.business_date} moved underneath"

    async def complete_income_run(
        self, session: Session, run: IncomeRun, payout_id: str, now: datetime
    ) -> None:
        result = await self.yuebao_income_runs.update_one(
            {"_id": run.business_date.isoformat(), "state": "running", "cursor": run.cursor},
            {"$set": {"state": "completed", "completed_at": now, "payout_id": payout_id}},
            session=session,
        )
        assert result.matched_count == 1, f"income run {run.business_date} moved underneath"

    async def recent_quotes(self, limit: int = RECENT_QUOTES_MAX) -> list[tuple[date, Decimal]]:
        """The income per 10,000 shares of the last completed dates, newest first."""
        cursor = (
            self.yuebao_income_runs.find({"state": "completed"}, {"income_per_10k_yuan": 1})
            .sort("_id", DESCENDING)
            .limit(limit)
        )
        return [
            (date.fromisoformat(document["_id"]), _from_decimal(document["income_per_10k_yuan"]))
            async for document in cursor
        ]

    async def holders_after(
        self, business_date: date, cursor: str, limit: int, session: Session
    ) -> list[YuebaoAccount]:
        """The next holders of business_date in id order after cursor (the income job's page).

        Those with shares, and those who have none now but redeemed after the date ended
        (they held shares on it).
        """
        found = (
            self.yuebao_accounts.find(
                {
                    "_id": {"$gt": cursor},
                    "$or": [
                        {"shares_fen": {"$gt": 0}},
                        {
                            "moved_on": {"$gt": business_date.isoformat()},
                            "redeemed_on_date_fen": {"$gt": 0},
                        },
                    ],
                },
                session=session,
            )
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        return [_yuebao_account_from_document(document) async for document in found]

    async def credit_income(
        self,
        session: Session,
        credits: Sequence[tuple[YuebaoAccount, YuebaoAccount, int]],
        business_date: date,
        income_per_10k_yuan: Decimal,
        now: datetime,
    ) -> None:
        """Credit each holder's income as shares and write its per-date marker, together.

        credits are (account before, account after, the shares the income was paid on).
        The marker's _id is (holder, date): a second credit for the same date cannot commit.
        """
        if not credits:
            return
        day = business_date.isoformat()
        await self.yuebao_income.insert_many(
            [
                {
                    "_id": f"{before.investor_id}:{day}",
                    "investor_id": before.investor_id,
                    "business_date": day,
                    "income_fen": after.cumulative_income_fen - before.cumulative_income_fen,
                    "shares_before_fen": base_fen,
                    "income_per_10k_yuan": _decimal(income_per_10k_yuan),
                    "cumulative_income_fen": after.cumulative_income_fen,
                    "credited_at": now,
                }
                for before, after, base_fen in credits
            ],
            session=session,
        )
        result = await self.yuebao_accounts.bulk_write(
            [
                UpdateOne(
                    {"_id": before.investor_id, "shares_fen": before.shares_fen},
                    {
                        "$set": {
                            "shares_fen": after.shares_fen,
                            "cumulative_income_fen": after.cumulative_income_fen,
                            "last_income_fen": after.last_income_fen,
                            "last_income_date": _iso(after.last_income_date),
                        }
                    },
                )
                for before, after, _ in credits
            ],
            ordered=True,
            session=session,
        )
        assert result.matched_count == len(credits), "a holder changed under the income page"

    async def list_income(
        self, investor_id: str, page_size: int, before_date: str | None
    ) -> list[IncomeRecord]:
        query: Document = {"investor_id": investor_id}
        if before_date is not None:
            query["business_date"] = {"$lt": before_date}
        cursor = self.yuebao_income.find(query).sort("business_date", DESCENDING).limit(page_size)
        return [_income_from_document(document) async for document in cursor]

    async def shares_outstanding_fen(self) -> int:
        return await _sum(self.yuebao_accounts, {}, "shares_fen")

    # --- Zhaocaibao: products ---------------------------------------------------------------------

    async def insert_product(
        self, session: Session | None, product: Product, now: datetime
    ) -> None:
        try:
            await self.products.insert_one(_product_to_document(product, now), session=session)
        except DuplicateKeyError:
            raise AlreadyExists(
                f"product {product.product_id} already exists",
                metadata={"product_id": product.product_id},
            ) from None

    async def get_product(self, product_id: str, session: Session | None = None) -> Product:
        document = await self.products.find_one({"_id": product_id}, session=session)
        if document is None:
            raise NotFound(
                f"product {product_id} does not exist", metadata={"product_id": product_id}
            )
        return _product_from_document(document)

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
            query = {"$and": [query, _after("created_at", created_at, after[1], descending=True)]}
        cursor = (
            self.products.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        return [_product_from_document(document) async for document in cursor]

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
        return _product_from_document(document) if document else None

    async def release_quota(self, session: Session, product_id: str, amount_fen: int) -> None:
        """Give back quota taken by a cancelled purchase."""
        result = await self.products.update_one(
            {"_id": product_id, "sold_fen": {"$gte": amount_fen}},
            {"$inc": {"sold_fen": -amount_fen}},
            session=session,
        )
        assert result.matched_count == 1, f"product {product_id} sold less than it gives back"

    # --- Zhaocaibao: holdings --------------------------------------------------------------------

    async def insert_holding(self, session: Session, holding: Holding) -> None:
        await self.holdings.insert_one(_holding_to_document(holding), session=session)

    async def get_holding(self, holding_id: str, session: Session | None = None) -> StoredHolding:
        document = await self.holdings.find_one({"_id": holding_id}, session=session)
        if document is None:
            raise NotFound(
                f"holding {holding_id} does not exist", metadata={"holding_id": holding_id}
            )
        return StoredHolding(
            _holding_from_document(document), document.get("pending_purchase_id", "")
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
        document = _holding_to_document(after)
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
            query = {"$and": [query, _after("value_date", after[0], after[1], descending=True)]}
        cursor = (
            self.holdings.find(query)
            .sort([("value_date", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        return [
            StoredHolding(_holding_from_document(d), d.get("pending_purchase_id", ""))
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
        return [StoredHolding(_holding_from_document(d), "") async for d in cursor]

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
        return [_holding_from_document(document) async for document in cursor]

    # --- Zhaocaibao: reservations ----------------------------------------------------------------

    async def insert_reservation(self, session: Session, reservation: Reservation) -> None:
        await self.reservations.insert_one(_reservation_to_document(reservation), session=session)

    async def get_reservation(
        self, reservation_id: str, session: Session | None = None
    ) -> Reservation:
        document = await self.reservations.find_one({"_id": reservation_id}, session=session)
        if document is None:
            raise NotFound(
                f"reservation {reservation_id} does not exist",
                metadata={"reservation_id": reservation_id},
            )
        return _reservation_from_document(document)

    async def save_reservation(
        self, session: Session, before: Reservation, after: Reservation
    ) -> None:
        result = await self.reservations.replace_one(
            {
                "_id": before.reservation_id,
                "state": before.state.value,
                "filled_fen": before.filled_fen,
            },
            _reservation_to_document(after),
            session=session,
        )
        assert result.matched_count == 1, f"reservation {before.reservation_id} changed"

    async def list_reservations(
        self, investor_id: str, page_size: int, after: tuple[str, ...] | None
    ) -> list[Reservation]:
        query: Document = {"investor_id": investor_id}
        if after is not None:
            created_at = datetime.fromisoformat(after[0])
            query = {"$and": [query, _after("created_at", created_at, after[1], descending=True)]}
        cursor = (
            self.reservations.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        return [_reservation_from_document(document) async for document in cursor]

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
                    "annual_yield_min": {"$lte": _decimal(product.expected_annual_yield)},
                },
                session=session,
            )
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [_reservation_from_document(document) async for document in cursor]

    async def reservations_expired(self, now: datetime, limit: int) -> list[Reservation]:
        cursor = (
            self.reservations.find(
                {"state": ReservationState.ACTIVE.value, "expires_at": {"$lte": now}}
            )
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [_reservation_from_document(document) async for document in cursor]

    # --- funds -------------------------------------------------------------------------------

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

    async def get_fund(self, fund_id: str, session: Session | None = None) -> Fund:
        document = await self.funds.find_one({"_id": fund_id}, session=session)
        if document is None:
            raise NotFound(f"fund {fund_id} does not exist", metadata={"fund_id": fund_id})
        return _fund_from_document(document)

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
        return [_fund_from_document(document) async for document in cursor]

    async def insert_nav(
        self, session: Session | None, fund_id: str, nav_date: date, nav_per_unit: Decimal
    ) -> Decimal | None:
        """Record a NAV; returns the NAV already published for that date instead, if any."""
        nav_id = f"{fund_id}:{nav_date.isoformat()}"
        existing = await self.fund_navs.find_one({"_id": nav_id}, session=session)
        if existing is not None:
            return _from_decimal(existing["nav_per_unit"])
        await self.fund_navs.insert_one(
            {
                "_id": nav_id,
                "fund_id": fund_id,
                "nav_date": nav_date.isoformat(),
                "nav_per_unit": _decimal(nav_per_unit),
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
        return _from_decimal(document["nav_per_unit"]) if document else None

    async def list_navs(
        self, fund_id: str, page_size: int, before_date: str | None
    ) -> list[tuple[date, Decimal]]:
        query: Document = {"fund_id": fund_id}
        if before_date is not None:
            query["nav_date"] = {"$lt": before_date}
        cursor = self.fund_navs.find(query).sort("nav_date", DESCENDING).limit(page_size)
        return [
            (date.fromisoformat(d["nav_date"]), _from_decimal(d["nav_per_unit"]))
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
                _from_decimal(document["nav_per_unit"])
            )
        return histories

    async def get_risk_profile(
        self, investor_id: str, session: Session | None = None
    ) -> RiskProfile | None:
        document = await self.risk_profiles.find_one({"_id": investor_id}, session=session)
        return _profile_from_document(document) if document else None

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
        await self.fund_orders.insert_one(_order_to_document(order), session=session)

    async def get_order(self, order_id: str, session: Session | None = None) -> FundOrder:
        document = await self.fund_orders.find_one({"_id": order_id}, session=session)
        if document is None:
            raise NotFound(f"fund order {order_id} does not exist", metadata={"order_id": order_id})
        return _order_from_document(document)

    async def save_order(self, session: Session, before: FundOrder, after: FundOrder) -> None:
        result = await self.fund_orders.replace_one(
            {"_id": before.order_id, "state": before.state.value},
            _order_to_document(after),
            session=session,
        )
        assert result.matched_count == 1, f"fund order {before.order_id} changed underneath"

    async def list_orders(
        self, investor_id: str, page_size: int, after: tuple[str, ...] | None
    ) -> list[FundOrder]:
        query: Document = {"investor_id": investor_id}
        if after is not None:
            placed_at = datetime.fromisoformat(after[0])
            query = {"$and": [query, _after("placed_at", placed_at, after[1], descending=True)]}
        cursor = (
            self.fund_orders.find(query)
            .sort([("placed_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        return [_order_from_document(document) async for document in cursor]

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
        return [_order_from_document(document) async for document in cursor]

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

    # --- audit -------------------------------------------------------------------------------

    async def payouts_due_fen(self, *, from_account_id: str = "", to_account_id: str = "") -> int:
        match: Document = {"state": PayoutState.DUE.value}
        if from_account_id:
            match["from_account_id"] = from_account_id
        if to_account_id:
            match["to_account_id"] = to_account_id
        return await _sum(self.payouts, match, "amount_fen")

    async def payouts_fen(self, kind: PayoutKind, states: Iterable[PayoutState]) -> int:
        match = {"kind": kind.value, "state": {"$in": [state.value for state in states]}}
        return await _sum(self.payouts, match, "amount_fen")

    async def purchases_fen(self, kind: PurchaseKind, state: PurchaseState) -> int:
        return await _sum(self.purchases, {"kind": kind.value, "state": state.value}, "amount_fen")

    async def running_income_credited_fen(self) -> int:
        return await _sum(self.yuebao_income_runs, {"state": "running"}, "credited_fen")

    async def income_credited_fen(self) -> int:
        return await _sum(self.yuebao_income, {}, "income_fen")

    async def redeemed_fen(self) -> int:
        match = {"state": RedemptionState.ACTIVE.value}
        return await _sum(self.yuebao_redemptions, match, "amount_fen")

    async def principal_outstanding_fen(self) -> int:
        match = {"state": {"$in": [HoldingState.HELD.value, HoldingState.LISTED.value]}}
        return await _sum(self.holdings, match, "principal_fen")

    async def product_sales_breaches(self) -> list[str]:
        """Each product's sold_fen = its subscriptions not cancelled (pending ones included)."""
        pipeline: list[Document] = [
            {
                "$match": {
                    "kind": PurchaseKind.PRODUCT_SUBSCRIPTION.value,
                    "state": {"$ne": PurchaseState.CANCELLED.value},
                }
            },
            {"$group": {"_id": "$product_id", "sold_fen": {"$sum": "$amount_fen"}}},
        ]
        sold_by_purchases = {
            row["_id"]: row["sold_fen"] async for row in await self.purchases.aggregate(pipeline)
        }
        breaches = []
        async for document in self.products.find({}, {"sold_fen": 1, "quota_fen": 1}):
            expected_fen = sold_by_purchases.get(document["_id"], 0)
            if document["sold_fen"] != expected_fen:
                breaches.append(
                    f"product {document['_id']}: sold {document['sold_fen']} fen, "
                    f"subscriptions sum to {expected_fen} fen"
                )
            if document["sold_fen"] > document["quota_fen"]:
                breaches.append(f"product {document['_id']} is oversold")
        return breaches
