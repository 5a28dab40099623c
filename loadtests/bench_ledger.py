"""Ledger benchmarks (`make bench`): figures and ratios measured in one run on this machine.

Scenarios, each for a fixed time with a fixed number of payments in flight:
  raw-transaction  the transfer-shaped MongoDB transaction alone (guarded debit, credit,
                   one entry), straight from PyMongo: the ceiling the ledger works under
  spread-merchants payments (Transfer RPCs) from many buyers to 200 merchants
  hot-merchant     the same payments all to one merchant flagged hot (16 sub-accounts)
  hot-unsharded    the same payments all to one ordinary merchant (the known bottleneck)
  risk-evaluation  the risk rule engine alone (pure), per-call latency
  feed lag         while spread-merchants runs, the credit service (its own process) follows
                   the payment feed; sampled every 250 ms from the two databases: events the
                   payment service committed that credit has not applied, and how long the
                   oldest of them has waited

The machine is shared and noisy, so the report leads with ratios measured in the same run
(hot ÷ spread, service ÷ raw) rather than absolute figures. Nothing here asserts a number.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chassis.mongo import Session, create_client, run_in_transaction
from colony.common.v1 import money_pb2
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from infra.embedded_mongo import EmbeddedMongo, free_port
from loadtests.bench_rest import rest_scenarios
from services.payment.identity import resident_id_check_char
from services.payment.risk import (
    DEFAULT_RULES,
    DEFAULT_RULES_DATA,
    KycLevel,
    PaymentContext,
    PaymentKind,
    evaluate_risk,
)

CARD = "6222020200112233446"
SPREAD_MERCHANTS = 200
# At least the payments in flight, so that each in-flight payment has its own sub-account.
HOT_SHARDS = 32
BUYERS_PER_WORKER = 4
# What each buyer is topped up with: the most one top-up brings at KYC level 2 (50,000 yuan,
# services/payment/risk_top_up.py); a buyer sends a few hundred transfers of at most 100 yuan.
BUYER_TOP_UP_FEN = 5_000_000
SERVICE_START_SECONDS_MAX = 60.0
RISK_EVALUATIONS = 100_000
FEED_LAG_SAMPLE_SECONDS = 0.25


@dataclass
class Figures:
    scenario: str
    operations: int
    failures: int
    seconds: float
    per_second: float
    latency_ms_p50: float
    latency_ms_p99: float
    # The share of the machine's CPU the benchmark's own process used during the scenario.
    client_cpu_share: float = 0.0


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def summarise(
    scenario: str,
    latencies_s: list[float],
    failures: int,
    seconds: float,
    client_cpu_seconds: float = 0.0,
) -> Figures:
    ordered = sorted(latencies_s) or [0.0]
    return Figures(
        scenario=scenario,
        operations=len(latencies_s),
        failures=failures,
        seconds=round(seconds, 2),
        per_second=round(len(latencies_s) / seconds, 1),
        latency_ms_p50=round(ordered[len(ordered) // 2] * 1000, 2),
        latency_ms_p99=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        client_cpu_share=round(client_cpu_seconds / seconds / (os.cpu_count() or 1), 3),
    )


Operation = Callable[[int], Awaitable[None]]


async def run_for(
    seconds: float, workers: int, one_operation: Operation
) -> tuple[list[float], int]:
    """Run one_operation(worker) in `workers` loops until `seconds` pass; collect latencies."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    failures = 0

    async def loop(worker: int) -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await one_operation(worker)
            except grpc.aio.AioRpcError:
                failures += 1
                continue
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(loop(w) for w in range(workers)))
    return latencies, failures


async def raw_transaction_rate(mongo_url: str, seconds: float, workers: int) -> Figures:
    """The transfer-shaped transaction straight from PyMongo (DESIGN.md's measurement)."""
    client = create_client(mongo_url, "colony-bench")
    accounts = client["bench_raw"]["accounts"]
    entries = client["bench_raw"]["entries"]
    await accounts.drop()
    await entries.drop()
    account_count = 10_000
    await accounts.insert_many(
        [{"_id": i, "balance_fen": 10**12} for i in range(account_count)], ordered=False
    )

    async def transfer(_: int) -> None:
        payer, payee = random.sample(range(account_count), 2)

        async def body(session: Session) -> None:
            moved = await accounts.update_one(
                {"_id": payer, "balance_fen": {"$gte": 1}},
                {"$inc": {"balance_fen": -1}},
                session=session,
            )
            assert moved.modified_count == 1
            await accounts.update_one({"_id": payee}, {"$inc": {"balance_fen": 1}}, session=session)
            await entries.insert_one({"payer": payer, "payee": payee, "fen": 1}, session=session)

        await run_in_transaction(client, body)

    # At its best concurrency: the database's own ceiling, not the client's.
    best: Figures | None = None
    for in_flight in (max(1, workers // 2), workers, workers * 2):
        cpu = cpu_seconds()
        latencies, failures = await run_for(seconds, in_flight, transfer)
        figures = summarise(
            f"raw-transaction ({in_flight} in flight)",
            latencies,
            failures,
            seconds,
            cpu_seconds() - cpu,
        )
        if best is None or figures.per_second > best.per_second:
            best = figures
    await client.close()
    assert best is not None
    best.scenario = "raw-transaction"
    return best


_RESIDENT_IDS_ISSUED: set[str] = set()


def new_resident_id() -> str:
    """A valid resident id not issued before in this run (each database is the run's own)."""
    while True:
        birth = date(1960, 1, 1) + timedelta(days=random.randrange(365 * 45))
        first_17 = f"110101{birth:%Y%m%d}{random.randrange(1000):03d}"
        if first_17 not in _RESIDENT_IDS_ISSUED:
            _RESIDENT_IDS_ISSUED.add(first_17)
            return first_17 + resident_id_check_char(first_17)


class ServiceProcess:
    """A business-line service as its own process, as in production."""

    def __init__(
        self, name: str, mongo_url: str, database: str, extra_env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.port = free_port()
        environment = {
            **os.environ,
            "MONGO_URL": mongo_url,
            f"COLONY_{name.upper()}_DB": database,
            f"COLONY_{name.upper()}_GRPC_PORT": str(self.port),
            "COLONY_LOG_LEVEL": "WARNING",
            "COLONY_ENV": "dev",  # a benchmark runs with the development defaults
            **(extra_env or {}),
        }
        self.process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=environment)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def wait_until_serving(self) -> None:
        deadline = time.monotonic() + SERVICE_START_SECONDS_MAX
        async with grpc.aio.insecure_channel(self.address) as channel:
            health: Any = health_pb2_grpc.HealthStub(channel)  # its stubs omit the RPCs
            while time.monotonic() < deadline:
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.2)
        raise SystemExit(f"the {self.name} service did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


async def open_account(stub: payment_pb2_grpc.PaymentServiceAsyncStub, merchant: bool) -> str:
    phone = f"13{random.randint(0, 10**9 - 1):09d}"
    if merchant:
        merchant_response = await stub.OpenMerchantAccount(
            pb.OpenMerchantAccountRequest(
                idempotency_key=uuid.uuid4().hex,
                owner_ref=uuid.uuid4().hex,
                merchant_name="Bench Merchant",
                phone=phone,
                business_licence="BENCH",
            )
        )
        return merchant_response.account.account_id
    else:
        response = await stub.OpenPersonalAccount(
            pb.OpenPersonalAccountRequest(
                idempotency_key=uuid.uuid4().hex,
                owner_ref=uuid.uuid4().hex,
                real_name="Bench Buyer",
                resident_id=new_resident_id(),
                phone=phone,
            )
        )
    return response.account.account_id


@dataclass
class FeedLagFigures:
    samples: int
    events_behind_max: int
    events_behind_p99: int
    seconds_behind_p50: float
    seconds_behind_p99: float
    seconds_behind_max: float


class FeedLagSampler:
    """Reads, from outside both services, how far credit's intake is behind payment's feed."""

    def __init__(self, mongo_url: str, payment_db: str, credit_db: str) -> None:
        self._client = create_client(mongo_url, "colony-bench-lag")
        self._outbox = self._client[payment_db]["outbox"]
        self._positions = self._client[credit_db]["feed_positions"]
        self._events_behind: list[int] = []
        self._seconds_behind: list[float] = []

    async def sample_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._sample()
            await asyncio.sleep(FEED_LAG_SAMPLE_SECONDS)

    async def _sample(self) -> None:
        """Events committed by payment and not yet applied by credit, and the oldest's wait.

        End to end: an event still waiting for its feed position (the sequencer) counts too.
        """
        applied = await self._positions.find_one({"_id": "payment"}) or {"position": 0}
        waiting = {
            "$or": [
                {"position": {"$exists": False}},
                {"position": {"$gt": int(applied["position"])}},
            ]
        }
        behind = await self._outbox.count_documents(waiting)
        oldest = await self._outbox.find_one(waiting, sort=[("occurred_at", 1)])
        waited = 0.0
        if oldest is not None:
            occurred = oldest["occurred_at"].replace(tzinfo=UTC)
            waited = max(0.0, (datetime.now(UTC) - occurred).total_seconds())
        self._events_behind.append(behind)
        self._seconds_behind.append(waited)

    async def figures(self) -> FeedLagFigures:
        await self._client.close()
        events = sorted(self._events_behind) or [0]
        waits = sorted(self._seconds_behind) or [0.0]
        p99 = min(len(waits) - 1, int(len(waits) * 0.99))
        return FeedLagFigures(
            samples=len(self._events_behind),
            events_behind_max=events[-1],
            events_behind_p99=events[min(len(events) - 1, int(len(events) * 0.99))],
            seconds_behind_p50=round(waits[len(waits) // 2], 3),
            seconds_behind_p99=round(waits[p99], 3),
            seconds_behind_max=round(waits[-1], 3),
        )


async def payment_scenarios(
    mongo_url: str, seconds: float, workers: int
) -> tuple[list[Figures], FeedLagFigures]:
    run_id = uuid.uuid4().hex[:8]
    payment_db, credit_db = f"bench_{run_id}", f"bench_credit_{run_id}"
    service = ServiceProcess("payment", mongo_url, payment_db)
    credit = ServiceProcess(
        "credit",
        mongo_url,
        credit_db,
        {"COLONY_CREDIT_FEEDS": "payment", "COLONY_PAYMENT_ADDRESS": service.address},
    )
    lag = FeedLagSampler(mongo_url, payment_db, credit_db)
    try:
        await service.wait_until_serving()
        await credit.wait_until_serving()
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            buyers = await asyncio.gather(
                *(open_account(stub, merchant=False) for _ in range(workers * BUYERS_PER_WORKER))
            )
            for buyer in buyers:
                await stub.TopUp(
                    pb.TopUpRequest(
                        idempotency_key=uuid.uuid4().hex,
                        account_id=buyer,
                        amount=money_pb2.Money(amount_fen=BUYER_TOP_UP_FEN, currency="CNY"),
                        bank_card_number=CARD,
                    )
                )
            merchants = await asyncio.gather(
                *(open_account(stub, merchant=True) for _ in range(SPREAD_MERCHANTS))
            )
            hot_merchant = await open_account(stub, merchant=True)
            await stub.SetAccountHot(
                pb.SetAccountHotRequest(account_id=hot_merchant, hot_shards=HOT_SHARDS)
            )
            unsharded_merchant = await open_account(stub, merchant=True)
            # A load test is, by design, a payer paying many times a minute: the velocity
            # rules would (rightly) challenge it. Every other default rule still runs.
            rules = [r for r in DEFAULT_RULES_DATA if not str(r["kind"]).startswith("velocity")]
            await stub.SetRiskRules(pb.SetRiskRulesRequest(rules_json=json.dumps(rules)))

            def paying(choose_merchant: Callable[[], str]) -> Operation:
                async def pay(worker: int) -> None:
                    # Each worker pays from its own buyers, as independent shoppers do.
                    buyer = buyers[worker * BUYERS_PER_WORKER + random.randrange(BUYERS_PER_WORKER)]
                    await stub.Transfer(
                        pb.TransferRequest(
                            idempotency_key=uuid.uuid4().hex,
                            from_account_id=buyer,
                            to_account_id=choose_merchant(),
                            amount=money_pb2.Money(
                                amount_fen=random.randint(1, 10_000), currency="CNY"
                            ),
                        ),
                        timeout=30,
                    )

                return pay

            results = []
            for name, choose in (
                ("spread-merchants", lambda: random.choice(merchants)),
                ("hot-merchant", lambda: hot_merchant),
                ("hot-unsharded", lambda: unsharded_merchant),
            ):
                stop_sampling = asyncio.Event()
                sampling = (
                    asyncio.create_task(lag.sample_until(stop_sampling))
                    if name == "spread-merchants"
                    else None
                )
                started, cpu = time.perf_counter(), cpu_seconds()
                latencies, failures = await run_for(seconds, workers, paying(choose))
                elapsed = time.perf_counter() - started
                results.append(summarise(name, latencies, failures, elapsed, cpu_seconds() - cpu))
                stop_sampling.set()
                if sampling is not None:
                    await sampling
            return results, await lag.figures()
    finally:
        credit.stop()
        service.stop()


def risk_evaluation() -> Figures:
    context = PaymentContext(
        payer_account_id="2088000000000001",
        payer_kyc_level=KycLevel.REAL_NAME,
        payee_account_id="2188000000000001",
        payment_kind=PaymentKind.PAYMENT,
        amount_fen=12_345,
        device_id="device-1",
        device_known=True,
        payee_known=False,
        last_minute_count=2,
        last_minute_amount_fen=5_000,
        today_amount_fen=80_000,
        payer_blacklisted=False,
        payee_blacklisted=False,
    )
    latencies = []
    for _ in range(RISK_EVALUATIONS):
        started = time.perf_counter()
        evaluate_risk(DEFAULT_RULES, context)
        latencies.append(time.perf_counter() - started)
    return summarise("risk-evaluation", latencies, 0, sum(latencies))


def machine() -> dict[str, Any]:
    """What the figures ran on: cores, model, Python, and how busy the machine was."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": sys.version.split()[0],
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }


async def main_async(options: argparse.Namespace) -> dict[str, Any]:
    mongo_url = os.environ.get("MONGO_URL")
    server: EmbeddedMongo | None = None
    payer_waits: dict[str, int] = {}
    if not options.group_commit:
        os.environ["COLONY_PAYMENT_GROUP_COMMIT"] = "0"  # the services started inherit it
    if not mongo_url:
        server = EmbeddedMongo(
            Path(tempfile.mkdtemp(prefix="colony-bench-")), free_port(), cache_size_gb=1.0
        )
        server.start()
        mongo_url = server.url
    try:
        figures = [await raw_transaction_rate(mongo_url, options.seconds, options.workers)]
        service_figures, feed_lag = await payment_scenarios(
            mongo_url, options.seconds, options.workers
        )
        figures += service_figures
        if options.rest_people:
            runs = await rest_scenarios(
                options.seconds,
                options.workers,
                options.rest_people,
                options.out.parent / "platform.log",
            )
            for name, run in runs.items():
                figures.append(
                    summarise(
                        name, run.latencies_s, run.failures, run.seconds, run.client_cpu_seconds
                    )
                )
                payer_waits[name] = run.payer_waits
        figures.append(risk_evaluation())
    finally:
        if server is not None:
            server.stop()
    by_name = {f.scenario: f for f in figures}
    ratios = {
        "hot_merchant_over_spread": round(
            by_name["hot-merchant"].per_second / by_name["spread-merchants"].per_second, 3
        ),
        "hot_unsharded_over_spread": round(
            by_name["hot-unsharded"].per_second / by_name["spread-merchants"].per_second, 3
        ),
        "service_spread_over_raw_transaction": round(
            by_name["spread-merchants"].per_second / by_name["raw-transaction"].per_second, 3
        ),
    }
    if "rest-transfer-spread" in by_name:
        rest_spread = by_name["rest-transfer-spread"].per_second
        ratios["rest_spread_over_raw_transaction"] = round(
            rest_spread / by_name["raw-transaction"].per_second, 3
        )
        ratios["rest_hot_over_rest_spread"] = round(
            by_name["rest-transfer-hot"].per_second / rest_spread, 3
        )
    return {
        "machine": machine(),
        "settings": {
            "seconds": options.seconds,
            "workers": options.workers,
            "group_commit": options.group_commit,
            "rest_people": options.rest_people,
        },
        "rest_payer_waits": payer_waits,
        "figures": [asdict(f) for f in figures],
        "ratios": ratios,
        "feed_lag_credit_behind_payment_during_spread_merchants": asdict(feed_lag),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each scenario")
    parser.add_argument("--workers", type=int, default=20, help="payments in flight")
    parser.add_argument("--out", type=Path, default=Path("var/bench/ledger.json"))
    parser.add_argument(
        "--rest-people",
        type=int,
        default=400,
        help="people registered for the REST scenarios (0: skip them)",
    )
    parser.add_argument(
        "--no-group-commit",
        dest="group_commit",
        action="store_false",
        help="run the payment service with one transaction per Transfer (the before figures)",
    )
    options = parser.parse_args()
    report = asyncio.run(main_async(options))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(report, indent=2))
    print(
        f"{'scenario':<26} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failures':>8} "
        f"{'client CPU':>10}"
    )
    for row in report["figures"]:
        print(
            f"{row['scenario']:<26} {row['per_second']:>9} {row['latency_ms_p50']:>8} "
            f"{row['latency_ms_p99']:>8} {row['failures']:>8} {row['client_cpu_share']:>10}"
        )
    for name, value in report["ratios"].items():
        print(f"{name}: {value}")
    lag = report["feed_lag_credit_behind_payment_during_spread_merchants"]
    print(
        f"credit feed lag during spread-merchants: events behind max {lag['events_behind_max']} "
        f"(p99 {lag['events_behind_p99']}); seconds behind p50 {lag['seconds_behind_p50']}, "
        f"p99 {lag['seconds_behind_p99']}, max {lag['seconds_behind_max']} "
        f"({lag['samples']} samples)"
    )
    print(f"(written to {options.out})")


if __name__ == "__main__":
    main()
