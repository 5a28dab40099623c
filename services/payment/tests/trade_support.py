"""Helpers of the escrow, risk and retail server tests: a service on a manual clock, trades,
error details and the books check that closes every flow."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from chassis.clock import Clock, ManualClock
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from conftest import service_settings
from services.payment.escrow import ESCROW_ACCOUNT_ID
from services.payment.ledger import PLATFORM_FEE_INCOME_ACCOUNT_ID
from services.payment.server import build_payment_service
from services.payment.store import PaymentStore
from services.payment.tests.support import Stub, cny, new_key, open_merchant, open_person, top_up

# 10:00 in Beijing on a Monday; whole seconds, so what MongoDB stores (milliseconds) is exact.
CLOCK_START = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
# Six digits that are neither a run, a repeat nor part of a test phone number ("139...").
PAYMENT_PASSWORD = "730918"
WRONG_PAYMENT_PASSWORD = "730917"


@dataclass(frozen=True, slots=True)
class RunningPayment:
    """An in-process payment service, a stub on it, its store and the clock it reads."""

    service: GrpcService
    stub: Stub
    store: PaymentStore
    clock: Clock


@contextlib.asynccontextmanager
async def running_payment(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: Clock
) -> AsyncIterator[RunningPayment]:
    """Start a payment service on its own database and a free port; stop it afterwards."""
    settings = service_settings("payment", mongo_url, database_name)
    service = await build_payment_service(settings, mongo_client, clock)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield RunningPayment(
                service=service,
                stub=payment_pb2_grpc.PaymentServiceStub(channel),
                store=PaymentStore(mongo_client[database_name]),
                clock=clock,
            )
    finally:
        await service.stop()


def manual_clock() -> ManualClock:
    return ManualClock(CLOCK_START)


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo (reason and metadata) a refusal carries."""
    status = rpc_status.from_call(error)
    assert status is not None, "every refusal carries google.rpc.Status details"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


async def refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """Await a call that must fail; return its error."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def refusal_of(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    """The status code and reason of a call that must fail."""
    error = await refused(call)
    return error.code(), error_info(error).reason


@dataclass(frozen=True, slots=True)
class Parties:
    """The two sides of an escrow trade."""

    buyer: str
    merchant: str


async def trade_parties(stub: Stub, buyer_fen: int = 100_000) -> Parties:
    """A buyer topped up with buyer_fen and a merchant with nothing."""
    buyer = await open_person(stub)
    if buyer_fen:
        await top_up(stub, buyer.account_id, buyer_fen)
    merchant = await open_merchant(stub)
    return Parties(buyer=buyer.account_id, merchant=merchant.account_id)


async def create_trade(
    stub: Stub, parties: Parties, fen: int, payment_window_seconds: int = 0
) -> pb.Trade:
    response = await stub.CreateTrade(
        pb.CreateTradeRequest(
            idempotency_key=new_key(),
            merchant_account_id=parties.merchant,
            buyer_account_id=parties.buyer,
            amount=cny(fen),
            description="Longjing tea, 250 g",
            payment_window_seconds=payment_window_seconds,
        )
    )
    return response.trade


async def pay_trade(
    stub: Stub,
    trade: pb.Trade,
    *,
    key: str | None = None,
    buyer: str | None = None,
    risk: pb.RiskSignals | None = None,
) -> pb.PayTradeResponse:
    return await stub.PayTrade(
        pb.PayTradeRequest(
            idempotency_key=key or new_key(),
            trade_id=trade.trade_id,
            buyer_account_id=buyer or trade.buyer_account_id,
            risk=risk,
        )
    )


async def ship(stub: Stub, trade: pb.Trade, merchant: str | None = None) -> pb.Trade:
    response = await stub.MarkTradeShipped(
        pb.MarkTradeShippedRequest(
            trade_id=trade.trade_id, merchant_account_id=merchant or trade.merchant_account_id
        )
    )
    return response.trade


async def confirm(
    stub: Stub, trade: pb.Trade, buyer: str | None = None
) -> pb.ConfirmTradeReceiptResponse:
    return await stub.ConfirmTradeReceipt(
        pb.ConfirmTradeReceiptRequest(
            trade_id=trade.trade_id, buyer_account_id=buyer or trade.buyer_account_id
        )
    )


async def request_refund(
    stub: Stub, trade: pb.Trade, fen: int = 0, buyer: str | None = None
) -> pb.Trade:
    response = await stub.RequestTradeRefund(
        pb.RequestTradeRefundRequest(
            trade_id=trade.trade_id,
            buyer_account_id=buyer or trade.buyer_account_id,
            amount=cny(fen) if fen else None,
            reason="the tin arrived dented",
        )
    )
    return response.trade


async def decide_refund(
    stub: Stub, trade: pb.Trade, *, approve: bool, merchant: str | None = None
) -> pb.DecideTradeRefundResponse:
    """The merchant's decision (or, with merchant="", the platform's)."""
    return await stub.DecideTradeRefund(
        pb.DecideTradeRefundRequest(
            trade_id=trade.trade_id,
            merchant_account_id=trade.merchant_account_id if merchant is None else merchant,
            approve=approve,
        )
    )


async def cancel(stub: Stub, trade: pb.Trade, account_id: str | None = None) -> pb.Trade:
    response = await stub.CancelTrade(
        pb.CancelTradeRequest(
            trade_id=trade.trade_id, account_id=account_id or trade.buyer_account_id
        )
    )
    return response.trade


async def get_trade(stub: Stub, trade_id: str) -> pb.Trade:
    return (await stub.GetTrade(pb.GetTradeRequest(trade_id=trade_id))).trade


async def get_account(stub: Stub, account_id: str) -> pb.Account:
    return (await stub.GetAccount(pb.GetAccountRequest(account_id=account_id))).account


async def balance_fen(stub: Stub, account_id: str) -> int:
    return (await get_account(stub, account_id)).balance.amount_fen


async def escrow_fen(store: PaymentStore) -> int:
    return (await store.get_account(ESCROW_ACCOUNT_ID)).balance_fen


async def fee_income_fen(store: PaymentStore) -> int:
    return (await store.get_account(PLATFORM_FEE_INCOME_ACCOUNT_ID)).balance_fen


async def assert_books_balance(store: PaymentStore) -> None:
    """The ledger invariants hold and escrow equals what the trades in escrow hold."""
    assert await store.audit_ledger() == []
    assert await store.audit_escrow(ESCROW_ACCOUNT_ID) == []


def entries_of(posting: pb.Posting) -> dict[str, int]:
    """A posting's entries as {account_id: signed fen}."""
    return {entry.account_id: entry.amount.amount_fen for entry in posting.entries}


def database_for(database_name: str, purpose: str) -> str:
    """A database name of its own beside the module's (MongoDB caps names at 63 bytes)."""
    return f"{database_name[:40]}_{purpose[:12]}_{uuid.uuid4().hex[:6]}"


async def trade_in_state(stub: Stub, state: pb.TradeState.ValueType, fen: int = 10_750) -> pb.Trade:
    """A new trade between new parties, taken to `state` through the RPCs alone."""
    parties = await trade_parties(stub, buyer_fen=fen)
    trade = await create_trade(stub, parties, fen)
    if state == pb.TRADE_STATE_CREATED:
        return trade
    if state == pb.TRADE_STATE_CLOSED:
        return await cancel(stub, trade)
    trade = (await pay_trade(stub, trade)).trade
    if state == pb.TRADE_STATE_PAID:
        return trade
    if state == pb.TRADE_STATE_REFUND_REQUESTED:
        return await request_refund(stub, trade)
    if state == pb.TRADE_STATE_REFUNDED:
        await request_refund(stub, trade)
        return (await decide_refund(stub, trade, approve=True)).trade
    trade = await ship(stub, trade)
    if state == pb.TRADE_STATE_SHIPPED:
        return trade
    assert state == pb.TRADE_STATE_SETTLED, state
    return (await confirm(stub, trade)).trade
