"""Order loans through the gateway (issue 19): real payment and loan services.

A merchant borrows 80% of two trades in escrow; the first trade's settlement repays the
loan inside the settlement's own posting (the merchant is paid nothing of it); the second
trade is refunded, so the shortfall is overdue and is withheld from the merchant's next
settlement of another trade, after which the loan is settled and every account reconciles
(`colony audit`: platform:loan:order = collected - lent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.settings import SERVICE_NAMES
from conftest import service_settings
from gateway.tests.conftest import (
    User,
    api_key_headers,
    balance_fen,
    create_api_key,
    problem_of,
    top_up,
)
from gateway.tests.saga_support import new_key
from gateway.tests.wealth_support import completed, fen
from infra.cli import audit

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, unreachable_address: str, manual_loan_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return {**addresses, "payment": payment_address, "loan": manual_loan_address}


class Shop:
    def __init__(self, gateway: Client, merchant: User, buyer: User, api_key: str) -> None:
        self.gateway, self.merchant, self.buyer, self.api_key = gateway, merchant, buyer, api_key

    async def paid_trade(self, amount_fen: int) -> str:
        created = await self.gateway.post(
            "/v1/merchant/trades",
            json={"buyer_phone": self.buyer.phone, "amount_fen": amount_fen, "description": "tea"},
            headers=api_key_headers(self.api_key, new_key()),
        )
        assert created.status == 201, await created.text()
        trade_id = str((await created.json())["trade_id"])
        paid = await self.gateway.post(
            f"/v1/trades/{trade_id}/pay", headers=self.buyer.keyed(new_key())
        )
        assert paid.status == 200, await paid.text()
        return trade_id

    async def settle(self, trade_id: str) -> None:
        shipped = await self.gateway.post(
            f"/v1/merchant/trades/{trade_id}/ship", headers=api_key_headers(self.api_key)
        )
        assert shipped.status == 200, await shipped.text()
        confirmed = await self.gateway.post(
            f"/v1/trades/{trade_id}/confirm-receipt", headers=self.buyer.headers
        )
        assert confirmed.status == 200, await confirmed.text()

    async def refund(self, trade_id: str) -> None:
        asked = await self.gateway.post(
            f"/v1/trades/{trade_id}/refund-request",
            json={"reason": "never arrived"},
            headers=self.buyer.headers,
        )
        assert asked.status == 200, await asked.text()
        decided = await self.gateway.post(
            f"/v1/merchant/trades/{trade_id}/refund-decision",
            json={"approve": True},
            headers=api_key_headers(self.api_key),
        )
        assert decided.status == 200, await decided.text()


async def run_job(gateway: Client, operator: User) -> dict[str, Any]:
    response = await gateway.post("/v1/admin/jobs/order-loans", headers=operator.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def order_loan(gateway: Client, merchant: User, loan_id: str) -> dict[str, Any]:
    response = await gateway.get(
        f"/v1/merchant/loans/order-loans/{loan_id}", headers=merchant.headers
    )
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def freeze_and_reopen(gateway: Client, operator: User, shop: Shop) -> None:
    """A long default: the operator freezes the store; the merchant sees why, and makes no
    new trades until it is reopened."""
    merchant, buyer = shop.merchant, shop.buyer
    reason = "order loan overdue 95 days"
    frozen = await gateway.put(
        f"/v1/admin/merchants/{merchant.account_id}/store-freeze",
        json={"frozen": True, "reason": reason},
        headers=operator.keyed(new_key()),
    )
    assert frozen.status == 200, await frozen.text()
    status = await gateway.get("/v1/merchant/loans/store-status", headers=merchant.headers)
    assert (await status.json())["reason"] == reason
    refused = await gateway.post(
        "/v1/merchant/trades",
        json={"buyer_phone": buyer.phone, "amount_fen": YUAN, "description": "tea"},
        headers=api_key_headers(shop.api_key, new_key()),
    )
    problem = await problem_of(refused, 422, "STORE_FROZEN")
    assert problem["metadata"]["reason"] == reason
    reopened = await gateway.put(
        f"/v1/admin/merchants/{merchant.account_id}/store-freeze",
        json={"frozen": False},
        headers=operator.keyed(new_key()),
    )
    assert (await reopened.json())["frozen"] is False


@pytest.fixture(scope="module")
def colony_audit(mongo_url: str, database_name: str) -> Callable[[], Awaitable[list[str]]]:
    async def run() -> list[str]:
        return await audit(
            service_settings("payment", mongo_url, f"{database_name}_payment"),
            loan_settings=service_settings("loan", mongo_url, f"{database_name}_loan"),
        )

    return run


async def test_an_order_loan_repaid_from_settlements_then_withheld_after_a_refund(
    gateway: Client,
    new_user: NewUser,
    new_merchant: NewUser,
    operator: User,
    colony_audit: Callable[[], Awaitable[list[str]]],
) -> None:
    funded = await gateway.post(
        "/v1/admin/loans/funding/capital",
        json={"amount_fen": 10_000_000 * YUAN},
        headers=operator.keyed(new_key()),
    )
    assert funded.status == 201, await funded.text()
    merchant, buyer = await new_merchant(), await new_user()
    await top_up(gateway, buyer, 1_300 * YUAN, new_key())
    shop = Shop(gateway, merchant, buyer, await create_api_key(gateway, merchant))
    t600, t400 = await shop.paid_trade(600 * YUAN), await shop.paid_trade(400 * YUAN)

    offer_response = await gateway.get(
        "/v1/merchant/loans/order-loan-offer", headers=merchant.headers
    )
    offer = await offer_response.json()
    assert sorted(t["trade_id"] for t in offer["trades"]) == sorted([t600, t400])
    assert fen(offer["most"]) == 800 * YUAN

    too_much = await gateway.post(
        "/v1/merchant/loans/order-loans",
        json={"amount_fen": 800 * YUAN + 1},
        headers=merchant.keyed(new_key()),
    )
    problem = await problem_of(too_much, 422, "ORDER_LOAN_COVER")
    assert problem["metadata"]["cover_fen"] == str(800 * YUAN)
    lent = await completed(
        await gateway.post(
            "/v1/merchant/loans/order-loans",
            json={"amount_fen": 800 * YUAN},
            headers=merchant.keyed(new_key()),
        )
    )
    loan_id = lent["loan_id"]
    # caps: the loan + 30 days of 0.05% (1,200 fen) over the trades in order
    assert lent["withholdings"] == [[t600, 60_000], [t400, 21_200]]
    assert await balance_fen(gateway, merchant) == 800 * YUAN
    again = await gateway.get("/v1/merchant/loans/order-loan-offer", headers=merchant.headers)
    assert (await again.json())["trades"] == []  # pledged trades are offered no more

    # The 600-yuan trade settles: its 596.40 net repays the loan inside the settlement.
    await shop.settle(t600)
    assert await balance_fen(gateway, merchant) == 800 * YUAN
    run = await run_job(gateway, operator)
    assert (run["collections"], run["collected_fen"]) == (1, 59_640)
    assert fen((await order_loan(gateway, merchant, loan_id))["principal"]) == 20_360

    # The 400-yuan trade is refunded: the shortfall is overdue, withheld merchant-wide.
    await shop.refund(t400)
    run = await run_job(gateway, operator)
    assert (run["trades_finished"], run["overdue_withholdings"]) == (2, 1)
    loan = await order_loan(gateway, merchant, loan_id)
    assert loan["overdue"] is True
    assert fen(loan["owed"]) == 20_360
    # An overdue merchant borrows no more, even against a new trade.
    t300 = await shop.paid_trade(300 * YUAN)
    blocked = await gateway.post(
        "/v1/merchant/loans/order-loans",
        json={"amount_fen": YUAN},
        headers=merchant.keyed(new_key()),
    )
    await problem_of(blocked, 422, "LOAN_OVERDUE")

    # The next settlement of any trade pays the rest first: 298.20 net, 203.60 withheld.
    await shop.settle(t300)
    assert await balance_fen(gateway, merchant) == 800 * YUAN + 29_820 - 20_360
    await run_job(gateway, operator)
    loan = await order_loan(gateway, merchant, loan_id)
    assert (loan["state"], fen(loan["owed"]), loan["overdue"]) == ("settled", 0, False)
    assert fen(loan["collected"]) == 80_000

    await freeze_and_reopen(gateway, operator, shop)

    # A further settlement is the merchant's in full, and every account reconciles.
    t100 = await shop.paid_trade(100 * YUAN)
    await shop.settle(t100)
    assert await balance_fen(gateway, merchant) == 800 * YUAN + 29_820 - 20_360 + 9_940
    assert await colony_audit() == []
