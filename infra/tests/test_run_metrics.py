"""`make run` gives each of its six processes its own metrics port (or none)."""

from __future__ import annotations

import io
import socket
from pathlib import Path

from chassis.settings import SERVICE_NAMES
from infra import run
from infra.run import GATEWAY, RunSettings, Supervisor, metrics_ports, process_specs

PROCESSES = (*SERVICE_NAMES, GATEWAY)


def test_by_default_the_six_processes_get_9464_to_9469_in_order() -> None:
    assert metrics_ports({}) == {name: 9464 + i for i, name in enumerate(PROCESSES)}
    assert metrics_ports({"COLONY_RUN_METRICS_PORT_BASE": "19000"})["gateway"] == 19005


def test_one_process_can_be_moved_and_all_can_be_turned_off() -> None:
    moved = metrics_ports({"COLONY_WEALTH_METRICS_PORT": "7001"})
    assert (moved["wealth"], moved["payment"]) == (7001, 9464)
    assert metrics_ports({"COLONY_RUN_METRICS": "off"}) == {}


def test_each_child_is_told_its_own_port_and_an_inherited_one_is_not_passed_on(
    tmp_path: Path,
) -> None:
    environ = {"COLONY_METRICS_PORT": "9464"}  # would make all six collide
    settings = RunSettings.from_env({"COLONY_LOAN_METRICS_PORT": "7004"}, tmp_path)
    specs = {spec.name: spec for spec in process_specs(environ, "mongodb://db/", settings, "/py")}
    ports = {name: spec.env.get("COLONY_METRICS_PORT") for name, spec in specs.items()}
    assert ports == {name: str(port) for name, port in settings.metrics_ports.items()}
    assert ports["loan"] == "7004" and len(set(ports.values())) == 6
    off = RunSettings.from_env({"COLONY_RUN_METRICS": "off"}, tmp_path)
    specs = {spec.name: spec for spec in process_specs(environ, "mongodb://db/", off, "/py")}
    assert all("COLONY_METRICS_PORT" not in spec.env for spec in specs.values())


async def test_a_process_whose_metrics_port_is_taken_serves_none_and_the_run_says_so(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        settings = RunSettings.from_env({"COLONY_CREDIT_METRICS_PORT": str(busy_port)}, tmp_path)
        out = io.StringIO()
        supervisor = Supervisor(out, 9, 1.0)
        kept = run.without_busy_metrics_ports(settings, supervisor)
    assert "credit" not in kept.metrics_ports
    assert f"credit (port {busy_port})" in out.getvalue()
