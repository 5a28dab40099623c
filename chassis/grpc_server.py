"""gRPC server bootstrap shared by every service (DESIGN.md "Cross-cutting").

Health and reflection services, the error-mapping and access-log interceptors, a cap on
concurrent RPCs, and graceful shutdown on SIGTERM/SIGINT. With TLS settings the port is
mutual TLS and every call passes the authorisation interceptor (chassis.authz); without them
the port is plaintext, which only COLONY_ENV=dev allows. Reflection is served only in dev.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from pymongo.errors import ConnectionFailure, PyMongoError, ServerSelectionTimeoutError

from chassis.authz import AuthorizationInterceptor
from chassis.errors import Aborted, DomainError, Unavailable
from chassis.grpc_status import status_code_of
from chassis.metrics import RpcMetricsInterceptor
from chassis.settings import ENVIRONMENT_DEV, ServiceSettings
from chassis.tls import PROCESS_TLS

log = logging.getLogger("colony.rpc")

Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Context], Awaitable[Any]]
StreamHandler = Callable[[Any, Context], AsyncIterator[Any]]


def error_status(error: DomainError, domain: str) -> grpc.Status:
    """The gRPC status for a domain error: code, message and google.rpc.ErrorInfo."""
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=domain, metadata=error.metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=status_code_of(error.kind).value[0], message=error.message, details=[detail]
    )
    return rpc_status.to_status(status)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Turns DomainError (and a lost database) into a status with ErrorInfo; logs each call."""

    def __init__(self, domain: str) -> None:
        self._domain = domain

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        # grpc.aio hands coroutine (and async generator) functions here; the stubs type them
        # with the synchronous signatures.
        if handler.unary_unary is not None:
            unary: Handler = handler.unary_unary  # type: ignore[assignment]

            async def guarded_unary(request: Any, context: Context) -> Any:
                async with self._mapped_errors(method, context):
                    return await unary(request, context)

            return grpc.unary_unary_rpc_method_handler(
                guarded_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            streaming: StreamHandler = handler.unary_stream  # type: ignore[assignment]

            async def guarded_stream(request: Any, context: Context) -> AsyncIterator[Any]:
                async with self._mapped_errors(method, context):
                    async for response in streaming(request, context):
                        yield response

            return grpc.unary_stream_rpc_method_handler(
                guarded_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    @contextlib.asynccontextmanager
    async def _mapped_errors(self, method: str, context: Context) -> AsyncIterator[None]:
        """Log the call and turn refusals into a status with ErrorInfo (the one place)."""
        started = time.perf_counter()
        outcome = "OK"
        try:
            yield
        except DomainError as error:
            outcome = error.reason
            await self._abort(context, error)
        except (ServerSelectionTimeoutError, ConnectionFailure) as error:
            outcome = "UNAVAILABLE"
            log.warning("database unavailable in %s: %s", method, error)
            await self._abort(context, Unavailable("the database is unavailable; retry"))
        except PyMongoError as error:
            if not error.has_error_label("TransientTransactionError"):
                raise
            # Write conflicts outlasted the bounded retries: nothing was written.
            outcome = "CONCURRENT_UPDATE"
            await self._abort(
                context, Aborted("too many concurrent updates; retry", reason="CONCURRENT_UPDATE")
            )
        finally:
            log.info(
                "rpc",
                extra={
                    "method": method,
                    "outcome": outcome,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    async def _abort(self, context: Context, error: DomainError) -> None:
        status = error_status(error, self._domain)
        await context.abort(status.code, status.details, status.trailing_metadata)


@dataclass
class GrpcService:
    """A built (not yet started) gRPC server for one business line."""

    settings: ServiceSettings
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]
    port: int = 0
    _on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _background: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    _periodic: dict[str, Callable[[], Awaitable[int]]] = field(default_factory=dict)
    _health_server: grpc.aio.Server | None = None

    def add_background(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run job() for the server's lifetime (a sequencer, a follower); cancelled at stop."""
        self._background[name] = job

    def add_periodic(
        self, name: str, interval_seconds: float, job: Callable[[], Awaitable[int]]
    ) -> None:
        """Run job() every interval_seconds (a sweeper); it returns how much work it did."""
        self._periodic[name] = job

        async def every_interval() -> None:
            while True:  # a lifetime job: cancelled at stop, each round bounded by the job
                await asyncio.sleep(interval_seconds)
                done = await job()
                if done:
                    log.info("periodic job", extra={"job": name, "items": done})

        self._background[name] = every_interval

    async def run_job_now(self, name: str) -> int:
        """Run one round of a periodic job immediately (operators, tests with a manual clock)."""
        return await self._periodic[name]()

    async def start(self) -> int:
        """Bind and start; returns the bound port (useful with port 0 in tests)."""
        self.port = self._bind()
        await self.server.start()
        if self.settings.tls is not None and self.settings.health_port:
            await self._start_health_port()
        self._tasks = [
            asyncio.create_task(_logged(name, job, self.settings), name=name)
            for name, job in self._background.items()
        ]
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"address": f"{self.settings.grpc_host}:{self.port}"})
        return self.port

    def _bind(self) -> int:
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        tls = self.settings.tls
        if tls is not None:
            port = self.server.add_secure_port(address, tls.server_credentials())
        elif self.settings.environment == ENVIRONMENT_DEV:
            log.warning("plaintext gRPC with no caller authorisation (COLONY_ENV=dev only)")
            port = self.server.add_insecure_port(address)
        else:
            raise SystemExit(
                "mutual TLS is required outside COLONY_ENV=dev: set COLONY_TLS_CA, "
                "COLONY_TLS_CERT and COLONY_TLS_KEY"
            )
        if port == 0:
            raise RuntimeError(f"could not bind {self.settings.listen_address}")
        return port

    async def _start_health_port(self) -> None:
        """Plaintext grpc.health.v1 only, for probes with no certificate (kubelet's)."""
        self._health_server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._health_server)
        address = f"{self.settings.grpc_host}:{self.settings.health_port}"
        if self._health_server.add_insecure_port(address) == 0:
            raise RuntimeError(f"could not bind the health port {address}")
        await self._health_server.start()

    def on_stop(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Register a coroutine to run after the server has drained (close clients, stop jobs)."""
        self._on_stop.append(callback)

    async def stop(self) -> None:
        """Report NOT_SERVING, let in-flight RPCs finish within the grace period, then close."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.settings.shutdown_grace_seconds)
        if self._health_server is not None:
            await self._health_server.stop(0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for callback in reversed(self._on_stop):
            await callback()

    async def serve_until_signalled(self) -> None:
        """Start, then run until SIGTERM or SIGINT, then stop gracefully."""
        await self.start()
        stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop_requested.set)
        await stop_requested.wait()
        log.info("shutting down")
        await self.stop()


async def _logged(name: str, job: Callable[[], Awaitable[None]], settings: ServiceSettings) -> None:
    """Run a background job; a crash is logged loudly rather than lost in a dropped task.

    The job's channels to other services (a feed follower's) use this service's
    certificate: PROCESS_TLS is set in the job's task only, so services run in one process
    (tests) keep their own identities.
    """
    PROCESS_TLS.set(settings.tls)
    try:
        await job()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background job %s crashed", name)
        raise


def build_grpc_service(
    settings: ServiceSettings,
    register: Iterable[Callable[[grpc.aio.Server], None]],
    service_names: Iterable[str],
) -> GrpcService:
    """Build a server with the chassis interceptors, health, reflection (dev) and the servicers.

    ``register`` holds callables like ``lambda s: add_PaymentServiceServicer_to_server(x, s)``;
    ``service_names`` are the full names of those services (for health and reflection).
    """
    domain = f"colony.{settings.service_name}"
    authorisation = [AuthorizationInterceptor(domain)] if settings.tls is not None else []
    server = grpc.aio.server(
        interceptors=[
            # Outermost: it sees the status code every other interceptor settled on.
            RpcMetricsInterceptor(),
            ErrorMappingInterceptor(domain=domain),
            *authorisation,
        ],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
        options=[("grpc.so_reuseport", 0)],
    )
    for add_to_server in register:
        add_to_server(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(service_names)
    if settings.environment == ENVIRONMENT_DEV:
        reflection.enable_server_reflection(
            (
                *names,
                health.SERVICE_NAME,
                reflection.SERVICE_NAME,
            ),
            server,
        )
    return GrpcService(
        settings=settings, server=server, health=health_servicer, service_names=names
    )
