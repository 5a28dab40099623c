"""Kubernetes gives every process its certificate from a Secret (issue 21, item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from chassis.settings import SERVICE_NAMES
from chassis.tls import identity_of_certificate
from infra.k8s.kustomize import Resource, render

K8S = Path(__file__).resolve().parent.parent / "infra" / "k8s"
PROCESSES = (*SERVICE_NAMES, "gateway")
MOUNT = "/etc/colony/tls"


def _objects(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


@pytest.fixture(scope="module", params=("dev", "prod"))
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Resource]]:
    return request.param, render(K8S / "overlays" / request.param)


def test_every_process_mounts_its_tls_secret_and_names_the_files(
    overlay: tuple[str, list[Resource]],
) -> None:
    _, resources = overlay
    deployments = _objects(resources, "Deployment")
    configmaps = _objects(resources, "ConfigMap")
    for name in PROCESSES:
        pod = deployments[name]["spec"]["template"]["spec"]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert volumes["tls"]["secret"]["secretName"] == f"{name}-tls"
        (container,) = pod["containers"]
        mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
        assert mounts["tls"] == {"name": "tls", "mountPath": MOUNT, "readOnly": True}
        data = configmaps[f"{name}-config"]["data"]
        assert data["COLONY_TLS_CA"] == f"{MOUNT}/ca.crt"
        assert data["COLONY_TLS_CERT"] == f"{MOUNT}/tls.crt"
        assert data["COLONY_TLS_KEY"] == f"{MOUNT}/tls.key"
        if name != "gateway":
            health = data[f"COLONY_{name.upper()}_HEALTH_PORT"]
            ports = {port["name"]: port["containerPort"] for port in container["ports"]}
            assert ports["health"] == int(health)


def test_dev_secrets_hold_each_process_identity_signed_by_one_ca(
    overlay: tuple[str, list[Resource]],
) -> None:
    name, resources = overlay
    secrets = _objects(resources, "Secret")
    if name == "prod":
        assert not any(secret.endswith("-tls") for secret in secrets)  # cert-manager's
        return
    cas = set()
    for process in PROCESSES:
        data = secrets[f"{process}-tls"]["stringData"]
        certificate = x509.load_pem_x509_certificate(data["tls.crt"].encode())
        assert identity_of_certificate(certificate) == process
        ca = x509.load_pem_x509_certificate(data["ca.crt"].encode())
        certificate.verify_directly_issued_by(ca)
        cas.add(data["ca.crt"])
        assert "PRIVATE KEY" in data["tls.key"]
    assert len(cas) == 1
