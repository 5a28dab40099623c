"""`python -m infra.k8s.check`: render every overlay and validate it with kubernetes-validate.

Run by `make lint`. Each overlay under infra/k8s/overlays is rendered (infra.k8s.kustomize),
written to build/k8s/<overlay>.yaml (what `kubectl apply -f` would take), and every object
is validated strictly (unknown fields are errors) against the Kubernetes OpenAPI schemas of
the oldest version we support and of the newest kubernetes-validate knows. A kind with no
schema fails, except the custom resources named in CUSTOM_KINDS (their CRDs come with
their operators).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]
from kubernetes_validate.utils import (  # type: ignore[import-untyped]
    SchemaNotFoundError,
    latest_version,
)

from infra.k8s.kustomize import KustomizeError, Resource, dump, render

K8S_ROOT = Path(__file__).resolve().parent
REPO_ROOT = K8S_ROOT.parent.parent
OVERLAYS_ROOT = K8S_ROOT / "overlays"
# Native gRPC probes are GA from 1.27; 1.29 is the oldest release we promise to run on.
KUBERNETES_VERSION_OLDEST = "1.29.0"
# Custom resources whose schema lives with their operator, not in Kubernetes.
CUSTOM_KINDS = frozenset({("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity")})


def overlays() -> list[Path]:
    return sorted(
        path for path in OVERLAYS_ROOT.iterdir() if (path / "kustomization.yaml").is_file()
    )


def validate(resources: Sequence[Resource], versions: Sequence[str]) -> list[str]:
    """One message per object that fails a version's schema (empty: all valid)."""
    problems = []
    for resource in resources:
        what = f"{resource['kind']}/{resource['metadata']['name']}"
        for version in versions:
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except SchemaNotFoundError:
                if (resource["apiVersion"], resource["kind"]) not in CUSTOM_KINDS:
                    problems.append(f"{what}: no schema in Kubernetes {version}")
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{what} (Kubernetes {version}): {error.message}")
    return problems


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "k8s")
    options = parser.parse_args(argv)
    versions = sorted({KUBERNETES_VERSION_OLDEST, latest_version()})
    options.out.mkdir(parents=True, exist_ok=True)
    failed = False
    for overlay in overlays():
        try:
            resources = render(overlay)
        except KustomizeError as error:
            sys.stderr.write(f"{overlay.name}: {error}\n")
            failed = True
            continue
        rendered = options.out / f"{overlay.name}.yaml"
        rendered.write_text(dump(resources), encoding="utf-8")
        problems = validate(resources, versions)
        for problem in problems:
            sys.stderr.write(f"{overlay.name}: {problem}\n")
        failed = failed or bool(problems)
        sys.stdout.write(
            f"k8s {overlay.name}: {len(resources)} objects, "
            f"{'INVALID' if problems else 'valid'} for Kubernetes {', '.join(versions)} "
            f"({_shown(rendered)})\n"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
