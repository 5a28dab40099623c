"""Generate the Python bindings of protos/ (``make protos``) or check they have not drifted.

The bindings are committed so that a checkout runs without a code generator; ``--check``
regenerates into a temporary folder and fails when anything differs from what is committed.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent.parent / "protos"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out_root: Path) -> None:
    """Run protoc over every .proto under protos/colony, writing bindings below out_root."""
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(p.relative_to(PROTO_ROOT) for p in (PROTO_ROOT / "colony").rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *[str(p) for p in protos],
    ]
    # protoc finds the mypy-protobuf plugin (protoc-gen-mypy) on PATH, beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for proto in protos:
        package_dir = out_root / proto.parent
        while package_dir != out_root:
            (package_dir / "__init__.py").touch()
            package_dir = package_dir.parent


def generated_files(root: Path) -> set[Path]:
    """Every generated binding (and package marker) below root/colony, relative to root."""
    return {
        p.relative_to(root)
        for p in (root / "colony").rglob("*.py*")
        if p.name.endswith(GENERATED_SUFFIXES) or p.name == "__init__.py"
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed bindings drift")
    options = parser.parse_args()
    if not options.check:
        for stale in generated_files(PROTO_ROOT):
            (PROTO_ROOT / stale).unlink()
        generate(PROTO_ROOT)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        fresh_root = Path(scratch)
        generate(fresh_root)
        fresh, committed = generated_files(fresh_root), generated_files(PROTO_ROOT)
        drift = sorted(str(p) for p in fresh ^ committed)
        drift += sorted(
            str(p)
            for p in fresh & committed
            if not filecmp.cmp(fresh_root / p, PROTO_ROOT / p, shallow=False)
        )
    if drift:
        print("generated bindings drift from protos/ (run `make protos`):", *drift, sep="\n  ")
        return 1
    print("generated bindings match protos/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
