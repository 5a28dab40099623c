"""Helpers of the saga tests: polling with a deadline, funded payers, ledger snapshots."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient

from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient
from gateway.tests.conftest import User, top_up

T = TypeVar("T")
Client = TestClient[Any, Any]

POLL_INTERVAL_SECONDS_FIRST = 0.01
POLL_INTERVAL_SECONDS_MAX = 0.2
POLLS_MAX = 10_000


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within_seconds: float, what: str
) -> T:
    """The first non-None answer of probe, polled with backoff until the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_seconds
    interval_seconds = POLL_INTERVAL_SECONDS_FIRST
    for _ in range(POLLS_MAX):
        answer = await probe()
        if answer is not None:
            return answer
        if loop.time() >= deadline:
            break
        await asyncio.sleep(interval_seconds)
        interval_seconds = min(interval_seconds * 2, POLL_INTERVAL_SECONDS_MAX)
    raise AssertionError(f"not within {within_seconds} s: {what}")


def new_key() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Funds:
    """An account's posted balance and what is available of it (balance less holds)."""

    balance_fen: int
    available_fen: int


async def funds_of(payment: PaymentClient, account_id: str) -> Funds:
    account: pb.Account = await payment.get_account(account_id)
    return Funds(account.balance.amount_fen, account.available.amount_fen)


async def funded_payer(
    gateway: Client, new_user: Callable[..., Awaitable[User]], amount_fen: int
) -> User:
    payer = await new_user()
    await top_up(gateway, payer, amount_fen, new_key())
    return payer
