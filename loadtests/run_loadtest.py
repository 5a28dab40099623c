"""`make loadtest`: run a Locust shape against the platform, then prove the books are intact.

1. Use the platform answering at COLONY_GATEWAY_URL (default http://127.0.0.1:8080), or start
   one the way `make run` does (its data under var/loadtest, so a run never touches the demo
   data of `make run`), and wait until it is ready.
2. Run Locust headless with loadtests/locustfile.py for the chosen shape; the HTML report and
   the CSV stats go to var/reports/<shape>-<time>.*.
3. Check, and exit non-zero on any breach:
   - the payment ledger's invariants, escrow, and the wealth and loan accounts (colony audit);
   - no operation (saga) left running, compensating or parked once the load stops;
   - every money movement that got a 2xx has its effect (the journal the users wrote):
     its posting exists, its operation completed, its trade left CREATED;
   - errors (not business refusals) stay under COLONY_LOAD_ERROR_RATE_MAX (default 1%).

    make loadtest                                   # steady day, defaults for 2 cores
    make loadtest ARGS="--shape double11 --users 40 --seconds 300"
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chassis.mongo import create_client
from chassis.settings import ServiceSettings
from infra.cli import audit
from loadtests.wallet.journal import JOURNAL_DIR_ENV, read_journal
from loadtests.wallet.setup import OPERATOR_PASSWORD, OPERATOR_PHONE

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS_MAX = 240.0
SETTLE_SECONDS_MAX = 90.0
MONGO_PORT_OF_MAKE_RUN = 27027
ERROR_RATE_MAX_DEFAULT = 0.01
UNFINISHED_STATES = ("running", "compensating", "parked")


def _http(url: str, *, token: str = "", body: dict[str, Any] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        method="POST" if body is not None else "GET",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, OSError):
        return 0, None


def is_ready(gateway_url: str) -> bool:
    return _http(f"{gateway_url}/readyz")[0] == 200


@dataclass
class Platform:
    gateway_url: str
    mongo_url: str
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def platform_for(gateway_url: str, reports: Path) -> Platform:
    """The running platform, or one started as `make run` starts it."""
    mongo_url = os.environ.get("MONGO_URL") or (
        f"mongodb://127.0.0.1:{MONGO_PORT_OF_MAKE_RUN}/?replicaSet=rs0&directConnection=true"
    )
    if is_ready(gateway_url):
        print(f"using the platform at {gateway_url}")
        return Platform(gateway_url, mongo_url)
    print("no platform answers: starting one (make run's path, data in var/loadtest)")
    log = (reports / "platform.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.run", "--json"],
        cwd=REPO_ROOT,
        env={**os.environ, "COLONY_VAR_DIR": str(REPO_ROOT / "var" / "loadtest")},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    platform = Platform(gateway_url, mongo_url, process)
    deadline = time.monotonic() + READY_SECONDS_MAX
    while not is_ready(gateway_url):
        if process.poll() is not None or time.monotonic() > deadline:
            platform.stop()
            raise SystemExit(f"the platform did not become ready; see {reports / 'platform.log'}")
        time.sleep(1)
    return platform


def run_locust(options: argparse.Namespace, platform: Platform, prefix: Path) -> None:
    environment = {
        **os.environ,
        "COLONY_LOAD_SHAPE": options.shape,
        "COLONY_LOAD_USERS": str(options.users),
        "COLONY_LOAD_SPAWN_RATE": str(options.spawn_rate),
        "COLONY_LOAD_SECONDS": str(options.seconds),
        JOURNAL_DIR_ENV: str(prefix.parent / f"{prefix.name}-journal"),
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(REPO_ROOT / "loadtests" / "locustfile.py"),
        "--headless",
        "--host",
        platform.gateway_url,
        "--html",
        f"{prefix}.html",
        "--csv",
        str(prefix),
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "30",
    ]
    print(f"locust: shape {options.shape}, {options.users} users, {options.seconds} s")
    subprocess.run(command, cwd=REPO_ROOT, env=environment, check=True)


@dataclass(frozen=True, slots=True)
class Row:
    method: str
    name: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    per_second: float


def read_stats(prefix: Path) -> list[Row]:
    rows = []
    with Path(f"{prefix}_stats.csv").open(newline="") as stats:
        for line in csv.DictReader(stats):
            rows.append(
                Row(
                    method=line["Type"],
                    name=line["Name"],
                    requests=int(line["Request Count"]),
                    failures=int(line["Failure Count"]),
                    p50_ms=float(line["50%"] or 0),
                    p95_ms=float(line["95%"] or 0),
                    p99_ms=float(line["99%"] or 0),
                    per_second=float(line["Requests/s"] or 0),
                )
            )
    return rows


def operator_token(gateway_url: str) -> str:
    status, answer = _http(
        f"{gateway_url}/v1/auth/login",
        body={"phone": OPERATOR_PHONE, "password": OPERATOR_PASSWORD},
    )
    if status != 200:
        raise SystemExit("cannot log in as the demo operator to look at the operations")
    return str(answer["access_token"])


def unfinished_operations(gateway_url: str) -> list[dict[str, Any]]:
    """Sagas still running, compensating or parked, once they had time to settle."""
    token = operator_token(gateway_url)
    deadline = time.monotonic() + SETTLE_SECONDS_MAX
    while True:
        stuck: list[dict[str, Any]] = []
        for state in UNFINISHED_STATES:
            status, answer = _http(
                f"{gateway_url}/v1/admin/operations?state={state}&page_size=100", token=token
            )
            if status != 200:
                raise SystemExit(f"GET /v1/admin/operations answered {status}")
            stuck += answer["operations"]
        if not stuck or time.monotonic() > deadline:
            return stuck
        time.sleep(2)


async def missing_effects(mongo_url: str, journal_dir: Path) -> list[str]:
    """Journal entries (2xx answers) whose effect cannot be found in the databases."""
    entries = read_journal(journal_dir)
    client = create_client(mongo_url, "colony-loadtest-check")
    payment_db = client[ServiceSettings.from_env("payment").database_name]
    gateway_db = client[os.environ.get("COLONY_GATEWAY_DB", "gateway")]
    missing = []
    try:
        for entry in entries:
            kind = entry["kind"]
            if kind == "posting":
                found = await payment_db["postings"].count_documents({"_id": entry["posting_id"]})
                if not found:
                    missing.append(f"{entry['what']} posting {entry['posting_id']} not found")
            elif kind == "operation":
                saga = await gateway_db["sagas"].find_one({"_id": entry["operation_id"]})
                if saga is None or saga.get("state") != "completed":
                    state = None if saga is None else saga.get("state")
                    missing.append(f"operation {entry['operation_id']} is {state}")
            elif kind in ("trade_paid", "trade_settled"):
                trade = await payment_db["trades"].find_one({"_id": entry["trade_id"]})
                wanted = ("settled",) if kind == "trade_settled" else None
                state = None if trade is None else trade.get("state")
                if state is None or state == "created" or (wanted and state not in wanted):
                    missing.append(f"trade {entry['trade_id']} ({kind}) is {state}")
    finally:
        await client.close()
    print(f"journal: {len(entries)} movements answered 2xx, {len(missing)} without their effect")
    return missing


def summarise(rows: list[Row], out: Path) -> dict[str, Any]:
    requests = [r for r in rows if r.method not in ("REFUSAL", "") and r.name != "Aggregated"]
    total = next((r for r in rows if r.name == "Aggregated"), None)
    refusals = [r for r in rows if r.method == "REFUSAL"]
    summary: dict[str, Any] = {
        "endpoints": [asdict(r) for r in sorted(requests, key=lambda r: -r.requests)],
        "refusals": {r.name: r.requests for r in refusals},
        "total": None if total is None else asdict(total),
    }
    out.write_text(json.dumps(summary, indent=2))
    print(f"{'endpoint':<42} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'fail':>5}")
    for r in summary["endpoints"]:
        print(
            f"{r['method'] + ' ' + r['name']:<42.42} {r['per_second']:>7.1f} {r['p50_ms']:>6.0f} "
            f"{r['p95_ms']:>6.0f} {r['p99_ms']:>6.0f} {r['failures']:>5}"
        )
    for name, count in summary["refusals"].items():
        print(f"business refusal  {name}: {count}")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", default="steady", choices=["steady", "double11", "payday"])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--spawn-rate", type=float, default=5.0)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument(
        "--gateway-url", default=os.environ.get("COLONY_GATEWAY_URL", "http://127.0.0.1:8080")
    )
    options = parser.parse_args()
    reports = REPO_ROOT / "var" / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    prefix = reports / f"{options.shape}-{stamp}"
    platform = platform_for(options.gateway_url.rstrip("/"), reports)
    breaches: list[str] = []
    try:
        run_locust(options, platform, prefix)
        summary = summarise(read_stats(prefix), Path(f"{prefix}-summary.json"))
        stuck = unfinished_operations(platform.gateway_url)
        breaches += [f"operation {o['operation_id']} left {o['state']}" for o in stuck]
        settings = ServiceSettings.from_env(
            "payment", {**os.environ, "MONGO_URL": platform.mongo_url}
        )
        wealth = ServiceSettings.from_env("wealth", {**os.environ, "MONGO_URL": platform.mongo_url})
        loan = ServiceSettings.from_env("loan", {**os.environ, "MONGO_URL": platform.mongo_url})
        insurance = ServiceSettings.from_env(
            "insurance", {**os.environ, "MONGO_URL": platform.mongo_url}
        )
        breaches += [f"audit: {b}" for b in asyncio.run(audit(settings, wealth, loan, insurance))]
        breaches += asyncio.run(
            missing_effects(platform.mongo_url, prefix.parent / f"{prefix.name}-journal")
        )
        total = summary["total"] or {"requests": 0, "failures": 0}
        refused = sum(summary["refusals"].values())
        real_requests = max(1, total["requests"] - refused)
        error_rate = total["failures"] / real_requests
        error_rate_max = float(os.environ.get("COLONY_LOAD_ERROR_RATE_MAX", ERROR_RATE_MAX_DEFAULT))
        print(f"errors: {total['failures']} of {real_requests} requests ({error_rate:.2%})")
        if error_rate > error_rate_max:
            breaches.append(f"error rate {error_rate:.2%} above {error_rate_max:.2%}")
    finally:
        platform.stop()
    print(f"report: {prefix}.html (and {prefix}_stats.csv)")
    for breach in breaches:
        print(f"BREACH: {breach}")
    if breaches:
        return 1
    print(
        "the books are intact: audit clean, no operation left unfinished, every 2xx has its effect"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
