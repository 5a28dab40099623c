"""The merchant's last 12 months in the payment ledger, from their trades (pre-loan data).

Settled trades finished in the last 365 days: their settled amount (amount - refunded) is
sales, the months (China Standard Time) they settled in are counted; refunds are what was
refunded on those and on fully refunded trades in the same window. Read newest first, at
most FIGURES_TRADES_MAX trades a state (a merchant with more is judged on the latest ones,
which can only understate its sales).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chassis.clock import business_date_of
from chassis.money import Money
from colony.common.v1 import paging_pb2
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.edge.representations import money_to_proto

WINDOW = timedelta(days=365)
PAGE_SIZE = 100
FIGURES_TRADES_MAX = 2_000


@dataclass(frozen=True, slots=True)
class Figures:
    months_with_settlements: int
    settled_sales_fen: int
    refunded_fen: int

    def to_proto(self) -> mpb.MerchantFigures:
        return mpb.MerchantFigures(
            months_with_settlements=self.months_with_settlements,
            settled_sales=money_to_proto(Money(self.settled_sales_fen))
            if self.settled_sales_fen
            else None,
            refunded=money_to_proto(Money(self.refunded_fen)) if self.refunded_fen else None,
        )


def figures_of(merchant_id: str, trades: Iterable[pb.Trade], now: datetime) -> Figures:
    """The figures of the merchant's settled and refunded trades finished within a year."""
    since = now - WINDOW
    months: set[tuple[int, int]] = set()
    sales = refunded = 0
    for trade in trades:
        if trade.merchant_account_id != merchant_id or not trade.HasField("finished_at"):
            continue
        finished = trade.finished_at.ToDatetime(tzinfo=UTC)
        if finished < since:
            continue
        refunded += trade.refunded.amount_fen
        if trade.state == pb.TRADE_STATE_SETTLED:
            sales += trade.amount.amount_fen - trade.refunded.amount_fen
            day = business_date_of(finished)
            months.add((day.year, day.month))
    return Figures(len(months), sales, refunded)


async def read_trades(payment: PaymentClient, merchant_id: str, now: datetime) -> list[pb.Trade]:
    """The merchant's settled and refunded trades, newest first, back a year at most."""
    found: list[pb.Trade] = []
    for state in (pb.TRADE_STATE_SETTLED, pb.TRADE_STATE_REFUNDED):
        token = ""
        read = 0
        while read < FIGURES_TRADES_MAX:
            response = await payment.list_trades(
                pb.ListTradesRequest(
                    account_id=merchant_id,
                    state=state,
                    page=paging_pb2.PageRequest(page_size=PAGE_SIZE, page_token=token),
                )
            )
            found.extend(response.trades)
            read += len(response.trades)
            token = response.page.next_page_token
            oldest = (
                response.trades[-1].created_at.ToDatetime(tzinfo=UTC) if response.trades else None
            )
            if not token or (oldest is not None and oldest < now - WINDOW):
                break
    return found


async def merchant_figures(payment: PaymentClient, merchant_id: str, now: datetime) -> Figures:
    return figures_of(merchant_id, await read_trades(payment, merchant_id, now), now)
