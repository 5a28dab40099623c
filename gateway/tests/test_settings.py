"""GatewaySettings.from_env: defaults, the dev-only secret, and refusals of bad values."""

from __future__ import annotations

import pytest

from chassis.settings import DEFAULT_MONGO_URL
from gateway.settings import DEV_JWT_SECRET, GatewaySettings

SECRET = "s" * 32


def test_defaults_for_a_local_run() -> None:
    settings = GatewaySettings.from_env({"COLONY_JWT_SECRET": SECRET})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.mongo_url == DEFAULT_MONGO_URL
    assert settings.database_name == "gateway"
    assert settings.jwt_ttl_seconds == 900
    assert settings.rpc_deadline_seconds == 5.0
    assert settings.service_addresses == {
        "payment": "127.0.0.1:50051",
        "wealth": "127.0.0.1:50052",
        "credit": "127.0.0.1:50053",
        "loan": "127.0.0.1:50054",
        "insurance": "127.0.0.1:50055",
    }


def test_environment_overrides() -> None:
    settings = GatewaySettings.from_env(
        {
            "COLONY_JWT_SECRET": SECRET,
            "COLONY_GATEWAY_PORT": "9090",
            "MONGO_URL": "mongodb://shared/",
            "COLONY_GATEWAY_DB": "gw",
            "COLONY_PAYMENT_ADDRESS": "payment:50051",
            "COLONY_RPC_DEADLINE_SECONDS": "2.5",
        }
    )
    assert settings.port == 9090
    assert settings.mongo_url == "mongodb://shared/"
    assert settings.database_name == "gw"
    assert settings.service_addresses["payment"] == "payment:50051"
    assert settings.rpc_deadline_seconds == 2.5
    own_url = GatewaySettings.from_env(
        {
            "COLONY_JWT_SECRET": SECRET,
            "MONGO_URL": "mongodb://shared/",
            "COLONY_GATEWAY_MONGO_URL": "mongodb://own/",
        }
    )
    assert own_url.mongo_url == "mongodb://own/"


def test_the_dev_secret_is_used_only_in_dev() -> None:
    dev = GatewaySettings.from_env({"COLONY_ENV": "dev"})
    assert dev.jwt_secret == DEV_JWT_SECRET
    assert dev.jwt_secret_is_dev_default
    with pytest.raises(SystemExit, match="COLONY_JWT_SECRET is required"):
        GatewaySettings.from_env({})
    with pytest.raises(SystemExit, match="at least 32 bytes"):
        GatewaySettings.from_env({"COLONY_JWT_SECRET": "short"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COLONY_GATEWAY_PORT", "eighty"),
        ("COLONY_GATEWAY_PORT", "80.5"),
        ("COLONY_JWT_TTL_SECONDS", "0"),
        ("COLONY_RPC_DEADLINE_SECONDS", "-1"),
        ("COLONY_IDEMPOTENCY_LEASE_SECONDS", "nan"),
    ],
)
def test_bad_numbers_stop_the_process_with_the_setting_named(name: str, value: str) -> None:
    with pytest.raises(SystemExit, match=name):
        GatewaySettings.from_env({"COLONY_JWT_SECRET": SECRET, name: value})


def test_operator_phones_are_a_comma_separated_list() -> None:
    assert GatewaySettings.from_env({"COLONY_JWT_SECRET": SECRET}).operator_phones == frozenset()
    settings = GatewaySettings.from_env(
        {"COLONY_JWT_SECRET": SECRET, "COLONY_OPERATOR_PHONES": " 13800000001, ,13800000002,"}
    )
    assert settings.operator_phones == {"13800000001", "13800000002"}
