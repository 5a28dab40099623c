"""Helpers of the insurance service's server tests: a service on a manual clock, the steps the
gateway's sagas call, events and refusals."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from chassis.clock import ManualClock
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from colony.common.v1 import money_pb2
from colony.insurance.v1 import insurance_pb2 as pb
from colony.insurance.v1 import insurance_pb2_grpc
from conftest import service_settings
from services.insurance.server import build_insurance_service

# 09:00 in Beijing on Monday 3 March 2025.
CLOCK_START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
OMNIBUS = "platform:insurance:omnibus"

Stub = insurance_pb2_grpc.InsuranceServiceStub


@dataclass(frozen=True, slots=True)
class RunningInsurance:
    service: GrpcService
    stub: Stub
    clock: ManualClock
    database: Any


@contextlib.asynccontextmanager
async def running_insurance(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[RunningInsurance]:
    settings = service_settings("insurance", mongo_url, database_name)
    service = await build_insurance_service(settings, mongo_client, clock)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield RunningInsurance(service, Stub(channel), clock, mongo_client[database_name])
    finally:
        await service.stop()


def cny(fen: int) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=fen, currency="CNY")


def new_key() -> str:
    return uuid.uuid4().hex


def new_person() -> str:
    return f"2088{uuid.uuid4().int % 10**12:012d}"


def account_security_inputs(holder: str, score: int = 700) -> pb.QuoteInputs:
    return pb.QuoteInputs(product_id="account-security", holder_id=holder, credit_score=score)


async def quote(stub: Stub, inputs: pb.QuoteInputs) -> pb.Quote:
    response = await stub.CreateQuote(
        pb.CreateQuoteRequest(idempotency_key=new_key(), inputs=inputs)
    )
    return response.quote


async def buy(stub: Stub, inputs: pb.QuoteInputs) -> pb.Policy:
    """The insurance steps of the premium saga: quote, try, (ledger movements), confirm."""
    offer = await quote(stub, inputs)
    policy_id = f"pol-{new_key()}"
    await stub.TryBuyPolicy(
        pb.TryBuyPolicyRequest(
            idempotency_key=f"{policy_id}:try",
            policy_id=policy_id,
            quote_id=offer.quote_id,
            inputs=inputs,
        )
    )
    confirmed = await stub.ConfirmPolicyPurchase(
        pb.ConfirmPolicyPurchaseRequest(
            idempotency_key=f"{policy_id}:confirm",
            policy_id=policy_id,
            premium_transfer_id=f"premium-{policy_id}",
            insurer_transfer_id=f"insurer-{policy_id}",
        )
    )
    return confirmed.policy


async def claim(
    stub: Stub,
    policy_id: str,
    event: str,
    amount_fen: int = 0,
    *evidence: pb.Evidence,
    beneficiary: str = "",
) -> pb.Claim:
    response = await stub.SubmitClaim(
        pb.SubmitClaimRequest(
            idempotency_key=new_key(),
            claim_id=f"clm-{new_key()}",
            policy_id=policy_id,
            event_reference=event,
            amount=cny(amount_fen) if amount_fen else None,
            beneficiary_id=beneficiary,
            evidence=list(evidence),
        )
    )
    return response.claim


async def pay_claim(stub: Stub, claim_id: str) -> pb.Claim:
    response = await stub.MarkClaimPaid(
        pb.MarkClaimPaidRequest(
            idempotency_key=new_key(),
            claim_id=claim_id,
            insurer_transfer_id=f"fund-{claim_id}",
            payout_transfer_id=f"payout-{claim_id}",
        )
    )
    return response.claim


async def events_of(database: Any, aggregate_id: str) -> list[str]:
    """The event types appended for an aggregate, in append order."""
    cursor = database["outbox"].find({"aggregate_id": aggregate_id}).sort("occurred_at")
    return [document["type"] async for document in cursor]


def reason_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info.reason


async def refused(call: Awaitable[Any]) -> str:
    """The reason a call was refused with."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return reason_of(error)
    raise AssertionError("the call was expected to be refused")


async def audit_balances(stub: Stub) -> dict[str, int]:
    """Each insurance ledger account's expected balance; the books have no breach."""
    audit = await stub.GetInsuranceAudit(pb.GetInsuranceAuditRequest())
    assert list(audit.breaches) == []
    return {account.account_id: account.expected_balance_fen for account in audit.accounts}
