"""A small kustomize: renders infra/k8s overlays with exactly the features they use.

No kustomize binary can be installed from the registries this project's machines reach
(Debian's newest kubectl is 1.20, whose built-in kustomize predates the `patches` and
`labels` fields; PyPI's "kustomize" package is something else), so `make lint` renders the
overlays with this module and validates the result with kubernetes-validate. A test
(infra/tests/test_k8s.py) renders both overlays with `kubectl kustomize` as well, when one is
on PATH, and requires the same objects.

Supported, and nothing else (an unknown field is an error, not a silent no-op):
- ``resources``: YAML files (several documents each) and directories holding a
  kustomization.yaml, in order;
- ``namespace``: set on every namespaced object (cluster-scoped kinds are left alone);
- ``labels``: ``pairs`` added to metadata.labels only (``includeSelectors`` and
  ``includeTemplates`` must be false or absent);
- ``images``: ``name`` → ``newName`` / ``newTag`` / ``digest`` on containers and init containers;
- ``patches``: strategic-merge patches from ``path`` (or inline ``patch``), each aimed at the
  object with its apiVersion, kind and metadata.name. Maps merge recursively; lists of
  containers, env, ports, volumes and volume mounts merge by their key; other lists are
  replaced; ``null`` deletes a field.

`python -m infra.k8s.kustomize OVERLAY_DIR` prints the rendered YAML.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KUSTOMIZATION_FILE = "kustomization.yaml"
SUPPORTED_FIELDS = frozenset(
    {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
)
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)
# kustomize's "legacy" output order: what others depend on goes first.
KIND_ORDER = (
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
# Lists merged element by element on this key (as the Kubernetes API's patchMergeKey says).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "name",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}


class KustomizeError(Exception):
    """The kustomization asks for something this renderer does not do, or is inconsistent."""


def load_documents(path: Path) -> list[Resource]:
    """The non-empty YAML documents of a file."""
    with path.open(encoding="utf-8") as stream:
        documents = [document for document in yaml.safe_load_all(stream) if document]
    for document in documents:
        if not isinstance(document, dict) or "kind" not in document:
            raise KustomizeError(f"{path}: every document must be a Kubernetes object")
    return documents


def resource_id(resource: Resource) -> tuple[str, str, str]:
    """What identifies an object in a kustomization: apiVersion's group, kind and name."""
    group = str(resource.get("apiVersion", "")).rpartition("/")[0]
    return group, str(resource["kind"]), str(resource["metadata"]["name"])


def render(directory: Path) -> list[Resource]:
    """The objects the kustomization in directory renders to, in kustomize's legacy order."""
    resources = _build(directory.resolve(), seen=())
    order = {kind: index for index, kind in enumerate(KIND_ORDER)}
    return sorted(
        resources,
        key=lambda r: (
            order.get(r["kind"], len(KIND_ORDER)),
            r["kind"],
            r["metadata"].get("namespace", ""),
            r["metadata"]["name"],
        ),
    )


def _build(directory: Path, seen: tuple[Path, ...]) -> list[Resource]:
    if directory in seen:
        raise KustomizeError(f"{directory}: kustomization cycle")
    path = directory / KUSTOMIZATION_FILE
    if not path.is_file():
        raise KustomizeError(f"{directory}: no {KUSTOMIZATION_FILE}")
    kustomization = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    if unsupported:
        raise KustomizeError(f"{path}: unsupported fields {sorted(unsupported)}")

    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        target = directory / entry
        if target.is_dir():
            resources.extend(_build(target.resolve(), (*seen, directory)))
        elif target.is_file():
            resources.extend(load_documents(target))
        else:
            raise KustomizeError(f"{path}: resource {entry!r} not found")
    ids = [resource_id(resource) for resource in resources]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise KustomizeError(f"{path}: objects declared twice: {sorted(duplicates)}")

    for patch in _patches(directory, kustomization.get("patches", [])):
        _apply_patch(resources, patch, path)
    for pairs in _label_pairs(kustomization.get("labels", []), path):
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(pairs)
    for image in kustomization.get("images", []):
        _set_image(resources, image, path)
    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED_KINDS:
                resource["metadata"]["namespace"] = namespace
    return resources


def _patches(directory: Path, entries: Iterable[Any]) -> list[Resource]:
    patches: list[Resource] = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) - {"path", "patch"} or len(entry) != 1:
            raise KustomizeError(
                f"{directory}: a patch is {{path: FILE}} or {{patch: YAML}} (no target, no options)"
            )
        if "path" in entry:
            patches.extend(load_documents(directory / entry["path"]))
        else:
            patches.extend(doc for doc in yaml.safe_load_all(entry["patch"]) if doc)
    return patches


def _apply_patch(resources: list[Resource], patch: Resource, path: Path) -> None:
    wanted = resource_id(patch)
    for resource in resources:
        if resource_id(resource) == wanted:
            merged = strategic_merge(resource, patch)
            resource.clear()
            resource.update(merged)
            return
    raise KustomizeError(f"{path}: patch target {wanted} not found")


def strategic_merge(original: Any, patch: Any, field: str = "") -> Any:
    """original with patch merged in (a new value; neither argument is changed)."""
    if isinstance(original, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(original)
        for key, value in patch.items():
            if isinstance(key, str) and key.startswith("$"):
                raise KustomizeError(f"patch directive {key!r} is not supported")
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    merge_key = MERGE_KEYS.get(field)
    if isinstance(original, list) and isinstance(patch, list) and merge_key:
        merged_list = copy.deepcopy(original)
        for item in patch:
            index = next(
                (i for i, old in enumerate(merged_list) if old.get(merge_key) == item[merge_key]),
                None,
            )
            if index is None:
                merged_list.append(copy.deepcopy(item))
            else:
                merged_list[index] = strategic_merge(merged_list[index], item)
        return merged_list
    return copy.deepcopy(patch)


def _label_pairs(entries: Iterable[Any], path: Path) -> list[dict[str, str]]:
    pairs = []
    for entry in entries:
        if set(entry) - {"pairs", "includeSelectors", "includeTemplates"}:
            raise KustomizeError(f"{path}: labels entries have pairs (and false include flags)")
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise KustomizeError(f"{path}: labels into selectors or templates are not supported")
        pairs.append({str(k): str(v) for k, v in entry["pairs"].items()})
    return pairs


def _set_image(resources: list[Resource], image: dict[str, str], path: Path) -> None:
    if set(image) - {"name", "newName", "newTag", "digest"}:
        raise KustomizeError(f"{path}: images entries have name, newName, newTag, digest")
    for resource in resources:
        pod = resource.get("spec", {}).get("template", {}).get("spec", {})
        for container in (*pod.get("containers", []), *pod.get("initContainers", [])):
            name, tag = _split_image(container["image"])
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{name}@{image['digest']}"
            elif "newTag" in image:
                container["image"] = f"{name}:{image['newTag']}"
            else:
                container["image"] = name + tag


def _split_image(image: str) -> tuple[str, str]:
    """("registry/name", ":tag" or "@digest" or "")."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, f"@{digest}"
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def dump(resources: Sequence[Resource]) -> str:
    """Multi-document YAML, as kustomize prints it."""
    return yaml.safe_dump_all(resources, sort_keys=True, default_flow_style=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render a kustomization (infra/k8s overlays)")
    parser.add_argument("directory", type=Path)
    options = parser.parse_args(argv)
    try:
        sys.stdout.write(dump(render(options.directory)))
    except KustomizeError as error:
        sys.stderr.write(f"kustomize: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
