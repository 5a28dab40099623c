"""Payment codes do not pile up (issue 21, item 11): at most PAYMENT_CODES_LIVE_MAX unused
codes per account (issuing more retires the oldest) and a TTL index empties the collection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest

from chassis.mongo import MongoClient
from chassis.retention import PURGE_FIELD, PURGE_INDEX
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from services.payment.payment_code import PAYMENT_CODE_RETENTION, PAYMENT_CODES_LIVE_MAX
from services.payment.tests.support import (
    Stub,
    cny,
    error_reason,
    open_merchant,
    open_person,
    top_up,
)


@pytest.fixture(scope="module")
async def stub(payment_address: str) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(payment_address) as channel:
        yield payment_pb2_grpc.PaymentServiceStub(channel)


def _charge(stub: Stub, shop: str, code: str) -> object:
    return stub.ChargePaymentCode(
        pb.ChargePaymentCodeRequest(
            idempotency_key=uuid.uuid4().hex,
            merchant_account_id=shop,
            code=code,
            amount=cny(100),
            memo="noodles",
        )
    )


async def test_issuing_past_the_cap_retires_the_oldest_codes(
    stub: Stub, mongo_client: MongoClient, database_name: str
) -> None:
    payer = (await open_person(stub)).account_id
    shop = (await open_merchant(stub)).account_id
    await top_up(stub, payer, 10_000)
    issued = []
    for _ in range(PAYMENT_CODES_LIVE_MAX + 2):
        issued.append(await stub.IssuePaymentCode(pb.IssuePaymentCodeRequest(account_id=payer)))
    codes = mongo_client[f"{database_name}_payment"]["payment_codes"]
    assert await codes.count_documents({"account_id": payer}) == PAYMENT_CODES_LIVE_MAX
    for retired in issued[:2]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _charge(stub, shop, retired.code)  # type: ignore[misc]
        assert error_reason(refused.value) == "INVALID_PAYMENT_CODE"
    await _charge(stub, shop, issued[-1].code)  # type: ignore[misc]
    await _charge(stub, shop, issued[2].code)  # type: ignore[misc]


async def test_concurrent_issues_leave_no_more_than_the_cap(
    stub: Stub, mongo_client: MongoClient, database_name: str
) -> None:
    payer = (await open_person(stub)).account_id
    await asyncio.gather(
        *(
            stub.IssuePaymentCode(pb.IssuePaymentCodeRequest(account_id=payer))
            for _ in range(4 * PAYMENT_CODES_LIVE_MAX)
        )
    )
    codes = mongo_client[f"{database_name}_payment"]["payment_codes"]
    assert await codes.count_documents({"account_id": payer}) <= PAYMENT_CODES_LIVE_MAX


async def test_a_ttl_index_removes_codes_after_they_expire(
    stub: Stub, mongo_client: MongoClient, database_name: str
) -> None:
    payer = (await open_person(stub)).account_id
    await stub.IssuePaymentCode(pb.IssuePaymentCodeRequest(account_id=payer))
    codes = mongo_client[f"{database_name}_payment"]["payment_codes"]
    ttl = (await codes.index_information())[PURGE_INDEX]
    assert ttl["key"] == [(PURGE_FIELD, 1)]
    assert ttl["expireAfterSeconds"] == 0
    # The purge time is on the wall clock mongod's TTL monitor reads (chassis.retention).
    code = await codes.find_one({"account_id": payer})
    assert code is not None
    kept = code[PURGE_FIELD] - code["expires_at"]
    assert abs(kept - PAYMENT_CODE_RETENTION) < timedelta(seconds=5)
