"""Operator endpoints: only operators (COLONY_OPERATOR_PHONES) reach them."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.clients import ServiceChannels
from gateway.settings import GatewaySettings
from gateway.tests.conftest import GatewayFactory, User, gateway_settings, problem_of, top_up

Client = TestClient[Any, Any]
YUAN = 100


def new_key() -> str:
    return str(uuid.uuid4())


async def test_operators_get_the_role_at_log_in_and_nobody_else_passes(
    gateway: Client, operator: User, new_user: Any, new_merchant: Any
) -> None:
    me = await (await gateway.get("/v1/me", headers=operator.headers)).json()
    assert "operator" in me["roles"]
    document = await (await gateway.get("/openapi.json")).json()
    admin_operations = [
        (method, path)
        for path, item in document["paths"].items()
        if path.startswith("/v1/admin/")
        for method in item
    ]
    # 23, the loan line's operator routes (portfolio, business-date job, merchant lending),
    # and the insurance line's claims, review, evidence, report, business-date job and the
    # after-sales refund; the order-loan job and the store freeze; and the operators' audit
    # log (GET /v1/admin/audit-log); ABS pools (create, read, purchases, pass-through); the
    # merchant onboarding review (the list, a decision).
    assert len(admin_operations) == 47
    for outsider in (await new_user(), await new_merchant()):
        for method, path in admin_operations:
            concrete = (
                path.replace("{trade_id}", "T0")
                .replace("{account_id}", "A0")
                .replace("{operation_id}", "O0")
                .replace("{product_id}", "P0")
                .replace("{fund_id}", "F0")
                .replace("{claim_id}", "C0")
                .replace("{resident_id_hash}", "0" * 64)
                .replace("{merchant_id}", "M0")
                .replace("{pool_id}", "POOL0")
            )
            response = await gateway.request(method, concrete, json={}, headers=outsider.headers)
            await problem_of(response, 403, "PERMISSION_DENIED")


async def test_the_role_ends_when_the_phone_leaves_the_setting(
    start_gateway: GatewayFactory,
    database_name: str,
    service_addresses: dict[str, str],
    channels: ServiceChannels,
    operator: User,
) -> None:
    # The same database and token secret, without the operator's phone in the setting.
    without_operators: GatewaySettings = gateway_settings(database_name, service_addresses)
    restarted = await start_gateway(without_operators, channels)
    response = await restarted.get("/v1/admin/risk-rules", headers=operator.headers)
    await problem_of(response, 403, "PERMISSION_DENIED")


async def test_risk_rules_are_read_and_replaced_as_data(gateway: Client, operator: User) -> None:
    response = await gateway.get("/v1/admin/risk-rules", headers=operator.headers)
    assert response.status == 200, await response.text()
    rules = await response.json()
    assert "large-payment-password" in {rule["rule_id"] for rule in rules}

    for bad in (
        [{"rule_id": "x", "kind": "no_such_kind", "action": "DENY"}],
        {"rules": rules},
        [*rules, "not a rule"],
    ):
        refused = await gateway.put("/v1/admin/risk-rules", json=bad, headers=operator.headers)
        await problem_of(refused, 400, "INVALID_RISK_RULE")
    unchanged = await (await gateway.get("/v1/admin/risk-rules", headers=operator.headers)).json()
    assert unchanged == rules

    replaced = await gateway.put("/v1/admin/risk-rules", json=rules, headers=operator.headers)
    assert replaced.status == 200, await replaced.text()
    assert (await replaced.json())["rule_count"] == len(rules)


async def test_risk_decisions_are_listed_for_a_payer(
    gateway: Client, operator: User, new_user: Any
) -> None:
    alice, bob = await new_user(), await new_user()
    await top_up(gateway, alice, 3_000 * YUAN, new_key())
    challenged = await gateway.post(
        "/v1/transfers",
        json={"amount_fen": 2_500 * YUAN, "to_account_id": bob.account_id},
        headers=alice.keyed(new_key()),
    )
    await problem_of(challenged, 422, "RISK_CHALLENGE_REQUIRED")
    allowed = await gateway.post(
        "/v1/transfers",
        json={"amount_fen": 1_000, "to_account_id": bob.account_id},
        headers=alice.keyed(new_key()),
    )
    assert allowed.status == 201, await allowed.text()

    response = await gateway.get(
        "/v1/admin/risk-decisions",
        params={"payer_account_id": alice.account_id},
        headers=operator.headers,
    )
    assert response.status == 200, await response.text()
    decisions = (await response.json())["decisions"]
    assert {(d["action"], d["proceeded"]) for d in decisions} == {
        ("CHALLENGE", False),
        ("ALLOW", True),
    }
    challenge = next(d for d in decisions if d["action"] == "CHALLENGE")
    assert challenge["payee_account_id"] == bob.account_id
    assert challenge["amount"]["amount_fen"] == 2_500 * YUAN
    assert challenge["payment_kind"] == "transfer"
    assert "large-payment-password" in challenge["rule_ids"]


async def test_trade_jobs_run_once_per_business_date(gateway: Client, operator: User) -> None:
    first = await gateway.post(
        "/v1/admin/jobs/trade-jobs", json={"business_date": "2025-01-01"}, headers=operator.headers
    )
    assert first.status == 200, await first.text()
    ran = await first.json()
    assert ran["business_date"] == "2025-01-01"
    assert ran["already_run"] is False
    assert {"auto_confirmed", "expired"} <= set(ran)
    again = await gateway.post(
        "/v1/admin/jobs/trade-jobs", json={"business_date": "2025-01-01"}, headers=operator.headers
    )
    assert (await again.json())["already_run"] is True
    bad = await gateway.post(
        "/v1/admin/jobs/trade-jobs", json={"business_date": "01/02/2025"}, headers=operator.headers
    )
    await problem_of(bad, 400, "INVALID_BUSINESS_DATE")
