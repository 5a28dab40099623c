"""Yu'e Bao (余额宝): holders' accounts, redemptions, the fund document, and the daily income
runs with their per-(holder, date) markers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from bson.decimal128 import Decimal128
from pymongo import ASCENDING, DESCENDING, UpdateOne

from chassis.mongo import Document, Session
from services.wealth.store.collections import WealthCollections, sum_of
from services.wealth.store.mapping import (
    from_decimal128,
    income_from_document,
    income_run_from_document,
    iso_or_none,
    portfolio_from_document,
    portfolio_to_document,
    redemption_from_document,
    redemption_to_document,
    to_decimal128,
    yuebao_account_from_document,
)
from services.wealth.yuebao import Portfolio
from services.wealth.yuebao_accounts import Redemption, YuebaoAccount
from services.wealth.yuebao_income import IncomeCredit, IncomeRecord, IncomeRun

YUEBAO_FUND_ID = "yuebao"
RECENT_QUOTES_MAX = 7


class YuebaoStore(WealthCollections):
    """Yu'e Bao accounts, redemptions, the fund and the income runs."""

    async def get_yuebao_account(
        self, investor_id: str, session: Session | None = None
    ) -> YuebaoAccount:
        """The holder's account (an empty one if the investor never held shares)."""
        document = await self.yuebao_accounts.find_one({"_id": investor_id}, session=session)
        return yuebao_account_from_document(document or {"_id": investor_id})

    async def save_yuebao_account(
        self, session: Session, before: YuebaoAccount, after: YuebaoAccount, now: datetime
    ) -> None:
        """Store a holder's shares and counters, guarded on the shares read (opened if new)."""
        result = await self.yuebao_accounts.update_one(
            {"_id": before.investor_id, "shares_fen": before.shares_fen},
            {
                "$set": {
                    "shares_fen": after.shares_fen,
                    "fast_redeemed_on": iso_or_none(after.fast_redeemed_on),
                    "fast_redeemed_fen": after.fast_redeemed_fen,
                    "moved_on": iso_or_none(after.moved_on),
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
        return redemption_from_document(document) if document else None

    async def insert_redemption(self, session: Session, redemption: Redemption) -> None:
        await self.yuebao_redemptions.insert_one(
            redemption_to_document(redemption), session=session
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
                    "allocations": portfolio_to_document(portfolio),
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
            portfolio_from_document(document["allocations"]),
            from_decimal128(document["residue_fen"]),
        )

    async def set_portfolio(self, session: Session, portfolio: Portfolio, now: datetime) -> None:
        await self.yuebao_fund.update_one(
            {"_id": YUEBAO_FUND_ID},
            {"$set": {"allocations": portfolio_to_document(portfolio), "updated_at": now}},
            session=session,
        )

    async def set_residue(
        self, session: Session, carried_fen: Decimal, residue_fen: Decimal
    ) -> None:
        """Replace the carried residue, guarded on the value the distribution started from."""
        result = await self.yuebao_fund.update_one(
            {"_id": YUEBAO_FUND_ID, "residue_fen": to_decimal128(carried_fen)},
            {"$set": {"residue_fen": to_decimal128(residue_fen)}},
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
        return income_run_from_document(document) if document else None

    async def insert_income_run(
        self, session: Session, business_date: date, income_per_10k_yuan: Decimal, now: datetime
    ) -> None:
        await self.yuebao_income_runs.insert_one(
            {
                "_id": business_date.isoformat(),
                "state": "running",
                "income_per_10k_yuan": to_decimal128(income_per_10k_yuan),
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
                    "residue_added_fen": to_decimal128(run.residue_added_fen + residue_added_fen),
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
            (date.fromisoformat(document["_id"]), from_decimal128(document["income_per_10k_yuan"]))
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
        return [yuebao_account_from_document(document) async for document in found]

    async def credit_income(
        self,
        session: Session,
        credits: Sequence[IncomeCredit],
        business_date: date,
        income_per_10k_yuan: Decimal,
        now: datetime,
    ) -> None:
        """Credit each holder's income as shares and write its per-date marker, together.

        The marker's _id is (holder, date): a second credit for the same date cannot commit.
        """
        if not credits:
            return
        day = business_date.isoformat()
        await self.yuebao_income.insert_many(
            [
                {
                    "_id": f"{credit.before.investor_id}:{day}",
                    "investor_id": credit.before.investor_id,
                    "business_date": day,
                    "income_fen": credit.income_fen,
                    "shares_before_fen": credit.base_fen,
                    "income_per_10k_yuan": to_decimal128(income_per_10k_yuan),
                    "cumulative_income_fen": credit.after.cumulative_income_fen,
                    "credited_at": now,
                }
                for credit in credits
            ],
            session=session,
        )
        result = await self.yuebao_accounts.bulk_write(
            [
                UpdateOne(
                    {"_id": credit.before.investor_id, "shares_fen": credit.before.shares_fen},
                    {
                        "$set": {
                            "shares_fen": credit.after.shares_fen,
                            "cumulative_income_fen": credit.after.cumulative_income_fen,
                            "last_income_fen": credit.after.last_income_fen,
                            "last_income_date": iso_or_none(credit.after.last_income_date),
                        }
                    },
                )
                for credit in credits
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
        return [income_from_document(document) async for document in cursor]

    async def shares_outstanding_fen(self) -> int:
        return await sum_of(self.yuebao_accounts, {}, "shares_fen")
