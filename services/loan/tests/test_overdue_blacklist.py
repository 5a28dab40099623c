"""Overdue 90+ → blacklisted → line frozen; settled → removed → unfrozen, across the real
loan and credit services (issue 18: "entering 90+ puts the person on the credit blacklist,
settling removes them"; the line "frozen for a blacklisted person").

The loan service runs on a manual clock and follows the credit feed; the credit service
follows the payment feed (the account opening) and the loan feed (the overdue reports),
served by a second loan replica over the same database.
The clock moves a bill through the buckets; nothing but the feeds carries the news: the
loan service's entered_90 report lists the person, the credit feed's listing freezes the
line; the settling repayment's report removes the listing and the line unfreezes.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import date, timedelta

import grpc
import pytest

from chassis.clock import Clock, ManualClock
from chassis.feed_follower import UpstreamFeed
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from chassis.settings import ServiceSettings
from colony.credit.v1 import credit_pb2 as cpb
from colony.credit.v1 import credit_pb2_grpc
from colony.loan.v1 import loan_pb2 as pb
from colony.loan.v1 import loan_pb2_grpc
from colony.payment.v1 import payment_pb2 as ppb
from colony.payment.v1 import payment_pb2_grpc
from conftest import running_service, service_settings
from services.credit.server import build_credit_service
from services.credit.tests.support import eventually, new_resident_id, owner
from services.loan.feeds.credit_scores import CREDIT_FEED
from services.loan.server import build_loan_service
from services.loan.tests.support import (
    CLOCK_START,
    buy_with_huabei,
    move_to,
    new_key,
    repay,
    run_jobs,
)

pytestmark = pytest.mark.slow

DUE = date(2025, 4, 11)
WITHIN_SECONDS = 30.0


@pytest.fixture(scope="module")
async def loan_feed(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> AsyncIterator[GrpcService]:
    """A second replica of the loan service over the same database, serving its feed to the
    credit service (which starts before the replica the test drives, since that one
    follows the credit feed)."""
    async with running_service(
        "loan", build_loan_service, mongo_url, mongo_client, database_name
    ) as service:
        yield service


@pytest.fixture(scope="module")
async def credit_service(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    payment_address: str,
    loan_feed: GrpcService,
) -> AsyncIterator[GrpcService]:
    feeds = [
        UpstreamFeed("payment", payment_address),
        UpstreamFeed("loan", f"127.0.0.1:{loan_feed.port}"),
    ]

    async def build(settings: ServiceSettings, client: MongoClient, clock: Clock) -> GrpcService:
        return await build_credit_service(settings, client, clock, feeds)

    async with running_service("credit", build, mongo_url, mongo_client, database_name) as service:
        yield service


@pytest.fixture(scope="module")
async def credit(credit_service: GrpcService) -> AsyncIterator[credit_pb2_grpc.CreditServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{credit_service.port}") as channel:
        yield credit_pb2_grpc.CreditServiceStub(channel)


@pytest.fixture(scope="module")
async def payment(payment_address: str) -> AsyncIterator[payment_pb2_grpc.PaymentServiceStub]:
    async with grpc.aio.insecure_channel(payment_address) as channel:
        yield payment_pb2_grpc.PaymentServiceStub(channel)


@pytest.fixture(scope="module")
async def loan(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    credit_service: GrpcService,
) -> AsyncIterator[tuple[loan_pb2_grpc.LoanServiceStub, ManualClock]]:
    settings = service_settings("loan", mongo_url, f"{database_name}_loan")
    clock = ManualClock(CLOCK_START)
    feed = UpstreamFeed(CREDIT_FEED, f"127.0.0.1:{credit_service.port}")
    service = await build_loan_service(settings, mongo_client, clock, feed)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield loan_pb2_grpc.LoanServiceStub(channel), clock
    finally:
        await service.stop()


async def test_ninety_days_overdue_freezes_the_line_and_settling_unfreezes_it(
    payment: payment_pb2_grpc.PaymentServiceStub,
    credit: credit_pb2_grpc.CreditServiceStub,
    loan: tuple[loan_pb2_grpc.LoanServiceStub, ManualClock],
) -> None:
    stub, clock = loan
    person_id = (
        await payment.OpenPersonalAccount(
            ppb.OpenPersonalAccountRequest(
                idempotency_key=new_key(),
                owner_ref=new_key(),
                real_name="张三",
                resident_id=new_resident_id(),
                phone=f"139{secrets.randbelow(10**8):08d}",
            )
        )
    ).account.account_id

    async def advice() -> cpb.CreditLimitAdvice:
        response = await credit.GetCreditLimitAdvice(
            cpb.GetCreditLimitAdviceRequest(caller=owner(person_id), person_id=person_id)
        )
        return response.advice

    opened = await eventually(advice, lambda a: a.huabei_line.amount_fen > 0)
    await stub.SyncHuabeiLine(
        pb.SyncHuabeiLineRequest(
            idempotency_key=new_key(), borrower_id=person_id, advice=opened, statement_day=1
        )
    )
    await buy_with_huabei(stub, person_id, 10_000)
    move_to(clock, date(2025, 4, 1))
    await run_jobs(stub, date(2025, 4, 1))

    async def line() -> pb.HuabeiLine:
        return (await stub.GetHuabeiLine(pb.GetHuabeiLineRequest(borrower_id=person_id))).line

    for days in (1, 31, 61, 90):
        move_to(clock, DUE + timedelta(days=days))
        await run_jobs(stub, DUE + timedelta(days=days))
    assert not (await line()).frozen  # 90 days is still 61-90

    move_to(clock, DUE + timedelta(days=91))
    await run_jobs(stub, DUE + timedelta(days=91))
    frozen = await eventually(line, lambda shown: shown.frozen, WITHIN_SECONDS)
    assert frozen.bucket == pb.DELINQUENCY_BUCKET_DPD_90_PLUS
    assert frozen.frozen_reason == "BLACKLISTED"
    assert (await advice()).refusal == "BLACKLISTED"

    owed = (
        await stub.GetAmountOwed(
            pb.GetAmountOwedRequest(target=pb.REPAYMENT_TARGET_HUABEI, account_id=person_id)
        )
    ).owed
    await repay(stub, pb.REPAYMENT_TARGET_HUABEI, person_id, owed.payoff.amount_fen)
    unfrozen = await eventually(line, lambda shown: not shown.frozen, WITHIN_SECONDS)
    assert unfrozen.bucket == pb.DELINQUENCY_BUCKET_CURRENT
    assert unfrozen.used.amount_fen == 0
    assert (await advice()).refusal != "BLACKLISTED"
