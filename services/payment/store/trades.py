"""Escrow trades (担保交易): the trades collection, the daily job's runs, the escrow audit."""

from __future__ import annotations

import contextlib
from datetime import date, datetime

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from chassis.errors import NotFound
from chassis.mongo import Document, Session
from chassis.paging import decode_page_token, encode_page_token, invalid_page_token
from services.payment.escrow import Trade, TradeState
from services.payment.store.accounts import AccountStore
from services.payment.store.mapping import trade_from_document, trade_to_document


def _trades_query(account_id: str, state: TradeState | None) -> str:
    return f"trades:{account_id}:{state.value if state else ''}"


def _trades_position(
    account_id: str, state: TradeState | None, page_token: str
) -> tuple[datetime, str] | None:
    position = decode_page_token(page_token, _trades_query(account_id, state), parts=2)
    if position is None:
        return None
    created_at, trade_id = position
    try:
        return datetime.fromisoformat(created_at), trade_id
    except ValueError:
        raise invalid_page_token() from None


class TradeStore(AccountStore):
    """The trades and job_runs collections."""

    async def ensure_trade_indexes(self) -> None:
        await self.trades.create_indexes(
            [
                IndexModel([("buyer_account_id", ASCENDING), ("created_at", DESCENDING)]),
                IndexModel([("merchant_account_id", ASCENDING), ("created_at", DESCENDING)]),
                IndexModel([("state", ASCENDING), ("auto_confirm_at", ASCENDING)]),
                IndexModel([("state", ASCENDING), ("pay_by", ASCENDING)]),
            ]
        )

    async def get_trade(self, trade_id: str, session: Session | None = None) -> Trade:
        document = await self.trades.find_one({"_id": trade_id}, session=session)
        if document is None:
            raise NotFound(f"trade {trade_id} does not exist", metadata={"trade_id": trade_id})
        return trade_from_document(document)

    async def insert_trade(self, session: Session, trade: Trade) -> None:
        await self.trades.insert_one(trade_to_document(trade), session=session)

    async def save_trade(self, session: Session, before: Trade, after: Trade) -> None:
        """Store a trade's new state, if nobody changed it since `before` was read."""
        result = await self.trades.replace_one(
            {"_id": before.trade_id, "updated_at": before.updated_at, "state": before.state.value},
            trade_to_document(after),
            session=session,
        )
        assert result.matched_count == 1, f"trade {before.trade_id} changed under this transaction"

    async def list_trades(
        self, account_id: str, state: TradeState | None, page_size: int, page_token: str
    ) -> tuple[list[Trade], str]:
        """Trades where the account is merchant or buyer, newest first, and the next token.

        The cursor is the last trade's (created_at, trade id), bound to the account and
        the state filter.
        """
        query: Document = {
            "$or": [{"merchant_account_id": account_id}, {"buyer_account_id": account_id}]
        }
        if state is not None:
            query["state"] = state.value
        position = _trades_position(account_id, state, page_token)
        if position is not None:
            created_at, trade_id = position
            after: Document = {
                "$or": [
                    {"created_at": {"$lt": created_at}},
                    {"created_at": created_at, "_id": {"$lt": trade_id}},
                ]
            }
            query = {"$and": [query, after]}
        cursor = (
            self.trades.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(page_size)
        )
        trades = [trade_from_document(document) async for document in cursor]
        if len(trades) < page_size:
            return trades, ""
        last = trades[-1]
        query_key = _trades_query(account_id, state)
        return trades, encode_page_token(query_key, last.created_at.isoformat(), last.trade_id)

    async def trades_due(
        self, field: str, state: TradeState, now: datetime, limit: int, skipping: set[str]
    ) -> list[Trade]:
        """Trades in a state whose deadline field has passed (for the daily job)."""
        query: Document = {"state": state.value, field: {"$lte": now}}
        if skipping:
            query["_id"] = {"$nin": sorted(skipping)}
        cursor = self.trades.find(query).sort(field, ASCENDING).limit(limit)
        return [trade_from_document(document) async for document in cursor]

    async def in_escrow_fen(self, buyer_account_id: str) -> int:
        """What this buyer has paid into trades still held in escrow."""
        pipeline: list[Document] = [
            {"$match": {"buyer_account_id": buyer_account_id, "escrow_held_fen": {"$gt": 0}}},
            {"$group": {"_id": None, "fen": {"$sum": "$escrow_held_fen"}}},
        ]
        rows = [row async for row in await self.trades.aggregate(pipeline)]
        return int(rows[0]["fen"]) if rows else 0

    async def job_has_run(self, job: str, business_date: date) -> bool:
        """Whether a daily job completed its run for this business date."""
        return (
            await self.job_runs.find_one({"_id": f"{job}:{business_date.isoformat()}"}) is not None
        )

    async def record_job_run(
        self, job: str, business_date: date, outcome: Document, now: datetime
    ) -> None:
        """Mark a business date's run complete (a concurrent run's record stands)."""
        with contextlib.suppress(DuplicateKeyError):
            await self.job_runs.insert_one(
                {
                    "_id": f"{job}:{business_date.isoformat()}",
                    "finished_at": now,
                    "outcome": outcome,
                }
            )

    async def audit_escrow(self, escrow_account_id: str) -> list[str]:
        """Escrow balance = what the trades in escrow hold."""
        account = await self.get_account(escrow_account_id)
        pipeline: list[Document] = [{"$group": {"_id": None, "fen": {"$sum": "$escrow_held_fen"}}}]
        rows = [row async for row in await self.trades.aggregate(pipeline)]
        held_fen = int(rows[0]["fen"]) if rows else 0
        if account.balance_fen != held_fen:
            return [
                f"escrow balance {account.balance_fen} fen, trades in escrow hold {held_fen} fen"
            ]
        return []
