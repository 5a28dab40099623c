"""What every service client shares: one channel per service, deadlines, one error translation.

A failed call's gRPC status (with its google.rpc.ErrorInfo) becomes a chassis DomainError
here, in translate_rpc_error, and nowhere else; gateway.edge.problems renders it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from chassis.errors import REFUSAL_KINDS, TRANSIENT_KINDS, DomainError, ErrorKind, Unavailable
from chassis.grpc_status import kind_of
from chassis.settings import SERVICE_NAMES
from chassis.tls import TlsSettings, open_channel

log = logging.getLogger("colony.gateway.clients")

ResponseT = TypeVar("ResponseT", bound=Message)


class ServiceFault(Exception):
    """A service answered in a way no client can act on (a bug): logged, answered with 500."""


def _error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    # from_call reads only code(), details() and trailing_metadata(), which AioRpcError has.
    status = rpc_status.from_call(cast(grpc.Call, error))
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def translate_rpc_error(error: grpc.aio.AioRpcError, service_name: str) -> Exception:
    """The DomainError (or ServiceFault) that stands for a failed call to service_name."""
    code = error.code()
    kind = kind_of(code)
    info = _error_info(error)
    if kind in TRANSIENT_KINDS:
        # The transport's own message names hosts and ports: keep it out of the answer.
        log.warning("%s unavailable: %s %s", service_name, code.name, error.details())
        return Unavailable(
            f"the {service_name} service is unavailable; retry with the same request",
            reason=info.reason if info is not None else "UNAVAILABLE",
        )
    # Refusals a service makes on purpose, always with an ErrorInfo reason; passed on as they are.
    if (kind in REFUSAL_KINDS or kind is ErrorKind.ABORTED) and info is not None:
        return DomainError(
            error.details() or info.reason,
            reason=info.reason,
            metadata=dict(info.metadata),
            kind=kind,
        )
    return ServiceFault(f"{service_name} answered {code.name}: {error.details()}")


@dataclass(frozen=True, slots=True)
class ServiceChannels:
    """One gRPC channel per business line; the gateway shares them across all requests."""

    by_service: Mapping[str, grpc.aio.Channel]

    @classmethod
    def open(cls, addresses: Mapping[str, str], tls: TlsSettings | None = None) -> ServiceChannels:
        """Channels to every business line in SERVICE_NAMES (created lazily connecting).

        With tls, each is mutual TLS with the gateway's certificate, and checks that the
        server's certificate names the service dialled (chassis.tls); else plaintext (dev).
        """
        missing = set(SERVICE_NAMES) - set(addresses)
        if missing:
            raise ValueError(f"no address for services {sorted(missing)}")
        return cls({name: open_channel(addresses[name], name, tls) for name in SERVICE_NAMES})

    @property
    def payment(self) -> grpc.aio.Channel:
        return self.by_service["payment"]

    @property
    def wealth(self) -> grpc.aio.Channel:
        return self.by_service["wealth"]

    @property
    def credit(self) -> grpc.aio.Channel:
        return self.by_service["credit"]

    @property
    def loan(self) -> grpc.aio.Channel:
        return self.by_service["loan"]

    @property
    def insurance(self) -> grpc.aio.Channel:
        return self.by_service["insurance"]

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self.by_service.values()))

    async def check_health(self, deadline_seconds: float) -> dict[str, str]:
        """Each service's grpc.health.v1 status name, asked concurrently, or UNREACHABLE."""
        names = list(self.by_service)
        statuses = await asyncio.gather(
            *(_health_of(self.by_service[name], deadline_seconds) for name in names)
        )
        return dict(zip(names, statuses, strict=True))


async def _health_of(channel: grpc.aio.Channel, deadline_seconds: float) -> str:
    stub: Any = health_pb2_grpc.HealthStub(channel)  # its type stubs omit the RPC methods
    try:
        response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=deadline_seconds)
    except grpc.aio.AioRpcError as error:
        log.info("health check failed: %s", error.code().name)
        return "UNREACHABLE"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


# The one long call: loading the demo catalog (an operator action, idempotent).
SEED_DEADLINE_SECONDS = 120.0


class ServiceClient:
    """What every business-line client shares: the deadline and the one error translation."""

    service_name: ClassVar[str]

    def __init__(self, deadline_seconds: float) -> None:
        self._deadline_seconds = deadline_seconds

    async def _call(
        self,
        rpc: Callable[..., Awaitable[ResponseT]],
        request: Message,
        deadline_seconds: float | None = None,
    ) -> ResponseT:
        try:
            return await rpc(request, timeout=deadline_seconds or self._deadline_seconds)
        except grpc.aio.AioRpcError as error:
            raise translate_rpc_error(error, self.service_name) from error
