"""The compose deployment: one MongoDB per process, networks that mirror the network policy,
Prometheus scraping every process, and a dashboard whose metrics are the documented ones."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chassis.authz import CLI_CALLER
from chassis.settings import DEFAULT_GRPC_PORTS, SERVICE_NAMES
from chassis.tls import TLS_ENV, TlsSettings

REPO = Path(__file__).resolve().parent.parent.parent
COMPOSE_DIR = REPO / "infra" / "compose"
PROCESSES = (*SERVICE_NAMES, "gateway")
FEED_SOURCES = ("payment", "wealth", "loan", "insurance")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    return loaded


def _members(compose: dict[str, Any], network: str) -> set[str]:
    services = compose["services"].items()
    return {name for name, service in services if network in service.get("networks", ())}


def test_one_mongodb_per_process(compose: dict[str, Any]) -> None:
    services = compose["services"]
    databases = {name for name, s in services.items() if s["image"].startswith("mongo:")}
    assert databases == {f"{p}-db" for p in PROCESSES}
    volumes = set()
    for name in PROCESSES:
        db = services[f"{name}-db"]
        assert re.fullmatch(r"mongo:\d+\.\d+\.\d+", db["image"]), "official image, pinned"
        assert db["command"][:2] == ["--replSet", "rs0"]
        init = " ".join(db["healthcheck"]["test"])
        assert "rs.initiate" in init and f'host: "{name}-db:27017"' in init
        volumes.add(db["volumes"][0].split(":")[0])
        env = services[name]["environment"]
        urls = {k: v for k, v in env.items() if k.endswith("MONGO_URL")}
        assert urls == {
            f"COLONY_{name.upper()}_MONGO_URL": f"mongodb://{name}-db:27017/?replicaSet=rs0"
        }
        assert services[name]["depends_on"][f"{name}-db"]["condition"] == "service_healthy"
    assert len(volumes) == len(PROCESSES), "no two databases share a volume"


def test_networks_mirror_the_network_policy(compose: dict[str, Any]) -> None:
    networks = compose["networks"]
    for name in PROCESSES:
        assert _members(compose, f"{name}-data") == {name, f"{name}-db"}
        assert networks[f"{name}-data"]["internal"] is True
        # A database is on its own network and no other.
        assert compose["services"][f"{name}-db"]["networks"] == [f"{name}-data"]
    for name in SERVICE_NAMES:
        callers = {"gateway", "credit"} if name in FEED_SOURCES else {"gateway"}
        if name == "credit":
            # Risk control follows the credit blacklist's feed; Huabei lines the score changes.
            callers |= {"payment", "loan"}
        assert _members(compose, f"{name}-rpc") == {name} | callers
        assert networks[f"{name}-rpc"]["internal"] is True
    assert networks["telemetry"]["internal"] is True
    # Only the gateway of Colony's processes is reachable from outside.
    published = {name for name, s in compose["services"].items() if s.get("ports")}
    assert published & set(PROCESSES) == {"gateway"}
    assert compose["services"]["gateway"]["ports"][0].endswith(":8080")


def test_processes_run_from_one_image_with_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in PROCESSES:
        service = services[name]
        assert service["image"] == "${COLONY_IMAGE:-colony:dev}"
        assert service["build"]["dockerfile"] == "infra/docker/Dockerfile"
        assert service["command"] == [name]
        assert service["healthcheck"]["test"] == [
            "CMD",
            "python",
            "-m",
            "infra.healthcheck",
            name,
        ]
        env = service["environment"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
        # Told where a service is only when the network lets it call that service.
        callees = {
            "gateway": SERVICE_NAMES,
            "credit": FEED_SOURCES,
            "payment": ("credit",),
            "loan": ("credit",),
        }.get(name, ())
        addresses = {k: v for k, v in env.items() if k.endswith("_ADDRESS")}
        assert addresses == {
            f"COLONY_{other.upper()}_ADDRESS": f"{other}:{DEFAULT_GRPC_PORTS[other]}"
            for other in callees
        }
        for other in callees:
            assert f"{other}-rpc" in service["networks"]
    assert set(services["gateway"]["depends_on"]) >= set(SERVICE_NAMES)


def test_every_process_speaks_mutual_tls_with_certificates_from_certs(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    certs = services["certs"]
    # The project's own certificate generation (as `make run`), one certificate per process
    # and the operator's tool, into the volume; it joins no network.
    generate = " ".join(certs["command"])
    assert "ensure_dev_pki" in generate and "CLI_CALLER" in generate
    assert "SERVICE_NAMES" in generate and '"gateway"' in generate
    assert certs["network_mode"] == "none"
    assert certs["volumes"] == ["tls:/srv/colony/tls"]
    assert "tls" in compose["volumes"]
    for name in PROCESSES:
        service = services[name]
        env = service["environment"]
        assert {k: v for k, v in env.items() if k.startswith("COLONY_TLS_")} == {
            "COLONY_TLS_CA": "/srv/colony/tls/ca.pem",
            "COLONY_TLS_CERT": f"/srv/colony/tls/{name}.pem",
            "COLONY_TLS_KEY": f"/srv/colony/tls/{name}-key.pem",
        }
        assert service["volumes"] == ["tls:/srv/colony/tls:ro"]
        assert service["depends_on"]["certs"] == {"condition": "service_completed_successfully"}
    # Every TLS setting the chassis reads is set (all or none, chassis.tls.TLS_ENV).
    assert set(TLS_ENV) == {"COLONY_TLS_CA", "COLONY_TLS_CERT", "COLONY_TLS_KEY"}


def test_the_compose_certificates_are_what_the_services_accept(tmp_path: Path) -> None:
    # Run certs' own command against a directory: every process gets a certificate whose
    # identity is its name, loadable as the settings the chassis reads from COLONY_TLS_*.
    command = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())["services"]["certs"][
        "command"
    ]
    code = command[2].replace("/srv/colony/tls", str(tmp_path / "tls"))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)
    for name in (*PROCESSES, CLI_CALLER):
        environ = {
            "COLONY_TLS_CA": str(tmp_path / "tls" / "ca.pem"),
            "COLONY_TLS_CERT": str(tmp_path / "tls" / f"{name}.pem"),
            "COLONY_TLS_KEY": str(tmp_path / "tls" / f"{name}-key.pem"),
        }
        settings = TlsSettings.from_env(environ)
        assert settings is not None and settings.identity == name


def test_observability_and_loadtest_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"otel-collector", "jaeger", "prometheus", "grafana"} <= set(services)
    for name in ("locust-master", "locust-worker"):
        assert services[name]["profiles"] == ["loadtest"]
        assert "../../loadtests:/mnt/loadtests:ro" in services[name]["volumes"]
    for name, service in services.items():
        image = service["image"]
        assert not image.endswith(":latest") and ":" in image, name


def test_prometheus_scrapes_every_process() -> None:
    config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    (colony,) = [job for job in config["scrape_configs"] if job["job_name"] == "colony"]
    scraped = {
        (group["labels"]["service"], target)
        for group in colony["static_configs"]
        for target in group["targets"]
    }
    assert scraped == {(name, f"{name}:9464") for name in PROCESSES}


def test_dashboard_uses_documented_metrics() -> None:
    dashboard = json.loads((COMPOSE_DIR / "grafana" / "dashboards" / "colony.json").read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    used = {
        re.sub(r"_(bucket|sum|count)$", "", metric)
        for expression in expressions
        for metric in re.findall(r"\bcolony_[a-z_]+", expression)
    }
    assert {
        "colony_rpc_server_requests_total",
        "colony_rpc_server_duration_seconds",
        "colony_http_server_requests_total",
        "colony_http_server_duration_seconds",
        "colony_payments_total",
        "colony_yuebao_aum_fen",
        "colony_huabei_outstanding_fen",
        "colony_insurance_claims_paid_fen_total",
        "colony_feed_lag_events",
    } <= used
    operations = (REPO / "docs" / "operations.md").read_text()
    assert sorted(m for m in used if f"`{m}`" not in operations) == []
    datasources = yaml.safe_load(
        (COMPOSE_DIR / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )
    uids = {source["uid"] for source in datasources["datasources"]}
    assert {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p} <= uids


def test_collector_sends_traces_to_jaeger() -> None:
    config = yaml.safe_load((COMPOSE_DIR / "otel-collector.yaml").read_text())
    traces = config["service"]["pipelines"]["traces"]
    assert traces["receivers"] == ["otlp"]
    assert config["exporters"][traces["exporters"][0]]["endpoint"] == "jaeger:4317"
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
