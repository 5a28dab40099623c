"""Huabei lines follow the credit feed, end to end (issue 18; feeds/credit_scores.py).

Real payment, credit and loan services over gRPC: the credit service follows the payment
feed (it scores the account opening), the loan service follows the credit feed. Nothing
here reads the line through a sync: after the line is opened, only the credit service's
events change it.

- a new scorecard that raises everyone's score (551 → the 600-649 band) raises the line 500 → 3,000
  yuan; 1,000 yuan is then drawn on it;
- the first scorecard again (608 → 551, advice 500 yuan) lowers only the unused part: the
  line stops at the 1,000 yuan owed, nothing available;
- a court listing of the person's resident id freezes the line; its removal unfreezes it;
- a raise from the feed is limited by the lending capacity as SyncHuabeiLine's is: with 300
  yuan of capacity available, a newcomer's 500-yuan advice is granted 300, and the feed's
  3,000-yuan advice after a new scorecard leaves it at 300 (LENDING_CAPACITY).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

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
from colony.loan.v1 import loan_pb2_grpc, merchant_lending_pb2_grpc
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.payment.v1 import payment_pb2 as ppb
from colony.payment.v1 import payment_pb2_grpc
from conftest import running_service, service_settings
from services.credit.server import build_credit_service
from services.credit.tests.support import OPERATOR, eventually, new_resident_id, owner
from services.loan.feeds.credit_scores import CREDIT_FEED
from services.loan.server import build_loan_service
from services.loan.tests.support import CLOCK_START, YUAN, cny, new_key

pytestmark = pytest.mark.slow

NEWCOMER_SCORE = 551
# Rescoring after a new scorecard runs every 5 s (services/credit/server.py).
WITHIN_SECONDS = 40.0


@pytest.fixture(scope="module")
async def credit_service(
    mongo_url: str, mongo_client: MongoClient, database_name: str, payment_address: str
) -> AsyncIterator[GrpcService]:
    async def build(settings: ServiceSettings, client: MongoClient, clock: Clock) -> GrpcService:
        return await build_credit_service(
            settings, client, clock, [UpstreamFeed("payment", payment_address)]
        )

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
async def loan_channel(
    mongo_url: str, mongo_client: MongoClient, database_name: str, credit_service: GrpcService
) -> AsyncIterator[grpc.aio.Channel]:
    """A loan service following the module's credit feed."""
    settings = service_settings("loan", mongo_url, f"{database_name}_loan")
    feed = UpstreamFeed(CREDIT_FEED, f"127.0.0.1:{credit_service.port}")
    service = await build_loan_service(settings, mongo_client, ManualClock(CLOCK_START), feed)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield channel
    finally:
        await service.stop()


@pytest.fixture(scope="module")
def loan(loan_channel: grpc.aio.Channel) -> loan_pb2_grpc.LoanServiceStub:
    return loan_pb2_grpc.LoanServiceStub(loan_channel)


@pytest.fixture(scope="module")
def merchant_lending(
    loan_channel: grpc.aio.Channel,
) -> merchant_lending_pb2_grpc.MerchantLendingServiceStub:
    return merchant_lending_pb2_grpc.MerchantLendingServiceStub(loan_channel)


def _scaled_model(model_json: str, version: str, bonus_points: int) -> str:
    """The model under a new version, every bin of the months active in the last year worth
    bonus_points more (80 takes a verified newcomer from 551 to the 600-649 band)."""
    model: dict[str, Any] = json.loads(model_json)
    model["version"] = version
    behaviour = next(d for d in model["dimensions"] if d["name"] == "behaviour_preference")
    months_active = next(f for f in behaviour["features"] if f["feature"] == "months_active_12m")
    for bin_ in months_active["bins"]:
        bin_["points"] += bonus_points
    return json.dumps(model)


async def _load(credit: credit_pb2_grpc.CreditServiceStub, model_json: str) -> None:
    await credit.LoadScorecard(
        cpb.LoadScorecardRequest(idempotency_key=new_key(), caller=OPERATOR, model_json=model_json)
    )


async def _line(loan: loan_pb2_grpc.LoanServiceStub, person_id: str) -> pb.HuabeiLine:
    response = await loan.GetHuabeiLine(pb.GetHuabeiLineRequest(borrower_id=person_id))
    return response.line


async def _open_person(payment: payment_pb2_grpc.PaymentServiceStub, resident_id: str) -> str:
    account = (
        await payment.OpenPersonalAccount(
            ppb.OpenPersonalAccountRequest(
                idempotency_key=new_key(),
                owner_ref=new_key(),
                real_name="张三",
                resident_id=resident_id,
                phone=f"139{secrets.randbelow(10**8):08d}",
            )
        )
    ).account
    return account.account_id


async def _newcomer_advice(
    credit: credit_pb2_grpc.CreditServiceStub, person_id: str
) -> cpb.CreditLimitAdvice:
    async def advice() -> cpb.CreditLimitAdvice:
        response = await credit.GetCreditLimitAdvice(
            cpb.GetCreditLimitAdviceRequest(caller=owner(person_id), person_id=person_id)
        )
        return response.advice

    return await eventually(advice, lambda a: a.score == NEWCOMER_SCORE)


async def test_lines_follow_score_changes_and_the_blacklist_without_a_read(
    payment: payment_pb2_grpc.PaymentServiceStub,
    credit: credit_pb2_grpc.CreditServiceStub,
    loan: loan_pb2_grpc.LoanServiceStub,
) -> None:
    resident_id = new_resident_id()
    person_id = await _open_person(payment, resident_id)
    opened = await _newcomer_advice(credit, person_id)
    await loan.SyncHuabeiLine(
        pb.SyncHuabeiLineRequest(idempotency_key=new_key(), borrower_id=person_id, advice=opened)
    )
    assert (await _line(loan, person_id)).line.amount_fen == 500 * YUAN

    current = (await credit.GetScorecard(cpb.GetScorecardRequest())).model_json
    await _load(credit, _scaled_model(current, "test-raised", 80))
    raised = await eventually(
        lambda: _line(loan, person_id),
        lambda line: line.line.amount_fen == 3_000 * YUAN,
        WITHIN_SECONDS,
    )
    assert raised.advised_score >= 600 and not raised.frozen

    reserved = await loan.ReserveHuabei(
        pb.ReserveHuabeiRequest(
            idempotency_key=new_key(),
            reservation_id="purchase-1",
            borrower_id=person_id,
            amount=cny(1_000 * YUAN),
            reference="trade:t-1",
        )
    )
    assert reserved.line.available.amount_fen == 2_000 * YUAN
    await loan.CaptureHuabei(
        pb.CaptureHuabeiRequest(
            idempotency_key=new_key(), reservation_id="purchase-1", payment_posting_id="p-1"
        )
    )

    await _load(credit, _scaled_model(current, "test-lowered", 0))
    lowered = await eventually(
        lambda: _line(loan, person_id),
        lambda line: line.advised_score == NEWCOMER_SCORE,
        WITHIN_SECONDS,
    )
    # The advice fell to 500 yuan; the line only loses its unused part: 1,000 owed stays.
    assert (lowered.advised_line.amount_fen, lowered.line.amount_fen) == (500 * YUAN, 1_000 * YUAN)
    assert (lowered.used.amount_fen, lowered.available.amount_fen) == (1_000 * YUAN, 0)

    listing = cpb.BlacklistListing(
        resident_id_hash=hashlib.sha256(resident_id.upper().encode()).hexdigest(),
        case_reference=f"(2025)京0108执{new_key()[:8]}",
    )
    await credit.ImportBlacklist(
        cpb.ImportBlacklistRequest(
            idempotency_key=new_key(), caller=OPERATOR, source="court:test", listings=[listing]
        )
    )
    frozen = await eventually(lambda: _line(loan, person_id), lambda line: line.frozen)
    assert frozen.frozen_reason == "BLACKLISTED"
    assert frozen.line.amount_fen == 1_000 * YUAN  # never below what is owed

    await credit.RemoveBlacklistEntries(
        cpb.RemoveBlacklistEntriesRequest(
            idempotency_key=new_key(),
            caller=OPERATOR,
            source="court:test",
            case_references=[listing.case_reference],
            reason=cpb.REMOVAL_REASON_SETTLED,
        )
    )
    unfrozen = await eventually(lambda: _line(loan, person_id), lambda line: not line.frozen)
    assert unfrozen.frozen_reason == ""


async def test_a_raise_from_the_feed_stays_within_the_lending_capacity(
    payment: payment_pb2_grpc.PaymentServiceStub,
    credit: credit_pb2_grpc.CreditServiceStub,
    loan: loan_pb2_grpc.LoanServiceStub,
    merchant_lending: merchant_lending_pb2_grpc.MerchantLendingServiceStub,
) -> None:
    person_id = await _open_person(payment, new_resident_id())
    opened = await _newcomer_advice(credit, person_id)
    # Capital such that exactly 300 yuan of capacity is available (whatever is drawn already).
    before = (await merchant_lending.GetLendingCapacity(mpb.GetLendingCapacityRequest())).capacity
    capital_fen = before.used.amount_fen + 300 * YUAN - before.capacity.amount_fen
    await merchant_lending.PayInCapital(
        mpb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(capital_fen))
    )
    granted = (
        await loan.SyncHuabeiLine(
            pb.SyncHuabeiLineRequest(
                idempotency_key=new_key(), borrower_id=person_id, advice=opened
            )
        )
    ).line
    assert (granted.line.amount_fen, granted.limited_reason) == (300 * YUAN, "LENDING_CAPACITY")

    current = (await credit.GetScorecard(cpb.GetScorecardRequest())).model_json
    await _load(credit, _scaled_model(current, f"test-capacity-{new_key()[:6]}", 80))
    rescored = await eventually(
        lambda: _line(loan, person_id),
        lambda line: line.advised_line.amount_fen == 3_000 * YUAN,
        WITHIN_SECONDS,
    )
    # The feed saw the 3,000-yuan advice and raised nothing beyond the capacity available.
    assert (rescored.line.amount_fen, rescored.limited_reason) == (300 * YUAN, "LENDING_CAPACITY")
    after = (await merchant_lending.GetLendingCapacity(mpb.GetLendingCapacityRequest())).capacity
    assert after.available.amount_fen == 300 * YUAN  # undrawn lines are not counted as used
