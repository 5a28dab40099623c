"""Mutual TLS and caller authorisation between real processes' servers (issue 21, item 1).

A payment service and a credit service run in this process with their own certificates of
a dev CA (as `make run` gives them) outside dev. A client with no certificate, or one of
another CA, is refused at the handshake; one with another service's certificate is refused
on an RPC the table does not give it (PERMISSION_DENIED, CALLER_NOT_ALLOWED); the gateway's
certificate is allowed; the credit service follows payment's feed with its own certificate.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from chassis.authz import NOT_ALLOWED
from chassis.clock import SystemClock
from chassis.feed_follower import UpstreamFeed
from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from chassis.settings import SERVICE_NAMES, ServiceSettings, TelemetrySettings
from chassis.tls import DevPki, TlsSettings, ensure_dev_pki, open_channel
from colony.credit.v1 import credit_pb2, credit_pb2_grpc
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from gateway.clients import ServiceChannels
from infra import healthcheck
from infra.embedded_mongo import free_port
from services.credit.server import build_credit_service
from services.payment.server import build_payment_service
from services.payment.tests.support import error_reason, new_phone, new_resident_id

PROCESSES = ("payment", "credit", "wealth", "gateway", "colony-cli")


def _settings(name: str, mongo_url: str, database: str, tls: TlsSettings | None) -> ServiceSettings:
    return ServiceSettings(
        service_name=name,
        grpc_host="127.0.0.1",
        grpc_port=0,
        mongo_url=mongo_url,
        database_name=database,
        max_concurrent_rpcs=64,
        shutdown_grace_seconds=1,
        telemetry=TelemetrySettings.from_env(name, {}),
        environment="prod",
        tls=tls,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return ensure_dev_pki(tmp_path_factory.mktemp("tls"), PROCESSES)


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> TlsSettings:
    """A "gateway" certificate of another CA: the right name, the wrong issuer."""
    other = ensure_dev_pki(tmp_path_factory.mktemp("other-tls"), ["gateway"], "Not Colony")
    return other.settings_for("gateway")


@pytest.fixture(scope="module")
async def services(
    pki: DevPki, mongo_url: str, mongo_client: MongoClient, database_name: str
) -> AsyncIterator[tuple[GrpcService, GrpcService]]:
    clock = SystemClock()
    payment = await build_payment_service(
        _settings("payment", mongo_url, f"{database_name}_payment", pki.settings_for("payment")),
        mongo_client,
        clock,
    )
    await payment.start()
    feeds = [UpstreamFeed("payment", f"127.0.0.1:{payment.port}")]
    credit = await build_credit_service(
        _settings("credit", mongo_url, f"{database_name}_credit", pki.settings_for("credit")),
        mongo_client,
        clock,
        feeds,
    )
    await credit.start()
    try:
        yield payment, credit
    finally:
        await credit.stop()
        await payment.stop()


@pytest.fixture(scope="module")
def payment_at(services: tuple[GrpcService, GrpcService]) -> str:
    return f"127.0.0.1:{services[0].port}"


@pytest.fixture(scope="module")
def credit_at(services: tuple[GrpcService, GrpcService]) -> str:
    return f"127.0.0.1:{services[1].port}"


def _open_request() -> pb.OpenPersonalAccountRequest:
    return pb.OpenPersonalAccountRequest(
        idempotency_key=str(uuid.uuid4()),
        owner_ref=f"user-{uuid.uuid4().hex}",
        real_name="张三",
        resident_id=new_resident_id(),
        phone=new_phone(),
    )


async def _get_account(channel: grpc.aio.Channel) -> pb.GetAccountResponse:
    stub = payment_pb2_grpc.PaymentServiceStub(channel)
    return await stub.GetAccount(pb.GetAccountRequest(account_id="acc-none"), timeout=3)


async def test_a_client_with_no_certificate_is_refused(payment_at: str, pki: DevPki) -> None:
    async with grpc.aio.insecure_channel(payment_at) as plaintext:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _get_account(plaintext)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    # TLS that trusts the CA but presents no certificate of its own: the handshake fails.
    anonymous = grpc.ssl_channel_credentials(root_certificates=pki.ca_file.read_bytes())
    options = [("grpc.ssl_target_name_override", "payment.colony.internal")]
    async with grpc.aio.secure_channel(payment_at, anonymous, options=options) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _get_account(channel)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_a_certificate_of_another_ca_is_refused(
    payment_at: str, stranger: TlsSettings
) -> None:
    async with grpc.aio.secure_channel(
        payment_at,
        grpc.ssl_channel_credentials(
            root_certificates=stranger.ca_pem,
            private_key=stranger.key_pem,
            certificate_chain=stranger.cert_pem,
        ),
        options=[("grpc.ssl_target_name_override", "payment.colony.internal")],
    ) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _get_account(channel)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_another_services_certificate_is_denied_a_business_rpc(
    payment_at: str, pki: DevPki
) -> None:
    for caller in ("wealth", "credit", "colony-cli"):
        async with open_channel(payment_at, "payment", pki.settings_for(caller)) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.OpenPersonalAccount(_open_request(), timeout=3)
            assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
            assert error_reason(refused.value) == NOT_ALLOWED
            assert caller in (refused.value.details() or "")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.SetRiskRules(pb.SetRiskRulesRequest(), timeout=3)
            assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_the_gateways_certificate_is_allowed(payment_at: str, pki: DevPki) -> None:
    # Every channel dials the payment service: only the payment one is used here.
    channels = ServiceChannels.open(
        dict.fromkeys(SERVICE_NAMES, payment_at), pki.settings_for("gateway")
    )
    try:
        stub = payment_pb2_grpc.PaymentServiceStub(channels.payment)
        opened = await stub.OpenPersonalAccount(_open_request(), timeout=5)
        assert opened.account.account_id
        read = await stub.GetAccount(
            pb.GetAccountRequest(account_id=opened.account.account_id), timeout=3
        )
        assert read.account.account_id == opened.account.account_id
    finally:
        await channels.close()


async def test_the_server_must_be_the_service_dialled(payment_at: str, pki: DevPki) -> None:
    """A client that means to reach wealth refuses payment's certificate (and vice versa)."""
    async with open_channel(payment_at, "wealth", pki.settings_for("gateway")) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _get_account(channel)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_health_is_open_to_every_certificate_and_reflection_is_off_outside_dev(
    payment_at: str, pki: DevPki
) -> None:
    async with open_channel(payment_at, "payment", pki.settings_for("colony-cli")) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs omit the methods
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=3)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflection: Any = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=3
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in responses:
                pass
    assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_the_credit_service_follows_payments_feed_with_its_own_certificate(
    payment_at: str, credit_at: str, pki: DevPki
) -> None:
    gateway = pki.settings_for("gateway")
    async with open_channel(payment_at, "payment", gateway) as channel:
        await payment_pb2_grpc.PaymentServiceStub(channel).OpenPersonalAccount(
            _open_request(), timeout=5
        )
    async with open_channel(credit_at, "credit", gateway) as channel:
        credit = credit_pb2_grpc.CreditServiceStub(channel)
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            status = await credit.GetFeedStatus(credit_pb2.GetFeedStatusRequest(), timeout=3)
            feed = next(feed for feed in status.feeds if feed.feed == "payment")
            if feed.events_applied > 0:
                break
            assert asyncio.get_running_loop().time() < deadline, feed
            await asyncio.sleep(0.2)
    assert feed.connected


async def test_a_plaintext_server_outside_dev_refuses_to_start(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> None:
    service = await build_payment_service(
        _settings("payment", mongo_url, f"{database_name}_plain", None), mongo_client, SystemClock()
    )
    with pytest.raises(SystemExit, match="mutual TLS is required"):
        await service.start()
    dev = await build_payment_service(
        replace(_settings("payment", mongo_url, f"{database_name}_plain", None), environment="dev"),
        mongo_client,
        SystemClock(),
    )
    await dev.start()
    await dev.stop()


def test_the_pki_files_are_per_process(pki: DevPki) -> None:
    for process in PROCESSES:
        assert pki.settings_for(process).identity == process
    assert isinstance(pki.directory, Path)


def test_make_run_gives_each_child_its_own_certificate(tmp_path: Path) -> None:
    from infra.run import GATEWAY, RunSettings, process_specs, with_certificates

    settings = RunSettings.from_env({}, tmp_path)
    assert settings.tls_dir == tmp_path / "tls"
    pki = ensure_dev_pki(settings.tls_dir, (*SERVICE_NAMES, GATEWAY))
    specs = with_certificates(process_specs({}, "mongodb://x", settings, "python"), pki)
    assert [spec.name for spec in specs] == [*SERVICE_NAMES, GATEWAY]
    for spec in specs:
        tls = TlsSettings.from_env(spec.env)
        assert tls is not None and tls.identity == spec.name
        assert ServiceSettings.from_env("payment", spec.env).tls == tls


async def test_the_health_port_serves_health_only_in_plaintext(
    pki: DevPki, mongo_url: str, mongo_client: MongoClient, database_name: str
) -> None:
    health_port = free_port()
    settings = replace(
        _settings("payment", mongo_url, f"{database_name}_probe", pki.settings_for("payment")),
        health_port=health_port,
    )
    service = await build_payment_service(settings, mongo_client, SystemClock())
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            health: Any = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=3)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _get_account(channel)
            assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED
    finally:
        await service.stop()


async def test_the_containers_healthcheck_uses_the_process_certificate(
    services: tuple[GrpcService, GrpcService], pki: DevPki
) -> None:
    payment = services[0]
    environ = {**pki.environment_for("payment"), "COLONY_PAYMENT_GRPC_PORT": str(payment.port)}
    status = await asyncio.to_thread(healthcheck.check, "payment", environ)
    assert status == "SERVING"
    # Without the certificate the same check cannot get through.
    plain = {"COLONY_PAYMENT_GRPC_PORT": str(payment.port)}
    assert (await asyncio.to_thread(healthcheck.check, "payment", plain)).startswith("RPC failed")
