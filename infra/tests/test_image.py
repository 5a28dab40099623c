"""The image (no Docker engine here, so by reading): the Dockerfile's promises, the entrypoint
that picks the process, the healthcheck module against real health endpoints, and the wheel
the image installs carrying every data file the code reads."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from chassis.settings import SERVICE_NAMES
from infra import healthcheck

REPO = Path(__file__).resolve().parent.parent.parent
DOCKERFILE = REPO / "infra" / "docker" / "Dockerfile"
ENTRYPOINT = REPO / "infra" / "docker" / "entrypoint.sh"
PACKAGE_DIRS = ("chassis", "services", "gateway", "infra", "protos")


def test_dockerfile_promises() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base.group(1))
    assert re.findall(r"^FROM (\S+) AS (\w+)$", text, re.MULTILINE) == [
        ("${PYTHON_IMAGE}", "builder"),
        ("${PYTHON_IMAGE}", "runtime"),
    ]
    assert "pip install --no-cache-dir -c constraints.txt ." in text
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    assert 'CMD ["python", "-m", "infra.healthcheck"]' in text
    assert 'ENTRYPOINT ["colony-entrypoint"]' in text
    for name in SERVICE_NAMES:  # a new service must be told to listen beyond loopback
        assert f"COLONY_{name.upper()}_GRPC_HOST=0.0.0.0" in text
    for source in re.findall(r"^COPY (?!--)(\S+)", text, re.MULTILINE):
        assert (REPO / source).exists(), source


def test_dockerignore_keeps_what_the_build_copies() -> None:
    kept = {
        line.removeprefix("!").rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = {
        source.rstrip("/").split("/")[0]
        for source in re.findall(r"^COPY (?!--)(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    }
    copied |= {"pyproject.toml", "constraints.txt", "README.md"}
    assert copied <= kept


@pytest.fixture
def fake_python(tmp_path: Path) -> dict[str, str]:
    """A PATH whose `python` prints its arguments instead of running anything."""
    (tmp_path / "python").write_text('#!/bin/sh\necho "python $*"\n')
    (tmp_path / "python").chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("args", "runs"),
    [
        (["payment"], "python -m services.payment"),
        (["insurance"], "python -m services.insurance"),
        (["gateway"], "python -m gateway"),
        (["gateway", "--flag"], "python -m gateway --flag"),
        (["echo", "audit"], "audit"),
    ],
)
def test_entrypoint_runs_a_process_by_name(
    fake_python: dict[str, str], args: list[str], runs: str
) -> None:
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env=fake_python,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    assert done.stdout.strip() == runs


def test_entrypoint_without_arguments_says_how(fake_python: dict[str, str]) -> None:
    done = subprocess.run(
        ["sh", str(ENTRYPOINT)],
        env=fake_python,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 64 and "usage" in done.stderr
    assert os.access(ENTRYPOINT, os.X_OK)


def test_healthcheck_finds_the_process(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"/opt/colony/bin/python\0-m\0services.credit\0")
    assert healthcheck.resolve_process([], {}, cmdline) == "credit"
    cmdline.write_bytes(b"python\0-m\0gateway\0")
    assert healthcheck.resolve_process([], {}, cmdline) == "gateway"
    assert healthcheck.resolve_process(["loan"], {}, cmdline) == "loan"
    assert healthcheck.resolve_process([], {"COLONY_PROCESS": "wealth"}, cmdline) == "wealth"
    cmdline.write_bytes(b"/sbin/tini\0--\0sleep\0")
    with pytest.raises(healthcheck.HealthcheckError, match="no Colony process"):
        healthcheck.resolve_process([], {}, cmdline)
    with pytest.raises(healthcheck.HealthcheckError, match="unknown process"):
        healthcheck.resolve_process(["ledger"], {}, cmdline)


@pytest.fixture
def health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, servicer
    server.stop(None)


def test_healthcheck_asks_grpc_health(health_server: tuple[int, health.HealthServicer]) -> None:
    port, servicer = health_server
    environ = {"COLONY_PAYMENT_GRPC_PORT": str(port)}
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert healthcheck.check("payment", environ) == "SERVING"
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert healthcheck.check("payment", environ) == "NOT_SERVING"


def test_healthcheck_of_nothing_listening() -> None:
    assert healthcheck.check_grpc(1, timeout_seconds=1.0).startswith("RPC failed")
    assert healthcheck.check_http(1, timeout_seconds=1.0).startswith("no answer")


def test_healthcheck_asks_the_gateway_healthz() -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        environ = {"COLONY_GATEWAY_PORT": str(server.server_address[1])}
        assert healthcheck.check("gateway", environ) == "SERVING"
    finally:
        server.shutdown()
        server.server_close()


def test_wheel_carries_every_data_file(tmp_path: Path) -> None:
    """What `pip install .` puts in the image holds every non-Python file the code may read."""
    pytest.importorskip("setuptools", reason="builds the wheel without build isolation")
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "tests")
    for name in PACKAGE_DIRS:
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = (tmp_path / "dist").glob("colony-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    data_files = {
        path.relative_to(source).as_posix()
        for name in ("chassis", "services", "gateway")
        for path in (source / name).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyi")
    }
    assert data_files, "the services read data files (the credit scorecard, at least)"
    assert sorted(data_files - packaged) == []
