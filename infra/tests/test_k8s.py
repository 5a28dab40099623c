"""The Kubernetes overlays: what they declare per process, and the network policy as a matrix.

Both overlays are rendered (infra.k8s.kustomize) and their NetworkPolicies evaluated the way
Kubernetes does (a pod selected by any policy of a direction accepts only what some such
policy allows; traffic needs the sender's egress and the receiver's ingress), for every pair
of Colony pods and every port they listen on, against the rules in docs/operations.md.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from chassis.settings import DEFAULT_GRPC_PORTS, SERVICE_NAMES
from infra.k8s import check
from infra.k8s.kustomize import KustomizeError, Resource, render, strategic_merge

K8S = Path(__file__).resolve().parent.parent / "k8s"
OVERLAYS = ("dev", "prod")
HEALTH_PORT = 8086
PROCESSES = (*SERVICE_NAMES, "gateway")
FEED_SOURCES = ("payment", "wealth", "loan", "insurance")
GATEWAY_PORT = 8080
METRICS_PORT = 9464
MONGO_PORT = 27017
DNS_PORT = 53
OTLP_PORT = 4317
NAME_LABEL = "app.kubernetes.io/name"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[int, ...] = ()
    namespace_labels: Mapping[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Resource]]:
    return request.param, render(K8S / "overlays" / request.param)


def _objects(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def _namespace(resources: list[Resource]) -> str:
    return str(_objects(resources, "Deployment")["gateway"]["metadata"]["namespace"])


def colony_pods(resources: list[Resource]) -> list[Pod]:
    """A pod per Deployment, StatefulSet and MongoDBCommunity, with its labels and ports."""
    namespace = _namespace(resources)
    ns_labels = {NAMESPACE_NAME_LABEL: namespace}
    pods = []
    for resource in resources:
        if resource["kind"] in ("Deployment", "StatefulSet"):
            template = resource["spec"]["template"]
            ports = tuple(
                port["containerPort"]
                for container in template["spec"]["containers"]
                for port in container.get("ports", [])
            )
            labels = template["metadata"]["labels"]
        elif resource["kind"] == "MongoDBCommunity":
            labels = resource["spec"]["statefulSet"]["spec"]["template"]["metadata"]["labels"]
            ports = (MONGO_PORT,)
        else:
            continue
        pods.append(Pod(resource["metadata"]["name"], namespace, labels, ports, ns_labels))
    return pods


def outside_pods() -> dict[str, Pod]:
    """Pods the policies name outside the namespace, and one they don't (an ingress proxy)."""

    def pod(name: str, namespace: str, labels: dict[str, str], ports: tuple[int, ...]) -> Pod:
        return Pod(name, namespace, labels, ports, {NAMESPACE_NAME_LABEL: namespace})

    return {
        "prometheus": pod("prometheus", "monitoring", {NAME_LABEL: "prometheus"}, (9090,)),
        "collector": pod(
            "collector", "observability", {NAME_LABEL: "opentelemetry-collector"}, (OTLP_PORT,)
        ),
        "dns": pod("dns", "kube-system", {"k8s-app": "kube-dns"}, (DNS_PORT,)),
        "ingress": pod("ingress", "ingress-nginx", {NAME_LABEL: "ingress-nginx"}, (443,)),
    }


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return True
    if selector.get("matchExpressions"):
        raise AssertionError("matchExpressions: extend the evaluator before using them")
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Pod) -> bool:
    if "ipBlock" in peer:
        raise AssertionError("ipBlock: extend the evaluator before using it")
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return _selects(peer.get("podSelector"), other.labels)


def _rule_allows(
    rule: Mapping[str, Any], *, peers_key: str, ns: str, other: Pod, port: int, protocol: str
) -> bool:
    ports = rule.get("ports")
    if ports and not any(
        p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports
    ):
        return False
    peers = rule.get(peers_key)
    return not peers or any(_peer_matches(peer, ns, other) for peer in peers)


def _direction_allows(
    policies: list[Resource], pod: Pod, *, direction: str, other: Pod, port: int, protocol: str
) -> bool:
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and direction in p["spec"].get("policyTypes", ["Ingress"])
        and _selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True  # no policy isolates this pod in this direction
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return any(
        _rule_allows(
            rule,
            peers_key=peers_key,
            ns=p["metadata"]["namespace"],
            other=other,
            port=port,
            protocol=protocol,
        )
        for p in selecting
        for rule in p["spec"].get(key, [])
    )


def allowed(
    resources: list[Resource], source: Pod, target: Pod, port: int, protocol: str = "TCP"
) -> bool:
    """Does the network policy let source open a connection to target's port?"""
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    return _direction_allows(
        policies, source, direction="Egress", other=target, port=port, protocol=protocol
    ) and _direction_allows(
        policies, target, direction="Ingress", other=source, port=port, protocol=protocol
    )


def expected_colony_traffic(source: str, target: str, port: int) -> bool:
    """The rules of docs/operations.md, between Colony's own pods."""
    if target in SERVICE_NAMES and port == DEFAULT_GRPC_PORTS[target]:
        return (
            source == "gateway"
            or (source == "credit" and target in FEED_SOURCES)
            or (source == "payment" and target == "credit")  # the credit blacklist's feed
            or (source == "loan" and target == "credit")  # Huabei lines follow the score
        )
    if target.endswith("-db") and port == MONGO_PORT:
        owner = target.removesuffix("-db")
        return source in (owner, target)  # its process, and the replica set's own members
    return False  # metrics, the gateway's HTTP port: not from inside


def test_each_process_has_its_objects(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    for kind in (
        "Deployment",
        "Service",
        "ServiceAccount",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
    ):
        assert set(PROCESSES) <= set(_objects(resources, kind)), kind
    configmaps = _objects(resources, "ConfigMap")
    assert {f"{name}-config" for name in PROCESSES} <= set(configmaps)
    for name in SERVICE_NAMES:
        data = configmaps[f"{name}-config"]["data"]
        assert data[f"COLONY_{name.upper()}_GRPC_HOST"] == "0.0.0.0"
        assert data[f"COLONY_{name.upper()}_GRPC_PORT"] == str(DEFAULT_GRPC_PORTS[name])
    gateway_config = configmaps["gateway-config"]["data"]
    for name in SERVICE_NAMES:
        assert gateway_config[f"COLONY_{name.upper()}_ADDRESS"] == (
            f"{name}:{DEFAULT_GRPC_PORTS[name]}"
        )
    for source in FEED_SOURCES:
        assert configmaps["credit-config"]["data"][f"COLONY_{source.upper()}_ADDRESS"]


def test_deployments_probe_grpc_health_and_set_resources(
    overlay: tuple[str, list[Resource]],
) -> None:
    _, resources = overlay
    for name, deployment in _objects(resources, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [name]
        assert pod["serviceAccountName"] == name
        assert pod["securityContext"]["runAsNonRoot"] is True
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), (name, kind)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if name == "gateway":
                assert container[probe]["httpGet"]["port"] == "http"
            else:
                # The plaintext health-only port: kubelet presents no client certificate.
                assert container[probe]["grpc"]["port"] == HEALTH_PORT, (name, probe)


def test_secrets_are_referenced_and_provided(overlay: tuple[str, list[Resource]]) -> None:
    name, resources = overlay
    referenced = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for deployment in _objects(resources, "Deployment").values()
        for container in deployment["spec"]["template"]["spec"]["containers"]
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert referenced == {f"{p}-mongo" for p in PROCESSES} | {"gateway-jwt", "payment-pepper"}
    if name == "dev":
        assert referenced <= set(_objects(resources, "Secret"))
    else:
        # Nothing secret is committed for prod; the operator writes the connection strings.
        assert not _objects(resources, "Secret")
        written = {
            user["connectionStringSecretName"]
            for db in _objects(resources, "MongoDBCommunity").values()
            for user in db["spec"]["users"]
        }
        assert written == {f"{p}-mongo" for p in PROCESSES}


def test_one_database_per_process(overlay: tuple[str, list[Resource]]) -> None:
    name, resources = overlay
    kind = "StatefulSet" if name == "dev" else "MongoDBCommunity"
    assert set(_objects(resources, kind)) == {f"{p}-db" for p in PROCESSES}
    if name == "dev":
        for secret in _objects(resources, "Secret").values():
            url = secret["stringData"].get("connectionString.standard")
            if url:
                owner = secret["metadata"]["name"].removesuffix("-mongo")
                assert url.startswith(f"mongodb://{owner}-db-0.{owner}-db:27017/")


def test_images(overlay: tuple[str, list[Resource]]) -> None:
    name, resources = overlay
    images = {
        container["image"]
        for r in resources
        if r["kind"] in ("Deployment", "StatefulSet")
        for container in r["spec"]["template"]["spec"]["containers"]
    }
    colony = "colony:dev" if name == "dev" else "registry.example.com/colony/colony:0.1.0"
    assert colony in images
    for image in images:
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


def test_default_deny_and_dns(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    policies = _objects(resources, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    dns = outside_pods()["dns"]
    for pod in colony_pods(resources):
        assert allowed(resources, pod, dns, DNS_PORT, "UDP"), pod.name
        assert allowed(resources, pod, dns, DNS_PORT, "TCP"), pod.name


def test_network_policy_matrix(overlay: tuple[str, list[Resource]]) -> None:
    """Every Colony pod to every port of every other: allowed exactly where the rules say."""
    _, resources = overlay
    pods = colony_pods(resources)
    assert {p.name for p in pods} == {*PROCESSES, *(f"{p}-db" for p in PROCESSES)}
    wrong = [
        f"{source.name} -> {target.name}:{port} is {'open' if is_open else 'closed'}"
        for source, target in itertools.product(pods, pods)
        for port in target.ports
        if (is_open := allowed(resources, source, target, port))
        != expected_colony_traffic(source.name, target.name, port)
    ]
    assert wrong == []


def test_payment_database_accepts_only_payment(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    pods = {p.name: p for p in colony_pods(resources)}
    outside = outside_pods()
    callers = [
        name
        for name, pod in pods.items()
        if allowed(resources, pod, pods["payment-db"], MONGO_PORT)
    ]
    assert sorted(callers) == ["payment", "payment-db"]
    for pod in outside.values():
        assert not allowed(resources, pod, pods["payment-db"], MONGO_PORT), pod.name


def test_credit_reaches_its_feeds_and_nothing_else(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    pods = {p.name: p for p in colony_pods(resources)}
    reachable = sorted(
        f"{target.name}:{port}"
        for target in pods.values()
        for port in target.ports
        if allowed(resources, pods["credit"], target, port)
    )
    assert reachable == sorted(
        ["credit-db:27017", *(f"{s}:{DEFAULT_GRPC_PORTS[s]}" for s in FEED_SOURCES)]
    )


def test_outside_the_namespace(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    pods = {p.name: p for p in colony_pods(resources)}
    outside = outside_pods()
    for name in PROCESSES:
        # Prometheus scrapes every process's metrics, and nothing else of it.
        assert allowed(resources, outside["prometheus"], pods[name], METRICS_PORT), name
        # Every process sends traces to the collector; no database does.
        assert allowed(resources, pods[name], outside["collector"], OTLP_PORT), name
        assert not allowed(resources, pods[f"{name}-db"], outside["collector"], OTLP_PORT)
        assert not allowed(resources, outside["prometheus"], pods[f"{name}-db"], MONGO_PORT)
    for name in SERVICE_NAMES:
        port = DEFAULT_GRPC_PORTS[name]
        for pod in outside.values():
            assert not allowed(resources, pod, pods[name], port), (pod.name, name)
    # The gateway is the one public entry.
    assert allowed(resources, outside["ingress"], pods["gateway"], GATEWAY_PORT)
    assert not allowed(resources, outside["ingress"], pods["gateway"], METRICS_PORT)


def test_rendered_overlays_are_valid_kubernetes(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    assert check.validate(resources, [check.KUBERNETES_VERSION_OLDEST]) == []


def test_validation_is_strict() -> None:
    resources = render(K8S / "overlays" / "dev")
    deployment = next(r for r in resources if r["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    problems = check.validate([deployment], [check.KUBERNETES_VERSION_OLDEST])
    assert len(problems) == 1 and "livenessProbes" in problems[0]
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert check.validate([unknown], [check.KUBERNETES_VERSION_OLDEST]) == [
        "Widget/w: no schema in Kubernetes 1.29.0"
    ]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on PATH")
@pytest.mark.parametrize("name", OVERLAYS)
def test_renderer_agrees_with_kubectl_kustomize(name: str) -> None:
    """Where a real kustomize is at hand, it renders the same objects in the same order."""
    run = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if run.returncode != 0:
        pytest.skip(f"kubectl kustomize failed: {run.stderr.strip()[:200]}")
    assert list(yaml.safe_load_all(run.stdout)) == render(K8S / "overlays" / name)


def test_strategic_merge() -> None:
    original = {
        "spec": {
            "replicas": 2,
            "paused": False,
            "containers": [
                {"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]},
                {"name": "b", "image": "y"},
            ],
            "args": ["one", "two"],
        }
    }
    patch = {
        "spec": {
            "replicas": 3,
            "paused": None,
            "containers": [{"name": "a", "env": [{"name": "A", "value": "2"}]}],
            "args": ["three"],
        }
    }
    assert strategic_merge(original, patch) == {
        "spec": {
            "replicas": 3,
            "containers": [
                {"name": "a", "image": "x", "env": [{"name": "A", "value": "2"}]},
                {"name": "b", "image": "y"},
            ],
            "args": ["three"],
        }
    }
    assert original["spec"]["replicas"] == 2  # not changed in place


def test_renderer_refuses_what_it_does_not_do(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(KustomizeError, match="namePrefix"):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(KustomizeError, match="not found"):
        render(tmp_path)
