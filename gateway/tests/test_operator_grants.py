"""Operators are granted explicitly and what they change is audited (issue 21, item 2).

The role comes from `colony operator grant` against a registered identity (recorded with
who and when; revocable, at once); every /v1/admin/* request that changes something is
in an append-only log, written before the answer, that operators can read and not edit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.errors import NotFound
from chassis.mongo import MongoClient
from chassis.tls import ensure_dev_pki
from gateway.edge.audit_log import OPERATOR_AUDIT_LOG_COLLECTION
from gateway.edge.operator_grants import OPERATOR_GRANTS_COLLECTION
from gateway.settings import GatewaySettings
from gateway.tests.conftest import User, log_in, problem_of
from infra import demo_data
from infra.cli import change_operator, operator_history
from infra.run import RunSettings, demo_data_wanted, process_specs

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]


@pytest.fixture(scope="module")
def settings(settings: GatewaySettings, mongo_url: str) -> GatewaySettings:
    """The module's gateway settings, naming the test's MongoDB (where the tool writes)."""
    return replace(settings, mongo_url=mongo_url)


async def _grant(settings: GatewaySettings, phone: str, *, grant: bool = True) -> str:
    return await change_operator(
        settings.mongo_url, settings.database_name, phone, "ops-lead@test", "on call", grant=grant
    )


async def test_a_granted_identity_is_an_operator_until_revoked(
    gateway: Client, new_user: NewUser, settings: GatewaySettings
) -> None:
    user = await new_user()
    before = await gateway.get("/v1/admin/risk-rules", headers=user.headers)
    await problem_of(before, 403, "PERMISSION_DENIED")

    said = await _grant(settings, user.phone)
    assert said.startswith(f"grant: {user.phone}") and "ops-lead@test" in said
    token = await log_in(gateway, user.phone)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await gateway.get("/v1/admin/risk-rules", headers=headers)).status == 200

    await _grant(settings, user.phone, grant=False)
    # The same token is refused at once: the grant is checked on every request.
    after = await gateway.get("/v1/admin/risk-rules", headers=headers)
    await problem_of(after, 403, "PERMISSION_DENIED")
    history = await operator_history(settings.mongo_url, settings.database_name)
    mine = [line for line in history if user.phone in line]
    assert [line.split()[1] for line in mine] == ["revoke", "grant"]
    assert all("by ops-lead@test: on call" in line for line in mine)


async def test_a_phone_nobody_registered_cannot_be_granted(
    settings: GatewaySettings, mongo_client: MongoClient
) -> None:
    with pytest.raises(NotFound):
        await _grant(settings, "13700000001")
    grants = mongo_client[settings.database_name][OPERATOR_GRANTS_COLLECTION]
    assert await grants.count_documents({"phone": "13700000001"}) == 0


async def test_admin_changes_are_logged_before_the_answer_and_cannot_be_edited(
    gateway: Client, new_user: NewUser, settings: GatewaySettings, mongo_client: MongoClient
) -> None:
    user = await new_user()
    await _grant(settings, user.phone)
    token = await log_in(gateway, user.phone)
    headers = {"Authorization": f"Bearer {token}"}
    rules = await (await gateway.get("/v1/admin/risk-rules", headers=headers)).json()
    replaced = await gateway.put("/v1/admin/risk-rules", json=rules, headers=headers)
    assert replaced.status == 200, await replaced.text()
    log = mongo_client[settings.database_name][OPERATOR_AUDIT_LOG_COLLECTION]
    # Written before the answer: both entries are there as soon as the response is.
    entries = await log.find({"user_id": user.user_id}).sort("_id", 1).to_list()
    assert [(e["phase"], e.get("method"), e.get("outcome")) for e in entries] == [
        ("requested", "PUT", None),
        ("answered", None, "HTTP 200"),
    ]
    assert entries[0]["path"] == "/v1/admin/risk-rules"
    assert entries[0]["request_id"] == entries[1]["request_id"]

    refused = await gateway.put("/v1/admin/risk-rules", json={"rules": "no"}, headers=headers)
    assert refused.status == 400
    read = await gateway.get("/v1/admin/audit-log?limit=2", headers=headers)
    assert read.status == 200, await read.text()
    page = await read.json()
    latest = page["entries"]
    assert [entry["phase"] for entry in latest] == ["answered", "requested"]
    assert latest[0]["outcome"].startswith("refused ")
    assert latest[1]["body"] == '{"rules": "no"}'
    older = await gateway.get(
        f"/v1/admin/audit-log?limit=2&page_token={page['next_page_token']}", headers=headers
    )
    assert (await older.json())["entries"][0]["outcome"] == "HTTP 200"
    # Reads are not logged, and nothing edits the log.
    assert await log.count_documents({"user_id": user.user_id}) == 4
    for method in ("PUT", "PATCH", "DELETE"):
        answer = await gateway.request(method, "/v1/admin/audit-log", headers=headers)
        assert answer.status in (404, 405)
    assert await log.count_documents({"user_id": user.user_id}) == 4


async def test_only_operators_read_the_audit_log(gateway: Client, new_user: NewUser) -> None:
    user = await new_user()
    refused = await gateway.get("/v1/admin/audit-log", headers=user.headers)
    await problem_of(refused, 403, "PERMISSION_DENIED")


def test_make_run_names_no_operator_phone(tmp_path: Path) -> None:
    specs = process_specs({}, "mongodb://x", RunSettings.from_env({}, tmp_path), "python")
    assert all("COLONY_OPERATOR_PHONES" not in spec.env for spec in specs)


def test_demo_data_is_refused_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLONY_ENV", "prod")
    assert demo_data.main(["--url", "http://127.0.0.1:9"]) == 2
    assert not demo_data_wanted(True, {"COLONY_ENV": "staging"})
    assert demo_data_wanted(True, {"COLONY_ENV": "dev"})
    assert demo_data_wanted(True, {})  # make run's own default is dev
    assert not demo_data_wanted(False, {"COLONY_ENV": "dev"})


def test_the_gateway_refuses_a_phone_list_outside_dev(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "tls", ["gateway"])
    environ = {
        **os.environ,
        **pki.environment_for("gateway"),
        "COLONY_ENV": "prod",
        "COLONY_JWT_SECRET": "s" * 40,
        "COLONY_OPERATOR_PHONES": "13800138009",
        "COLONY_GATEWAY_PORT": "9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "gateway"], env=environ, capture_output=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert b"COLONY_OPERATOR_PHONES is for dev only" in done.stderr
