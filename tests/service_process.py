"""A business-line service as its own process, for tests that kill it with SIGKILL.

``ServiceProcess("payment", mongo_url, database)`` runs ``python -m services.payment`` on a
free port against that database; ``start()`` waits (bounded) until its health check says
SERVING, ``kill()`` is an unclean stop, and ``start()`` again is a restart on the same data.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from infra.embedded_mongo import free_port

START_DEADLINE_SECONDS = 30.0
STOP_DEADLINE_SECONDS = 20.0
POLL_SECONDS = 0.1


class ServiceProcess:
    """One service process on a fixed port and database, which can be killed and restarted."""

    def __init__(self, service_name: str, mongo_url: str, database_name: str) -> None:
        self.service_name = service_name
        self.port = free_port()
        prefix = f"COLONY_{service_name.upper()}_"
        self.environment = {
            **os.environ,
            "MONGO_URL": mongo_url,
            f"{prefix}DB": database_name,
            f"{prefix}GRPC_PORT": str(self.port),
            "COLONY_LOG_LEVEL": "WARNING",
            # A test's process runs with the development defaults (no password pepper), and
            # its new merchants sell at once, as the in-process fixtures' do (a test of the
            # onboarding review itself sets review: gateway/tests/test_merchant_review.py).
            "COLONY_ENV": "dev",
            "COLONY_MERCHANT_ONBOARDING": "auto-approve",
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        # Popen only forks and returns; the waiting below is async.
        self.process = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", f"services.{self.service_name}"], env=self.environment
        )
        deadline = asyncio.get_running_loop().time() + START_DEADLINE_SECONDS
        async with grpc.aio.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while asyncio.get_running_loop().time() < deadline:
                assert self.process.poll() is None, f"{self.service_name} exited during start"
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(POLL_SECONDS)
        raise AssertionError(f"{self.service_name} did not become healthy in time")

    def kill(self) -> None:
        """An unclean stop: SIGKILL, as a crash or the OOM killer would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_DEADLINE_SECONDS)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=STOP_DEADLINE_SECONDS)
