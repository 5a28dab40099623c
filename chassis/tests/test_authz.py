"""The authorisation table: complete (every RPC of every service), deny by default."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from chassis.authz import (
    ANY_CALLER,
    CALLERS,
    HEALTH_SERVICE,
    NO_IDENTITY,
    NOT_ALLOWED,
    REFLECTION_SERVICES,
    RPC_CALLERS,
    allowed_callers,
    check_caller,
)
from chassis.errors import PermissionDenied, Unauthenticated
from chassis.tls import TlsSettings, ensure_dev_pki

PROTOS = Path(__file__).resolve().parents[2] / "protos"


def _every_rpc() -> set[str]:
    """Each "/package.Service/Method" of every service in every generated module."""
    methods: set[str] = set()
    for path in sorted(PROTOS.glob("colony/*/v1/*_pb2.py")):
        module = importlib.import_module(".".join(path.relative_to(PROTOS).with_suffix("").parts))
        for service in module.DESCRIPTOR.services_by_name.values():
            methods.update(f"/{service.full_name}/{method.name}" for method in service.methods)
    return methods


def test_every_rpc_of_every_service_is_in_the_table_and_nothing_else() -> None:
    listed = {
        f"/{service}/{method}"
        for service, methods in RPC_CALLERS.items()
        if service != HEALTH_SERVICE and service not in REFLECTION_SERVICES
        for method in methods
    }
    every_rpc = _every_rpc()
    assert len(every_rpc) > 100
    # A new RPC is refused to everyone under mutual TLS until chassis/authz.py's RPC_CALLERS
    # says who may call it: add it there.
    assert every_rpc - listed == set(), "RPCs with no entry in chassis.authz.RPC_CALLERS"
    assert listed - every_rpc == set(), "entries for RPCs that do not exist"


def test_every_entry_names_known_callers_only() -> None:
    for methods in RPC_CALLERS.values():
        for callers in methods.values():
            assert callers, "an empty entry: say who may call it"
            assert callers <= {*CALLERS, ANY_CALLER}


def test_business_rpcs_are_the_gateways_and_feeds_go_to_their_consumers() -> None:
    assert allowed_callers("/colony.payment.v1.PaymentService/Transfer") == {"gateway"}
    assert allowed_callers("/colony.payment.v1.PaymentService/SetRiskRules") == {"gateway"}
    assert allowed_callers("/colony.payment.v1.PaymentService/DecideTradeRefund") == {"gateway"}
    assert allowed_callers("/colony.payment.v1.PaymentService/StreamEvents") == {
        "credit",
        "gateway",
    }
    for feed in ("wealth", "loan", "insurance"):
        service = f"colony.{feed}.v1.{feed.capitalize()}Service"
        assert allowed_callers(f"/{service}/StreamEvents") == {"credit"}
    assert allowed_callers("/colony.credit.v1.CreditService/StreamEvents") == {"payment", "loan"}
    assert "colony-cli" in allowed_callers("/colony.wealth.v1.WealthService/GetWealthAudit")


def test_a_caller_with_no_identity_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated) as refused:
        check_caller("/colony.payment.v1.PaymentService/GetAccount", None)
    assert refused.value.reason == NO_IDENTITY


def test_a_caller_not_in_the_entry_is_denied_with_a_reason() -> None:
    with pytest.raises(PermissionDenied) as refused:
        check_caller("/colony.payment.v1.PaymentService/Transfer", "wealth")
    assert refused.value.reason == NOT_ALLOWED
    assert refused.value.metadata == {
        "caller": "wealth",
        "method": "/colony.payment.v1.PaymentService/Transfer",
    }
    check_caller("/colony.payment.v1.PaymentService/Transfer", "gateway")


def test_an_unlisted_method_is_denied_to_everyone() -> None:
    for caller in CALLERS:
        with pytest.raises(PermissionDenied):
            check_caller("/colony.payment.v1.PaymentService/MintMoney", caller)
        with pytest.raises(PermissionDenied):
            check_caller("/colony.other.v1.Other/Anything", caller)


def test_health_is_open_to_any_verified_caller() -> None:
    for caller in CALLERS:
        check_caller(f"/{HEALTH_SERVICE}/Check", caller)


def test_tls_settings_are_all_or_nothing(tmp_path: Path) -> None:
    assert TlsSettings.from_env({}) is None
    with pytest.raises(SystemExit, match="COLONY_TLS_KEY"):
        TlsSettings.from_env({"COLONY_TLS_CA": "a", "COLONY_TLS_CERT": "b"})
    with pytest.raises(SystemExit, match="cannot read"):
        TlsSettings.from_env(
            {"COLONY_TLS_CA": "/no/ca", "COLONY_TLS_CERT": "/no/c", "COLONY_TLS_KEY": "/no/k"}
        )
    pki = ensure_dev_pki(tmp_path / "tls", ["payment"])
    settings = TlsSettings.from_env(pki.environment_for("payment"))
    assert settings is not None and settings.identity == "payment"


def test_the_dev_pki_is_kept_and_reissued_with_a_new_ca(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    pki = ensure_dev_pki(directory, ["gateway"])
    first = pki.cert_file("gateway").read_bytes()
    assert (directory / "ca-key.pem").stat().st_mode & 0o077 == 0
    assert pki.key_file("gateway").stat().st_mode & 0o077 == 0
    assert ensure_dev_pki(directory, ["gateway"]).cert_file("gateway").read_bytes() == first
    (directory / "ca.pem").unlink()
    assert ensure_dev_pki(directory, ["gateway"]).cert_file("gateway").read_bytes() != first
