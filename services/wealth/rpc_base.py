"""What every group of wealth RPCs shares: the store, the clock, idempotency, events, paging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from google.protobuf.message import Message

from chassis.clock import Clock, business_date_of
from chassis.errors import InvalidArgument
from chassis.idempotency import IdempotencyStore
from chassis.keyed_lock import KeyedLock
from chassis.mongo import MongoClient, Session
from chassis.outbox import EventLog, OutboxFeed
from chassis.wire import money_to_proto
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.payouts import Payout
from services.wealth.purchases import PurchaseKind
from services.wealth.store import WealthStore
from services.wealth.wire import payout_to_proto
from services.wealth.yuebao import SEVEN_DAY_YIELD_DAYS, seven_day_annualised_yield
from services.wealth.yuebao_accounts import (
    YuebaoAccount,
    fast_allowance_fen,
    yesterday_income_fen,
)

ResponseT = TypeVar("ResponseT", bound=Message)

INVESTOR_ID_LENGTH_MAX = 200


def require_investor_id(investor_id: str, field: str = "investor_id") -> str:
    """Return the investor id (the investor's payment account id) if usable, else refuse."""
    if not investor_id or len(investor_id) > INVESTOR_ID_LENGTH_MAX:
        raise InvalidArgument(
            f"{field} is required (at most {INVESTOR_ID_LENGTH_MAX} characters)",
            metadata={"field": field},
        )
    return investor_id


def require_id(value: str, field: str) -> str:
    """Return a required id if usable, else refuse."""
    if not value or len(value) > INVESTOR_ID_LENGTH_MAX:
        raise InvalidArgument(f"{field} is required", metadata={"field": field})
    return value


class WealthRpcBase:
    """State and helpers shared by the WealthService RPC groups (mixed into one servicer)."""

    def __init__(
        self, client: MongoClient, store: WealthStore, clock: Clock, feed: OutboxFeed
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._feed = feed
        self._events = EventLog(store.outbox, clock)
        self._idempotency = IdempotencyStore(store.idempotency, clock)
        # Subscriptions to one product queue here instead of conflicting in MongoDB; the
        # guarded $inc still decides across processes (chassis.keyed_lock).
        self._product_locks = KeyedLock()
        self._investor_locks = KeyedLock()

    def _today(self) -> date:
        """Today's business date (the calendar date in China Standard Time)."""
        return business_date_of(self._clock.now())

    async def _idempotent(
        self,
        scope: str,
        request: Message,
        response_type: type[ResponseT],
        operation: Callable[[Session], Awaitable[ResponseT]],
    ) -> ResponseT:
        """Run operation once per idempotency key, in one transaction with its record."""
        return await self._idempotency.run(
            self._client,
            scope=scope,
            request=request,
            response_type=response_type,
            operation=operation,
        )

    async def _record_payouts(self, session: Session, payouts: tuple[Payout, ...]) -> None:
        """Insert new payouts and their events, in the transaction that created the debt."""
        await self._store.insert_payouts(session, payouts)
        for payout in payouts:
            await self._events.append(
                session, "wealth.payout.recorded", payout.payout_id, payout_to_proto(payout)
            )

    async def _account_view(
        self, account: YuebaoAccount, session: Session | None = None
    ) -> pb.YuebaoAccount:
        """The wallet's figures of one holder (pending subscriptions as session sees them)."""
        today = self._today()
        pending_fen = await self._store.pending_purchases_fen(
            [PurchaseKind.YUEBAO_SUBSCRIPTION], account.investor_id, session
        )
        return pb.YuebaoAccount(
            investor_id=account.investor_id,
            shares=money_to_proto(account.shares_fen),
            pending_subscriptions=money_to_proto(pending_fen),
            yesterday_income=money_to_proto(yesterday_income_fen(account, today)),
            cumulative_income=money_to_proto(account.cumulative_income_fen),
            last_income_date=account.last_income_date.isoformat()
            if account.last_income_date
            else "",
            fast_redemption_allowance=money_to_proto(fast_allowance_fen(account, today)),
            seven_day_annualised_yield=await self._seven_day_yield_text(),
        )

    async def _seven_day_yield_text(self) -> str:
        """The 7-day annualised yield of the last 7 published days ("" before there are 7)."""
        quotes = await self._store.recent_quotes(SEVEN_DAY_YIELD_DAYS)
        if len(quotes) < SEVEN_DAY_YIELD_DAYS:
            return ""
        return str(seven_day_annualised_yield([quote for _, quote in quotes]))
