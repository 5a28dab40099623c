"""`make run` for real: mongod, the five services and the gateway, twice over the same data."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from chassis.settings import SERVICE_NAMES
from infra.demo_data import DEMO_USERS, format_yuan
from infra.embedded_mongo import free_port

pytestmark = pytest.mark.slow

# Warm start is a few seconds; a machine busy with the rest of the suite may need more.
READY_WITHIN_SECONDS = 120.0
STOPPED_WITHIN_SECONDS = 60.0
LINES_MAX = 100_000


def run_environment(var_dir: Path) -> dict[str, str]:
    """Free ports and a private var/, so a developer's own `make run` is not disturbed."""
    ports = {f"COLONY_{name.upper()}_GRPC_PORT": str(free_port()) for name in SERVICE_NAMES}
    environ = {key: value for key, value in os.environ.items() if key != "MONGO_URL"}
    return {
        **environ,
        **ports,
        "COLONY_VAR_DIR": str(var_dir),
        "COLONY_MONGO_PORT": str(free_port()),
        "COLONY_GATEWAY_PORT": str(free_port()),
    }


async def run_until_ready_then_interrupt(environ: dict[str, str]) -> tuple[int, str]:
    """Start `python -m infra.run`, Ctrl-C it once it is ready; return its status and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra.run",
        env=environ,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        limit=1 << 20,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(READY_WITHIN_SECONDS):
            for _ in range(LINES_MAX):
                line = (await process.stdout.readline()).decode()
                lines.append(line)
                if not line or "Press Ctrl-C" in line:
                    break
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(STOPPED_WITHIN_SECONDS):
            rest = await process.stdout.read()
            status = await process.wait()
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    return status, "".join(lines) + rest.decode()


async def test_make_run_comes_up_loads_demo_data_once_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    environ = run_environment(tmp_path / "var")
    for _ in ("first run", "second run over the same data"):
        status, output = await run_until_ready_then_interrupt(environ)
        assert status == 0, output[-4000:]
        assert "Colony is ready" in output
        assert "SIGINT: stopping" in output
        assert output.rstrip().endswith("[run]       stopped")
        # The second run logs the demo users in again and does not top them up twice.
        for user in DEMO_USERS:
            balance = format_yuan(user.topup_fen)
            assert f"{user.phone}  {user.account_type:<8}  {balance:>12}" in output
