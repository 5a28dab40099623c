"""The whole platform as `make run` starts it, for whole-system tests.

``RunningPlatform`` starts ``python -m infra.run`` on free ports with a private var/ (so a
developer's own `make run` is not disturbed), waits for its ready banner, and stops it with
Ctrl-C (SIGINT) at the end, collecting everything it printed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from types import TracebackType

from chassis.settings import SERVICE_NAMES
from infra.embedded_mongo import free_port

# A warm start takes seconds; a machine busy with the rest of the suite may need more.
READY_WITHIN_SECONDS = 120.0
STOPPED_WITHIN_SECONDS = 60.0
LINES_MAX = 100_000
READY_BANNER_END = "Press Ctrl-C"
PROCESS_NAMES = (*SERVICE_NAMES, "gateway")


def platform_environment(var_dir: Path) -> dict[str, str]:
    """Free ports and a private var/ for one platform run."""
    ports = {f"COLONY_{name.upper()}_GRPC_PORT": str(free_port()) for name in SERVICE_NAMES}
    # Each of the six processes serves its metrics on a free port too.
    ports.update(
        {f"COLONY_{name.upper()}_METRICS_PORT": str(free_port()) for name in PROCESS_NAMES}
    )
    environ = {key: value for key, value in os.environ.items() if key != "MONGO_URL"}
    return {
        **environ,
        **ports,
        "COLONY_VAR_DIR": str(var_dir),
        "COLONY_MONGO_PORT": str(free_port()),
        "COLONY_GATEWAY_PORT": str(free_port()),
    }


class RunningPlatform:
    """``async with RunningPlatform(environ, *args) as platform:`` … ``platform.output``."""

    def __init__(self, environ: dict[str, str], *args: str) -> None:
        self.environ = environ
        self.args = args
        self.lines: list[str] = []
        self.status: int | None = None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.environ['COLONY_GATEWAY_PORT']}"

    def metrics_url(self, name: str) -> str:
        """Where process name (a service, or "gateway") serves GET /metrics."""
        return f"http://127.0.0.1:{self.environ[f'COLONY_{name.upper()}_METRICS_PORT']}/metrics"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    async def __aenter__(self) -> RunningPlatform:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "infra.run",
            *self.args,
            env=self.environ,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=1 << 20,
        )
        assert self._process.stdout is not None
        try:
            async with asyncio.timeout(READY_WITHIN_SECONDS):
                for _ in range(LINES_MAX):
                    line = (await self._process.stdout.readline()).decode()
                    self.lines.append(line)
                    if not line:
                        raise AssertionError(
                            "the platform exited before it was ready:\n" + self.output[-4000:]
                        )
                    if READY_BANNER_END in line:
                        break
        except BaseException:
            await self._stop()
            raise
        # Keep draining its output, so a chatty platform never blocks on a full pipe.
        self._drain = asyncio.create_task(self._read_rest())
        return self

    async def _read_rest(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for _ in range(LINES_MAX):
            line = (await self._process.stdout.readline()).decode()
            if not line:
                return
            self.lines.append(line)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(STOPPED_WITHIN_SECONDS):
                if hasattr(self, "_drain"):
                    await self._drain
                self.status = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
