"""Refunds of Huabei-paid trades go back to the line: the gateway follows the payment feed.

Every approved refund, whoever decided it (the merchant, the platform, or any later
automatic path in the payment service), is a ``payment.trade.refund_decided`` event
carrying the trade with its refunded total. For each one that raised the total, this
consumer (a chassis.feed_follower.FeedConsumer over the gateway database) asks the loan
service for the buyer's Huabei purchase of the trade (FindHuabeiPurchase, reference
``trade:<id>``); with one, it starts a huabei_refund saga for the refund's Huabei share
(gateway.loans.sagas.huabei_refund: the Huabei part is refunded first).

Crash safety: the events are durable in the payment service's outbox, committed with the
refund itself; the consumer starts the sagas *before* it saves its position (and each
trade's refunded total seen) in one transaction, and a saga's id derives from its refund
(trade id + refunded total), so a batch delivered again finds the same sagas instead of
starting others. Each refund's amount is the growth of the trade's refunded total between
two events, which the consumer knows from the total it saved for the trade.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import grpc
from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from chassis.clock import Clock
from chassis.errors import DomainError, ErrorKind
from chassis.feed_follower import FeedFollower, UpstreamFeed
from chassis.money import Money
from chassis.mongo import MongoClient, Session, run_in_transaction
from colony.common.v1 import events_pb2
from colony.loan.v1 import loan_pb2 as lpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import LoanClient, PaymentClient, ServiceFault
from gateway.edge.background import run_for_app_lifetime
from gateway.loans.sagas.huabei_refund import (
    HuabeiRefund,
    huabei_share_fen,
    trade_reference,
)
from gateway.sagas.definition import SagaDefinition, derive_saga_id
from gateway.sagas.engine import SagaEngine

log = logging.getLogger("colony.gateway.loans")

PAYMENT_FEED = "payment"
REFUND_DECIDED = "payment.trade.refund_decided"
FEED_POSITIONS_COLLECTION = "feed_positions"
REFUNDED_TRADES_COLLECTION = "huabei_refund_trades"
# This consumer's name for its position in the payment feed (one gateway database may one
# day follow the same feed for other purposes).
POSITION_ID = "payment:huabei_refunds"


def refund_saga_id(refund_id: str) -> str:
    """The saga of one refund: the same however often the feed delivers it."""
    return derive_saga_id("huabei-refund", refund_id)


class HuabeiRefunds:
    """The gateway's side of the payment feed for Huabei refunds."""

    def __init__(
        self,
        client: MongoClient,
        database: AsyncDatabase[dict[str, Any]],
        *,
        payment: PaymentClient,
        loan: LoanClient,
        engine: SagaEngine,
        saga: SagaDefinition,
    ) -> None:
        self._client = client
        self._positions = database[FEED_POSITIONS_COLLECTION]
        self._trades = database[REFUNDED_TRADES_COLLECTION]
        self._payment = payment
        self._loan = loan
        self._engine = engine
        self._saga = saga

    async def saved_position(self, feed: str, session: Session | None = None) -> int:
        document = await self._positions.find_one({"_id": POSITION_ID}, session=session)
        return int(document["position"]) if document else 0

    async def apply_batch(self, feed: str, events: Sequence[events_pb2.Event]) -> None:
        """Start the sagas of the batch's refunds, then save the position, in one transaction."""

        async def apply(session: Session) -> None:
            before = await self.saved_position(feed, session)
            fresh = [event for event in events if int(event.position) > before]
            if not fresh:
                return
            seen: dict[str, int] = {}
            for event in fresh:
                trade = _refunded_trade(event)
                if trade is None:
                    continue
                prior = seen.get(trade.trade_id)
                if prior is None:
                    prior = await self._seen_total(trade.trade_id, session)
                after = trade.refunded.amount_fen
                if after <= prior:
                    continue
                await self._start(trade, prior, after)
                seen[trade.trade_id] = after
            for trade_id, total in seen.items():
                await self._trades.update_one(
                    {"_id": trade_id},
                    {"$set": {"refunded_fen": total}},
                    upsert=True,
                    session=session,
                )
            await self._positions.update_one(
                {"_id": POSITION_ID},
                {"$set": {"position": int(fresh[-1].position)}},
                upsert=True,
                session=session,
            )

        try:
            await run_in_transaction(self._client, apply)
        except (DomainError, ServiceFault) as error:
            # The loan or payment service away (or refusing): the follower backs off and
            # follows again from the saved position, so no refund is skipped.
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                details=f"huabei refunds: {error}",
            ) from error

    def install(self, app: web.Application, feed: UpstreamFeed, clock: Clock) -> None:
        """Follow the payment feed for the app's lifetime."""
        # Only refund decisions are sent: the producer filters, not this follower.
        refunds = dataclasses.replace(feed, types=(REFUND_DECIDED,))
        run_for_app_lifetime(app, "huabei refunds", FeedFollower(refunds, self, clock).run)

    async def _seen_total(self, trade_id: str, session: Session) -> int:
        document = await self._trades.find_one({"_id": trade_id}, session=session)
        return int(document["refunded_fen"]) if document else 0

    async def _start(self, trade: pb.Trade, before_fen: int, after_fen: int) -> None:
        """Start (or find) the refund's saga when the trade was paid with Huabei."""
        try:
            purchase = (
                await self._loan.find_huabei_purchase(
                    lpb.FindHuabeiPurchaseRequest(
                        borrower_id=trade.buyer_account_id,
                        reference=trade_reference(trade.trade_id),
                    )
                )
            ).purchase
        except DomainError as error:
            if error.kind is ErrorKind.NOT_FOUND:
                return  # not paid with Huabei: the refund is the buyer's alone
            raise
        share_fen = huabei_share_fen(purchase.amount.amount_fen, before_fen, after_fen)
        if share_fen <= 0:
            return  # the Huabei part was refunded by earlier refunds
        refund = HuabeiRefund(
            trade_id=trade.trade_id,
            buyer_account_id=trade.buyer_account_id,
            purchase_id=purchase.purchase_id,
            refunded_before_fen=before_fen,
            refunded_after_fen=after_fen,
            share=Money(share_fen, trade.refunded.currency or "CNY"),
        )
        account = await self._payment.get_account(trade.buyer_account_id)
        await self._engine.start(
            self._saga,
            saga_id=refund_saga_id(refund.refund_id),
            owner_user_id=account.owner_ref,
            saga_input=refund.to_json(),
            fingerprint=refund.refund_id,
            wait_seconds=0,
        )
        log.info(
            "huabei refund started",
            extra={"trade_id": trade.trade_id, "share_fen": share_fen},
        )


def _refunded_trade(event: events_pb2.Event) -> pb.Trade | None:
    if event.type != REFUND_DECIDED:
        return None
    trade = pb.Trade()
    if not event.payload.Unpack(trade):
        log.error("payment feed event %s is not a Trade", event.position)
        return None
    return trade
