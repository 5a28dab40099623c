"""The REST scenarios of `make bench`: money movements through a real gateway.

The platform is started as `make run` starts it (infra.run: every service and the gateway
as processes, the embedded mongod), on free ports and a data folder of its own, so a
benchmark never meets another platform running on this machine. People register, log in
and top up through the REST API, as they would; then:

  rest-transfer-spread  POST /v1/transfers from many people to many merchants, N in flight
  rest-transfer-hot     the same, every transfer to one merchant an operator made hot
  rest-wallet-pay       POST /v1/wallet/payments (a bill, paid from the balance) offered at
                        half of rest-transfer-spread's rate (open loop): its p99 at half load

Risk control runs with its default rules. Its velocity rule stops any one payer after ten
payments a minute, so the benchmark registers enough people and never asks one person
for an eleventh payment within a minute (the client keeps the same count the rule keeps);
time spent waiting for a payer who may pay again is reported (payer_waits).

Run alone (``python -m loadtests.bench_rest``) it measures wallet payments only, for work on
the saga path: wallet payments offered open-loop at each ``--rates`` value, then
``--closed`` of them in flight (the gateway's capacity for them), optionally with
``py-spy record`` attached to the platform's gateway process during the closed run
(``--py-spy PATH``; the raw profile goes next to ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from chassis.settings import SERVICE_NAMES
from infra.embedded_mongo import free_port
from loadtests.wallet.setup import OPERATOR_PASSWORD, OPERATOR_PHONE
from services.payment.identity import resident_id_check_char

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS_MAX = 240.0
PASSWORD = "bench-login-pass-1"
CARD = "6222020200112233446"
MERCHANTS = 50
HOT_SHARDS = 32
REGISTRATIONS_IN_FLIGHT = 6
OPENING_FEN = 2_000_000
# The velocity rule: ten payments a minute per payer, the window opened by the first one.
PAYMENTS_PER_WINDOW = 10
WINDOW_SECONDS = 62.0  # the rule's minute, and a margin for the clocks' difference
WATER_BILL = {"biller_id": "westlake-water", "reference": "3301061234"}
REQUEST_TIMEOUT_SECONDS = 30
OPERATOR_WAIT_SECONDS = 120.0


class RestPlatform:
    """A whole platform started as `make run` starts it, on its own ports and data."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = Path(tempfile.mkdtemp(prefix="colony-bench-platform-"))
        environment = {
            **os.environ,
            "COLONY_VAR_DIR": str(self.data),
            "COLONY_GATEWAY_PORT": str(self.port),
            "COLONY_MONGO_PORT": str(free_port()),
            "COLONY_LOG_LEVEL": "WARNING",
        }
        environment.pop("MONGO_URL", None)
        for name in SERVICE_NAMES:
            environment[f"COLONY_{name.upper()}_GRPC_PORT"] = str(free_port())
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.run", "--json"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_until_ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + READY_SECONDS_MAX
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the platform exited; see {self._log.name}")
            try:
                async with session.get(f"{self.url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1)
        raise SystemExit(f"the platform did not become ready; see {self._log.name}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


class RestError(Exception):
    pass


@dataclass
class Person:
    phone: str
    account_id: str
    token: str
    device_id: str
    window_started: float = -1e9
    window_count: int = 0


def _new_phone() -> str:
    return f"15{random.randrange(10**9):09d}"


_RESIDENT_IDS: set[str] = set()


def _new_resident_id() -> str:
    """A valid resident id not issued before in this run."""
    while True:
        birth = date(1960, 1, 1) + timedelta(days=random.randrange(365 * 45))
        first_17 = f"110101{birth:%Y%m%d}{random.randrange(1000):03d}"
        if first_17 not in _RESIDENT_IDS:
            _RESIDENT_IDS.add(first_17)
            return first_17 + resident_id_check_char(first_17)


class Client:
    """The benchmark's HTTP client: one connection pool, JSON in and out."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str = "",
        keyed: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Any:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if keyed:
            sent["Idempotency-Key"] = uuid.uuid4().hex
        async with self.session.request(
            method, self.url + path, json=body, headers=sent
        ) as response:
            text = await response.text()
            if response.status >= 300:
                raise RestError(f"{method} {path}: {response.status} {text[:300]}")
            return await response.json(content_type=None) if text else None


async def phone_proof(client: Client, phone: str) -> dict[str, str]:
    """The phone's verification, its code read from the dev gateway's fake SMS outbox."""
    started = await client.call("POST", "/v1/auth/phone-verifications", {"phone": phone})
    outbox = await client.call("GET", f"/v1/dev/sms?phone={phone}")
    code = re.search(r"\b\d{6}\b", outbox["messages"][-1])
    if code is None:
        raise RestError(f"the SMS to {phone} carried no code")
    return {"verification_id": str(started["verification_id"]), "verification_code": code[0]}


async def register_person(client: Client) -> Person:
    phone = _new_phone()
    registered = await client.call(
        "POST",
        "/v1/auth/register",
        {
            "phone": phone,
            "password": PASSWORD,
            "real_name": "测试用户",
            "resident_id": _new_resident_id(),
            **await phone_proof(client, phone),
        },
    )
    login = await client.call("POST", "/v1/auth/login", {"phone": phone, "password": PASSWORD})
    token = str(login["access_token"])
    await client.call(
        "POST",
        "/v1/topups",
        {"amount_fen": OPENING_FEN, "bank_card_number": CARD},
        token=token,
        keyed=True,
    )
    return Person(phone, str(registered["account_id"]), token, f"bench-{uuid.uuid4().hex[:12]}")


async def register_merchant(client: Client, index: int) -> str:
    phone = _new_phone()
    registered = await client.call(
        "POST",
        "/v1/auth/register",
        {
            "phone": phone,
            **await phone_proof(client, phone),
            "password": PASSWORD,
            "account_type": "merchant",
            "merchant_name": f"Bench Shop {index}",
            "business_licence": "91330100MA2BENCH1",
        },
    )
    return str(registered["account_id"])


async def gather_bounded(count: int, make: Callable[[int], Awaitable[Any]]) -> list[Any]:
    semaphore = asyncio.Semaphore(REGISTRATIONS_IN_FLIGHT)

    async def one(index: int) -> Any:
        async with semaphore:
            return await make(index)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


class Payers:
    """Hands out people who may pay now under the velocity rule, each in turn."""

    def __init__(self, people: list[Person]) -> None:
        self._queue = deque(people)
        self.waits = 0

    async def next(self) -> Person:
        while True:
            now = time.monotonic()
            for _ in range(len(self._queue)):
                person = self._queue.popleft()
                self._queue.append(person)
                if now - person.window_started >= WINDOW_SECONDS:
                    person.window_started, person.window_count = now, 0
                if person.window_count < PAYMENTS_PER_WINDOW:
                    person.window_count += 1
                    return person
            self.waits += 1
            await asyncio.sleep(0.05)


@dataclass
class RestSetup:
    client: Client
    payers: Payers
    merchants: list[str]
    hot_merchant: str


async def make_hot(client: Client, account_id: str) -> None:
    """An operator makes the merchant hot; `make run` grants the demo operator after /readyz."""
    deadline = time.monotonic() + OPERATOR_WAIT_SECONDS
    while True:
        try:
            operator = await client.call(
                "POST", "/v1/auth/login", {"phone": OPERATOR_PHONE, "password": OPERATOR_PASSWORD}
            )
            await client.call(
                "PUT",
                f"/v1/admin/accounts/{account_id}/hot",
                {"hot_shards": HOT_SHARDS},
                token=str(operator["access_token"]),
            )
            return
        except RestError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def prepare(client: Client, people: int) -> RestSetup:
    started = time.perf_counter()
    merchants = await gather_bounded(MERCHANTS + 1, lambda i: register_merchant(client, i))
    hot_merchant = merchants.pop()
    await make_hot(client, hot_merchant)
    persons = await gather_bounded(people, lambda _: register_person(client))
    print(
        f"REST set-up: {people} people and {MERCHANTS + 1} merchants registered "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return RestSetup(client, Payers(persons), merchants, hot_merchant)


Send = Callable[[Person], Awaitable[None]]
FAILURES = (RestError, aiohttp.ClientError, asyncio.TimeoutError)


@dataclass
class Run:
    """What one scenario measured: latencies, failures, wall and client CPU seconds."""

    latencies_s: list[float] = field(default_factory=list)
    failures: int = 0
    seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    payer_waits: int = 0


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


async def run_closed(setup: RestSetup, seconds: float, workers: int, send: Send) -> Run:
    """`workers` requests in flight for `seconds` (the payer's turn is not timed)."""
    run = Run()
    waits, cpu, started = setup.payers.waits, _cpu_seconds(), time.perf_counter()
    deadline = started + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            person = await setup.payers.next()
            began = time.perf_counter()
            try:
                await send(person)
            except FAILURES:
                run.failures += 1
                continue
            run.latencies_s.append(time.perf_counter() - began)

    await asyncio.gather(*(loop() for _ in range(workers)))
    run.seconds = time.perf_counter() - started
    run.client_cpu_seconds = _cpu_seconds() - cpu
    run.payer_waits = setup.payers.waits - waits
    return run


async def run_open(setup: RestSetup, seconds: float, per_second: float, send: Send) -> Run:
    """Requests offered at a fixed rate for `seconds`, whatever the answers' pace."""
    run = Run()
    waits, cpu, started = setup.payers.waits, _cpu_seconds(), time.perf_counter()
    tasks: list[asyncio.Task[None]] = []

    async def one(person: Person) -> None:
        began = time.perf_counter()
        try:
            await send(person)
        except FAILURES:
            run.failures += 1
            return
        run.latencies_s.append(time.perf_counter() - began)

    count = max(1, int(seconds * per_second))
    for number in range(count):
        due = started + number / per_second
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(await setup.payers.next())))
    await asyncio.gather(*tasks)
    run.seconds = time.perf_counter() - started
    run.client_cpu_seconds = _cpu_seconds() - cpu
    run.payer_waits = setup.payers.waits - waits
    return run


def transfer_to(setup: RestSetup, choose_payee: Callable[[], str]) -> Send:
    async def transfer(person: Person) -> None:
        await setup.client.call(
            "POST",
            "/v1/transfers",
            {"amount_fen": random.randint(1, 10_000), "to_account_id": choose_payee()},
            token=person.token,
            keyed=True,
            headers={"X-Device-Id": person.device_id},
        )

    return transfer


def pay_a_bill(setup: RestSetup) -> Send:
    async def pay(person: Person) -> None:
        await setup.client.call(
            "POST",
            "/v1/wallet/payments",
            {
                "bill": {**WATER_BILL, "amount_fen": random.randint(100, 10_000)},
                "methods": ["balance"],
            },
            token=person.token,
            keyed=True,
            headers={"X-Device-Id": person.device_id},
        )

    return pay


async def rest_scenarios(
    seconds: float, workers: int, people: int, log_path: Path
) -> dict[str, Run]:
    """Start a platform, register the people, run the three REST scenarios, stop it."""
    platform = RestPlatform(log_path)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    connector = aiohttp.TCPConnector(limit=workers * 4)
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            await platform.wait_until_ready(session)
            setup = await prepare(Client(session, platform.url), people)
            runs: dict[str, Run] = {}
            spread = transfer_to(setup, lambda: random.choice(setup.merchants))
            runs["rest-transfer-spread"] = await run_closed(setup, seconds, workers, spread)
            hot = transfer_to(setup, lambda: setup.hot_merchant)
            runs["rest-transfer-hot"] = await run_closed(setup, seconds, workers, hot)
            spread_run = runs["rest-transfer-spread"]
            half = max(1.0, len(spread_run.latencies_s) / spread_run.seconds / 2)
            runs["rest-wallet-pay-half-load"] = await run_open(
                setup, seconds, half, pay_a_bill(setup)
            )
            return runs
    finally:
        platform.stop()


def gateway_pid(platform: RestPlatform) -> int:
    """The platform's gateway process: ``python -m gateway`` listening on the platform's port."""
    found = subprocess.run(
        ["pgrep", "-f", "--", "-m gateway$"], capture_output=True, text=True, check=False
    )
    port = f"COLONY_GATEWAY_PORT={platform.port}".encode()
    pids = []
    for pid in found.stdout.split():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if port in environ:
            pids.append(int(pid))
    if len(pids) != 1:
        raise SystemExit(f"expected one gateway process in the platform, found {pids}")
    return pids[0]


def start_py_spy(options: argparse.Namespace, pid: int) -> subprocess.Popen[bytes]:
    """py-spy recording the gateway for one run (raw output: one line per stack, summed)."""
    return subprocess.Popen(
        [
            *(options.py_spy, "record", "--pid", str(pid), "--rate", "50"),
            *("--duration", str(int(options.seconds)), "--format", "raw", "--nonblocking"),
            *("--output", str(options.out.with_suffix(".pyspy.txt"))),
        ]
    )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _figures(name: str, run: Run) -> dict[str, Any]:
    ordered = sorted(run.latencies_s)

    def at(share: float) -> float:
        if not ordered:
            return 0.0
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1)

    return {
        "scenario": name,
        "done_per_second": round(len(ordered) / run.seconds, 1) if run.seconds else 0.0,
        "done": len(ordered),
        "failures": run.failures,
        "latency_ms_p50": at(0.50),
        "latency_ms_p99": at(0.99),
        "seconds": round(run.seconds, 1),
        "payer_waits": run.payer_waits,
    }


async def wallet_pay_scenarios(options: argparse.Namespace) -> dict[str, Any]:
    """Start a platform, register the people, offer wallet payments at each rate, then closed."""
    options.out.parent.mkdir(parents=True, exist_ok=True)
    platform = RestPlatform(options.out.with_suffix(".platform.log"))
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    connector = aiohttp.TCPConnector(limit=200)
    figures: list[dict[str, Any]] = []
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            await platform.wait_until_ready(session)
            setup = await prepare(Client(session, platform.url), options.people)
            pay = pay_a_bill(setup)
            await run_closed(setup, 2.0, 4, pay)  # warm-up: connections, caches
            pid = gateway_pid(platform)

            def with_cpu(figure: dict[str, Any], cpu_seconds: float) -> dict[str, Any]:
                # The gateway's own CPU per payment: what the saga path costs it, whatever
                # else the machine runs (the figure to compare across runs).
                done = max(1, figure["done"])
                figure["gateway_cpu_ms_per_payment"] = round(cpu_seconds * 1000 / done, 2)
                return figure

            for rate in options.rates:
                cpu = process_cpu_seconds(pid)
                run = await run_open(setup, options.seconds, rate, pay)
                figure = {**_figures(f"wallet-pay-open-{rate:g}/s", run), "offered": rate}
                figures.append(with_cpu(figure, process_cpu_seconds(pid) - cpu))
                print(json.dumps(figures[-1]), flush=True)
            if options.closed:
                spy = start_py_spy(options, pid) if options.py_spy else None
                cpu = process_cpu_seconds(pid)
                run = await run_closed(setup, options.seconds, options.closed, pay)
                figure = _figures(f"wallet-pay-closed-{options.closed}", run)
                figures.append(with_cpu(figure, process_cpu_seconds(pid) - cpu))
                print(json.dumps(figures[-1]), flush=True)
                if spy is not None:
                    spy.wait(timeout=60)
    finally:
        platform.stop()
    return {"load_average_1m_at_end": round(os.getloadavg()[0], 2), "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=120, help="people registered")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each run")
    parser.add_argument(
        "--rates",
        type=lambda text: [float(rate) for rate in text.split(",") if rate],
        default=[30.0, 60.0],
        help="wallet payments offered per second, comma-separated (open loop)",
    )
    parser.add_argument("--closed", type=int, default=20, help="in flight (0: no closed run)")
    parser.add_argument("--py-spy", default="", help="py-spy to attach to the gateway")
    parser.add_argument("--out", type=Path, default=Path("var/bench/wallet-pay.json"))
    options = parser.parse_args()
    report = asyncio.run(wallet_pay_scenarios(options))
    options.out.write_text(json.dumps(report, indent=2))
    print(f"(written to {options.out})")


if __name__ == "__main__":
    main()
