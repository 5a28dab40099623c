"""What the SIGKILL tests of bank requests share (test_withdrawal_crash, test_top_up_crash):
a payment-service process on the recording bank (recording_bank.py), killed while the bank
hangs on requests it was asked, and waits for what recovery does afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from services.payment.tests.recording_bank import DECLINE_ENV, LEDGER_ENV
from tests.service_process import ServiceProcess

RECOVERY_TIMEOUT_SECONDS = 60.0


def recording_service(
    mongo_url: str, database: str, ledger: Path, declined_fen: int, **environment: str
) -> ServiceProcess:
    """The payment service on the recording bank, which declines requests of declined_fen."""
    service = ServiceProcess("payment", mongo_url, database)
    service.environment |= {
        "COLONY_BANK_CHANNEL": "services.payment.tests.recording_bank:recording_bank",
        LEDGER_ENV: str(ledger),
        DECLINE_ENV: str(declined_fen),
        **environment,
    }
    return service


async def until(check: Callable[[], bool | Awaitable[bool]], within_seconds: float = 30.0) -> None:
    """Wait until check() (sync or async) is true."""
    deadline = time.monotonic() + within_seconds
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.2)


async def send_once(rpc: Callable[..., Awaitable[object]], request: Any) -> None:
    """Send a request once; the process is killed before it answers (no retry)."""
    try:
        await rpc(request, timeout=60)
    except grpc.aio.AioRpcError:
        return None
    raise AssertionError("the request was answered before the kill")


async def kill_while_the_bank_hangs(
    service: ServiceProcess,
    rpc: Callable[..., Awaitable[object]],
    requests: Sequence[Any],
    asked: Callable[[], list[dict[str, object]]],
) -> None:
    """Send each request once, wait until the bank was asked for every one (it hangs on
    them: the reserves committed, nothing settled), then SIGKILL the service."""
    sending = [asyncio.create_task(send_once(rpc, request)) for request in requests]
    keys = {request.idempotency_key for request in requests}
    await until(lambda: {str(entry["request_id"]) for entry in asked()} == keys)
    assert not any(task.done() for task in sending)
    service.kill()
    assert await asyncio.gather(*sending) == [None] * len(requests), "no answer before the kill"


async def balance(stub: payment_pb2_grpc.PaymentServiceStub, account_id: str) -> int:
    response = await stub.GetAccount(pb.GetAccountRequest(account_id=account_id))
    return response.account.balance.amount_fen
