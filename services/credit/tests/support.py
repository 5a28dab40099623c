"""Helpers of the credit service's tests: callers, payment accounts and polling."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from colony.common.v1 import money_pb2
from colony.credit.v1 import credit_pb2 as cpb
from colony.payment.v1 import payment_pb2 as ppb

T = TypeVar("T")
POLL_SECONDS = 0.05
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def new_key() -> str:
    return uuid.uuid4().hex


def cny(fen: int) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=fen, currency="CNY")


def new_resident_id() -> str:
    """A valid 18-character resident id (ISO 7064 MOD 11-2 check character)."""
    birth = date(1960, 1, 1) + timedelta(days=secrets.randbelow(365 * 45))
    first_17 = f"110101{birth:%Y%m%d}{secrets.randbelow(1000):03d}"
    return first_17 + _CHECK[sum(int(c) * w for c, w in zip(first_17, _WEIGHTS, strict=True)) % 11]


def owner(person_id: str) -> cpb.Caller:
    return cpb.Caller(kind=cpb.CALLER_KIND_OWNER, id=person_id)


def merchant(merchant_id: str) -> cpb.Caller:
    return cpb.Caller(kind=cpb.CALLER_KIND_MERCHANT, id=merchant_id)


OPERATOR = cpb.Caller(kind=cpb.CALLER_KIND_OPERATOR, id="ops-1")
LOAN_SERVICE = cpb.Caller(kind=cpb.CALLER_KIND_SERVICE, id="loan")


def error_reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info.reason


async def open_person(payment) -> ppb.Account:
    response = await payment.OpenPersonalAccount(
        ppb.OpenPersonalAccountRequest(
            idempotency_key=new_key(),
            owner_ref=new_key(),
            real_name="张三",
            resident_id=new_resident_id(),
            phone=f"139{secrets.randbelow(10**8):08d}",
        )
    )
    return response.account


async def top_up(payment, account_id: str, fen: int) -> None:
    await payment.TopUp(
        ppb.TopUpRequest(
            idempotency_key=new_key(),
            account_id=account_id,
            amount=cny(fen),
            bank_card_number="6222020200112233446",
        )
    )


async def transfer(payment, from_id: str, to_id: str, fen: int) -> None:
    await payment.Transfer(
        ppb.TransferRequest(
            idempotency_key=new_key(), from_account_id=from_id, to_account_id=to_id, amount=cny(fen)
        )
    )


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = 20.0
) -> T:
    """Poll probe until done(result), failing after a deadline (no bare sleeps in tests)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = await probe()
        if done(result):
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {seconds}s: last {result!r}")
        await asyncio.sleep(POLL_SECONDS)
