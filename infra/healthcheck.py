"""`python -m infra.healthcheck [NAME]`: is this container's Colony process healthy? (exit 0/1)

The image's HEALTHCHECK (infra/docker/Dockerfile) and compose's per-service healthchecks
run this inside the container. For a business-line service it asks the process's standard
gRPC health service (grpc.health.v1, the overall "" status, which the chassis turns
NOT_SERVING while the database is unreachable and during a graceful shutdown); for the
gateway it asks GET /healthz. The port comes from the same environment the process reads
(COLONY_<NAME>_GRPC_PORT, COLONY_GATEWAY_PORT), so a moved port is followed.

NAME is payment, wealth, credit, loan, insurance or gateway. Without it: $COLONY_PROCESS,
else the process that PID 1 runs (`python -m services.<name>` or `python -m gateway`).
"""

from __future__ import annotations

import itertools
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chassis.settings import SERVICE_NAMES, ServiceSettings
from chassis.tls import TlsSettings, open_sync_channel

GATEWAY = "gateway"
PROCESS_NAMES = (*SERVICE_NAMES, GATEWAY)
GATEWAY_PORT_DEFAULT = 8080
TIMEOUT_SECONDS = 3.0
PID1_CMDLINE = Path("/proc/1/cmdline")


class HealthcheckError(Exception):
    """Which process to check could not be told."""


def process_from_argv(argv: Sequence[str]) -> str | None:
    """The Colony process a command line runs: `... -m services.payment` → "payment"."""
    for flag, module in itertools.pairwise(argv):
        if flag != "-m":
            continue
        if module == GATEWAY:
            return GATEWAY
        prefix, _, name = module.partition(".")
        if prefix == "services" and name in SERVICE_NAMES:
            return name
    return None


def resolve_process(
    argv: Sequence[str], environ: Mapping[str, str], pid1_cmdline: Path = PID1_CMDLINE
) -> str:
    """The process to check: the argument, $COLONY_PROCESS, or what PID 1 runs."""
    name = argv[0] if argv else environ.get("COLONY_PROCESS", "")
    if not name:
        try:
            cmdline = pid1_cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError as error:
            raise HealthcheckError(f"cannot read {pid1_cmdline}: {error}") from None
        name = process_from_argv(cmdline) or ""
        if not name:
            raise HealthcheckError(
                f"PID 1 runs no Colony process ({' '.join(cmdline).strip()!r}); "
                f"name one of {', '.join(PROCESS_NAMES)}"
            )
    if name not in PROCESS_NAMES:
        raise HealthcheckError(f"unknown process {name!r}: one of {', '.join(PROCESS_NAMES)}")
    return name


def check_grpc(
    port: int,
    timeout_seconds: float = TIMEOUT_SECONDS,
    tls: TlsSettings | None = None,
    service: str = "",
) -> str:
    """The overall status the gRPC health service on this host's port reports.

    With tls (the process's own certificate, COLONY_TLS_*), over mutual TLS as service.
    """
    with open_sync_channel(f"127.0.0.1:{port}", service, tls) as channel:
        # The generated stub's methods are set in __init__, which the type stubs don't show.
        stub: Any = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_seconds
            )
        except grpc.RpcError as error:
            return f"RPC failed: {error.code().name}"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def check_http(port: int, timeout_seconds: float = TIMEOUT_SECONDS) -> str:
    """The gateway's answer to GET /healthz: "SERVING" for a 200."""
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return f"no answer: {error}"
    return "SERVING" if status == 200 else f"HTTP {status}"


def check(name: str, environ: Mapping[str, str]) -> str:
    """The status of the named process on this host ("SERVING" is healthy)."""
    if name == GATEWAY:
        raw = environ.get("COLONY_GATEWAY_PORT") or str(GATEWAY_PORT_DEFAULT)
        return check_http(int(raw))
    settings = ServiceSettings.from_env(name, environ)
    return check_grpc(settings.grpc_port, tls=settings.tls, service=name)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        name = resolve_process(args, os.environ)
    except HealthcheckError as error:
        sys.stderr.write(f"healthcheck: {error}\n")
        return 2
    status = check(name, os.environ)
    sys.stdout.write(f"{name}: {status}\n")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
