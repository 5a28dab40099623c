"""Helpers of the wealth service's server tests: a service on a manual clock, ids, money,
refusal details and the audit check that closes every flow."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from chassis.clock import ManualClock
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from colony.common.v1 import money_pb2
from colony.wealth.v1 import wealth_pb2 as pb
from colony.wealth.v1 import wealth_pb2_grpc
from conftest import service_settings
from services.wealth.server import build_wealth_service
from services.wealth.store import WealthStore

# 09:00 in Beijing on Monday 3 March 2025; whole seconds, so MongoDB's milliseconds are exact.
CLOCK_START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
# Periodic jobs never fire on their own in tests: the tests run them (run_job_now).
JOB_INTERVAL_SECONDS = 3600.0
YUAN = 100
# A Zhaocaibao unit in the tests: 1,000 yuan.
UNIT_FEN = 1_000 * YUAN

Stub = wealth_pb2_grpc.WealthServiceStub


@dataclass(frozen=True, slots=True)
class RunningWealth:
    """An in-process wealth service, a stub on it, its store and the clock it reads."""

    service: GrpcService
    stub: Stub
    store: WealthStore
    clock: ManualClock


@contextlib.asynccontextmanager
async def running_wealth(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[RunningWealth]:
    """Start a wealth service on its own database and a free port; stop it afterwards."""
    settings = service_settings("wealth", mongo_url, database_name)
    service = await build_wealth_service(
        settings, mongo_client, clock, job_interval_seconds=JOB_INTERVAL_SECONDS
    )
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield RunningWealth(
                service=service,
                stub=wealth_pb2_grpc.WealthServiceStub(channel),
                store=WealthStore(mongo_client[database_name]),
                clock=clock,
            )
    finally:
        await service.stop()


def cny(fen: int) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=fen, currency="CNY")


def new_key() -> str:
    return uuid.uuid4().hex


def new_investor() -> str:
    """A payment-account-like investor id (Alipay user ids start with 2088)."""
    return f"2088{uuid.uuid4().int % 10**12:012d}"


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo (reason and metadata) a refusal carries."""
    status = rpc_status.from_call(error)
    assert status is not None, "every refusal carries google.rpc.Status details"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


async def refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """Await a call that must fail; return its error."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the call was expected to be refused")


async def subscribe_yuebao(stub: Stub, investor_id: str, fen: int) -> pb.ConfirmPurchaseResponse:
    """The wealth steps of a Yu'e Bao subscription saga: issue, then confirm (after capture)."""
    purchase_id = f"saga-{uuid.uuid4().hex}"
    await stub.IssueShares(
        pb.IssueSharesRequest(
            idempotency_key=f"{purchase_id}:issue",
            purchase_id=purchase_id,
            investor_id=investor_id,
            amount=cny(fen),
        )
    )
    return await stub.ConfirmPurchase(
        pb.ConfirmPurchaseRequest(
            idempotency_key=f"{purchase_id}:confirm",
            purchase_id=purchase_id,
            payment_posting_id=f"posting-{purchase_id}",
        )
    )


async def assert_audit_clean(stub: Stub) -> pb.GetWealthAuditResponse:
    """The wealth side's invariants hold; returns the figures for further checks."""
    audit = await stub.GetWealthAudit(pb.GetWealthAuditRequest())
    assert list(audit.breaches) == []
    return audit


def omnibus(audit: pb.GetWealthAuditResponse, account_id: str) -> pb.OmnibusFigures:
    return next(figures for figures in audit.omnibus if figures.account_id == account_id)


def stamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result


async def new_product(
    wealth: RunningWealth,
    *,
    term_days: int = 90,
    yield_text: str = "0.0365",
    quota_fen: int = 100 * UNIT_FEN,
    amount_min_fen: int = UNIT_FEN,
    starts_in: timedelta = timedelta(0),
    product_id: str = "",
) -> pb.Product:
    now = wealth.clock.now()
    response = await wealth.stub.CreateProduct(
        pb.CreateProductRequest(
            idempotency_key=new_key(),
            product_id=product_id,
            issuer="浙商小贷 Zheshang Microcredit",
            insurer="国泰财险 Guotai Property Insurance",
            term_days=term_days,
            expected_annual_yield=yield_text,
            amount_min=cny(amount_min_fen),
            quota=cny(quota_fen),
            sale_starts_at=stamp(now + starts_in),
            sale_ends_at=stamp(now + starts_in + timedelta(days=30)),
        )
    )
    return response.product
