"""Merchant onboarding review (issue 21 item 4), with COLONY_MERCHANT_ONBOARDING=review.

The module's payment service opens merchants in review (the suite's other fixtures run in dev
with auto-approval): such a merchant neither creates trades nor charges payment codes until
an operator approves it; a rejected one never does; only operators decide, and each decision
is in the operators' audit log.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.grpc_server import GrpcService
from chassis.mongo import MongoClient
from conftest import running_service
from gateway.edge.audit_log import OPERATOR_AUDIT_LOG_COLLECTION
from gateway.settings import GatewaySettings
from gateway.tests.conftest import User, bind_card, problem_of, top_up
from services.payment.merchant_review import MerchantOnboarding, onboarding_from
from services.payment.server import build_payment_service

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]


@pytest.fixture(scope="module")
async def payment_service(
    mongo_url: str, mongo_client: MongoClient, database_name: str
) -> AsyncIterator[GrpcService]:
    """The payment service as outside dev: new merchants wait for review."""

    async def build(settings: Any, client: MongoClient, clock: Any) -> GrpcService:
        return await build_payment_service(
            settings, client, clock, merchant_onboarding=MerchantOnboarding.REVIEW
        )

    async with running_service("payment", build, mongo_url, mongo_client, database_name) as service:
        yield service


def new_key() -> str:
    return str(uuid.uuid4())


async def create_trade(gateway: Client, merchant: User, buyer: User) -> Any:
    return await gateway.post(
        "/v1/merchant/trades",
        json={"amount_fen": 1_000, "description": "tea", "buyer_phone": buyer.phone},
        headers=merchant.keyed(new_key()),
    )


async def charge_code(gateway: Client, merchant: User, payer: User) -> Any:
    issued = await gateway.post("/v1/payment-codes", headers=payer.headers)
    assert issued.status == 201, await issued.text()
    code = (await issued.json())["code"]
    return await gateway.post(
        "/v1/merchant/payment-code-charges",
        json={"code": code, "amount_fen": 500},
        headers=merchant.keyed(new_key()),
    )


async def awaiting(gateway: Client, operator: User, state: str = "in_review") -> list[str]:
    listed = await gateway.get(
        "/v1/admin/merchant-reviews", params={"state": state}, headers=operator.headers
    )
    assert listed.status == 200, await listed.text()
    return [review["account_id"] for review in (await listed.json())["reviews"]]


async def decide(gateway: Client, operator: User, merchant: User, approve: bool) -> Any:
    return await gateway.post(
        f"/v1/admin/merchant-reviews/{merchant.account_id}/decision",
        json={"approve": approve, "note": "licence checked" if approve else "licence forged"},
        headers=operator.headers,
    )


async def test_a_merchant_in_review_takes_no_payment_until_an_operator_approves_it(
    *,
    gateway: Client,
    new_merchant: NewUser,
    new_user: NewUser,
    operator: User,
    settings: GatewaySettings,
    mongo_client: MongoClient,
) -> None:
    shop, buyer = await new_merchant(), await new_user()
    await bind_card(gateway, buyer)
    await top_up(gateway, buyer, 10_000, new_key())

    refused = await problem_of(
        await create_trade(gateway, shop, buyer), 422, "MERCHANT_NOT_APPROVED"
    )
    assert refused["metadata"]["onboarding"] == "in_review"
    await problem_of(await charge_code(gateway, shop, buyer), 422, "MERCHANT_NOT_APPROVED")
    trades = await gateway.get("/v1/merchant/trades", headers=shop.headers)
    assert (await trades.json())["trades"] == []
    assert shop.account_id in await awaiting(gateway, operator)

    approved = await decide(gateway, operator, shop, approve=True)
    assert approved.status == 200, await approved.text()
    review = await approved.json()
    assert review["state"] == "approved"
    assert review["decided_by"] == operator.user_id
    assert review["decided_at"] and review["note"] == "licence checked"
    # The same decision again answers the recorded one; the other one is refused.
    again = await decide(gateway, operator, shop, approve=True)
    assert (await again.json())["decided_at"] == review["decided_at"]
    await problem_of(await decide(gateway, operator, shop, approve=False), 422, "ALREADY_DECIDED")
    assert shop.account_id not in await awaiting(gateway, operator)
    assert shop.account_id in await awaiting(gateway, operator, "approved")

    created = await create_trade(gateway, shop, buyer)
    assert created.status == 201, await created.text()
    charged = await charge_code(gateway, shop, buyer)
    assert charged.status == 201, await charged.text()

    log = mongo_client[settings.database_name][OPERATOR_AUDIT_LOG_COLLECTION]
    path = f"/v1/admin/merchant-reviews/{shop.account_id}/decision"
    entries = await log.find({"path": path}).sort("_id", 1).to_list()
    assert entries[0]["user_id"] == operator.user_id
    assert entries[0]["phase"] == "requested" and '"approve": true' in entries[0]["body"]
    answered = await log.find({"request_id": entries[0]["request_id"]}).to_list()
    assert {entry["phase"] for entry in answered} == {"requested", "answered"}


async def test_a_rejected_merchant_never_takes_payments(
    gateway: Client, new_merchant: NewUser, new_user: NewUser, operator: User
) -> None:
    shop, buyer = await new_merchant(), await new_user()
    rejected = await decide(gateway, operator, shop, approve=False)
    assert rejected.status == 200, await rejected.text()
    assert (await rejected.json())["state"] == "rejected"
    problem = await problem_of(
        await create_trade(gateway, shop, buyer), 422, "MERCHANT_NOT_APPROVED"
    )
    assert problem["metadata"]["onboarding"] == "rejected"
    await problem_of(await decide(gateway, operator, shop, approve=True), 422, "ALREADY_DECIDED")
    assert shop.account_id in await awaiting(gateway, operator, "rejected")
    assert shop.account_id not in await awaiting(gateway, operator)


async def test_only_operators_review_merchants(
    gateway: Client, new_merchant: NewUser, new_user: NewUser, operator: User
) -> None:
    shop, person = await new_merchant(), await new_user()
    for caller in (person, shop):
        listed = await gateway.get("/v1/admin/merchant-reviews", headers=caller.headers)
        await problem_of(listed, 403, "PERMISSION_DENIED")
        await problem_of(
            await decide(gateway, caller, shop, approve=True), 403, "PERMISSION_DENIED"
        )
    assert shop.account_id in await awaiting(gateway, operator)
    unknown = await gateway.post(
        "/v1/admin/merchant-reviews/m_nobody/decision",
        json={"approve": True},
        headers=operator.headers,
    )
    await problem_of(unknown, 404, "NOT_FOUND")
    bad_state = await gateway.get(
        "/v1/admin/merchant-reviews", params={"state": "maybe"}, headers=operator.headers
    )
    assert bad_state.status == 400


def test_auto_approval_is_for_dev_only() -> None:
    assert onboarding_from({}) is MerchantOnboarding.REVIEW
    assert onboarding_from({"COLONY_ENV": "prod"}) is MerchantOnboarding.REVIEW
    dev = {"COLONY_ENV": "dev", "COLONY_MERCHANT_ONBOARDING": "auto-approve"}
    assert onboarding_from(dev) is MerchantOnboarding.AUTO_APPROVE
    with pytest.raises(SystemExit, match="dev only"):
        onboarding_from({"COLONY_ENV": "prod", "COLONY_MERCHANT_ONBOARDING": "auto-approve"})
    with pytest.raises(SystemExit, match="review"):
        onboarding_from({"COLONY_ENV": "dev", "COLONY_MERCHANT_ONBOARDING": "yes"})
