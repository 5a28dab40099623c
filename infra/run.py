"""`make run`: the whole platform on this machine, supervised by one process.

Starts the embedded mongod (unless MONGO_URL points at a cluster), the five business-line
services and the gateway as child processes, prints their output interleaved with a
``[name]`` prefix, waits until the gateway's /readyz answers 200, loads the demo data and
prints where to go. One Ctrl-C (or SIGTERM, or closing the terminal) stops everything:
the gateway first, then the services, then mongod. If a child dies on its own, everything
stops and we exit non-zero. Data stays under var/, so the next `make run` starts where
this one stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

import aiohttp

from chassis.authz import CLI_CALLER
from chassis.errors import DomainError
from chassis.settings import SERVICE_NAMES, ServiceSettings
from chassis.tls import DevPki, ensure_dev_pki
from infra import console
from infra.cli import change_operator
from infra.demo_data import DemoDataError, format_logins, load_demo_data
from infra.embedded_mongo import EmbeddedMongo, EmbeddedMongoError

REPO_ROOT = Path(__file__).resolve().parent.parent
GATEWAY = "gateway"
SUPERVISOR = "run"

MONGO_PORT_DEFAULT = 27027
GATEWAY_HOST_DEFAULT = "127.0.0.1"
GATEWAY_PORT_DEFAULT = 8080
# Warm start takes a few seconds; a cold one also compiles every module's bytecode.
READY_TIMEOUT_SECONDS_DEFAULT = 120.0
READY_POLL_INTERVAL_SECONDS = 0.25
# Each child serves GET /metrics on its own port: 9464 (payment) to 9469 (the gateway) by
# default; COLONY_RUN_METRICS=off serves none.
METRICS_PORT_BASE_DEFAULT = 9464
READY_REQUEST_TIMEOUT_SECONDS = 2.0
# A service drains in-flight RPCs for COLONY_SHUTDOWN_GRACE_SECONDS (10 s by default).
STOP_GRACE_SECONDS = 15.0
KILL_WAIT_SECONDS = 5.0
OUTPUT_LINE_BYTES_MAX = 1 << 20
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Ctrl-C, a polite kill, and the terminal closing: each stops everything in order.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class GatewayNotReady(RuntimeError):
    """/readyz did not answer 200 before the deadline."""


class PortsInUse(RuntimeError):
    """A port a child would listen on is already taken."""


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What the supervisor reads from the environment, once, at start-up."""

    mongo_url: str | None  # an external cluster; None starts the embedded mongod
    mongo_port: int
    mongo_dir: Path
    gateway_host: str
    gateway_port: int
    ready_timeout_seconds: float
    # Each child's metrics port (its COLONY_METRICS_PORT); a child not named serves none.
    metrics_ports: Mapping[str, int] = field(default_factory=dict)
    # The dev CA and each process's certificate (chassis.tls); None: plaintext gRPC.
    tls_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], var_dir: Path) -> RunSettings:
        """Settings from the environment; local data goes under COLONY_VAR_DIR or var_dir."""
        var_dir = Path(environ.get("COLONY_VAR_DIR") or var_dir)
        return cls(
            mongo_url=environ.get("MONGO_URL") or None,
            mongo_port=_port(environ, "COLONY_MONGO_PORT", MONGO_PORT_DEFAULT),
            mongo_dir=var_dir / "mongo",
            gateway_host=environ.get("COLONY_GATEWAY_HOST") or GATEWAY_HOST_DEFAULT,
            gateway_port=_port(environ, "COLONY_GATEWAY_PORT", GATEWAY_PORT_DEFAULT),
            ready_timeout_seconds=float(
                environ.get("COLONY_RUN_READY_TIMEOUT_SECONDS") or READY_TIMEOUT_SECONDS_DEFAULT
            ),
            metrics_ports=metrics_ports(environ),
            tls_dir=var_dir / "tls",
        )

    @property
    def gateway_url(self) -> str:
        """Where a client on this machine reaches the gateway (a wildcard bind is loopback)."""
        host = "127.0.0.1" if self.gateway_host in ("0.0.0.0", "::") else self.gateway_host
        return f"http://{host}:{self.gateway_port}"


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name) or str(default)
    if not raw.isdigit():
        raise SystemExit(f"setting {name}={raw!r} is not a port number")
    return int(raw)


def metrics_ports(environ: Mapping[str, str]) -> dict[str, int]:
    """Each child's metrics port: COLONY_<NAME>_METRICS_PORT, else COLONY_RUN_METRICS_PORT_BASE
    (9464) plus its place in (payment, wealth, credit, loan, insurance, gateway); none at all
    with COLONY_RUN_METRICS=off."""
    if environ.get("COLONY_RUN_METRICS", "").lower() in ("off", "0", "no", "false"):
        return {}
    base = _port(environ, "COLONY_RUN_METRICS_PORT_BASE", METRICS_PORT_BASE_DEFAULT)
    return {
        name: _port(environ, f"COLONY_{name.upper()}_METRICS_PORT", base + offset)
        for offset, name in enumerate((*SERVICE_NAMES, GATEWAY))
    }


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One child process: its name in the log prefix, its command line and environment."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]


def child_ports(environ: Mapping[str, str], settings: RunSettings) -> dict[str, int]:
    """The port each child listens on: the services' gRPC ports, then the gateway's."""
    ports = {name: ServiceSettings.from_env(name, environ).grpc_port for name in SERVICE_NAMES}
    return {**ports, GATEWAY: settings.gateway_port}


def process_specs(
    environ: Mapping[str, str], mongo_url: str, settings: RunSettings, python: str
) -> tuple[ProcessSpec, ...]:
    """The five services, then the gateway, all pointed at one MongoDB and at each other."""
    ports = child_ports(environ, settings)
    env = dict(environ)
    env["MONGO_URL"] = mongo_url
    # The gateway's built-in development secrets are fine on a developer's machine only.
    env.setdefault("COLONY_ENV", "dev")
    if env["COLONY_ENV"] == "dev":
        # A demo convenience: new merchants approved on opening, recorded as "dev auto-approval"
        # (outside dev the payment service allows only review: services.payment.merchant_review).
        env.setdefault("COLONY_MERCHANT_ONBOARDING", "auto-approve")
    # Children write to a pipe; unbuffered, their lines reach the terminal as they happen.
    env["PYTHONUNBUFFERED"] = "1"
    for name in SERVICE_NAMES:
        # A port moved with COLONY_<NAME>_GRPC_PORT moves the address the others dial too.
        env.setdefault(f"COLONY_{name.upper()}_ADDRESS", f"127.0.0.1:{ports[name]}")
    env["COLONY_GATEWAY_HOST"] = settings.gateway_host
    env["COLONY_GATEWAY_PORT"] = str(settings.gateway_port)
    # One metrics port per child (they share this host), or none.
    env.pop("COLONY_METRICS_PORT", None)

    def child_env(name: str) -> dict[str, str]:
        port = settings.metrics_ports.get(name)
        return env if port is None else {**env, "COLONY_METRICS_PORT": str(port)}

    services = tuple(
        ProcessSpec(name, (python, "-m", f"services.{name}"), child_env(name))
        for name in SERVICE_NAMES
    )
    gateway = ProcessSpec(GATEWAY, (python, "-m", "gateway"), child_env(GATEWAY))
    return (*services, gateway)


def with_certificates(specs: Sequence[ProcessSpec], pki: DevPki) -> tuple[ProcessSpec, ...]:
    """Each child with its own certificate of the dev CA (COLONY_TLS_*): mutual TLS."""
    return tuple(
        ProcessSpec(spec.name, spec.argv, {**spec.env, **pki.environment_for(spec.name)})
        for spec in specs
    )


def output_prefix(name: str, width: int) -> str:
    """``[name]`` padded so that every process's lines start in the same column."""
    return f"[{name}]".ljust(width + 2) + " "


def ports_in_use(ports: Mapping[str, int]) -> list[str]:
    """The children whose loopback port is already taken (another run, say)."""
    busy = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(f"{name} (port {port})")
    return busy


def _stop_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when the supervisor dies.

    Children run in their own session (so one Ctrl-C reaches only the supervisor, which
    stops them in order); this keeps them from outliving a supervisor that was SIGKILLed.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_parent_death_signal() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_parent_death_signal


@dataclass
class Child:
    spec: ProcessSpec
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None]
    watch: asyncio.Task[None]


class Supervisor:
    """Children started together, watched together, and stopped together in order."""

    def __init__(
        self,
        out: TextIO,
        label_width: int,
        stop_grace_seconds: float,
        render: Callable[[str], str | None] | None = None,
    ) -> None:
        self.out = out
        # How a child's line is shown (infra.console.render in a terminal); None: as it is.
        self.render = render
        self.label_width = label_width
        self.stop_grace_seconds = stop_grace_seconds
        self.stop_requested = asyncio.Event()
        self.failure: str | None = None
        self.children: list[Child] = []
        self._stopping = False
        self._output_lost = False
        self._pre_exec = _stop_with_parent()

    def say(self, text: str, name: str = SUPERVISOR) -> None:
        """Write text, line by line, under the given process name."""
        if self._output_lost:
            return
        prefix = output_prefix(name, self.label_width)
        try:
            self.out.write("".join(f"{prefix}{line}\n" for line in text.splitlines() or [""]))
            self.out.flush()
        except OSError:
            # Our reader is gone (Ctrl-C also ended the `| tee` we wrote to, or the terminal
            # closed): stopping everything cleanly matters more than being heard.
            self._output_lost = True

    def fail(self, reason: str) -> None:
        """Record the first reason to give up, and stop everything."""
        if self.failure is None:
            self.failure = reason
        self.stop_requested.set()

    def fail_if_crashed(self, task: asyncio.Task[None]) -> None:
        """Done-callback: a task that died of an unforeseen error stops everything, loudly."""
        if not task.cancelled() and task.exception() is not None:
            self.fail(f"{task.get_name()} crashed: {task.exception()!r}")

    def request_stop(self, signal_name: str) -> None:
        if self.stop_requested.is_set():
            self.say(f"{signal_name}: already stopping")
            return
        self.stop_requested.set()
        self.say(f"{signal_name}: stopping")

    async def start(self, spec: ProcessSpec) -> None:
        """Start one child with its output piped through the prefixer."""
        process = await asyncio.create_subprocess_exec(
            *spec.argv,
            env=dict(spec.env),
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=self._pre_exec,
            limit=OUTPUT_LINE_BYTES_MAX,
        )
        assert process.stdout is not None
        pump = asyncio.create_task(self._pump(spec.name, process.stdout), name=f"{spec.name} log")
        watch = asyncio.create_task(self._watch(spec.name, process), name=f"{spec.name} watch")
        for task in (pump, watch):
            task.add_done_callback(self.fail_if_crashed)
        self.children.append(Child(spec, process, pump, watch))

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        # Ends at EOF, which comes when the child exits (or closes its output).
        while not stream.at_eof():
            try:
                line = await stream.readuntil(b"\n")
            except asyncio.IncompleteReadError as eof:
                line = eof.partial
            except asyncio.LimitOverrunError as overrun:
                # A line longer than the buffer: show it in pieces rather than lose it.
                line = await stream.readexactly(overrun.consumed)
            if line:
                text = line.decode("utf-8", errors="replace").rstrip("\r\n")
                shown = text if self.render is None else self.render(text)
                if shown is not None:
                    self.say(shown, name)

    async def _watch(self, name: str, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if not self._stopping:
            self.fail(f"{name} exited unexpectedly with code {code}")

    async def stop_all(self) -> None:
        """SIGTERM the gateway, then the services; SIGKILL whatever outlives the grace."""
        self._stopping = True
        # Gateway first, so no request reaches a service that is already gone.
        gateway = [child for child in self.children if child.spec.name == GATEWAY]
        services = [child for child in self.children if child.spec.name != GATEWAY]
        for group in (gateway, services):
            await self._terminate(group)
        tasks = [task for child in self.children for task in (child.pump, child.watch)]
        if tasks:
            await asyncio.wait(tasks, timeout=KILL_WAIT_SECONDS)

    async def _terminate(self, children: Sequence[Child]) -> None:
        running = [child for child in children if child.process.returncode is None]
        for child in running:
            _signal_group(child.process, signal.SIGTERM)
        if not running:
            return
        waits = [asyncio.ensure_future(child.process.wait()) for child in running]
        await asyncio.wait(waits, timeout=self.stop_grace_seconds)
        stragglers = [child for child in running if child.process.returncode is None]
        for child in stragglers:
            self.say(
                f"{child.spec.name} still running after {self.stop_grace_seconds:.0f}s: killed"
            )
            _signal_group(child.process, signal.SIGKILL)
        await asyncio.wait(waits, timeout=KILL_WAIT_SECONDS)


def _signal_group(process: asyncio.subprocess.Process, signum: signal.Signals) -> None:
    # Each child leads its own process group; signal the group so its helpers go too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def without_busy_metrics_ports(settings: RunSettings, supervisor: Supervisor) -> RunSettings:
    """Metrics are a convenience here: a child whose metrics port is taken serves none."""
    busy = set(ports_in_use(settings.metrics_ports))
    if not busy:
        return settings
    free = {
        name: port
        for name, port in settings.metrics_ports.items()
        if f"{name} (port {port})" not in busy
    }
    supervisor.say(f"metrics ports in use, serving no metrics for: {', '.join(sorted(busy))}")
    return replace(settings, metrics_ports=free)


async def wait_until_ready(gateway_url: str, timeout_seconds: float) -> None:
    """Poll GET /readyz until it answers 200, or raise GatewayNotReady at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    last_answer = "no answer"
    timeout = aiohttp.ClientTimeout(total=READY_REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while loop.time() < deadline:
            try:
                async with session.get(f"{gateway_url}/readyz") as response:
                    if response.status == 200:
                        return
                    last_answer = f"HTTP {response.status} {(await response.text())[:300]}"
            except (aiohttp.ClientError, TimeoutError) as error:
                last_answer = f"{type(error).__name__}: {error}"
            await asyncio.sleep(READY_POLL_INTERVAL_SECONDS)
    raise GatewayNotReady(
        f"{gateway_url}/readyz did not answer 200 within {timeout_seconds:.0f}s "
        f"(last: {last_answer})"
    )


async def start_mongo(settings: RunSettings, supervisor: Supervisor) -> EmbeddedMongo:
    """Start the embedded mongod on settings.mongo_port with its data in settings.mongo_dir."""
    mongo = EmbeddedMongo(settings.mongo_dir, settings.mongo_port)
    supervisor.say(
        f"starting mongod on 127.0.0.1:{settings.mongo_port} "
        f"(data and log in {_shown(settings.mongo_dir)})"
    )
    # Blocking (it polls until the node is primary, with its own deadline): off the loop, so
    # a Ctrl-C meanwhile is still noticed.
    await asyncio.to_thread(mongo.start)
    return mongo


GrantOperator = Callable[[str], Awaitable[None]]


def demo_data_wanted(load_demo: bool, environ: Mapping[str, str]) -> bool:
    """Demo users (and their public password) exist only in a dev environment."""
    return load_demo and environ.get("COLONY_ENV", "dev") == "dev"


def demo_operator_granter(environ: Mapping[str, str], mongo_url: str) -> GrantOperator:
    """Grant the demo operator as `colony operator grant` would (recorded as make run's)."""
    database_name = environ.get("COLONY_GATEWAY_DB", "gateway")

    async def grant(phone: str) -> None:
        try:
            await change_operator(
                mongo_url, database_name, phone, "make run", "the demo operator", grant=True
            )
        except DomainError as error:
            raise DemoDataError(f"granting the demo operator: {error.message}") from error

    return grant


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


async def bring_up(
    supervisor: Supervisor,
    settings: RunSettings,
    load_demo: bool,
    started_at: float,
    grant_operator: GrantOperator | None = None,
) -> None:
    """Wait for the gateway to be ready, load the demo data, say where to go."""
    try:
        await wait_until_ready(settings.gateway_url, settings.ready_timeout_seconds)
        ready_seconds = time.monotonic() - started_at
        logins = (
            await load_demo_data(settings.gateway_url, grant_operator=grant_operator)
            if load_demo
            else []
        )
    except GatewayNotReady as error:
        supervisor.fail(str(error))
        return
    except DemoDataError as error:
        supervisor.fail(f"{error} (`make run ARGS=--no-demo` starts without demo data)")
        return
    lines = [
        f"Colony is ready ({ready_seconds:.1f}s to /readyz).",
        f"  gateway   {settings.gateway_url}",
        f"  API docs  {settings.gateway_url}/docs",
    ]
    if settings.metrics_ports:
        served = ", ".join(f"{name} {port}" for name, port in settings.metrics_ports.items())
        lines.append(f"  metrics   GET http://127.0.0.1:<port>/metrics  ({served})")
    if logins:
        lines.append(format_logins(logins))
    lines.append("Press Ctrl-C to stop everything.")
    supervisor.say("\n".join(lines))


async def run_platform(
    settings: RunSettings,
    environ: Mapping[str, str],
    load_demo: bool,
    out: TextIO,
    *,
    readable_logs: bool = False,
) -> int:
    """Run everything until a signal or a failure; return the process exit code.

    With readable_logs, the children's JSON lines are shown as short lines for a person
    (infra.console); otherwise exactly as the processes wrote them.
    """
    started_at = time.monotonic()
    names = (*SERVICE_NAMES, GATEWAY, SUPERVISOR)
    supervisor = Supervisor(
        out,
        max(map(len, names)),
        STOP_GRACE_SECONDS,
        render=console.render if readable_logs else None,
    )
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, supervisor.request_stop, signum.name)
    mongo: EmbeddedMongo | None = None
    startup: asyncio.Task[None] | None = None
    try:
        # Checked before mongod starts: a second `make run` must not touch the first one's.
        busy = ports_in_use(child_ports(environ, settings))
        if busy:
            raise PortsInUse(f"ports in use, is another `make run` going? {', '.join(busy)}")
        settings = without_busy_metrics_ports(settings, supervisor)
        mongo_url = settings.mongo_url
        if mongo_url is None:
            mongo = await start_mongo(settings, supervisor)
            mongo_url = mongo.url
        else:
            supervisor.say("MONGO_URL is set: using that cluster, starting no mongod")
        pki = None
        if settings.tls_dir is not None:
            pki = await asyncio.to_thread(
                ensure_dev_pki, settings.tls_dir, (*SERVICE_NAMES, GATEWAY, CLI_CALLER)
            )
            supervisor.say(f"mutual TLS: dev CA and certificates in {_shown(settings.tls_dir)}")
        if not supervisor.stop_requested.is_set():
            specs = process_specs(environ, mongo_url, settings, sys.executable)
            for spec in specs if pki is None else with_certificates(specs, pki):
                await supervisor.start(spec)
            demo = demo_data_wanted(load_demo, environ)
            if load_demo and not demo:
                supervisor.say("demo data is for COLONY_ENV=dev only: not loaded")
            granter = demo_operator_granter(environ, mongo_url)
            startup = asyncio.create_task(
                bring_up(supervisor, settings, demo, started_at, granter), name="start-up"
            )
            startup.add_done_callback(supervisor.fail_if_crashed)
        await supervisor.stop_requested.wait()
    except (EmbeddedMongoError, PortsInUse) as error:
        supervisor.fail(str(error))
    finally:
        if startup is not None:
            startup.cancel()
            await asyncio.wait([startup])
        await supervisor.stop_all()
        if mongo is not None:
            supervisor.say("stopping mongod")
            await asyncio.to_thread(mongo.stop)
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    if supervisor.failure is not None:
        supervisor.say(f"stopped: {supervisor.failure}")
        return 1
    supervisor.say("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo data")
    parser.add_argument(
        "--json", action="store_true", help="show the processes' JSON log lines as they are"
    )
    options = parser.parse_args(argv)
    settings = RunSettings.from_env(os.environ, REPO_ROOT / "var")
    # Short readable lines for a person at a terminal; JSON when piped, or when asked for.
    readable = (
        sys.stdout.isatty()
        and not options.json
        and os.environ.get("COLONY_LOG_FORMAT", "").lower() != "json"
    )
    return asyncio.run(
        run_platform(settings, os.environ, not options.no_demo, sys.stdout, readable_logs=readable)
    )


if __name__ == "__main__":
    sys.exit(main())
