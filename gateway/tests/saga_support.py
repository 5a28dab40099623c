"""Helpers of the saga tests: polling with a deadline, funded payers, ledger snapshots, and
the crash tests' harness: a real `python -m gateway` process to SIGKILL at a failpoint
(GatewayProcess), the environment it runs with, registered parties, and GatewayRuns, the
base of every crash test's world (a module's gateway processes, stopped before the
module's channels close)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp.test_utils import TestClient

from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient, ServiceChannels
from gateway.edge.phone_verification import code_in
from gateway.tests.conftest import User, top_up
from infra.embedded_mongo import free_port

T = TypeVar("T")
Client = TestClient[Any, Any]

POLL_INTERVAL_SECONDS_FIRST = 0.01
POLL_INTERVAL_SECONDS_MAX = 0.2
POLLS_MAX = 10_000

STARTED_WITHIN_SECONDS = 30.0
KILLED_WITHIN_SECONDS = 20.0
FINISHED_WITHIN_SECONDS = 20.0
# Longer than the gateway's own shutdown grace (10 s for requests in flight) plus its cleanup:
# a busy machine once took longer than 10 s in all, and the test stopped a gateway mid-exit.
STOPPED_WITHIN_SECONDS = 30.0
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20)


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


# --- the crash tests' harness ---------------------------------------------------------


class GatewayProcess:
    """One `python -m gateway` run on a fresh port, its output in a log file."""

    def __init__(self, environ: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.environ = {**environ, "COLONY_GATEWAY_PORT": str(self.port)}
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    async def start(self, session: aiohttp.ClientSession) -> GatewayProcess:
        """Spawn the process and wait until it answers /healthz."""
        await self.spawn()

        async def healthy() -> bool | None:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"the gateway exited at start:\n{self.output()}")
            try:
                async with session.get(f"{self.url}/healthz") as response:
                    return True if response.status == 200 else None
            except aiohttp.ClientConnectionError:
                return None

        await eventually(healthy, STARTED_WITHIN_SECONDS, "the gateway answers /healthz")
        return self

    async def spawn(self) -> GatewayProcess:
        """Spawn the process (one meant to die in its recovery loop may never be healthy)."""
        with self.log_path.open("wb") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway",
                env=self.environ,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        return self

    async def killed(self) -> None:
        """Wait for the process to die of its failpoint's SIGKILL."""
        assert self.process is not None
        try:
            async with asyncio.timeout(KILLED_WITHIN_SECONDS):
                status = await self.process.wait()
        except TimeoutError:
            raise AssertionError(f"the failpoint never fired:\n{self.output()}") from None
        assert status == -signal.SIGKILL, f"exit status {status}:\n{self.output()}"

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOPPED_WITHIN_SECONDS):
                await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


@dataclass
class Party:
    user_id: str
    account_id: str
    token: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers


async def register(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Party:
    phone = {"phone": body["phone"]}
    async with session.post(f"{url}/v1/auth/phone-verifications", json=phone) as response:
        assert response.status == 202, await response.text()
        verification_id = (await response.json())["verification_id"]
    # The dev gateway's fake SMS outbox (gateway.edge.phone_verification).
    async with session.get(f"{url}/v1/dev/sms", params=phone) as response:
        code = code_in((await response.json())["messages"][-1])
    body = {**body, "verification_id": verification_id, "verification_code": code}
    async with session.post(f"{url}/v1/auth/register", json=body) as response:
        assert response.status == 201, await response.text()
        registered = await response.json()
    login = {"phone": body["phone"], "password": body["password"]}
    async with session.post(f"{url}/v1/auth/login", json=login) as response:
        assert response.status == 200, await response.text()
        token = (await response.json())["access_token"]
    return Party(registered["user_id"], registered["account_id"], token)


def gateway_environment(
    mongo_url: str, database_name: str, service_addresses: dict[str, str]
) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COLONY_", "OTEL_")) and name != "MONGO_URL"
    }
    return {
        **inherited,
        # The real payment service; the other business lines are not running.
        **{
            f"COLONY_{name.upper()}_ADDRESS": address for name, address in service_addresses.items()
        },
        "MONGO_URL": mongo_url,
        "COLONY_GATEWAY_DB": f"{database_name}_gateway",
        "COLONY_ENV": "dev",
        "COLONY_LOG_LEVEL": "WARNING",
        "COLONY_SAGA_LEASE_SECONDS": "1",
        "COLONY_SAGA_RECOVERY_INTERVAL_SECONDS": "0.1",
        "COLONY_SAGA_BACKOFF_SECONDS": "0.01",
        # No business-date job moving wealth money while a test counts it.
        "COLONY_WEALTH_JOBS_INTERVAL_SECONDS": "0",
        "COLONY_LOAN_JOBS_INTERVAL_SECONDS": "0",
        "COLONY_ORDER_LOAN_JOBS_INTERVAL_SECONDS": "0",
        # A module's parties log in once; on a loaded machine a module of crash tests can
        # outlast the default 15-minute token (a CI run answered 401 mid-module).
        "COLONY_JWT_TTL_SECONDS": "21600",
    }


@dataclass(kw_only=True)
class GatewayRuns:
    """What every crash test's world holds: the gateway's environment, where each run logs,
    the HTTP session, and every gateway process it started (to stop, whatever happened)."""

    environ: dict[str, str]
    log_dir: Path
    session: aiohttp.ClientSession
    runs: int = 0
    processes: list[GatewayProcess] = field(default_factory=list)

    def gateway(self, failpoint: str | None = None) -> GatewayProcess:
        """A gateway process to start (with a failpoint, one that will kill itself)."""
        self.runs += 1
        environ = dict(self.environ)
        if failpoint is not None:
            environ["COLONY_SAGA_FAILPOINT"] = failpoint
        process = GatewayProcess(environ, self.log_dir / f"gateway-{self.runs:02d}.log")
        self.processes.append(process)
        return process

    async def stop(self) -> None:
        """Stop every gateway process this world started (any left running by a failed case)."""
        for process in self.processes:
            await process.stop()

    async def close(self, channels: ServiceChannels) -> None:
        """Stop every gateway process, then close the channels the test opened: a gateway
        is stopped before anything it may call goes."""
        await self.stop()
        await channels.close()


@asynccontextmanager
async def setup_gateway(
    session: aiohttp.ClientSession, environ: dict[str, str], log_dir: Path
) -> AsyncIterator[GatewayProcess]:
    """A gateway without failpoints for a module's set-up (registrations, top-ups), stopped
    on leaving the block."""
    setup = GatewayProcess(environ, log_dir / "gateway-setup.log")
    await setup.start(session)
    try:
        yield setup
    finally:
        await setup.stop()
