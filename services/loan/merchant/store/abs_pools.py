"""ABS pools (abs_pool.py) in collection ``abs_pools``: one document per pool, its loans
embedded with the day each was bought, its kind (facility or order loan) and what it had
paid by the last pass-through (so the next one sees only what came since), its investors'
holdings and its periods;
``loan_ids`` (indexed) so no loan is in two pools, ``investor_ids`` (indexed) for a wallet's
holdings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from pymongo import ASCENDING, IndexModel

from chassis.errors import NotFound
from chassis.mongo import Document, Session
from services.loan.merchant.abs_investors import Holding, Period, Share
from services.loan.merchant.abs_pool import FACILITY, Eligibility, PeriodReport, Pool
from services.loan.merchant.store.order_loans import OrderLoanStore


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """A pool as served: the domain's Pool plus its history (the report's figures)."""

    pool: Pool
    created_on: date
    units_sold_fen: int = 0
    purchases_fen: int = 0
    bought_on: dict[str, date] = field(default_factory=dict)
    sale_posting_ids: tuple[str, ...] = ()
    # loan id → (fixed interest paid, fixed principal repaid, revolving interest paid,
    # revolving principal repaid) by the facility as of the last look
    seen: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    holdings: dict[str, Holding] = field(default_factory=dict)
    periods: tuple[Period, ...] = ()
    kinds: dict[str, str] = field(default_factory=dict)  # loan id → FACILITY / ORDER_LOAN
    order_loan_purchases_fen: int = 0  # of purchases_fen, order loans' (their books)

    def kind_of(self, loan_id: str) -> str:
        return self.kinds.get(loan_id, FACILITY)

    @property
    def last_period_end(self) -> date:
        return self.periods[-1].end if self.periods else self.created_on

    def collected_fen(self) -> int:
        return sum(period.report.collected_fen for period in self.periods)

    def excess_spread_fen(self) -> int:
        return sum(period.report.excess_spread_fen for period in self.periods)

    def order_loan_collected_fen(self) -> int:
        return sum(period.report.order_loan_collected_fen for period in self.periods)


_REPORT_FIELDS = (
    "carried_in_fen",
    "interest_collected_fen",
    "principal_collected_fen",
    "investor_interest_fen",
    "excess_spread_fen",
    "purchases_fen",
    "principal_returned_fen",
    "carried_out_fen",
    "defaulted_fen",
)
_LATER_REPORT_FIELDS = (
    "order_loan_collected_fen",
    "order_loan_purchases_fen",
    "lender_kept_interest_fen",
    "lender_kept_principal_fen",
)


def _period_to_document(period: Period) -> Document:
    return {
        "period_id": period.period_id,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        **{name: getattr(period.report, name) for name in _REPORT_FIELDS + _LATER_REPORT_FIELDS},
        "bought": list(period.report.bought),
        "posted": period.posted,
        "shares": [
            {
                "investor_id": s.investor_id,
                "interest_fen": s.interest_fen,
                "returned_fen": s.returned_fen,
            }
            for s in period.shares
        ],
    }


def _period_from_document(document: Document) -> Period:
    return Period(
        period_id=document["period_id"],
        start=date.fromisoformat(document["start"]),
        end=date.fromisoformat(document["end"]),
        report=PeriodReport(
            **{name: document[name] for name in _REPORT_FIELDS},
            **{name: document.get(name, 0) for name in _LATER_REPORT_FIELDS},
            bought=tuple(document["bought"]),
        ),
        shares=tuple(
            Share(s["investor_id"], s["interest_fen"], s["returned_fen"])
            for s in document["shares"]
        ),
        posted=document.get("posted", False),
    )


def pool_to_document(record: PoolRecord) -> Document:
    pool = record.pool
    return {
        "_id": pool.pool_id,
        "coupon_rate": str(pool.coupon_rate),
        "revolving_until": pool.revolving_until.isoformat(),
        "rules": {
            "require_current": pool.rules.require_current,
            "min_remaining_days": pool.rules.min_remaining_days,
            "max_borrower_share": str(pool.rules.max_borrower_share),
        },
        "units_fen": pool.units_fen,
        "cash_fen": pool.cash_fen,
        "loans": [
            {
                "loan_id": loan_id,
                "borrower_id": borrower,
                "principal_fen": fen,
                "bought_on": record.bought_on[loan_id].isoformat(),
                "kind": record.kind_of(loan_id),
                "seen": list(record.seen.get(loan_id, (0, 0, 0, 0))),
            }
            for loan_id, (borrower, fen) in pool.loans.items()
        ],
        "loan_ids": list(pool.loans),
        "holdings": [
            {
                "investor_id": held.investor_id,
                "units_fen": held.units_fen,
                "bought_fen": held.bought_fen,
                "interest_fen": held.interest_fen,
                "returned_fen": held.returned_fen,
                "missed_unit_days": held.missed_unit_days,
            }
            for held in record.holdings.values()
        ],
        "investor_ids": sorted(record.holdings),
        "periods": [_period_to_document(period) for period in record.periods],
        "created_on": record.created_on.isoformat(),
        "units_sold_fen": record.units_sold_fen,
        "purchases_fen": record.purchases_fen,
        "order_loan_purchases_fen": record.order_loan_purchases_fen,
        "sale_posting_ids": list(record.sale_posting_ids),
    }


def _seen_of(figures: list[int]) -> tuple[int, int, int, int]:
    """The per-part figures (a pool stored before they were per part: all on the fixed)."""
    padded = [*figures, 0, 0, 0, 0]
    return (padded[0], padded[1], padded[2], padded[3])


def pool_from_document(document: Document) -> PoolRecord:
    rules = document["rules"]
    pool = Pool(
        pool_id=document["_id"],
        coupon_rate=Decimal(document["coupon_rate"]),
        revolving_until=date.fromisoformat(document["revolving_until"]),
        rules=Eligibility(
            require_current=rules["require_current"],
            min_remaining_days=rules["min_remaining_days"],
            max_borrower_share=Decimal(rules["max_borrower_share"]),
        ),
        units_fen=document["units_fen"],
        cash_fen=document["cash_fen"],
        loans={
            loan["loan_id"]: (loan["borrower_id"], loan["principal_fen"])
            for loan in document["loans"]
        },
    )
    return PoolRecord(
        pool=pool,
        created_on=date.fromisoformat(document["created_on"]),
        units_sold_fen=document["units_sold_fen"],
        purchases_fen=document["purchases_fen"],
        bought_on={
            loan["loan_id"]: date.fromisoformat(loan["bought_on"]) for loan in document["loans"]
        },
        sale_posting_ids=tuple(document["sale_posting_ids"]),
        seen={loan["loan_id"]: _seen_of(loan.get("seen", [])) for loan in document["loans"]},
        holdings={held["investor_id"]: Holding(**held) for held in document.get("holdings", [])},
        periods=tuple(_period_from_document(p) for p in document.get("periods", [])),
        kinds={loan["loan_id"]: loan.get("kind", FACILITY) for loan in document["loans"]},
        order_loan_purchases_fen=document.get("order_loan_purchases_fen", 0),
    )


class AbsPoolStore(OrderLoanStore):
    """The pools, and what they hold for the lending capacity."""

    def __init__(self, database: object) -> None:
        super().__init__(database)  # type: ignore[arg-type]
        self.abs_pools = self.database["abs_pools"]

    async def ensure_abs_pool_indexes(self) -> None:
        await self.abs_pools.create_indexes(
            [IndexModel([("loan_ids", ASCENDING)]), IndexModel([("investor_ids", ASCENDING)])]
        )

    async def find_pool(self, pool_id: str, session: Session | None = None) -> PoolRecord | None:
        document = await self.abs_pools.find_one({"_id": pool_id}, session=session)
        return pool_from_document(document) if document else None

    async def get_pool(self, pool_id: str, session: Session | None = None) -> PoolRecord:
        record = await self.find_pool(pool_id, session)
        if record is None:
            raise NotFound(f"pool {pool_id} not found", metadata={"pool_id": pool_id})
        return record

    async def save_pool(self, session: Session, record: PoolRecord) -> None:
        await self.abs_pools.replace_one(
            {"_id": record.pool.pool_id}, pool_to_document(record), upsert=True, session=session
        )

    async def pooled_loan_ids(self, session: Session | None = None) -> set[str]:
        """Every loan some pool holds (a loan is sold once)."""
        return set(await self.abs_pools.distinct("loan_ids", session=session))

    async def pooled_fen(self, session: Session | None = None) -> dict[str, int]:
        """loan id → the principal a pool bought it for."""
        held: dict[str, int] = {}
        async for document in self.abs_pools.find({}, {"loans": 1}, session=session):
            for loan in document["loans"]:
                held[loan["loan_id"]] = loan["principal_fen"]
        return held

    async def pools_of_investor(self, investor_id: str) -> list[PoolRecord]:
        cursor = self.abs_pools.find({"investor_ids": investor_id}).sort("_id")
        return [pool_from_document(document) async for document in cursor]

    async def all_pools(self) -> list[PoolRecord]:
        return [pool_from_document(document) async for document in self.abs_pools.find({})]
