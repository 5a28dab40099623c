"""Helpers of the loan service's server tests: a service on a manual clock, advice, money,
the steps the gateway's sagas call, events and refusals."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from chassis.clock import ManualClock, business_date_of
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from colony.common.v1 import money_pb2
from colony.credit.v1 import credit_pb2
from colony.loan.v1 import loan_pb2 as pb
from colony.loan.v1 import loan_pb2_grpc
from conftest import service_settings
from services.loan.server import build_loan_service

# 09:00 in Beijing on Monday 3 March 2025.
CLOCK_START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
YUAN = 100

Stub = loan_pb2_grpc.LoanServiceStub


@dataclass(frozen=True, slots=True)
class RunningLoan:
    service: GrpcService
    stub: Stub
    clock: ManualClock
    database: Any


@contextlib.asynccontextmanager
async def running_loan(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[RunningLoan]:
    settings = service_settings("loan", mongo_url, database_name)
    service = await build_loan_service(settings, mongo_client, clock)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield RunningLoan(
                service, loan_pb2_grpc.LoanServiceStub(channel), clock, mongo_client[database_name]
            )
    finally:
        await service.stop()


def cny(fen: int) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=fen, currency="CNY")


def new_key() -> str:
    return uuid.uuid4().hex


def new_borrower() -> str:
    return f"2088{uuid.uuid4().int % 10**12:012d}"


def advice(
    person_id: str,
    line_fen: int = 800_000,
    ceiling_fen: int = 2_000_000,
    refusal: str = "",
) -> credit_pb2.CreditLimitAdvice:
    return credit_pb2.CreditLimitAdvice(
        person_id=person_id,
        score=660,
        model_version="sesame-2025.1",
        huabei_line=cny(line_fen),
        cash_loan_ceiling=cny(ceiling_fen),
        daily_rate_min="0.0004" if ceiling_fen else "",
        daily_rate_max="0.0005" if ceiling_fen else "",
        refusal=refusal,
    )


def today(clock: ManualClock) -> date:
    return business_date_of(clock.now())


def move_to(clock: ManualClock, day: date) -> None:
    """Move the clock to 09:00 Beijing on day (never backwards)."""
    target = datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC)
    clock.advance(max(timedelta(0), target - clock.now()))


async def open_line(stub: Stub, borrower: str, line_fen: int = 800_000, day: int = 1) -> None:
    await stub.SyncHuabeiLine(
        pb.SyncHuabeiLineRequest(
            idempotency_key=new_key(),
            borrower_id=borrower,
            advice=advice(borrower, line_fen),
            statement_day=day,
        )
    )


async def buy_with_huabei(stub: Stub, borrower: str, fen: int) -> str:
    """The loan steps of a Huabei payment saga: reserve, (ledger transfer), capture."""
    reservation = f"saga-{uuid.uuid4().hex}"
    await stub.ReserveHuabei(
        pb.ReserveHuabeiRequest(
            idempotency_key=f"{reservation}:reserve",
            reservation_id=reservation,
            borrower_id=borrower,
            amount=cny(fen),
            merchant_id="2188000000000001",
        )
    )
    await stub.CaptureHuabei(
        pb.CaptureHuabeiRequest(
            idempotency_key=f"{reservation}:capture",
            reservation_id=reservation,
            payment_posting_id=f"posting-{reservation}",
        )
    )
    return reservation


async def repay(stub: Stub, target: int, account_id: str, fen: int) -> pb.ConfirmRepaymentResponse:
    """The loan steps of a repayment saga: try, (hold + capture), confirm."""
    repayment = f"saga-{uuid.uuid4().hex}"
    await stub.TryRepayment(
        pb.TryRepaymentRequest(
            idempotency_key=f"{repayment}:try",
            repayment_id=repayment,
            target=target,  # type: ignore[arg-type]
            account_id=account_id,
            amount=cny(fen),
        )
    )
    return await stub.ConfirmRepayment(
        pb.ConfirmRepaymentRequest(
            idempotency_key=f"{repayment}:confirm",
            repayment_id=repayment,
            payment_posting_id=f"posting-{repayment}",
        )
    )


async def run_jobs(stub: Stub, day: date) -> pb.LoanJobRun:
    response = await stub.RunLoanJobs(
        pb.RunLoanJobsRequest(idempotency_key=new_key(), business_date=day.isoformat())
    )
    return response.run


async def events_of(database: Any, aggregate_id: str) -> list[str]:
    """The event types appended for an aggregate, in append order."""
    cursor = database["outbox"].find({"aggregate_id": aggregate_id}).sort("occurred_at")
    return [document["type"] async for document in cursor]


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


async def refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the call was expected to be refused")


async def assert_books_clean(stub: Stub) -> pb.GetLoanAuditResponse:
    audit = await stub.GetLoanAudit(pb.GetLoanAuditRequest())
    assert list(audit.breaches) == []
    return audit
