"""The layout's import rules (docs/architecture.md "How a service is laid out"), as tests.

A later change cannot break them silently:
- the gateway never imports a service's modules (it talks to services over gRPC);
- no service imports another service's modules (risk separation);
- chassis imports neither services nor the gateway;
- tools (infra/, loadtests/) import domain or store modules, never a servicer;
- a service's domain modules import no I/O library (grpc, pymongo, aiohttp) and no generated
  protos, directly or through anything they import — checked statically over the sources and
  again by importing each one in a fresh interpreter;
- inside the gateway, only the HTTP edge and the composition root import route modules.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICE_LINES = sorted(
    path.parent.name for path in (ROOT / "services").glob("*/__init__.py") if path.parent.is_dir()
)
# The I/O side of a service: everything else in services/<line>/ is domain (pure rules).
SERVICE_IO_MODULES = frozenset({"__main__", "server", "wire", "consumers"})
SERVICE_IO_PREFIXES = ("rpc_",)
SERVICE_IO_PACKAGES = frozenset({"store", "tests", "feeds"})
# Top-level packages of I/O libraries and of the generated protos (protobuf's runtime too).
IO_PACKAGES = (
    "grpc",
    "grpc_status",
    "grpc_health",
    "grpc_reflection",
    "pymongo",
    "bson",
    "motor",
    "aiohttp",
    "colony",
    "google.protobuf",
)


def is_io(name: str) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in IO_PACKAGES)


def python_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*.py")):
        if "tests" in path.relative_to(ROOT).parts or path.name.endswith(("_pb2.py", "_grpc.py")):
            continue
        yield path


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module the file imports (at any depth of the file)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                names.add(f"{prefix}.{node.module}" if node.module else prefix)
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_domain_module(module: str) -> bool:
    """A module of services/<line>/ that holds rules, not I/O."""
    parts = module.split(".")
    if len(parts) < 3 or parts[0] != "services":
        return False
    # A sub-package of a line (services/loan/merchant/) is laid out like the line itself.
    if any(part in SERVICE_IO_PACKAGES for part in parts[2:]):
        return False
    local = parts[-1]
    if local in SERVICE_IO_MODULES:
        return False
    return not local.startswith(SERVICE_IO_PREFIXES)


def violations(folder: str, forbidden: Callable[[str, str], bool]) -> list[str]:
    """`file imports name` for every import under folder that forbidden(importer, name) flags."""
    found = []
    for path in python_files(ROOT / folder):
        importer = module_name(path)
        for name in imported_modules(path):
            if forbidden(importer, name):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return sorted(found)


def top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def test_the_gateway_never_imports_a_service() -> None:
    assert violations("gateway", lambda _, name: top(name) == "services") == []


def test_no_service_imports_another() -> None:
    def other_line(importer: str, name: str) -> bool:
        parts = name.split(".")
        return parts[0] == "services" and len(parts) > 1 and parts[1] != importer.split(".")[1]

    assert violations("services", other_line) == []


def test_chassis_imports_neither_services_nor_the_gateway() -> None:
    outside = {"services", "gateway", "infra", "loadtests"}
    assert violations("chassis", lambda _, name: top(name) in outside) == []


def is_servicer(name: str) -> bool:
    parts = name.split(".")
    return (
        parts[0] == "services"
        and len(parts) > 2
        and (parts[-1] == "server" or parts[-1].startswith(SERVICE_IO_PREFIXES))
    )


@pytest.mark.parametrize("folder", ["infra", "loadtests"])
def test_tools_import_no_servicer(folder: str) -> None:
    assert violations(folder, lambda _, name: is_servicer(name)) == []


def domain_modules() -> list[str]:
    modules = []
    for line in SERVICE_LINES:
        for path in python_files(ROOT / "services" / line):
            module = module_name(path)
            if is_domain_module(module):
                modules.append(module)
    return modules


def test_domain_modules_import_no_io_directly() -> None:
    found = []
    for module in domain_modules():
        path = ROOT / Path(*module.split(".")).with_suffix(".py")
        if not path.exists():  # a sub-package's __init__
            path = ROOT / Path(*module.split(".")) / "__init__.py"
        for name in imported_modules(path):
            own_io = top(name) == "services" and len(name.split(".")) > 2
            if is_io(name) or (own_io and not is_domain_module(name)):
                found.append(f"{module} imports {name}")
    assert found == []


# Imports each domain module in one fresh interpreter, in turn, and names the first module
# after whose import an I/O library (or generated protos) had been loaded.
_PURITY_PROBE = """
import importlib, json, sys
packages = tuple(json.loads(sys.argv[1]))
def is_io(name):
    return any(name == package or name.startswith(package + ".") for package in packages)
for module in json.loads(sys.argv[2]):
    importlib.import_module(module)
    loaded = sorted(name for name in sys.modules if is_io(name))[:5]
    if loaded:
        print(json.dumps({"module": module, "loaded": loaded}))
        sys.exit(0)
print(json.dumps({}))
"""


def first_impure(modules: list[str]) -> dict[str, object]:
    """{} if importing modules one by one, fresh, loads no I/O; else the first culprit."""
    probe = subprocess.run(
        [sys.executable, "-c", _PURITY_PROBE, json.dumps(IO_PACKAGES), json.dumps(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(probe.stdout)
    return result


def test_domain_modules_load_no_io_library_in_a_fresh_interpreter() -> None:
    modules = domain_modules()
    assert len(modules) > 10, "the scan finds the services' domain modules"
    assert first_impure(modules) == {}


def test_the_chassis_pure_modules_load_no_io_library() -> None:
    """What domain modules may import from the chassis: errors, money, clock, paging."""
    assert (
        first_impure(["chassis.errors", "chassis.money", "chassis.clock", "chassis.paging"]) == {}
    )


def test_the_probe_sees_an_io_import() -> None:
    assert first_impure(["chassis.errors", "chassis.wire"]) == {
        "module": "chassis.wire",
        "loaded": first_impure(["chassis.wire"])["loaded"],
    }
    assert first_impure(["chassis.wire"]) != {}


def is_route_module(name: str) -> bool:
    """gateway.<area>.routes and everything in it: the handlers of one business area."""
    parts = name.split(".")
    return parts[0] == "gateway" and "routes" in parts[1:]


def test_only_the_composition_root_imports_route_modules() -> None:
    def upward(importer: str, name: str) -> bool:
        # A routes package may import its own modules; nothing else below app may.
        same_routes = is_route_module(importer) and name.startswith(importer.rsplit(".", 1)[0])
        return is_route_module(name) and importer != "gateway.app" and not same_routes

    assert violations("gateway", upward) == []
