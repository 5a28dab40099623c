"""Wallet pay through the gateway: an escrow trade paid by the buyer's ordered payment methods.

Real payment and wealth services. The balance pays when it covers (the default order),
Yu'e Bao when only it covers, the caller's own order is honoured, and a split draws the
methods in order. A Yu'e Bao-funded payment that risk control challenges is undone: the
shares come back and the books balance (the omnibus account still equals the shares).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.mongo import MongoClient
from gateway.clients import ServiceChannels
from gateway.tests.conftest import (
    User,
    api_key_headers,
    balance_fen,
    create_api_key,
    problem_of,
)
from gateway.tests.saga_support import funded_payer, new_key
from gateway.tests.wealth_support import (
    Books,
    completed,
    fen,
    subscribe_yuebao,
    yuebao_holding,
)

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100


@pytest.fixture(scope="module")
def service_addresses(wealth_service_addresses: dict[str, str]) -> dict[str, str]:
    return wealth_service_addresses


@pytest.fixture(scope="module")
def books(channels: ServiceChannels, mongo_client: MongoClient, database_name: str) -> Books:
    return Books.of(channels, mongo_client, database_name)


@pytest.fixture(scope="module")
async def merchant_api_key(gateway: Client, new_merchant: NewUser) -> str:
    return await create_api_key(gateway, await new_merchant())


async def buyer_with(
    gateway: Client, new_user: NewUser, *, balance_fen: int, yuebao_fen: int
) -> User:
    """A buyer with this much in the balance and this much in Yu'e Bao."""
    buyer = await funded_payer(gateway, new_user, balance_fen + yuebao_fen)
    if yuebao_fen:
        await completed(await subscribe_yuebao(gateway, buyer, yuebao_fen))
    return buyer


async def trade_for(gateway: Client, api_key: str, buyer: User, amount_fen: int) -> str:
    response = await gateway.post(
        "/v1/merchant/trades",
        json={"buyer_phone": buyer.phone, "amount_fen": amount_fen, "description": "tea"},
        headers=api_key_headers(api_key, new_key()),
    )
    assert response.status == 201, await response.text()
    return str((await response.json())["trade_id"])


async def wallet_pay(gateway: Client, buyer: User, trade_id: str, **options: Any) -> Any:
    return await gateway.post(
        "/v1/wallet/payments",
        json={"trade_id": trade_id, **options},
        headers=buyer.keyed(new_key()),
    )


async def trade_state(gateway: Client, buyer: User, trade_id: str) -> str:
    response = await gateway.get(f"/v1/trades/{trade_id}", headers=buyer.headers)
    assert response.status == 200, await response.text()
    return str((await response.json())["state"])


def funding_of(result: dict[str, Any]) -> list[tuple[str, int]]:
    return [(part["method"], fen(part["amount"])) for part in result["funding"]]


async def yuebao_shares(gateway: Client, user: User) -> int:
    return fen((await yuebao_holding(gateway, user))["shares"])


async def test_the_balance_pays_first_when_it_covers_the_amount(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    buyer = await buyer_with(gateway, new_user, balance_fen=500 * YUAN, yuebao_fen=300 * YUAN)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 200 * YUAN)
    result = await completed(await wallet_pay(gateway, buyer, trade_id))
    assert funding_of(result) == [("balance", 200 * YUAN)]
    assert await balance_fen(gateway, buyer) == 300 * YUAN
    assert await yuebao_shares(gateway, buyer) == 300 * YUAN
    assert await trade_state(gateway, buyer, trade_id) == "paid"
    await books.check(settled=True)


async def test_yuebao_pays_when_the_balance_does_not_cover_the_amount(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    buyer = await buyer_with(gateway, new_user, balance_fen=50 * YUAN, yuebao_fen=300 * YUAN)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 200 * YUAN)
    result = await completed(await wallet_pay(gateway, buyer, trade_id))
    assert funding_of(result) == [("yuebao", 200 * YUAN)]
    assert await balance_fen(gateway, buyer) == 50 * YUAN
    assert await yuebao_shares(gateway, buyer) == 100 * YUAN
    assert await trade_state(gateway, buyer, trade_id) == "paid"
    await books.check(settled=True)


async def test_the_callers_order_of_methods_is_honoured(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    buyer = await buyer_with(gateway, new_user, balance_fen=500 * YUAN, yuebao_fen=300 * YUAN)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 200 * YUAN)
    result = await completed(
        await wallet_pay(gateway, buyer, trade_id, methods=["yuebao", "balance"])
    )
    assert funding_of(result) == [("yuebao", 200 * YUAN)]
    assert await balance_fen(gateway, buyer) == 500 * YUAN
    assert await yuebao_shares(gateway, buyer) == 100 * YUAN
    await books.check(settled=True)


async def test_a_split_draws_the_methods_in_order_until_the_amount_is_covered(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    buyer = await buyer_with(gateway, new_user, balance_fen=50 * YUAN, yuebao_fen=300 * YUAN)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 200 * YUAN)
    unsplit = await wallet_pay(gateway, buyer, trade_id, methods=["balance"])
    await problem_of(unsplit, 422, "INSUFFICIENT_FUNDS")
    result = await completed(await wallet_pay(gateway, buyer, trade_id, split=True))
    assert funding_of(result) == [("balance", 50 * YUAN), ("yuebao", 150 * YUAN)]
    assert await balance_fen(gateway, buyer) == 0
    assert await yuebao_shares(gateway, buyer) == 150 * YUAN
    assert await trade_state(gateway, buyer, trade_id) == "paid"
    await books.check(settled=True)


async def test_when_no_method_covers_the_amount_nothing_moves(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    buyer = await buyer_with(gateway, new_user, balance_fen=100 * YUAN, yuebao_fen=100 * YUAN)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 150 * YUAN)
    response = await wallet_pay(gateway, buyer, trade_id)
    await problem_of(response, 422, "INSUFFICIENT_FUNDS")
    huabei = await wallet_pay(gateway, buyer, trade_id, methods=["huabei"], split=True)
    await problem_of(huabei, 422, "FAILED_PRECONDITION")
    assert await balance_fen(gateway, buyer) == 100 * YUAN
    assert await yuebao_shares(gateway, buyer) == 100 * YUAN
    assert await trade_state(gateway, buyer, trade_id) == "created"
    await books.check(settled=True)


async def test_a_yuebao_payment_risk_control_challenges_is_undone_shares_and_all(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    # 2,500 yuan is above the password-free limit: risk control challenges PayTrade, and no
    # password can travel through the saga, so it is refused after the shares were redeemed.
    buyer = await buyer_with(gateway, new_user, balance_fen=0, yuebao_fen=3_000 * YUAN)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 2_500 * YUAN)
    response = await wallet_pay(gateway, buyer, trade_id)
    problem = await problem_of(response, 422, "RISK_CHALLENGE_REQUIRED")
    operation = await gateway.get(
        f"/v1/operations/{problem['metadata']['operation_id']}", headers=buyer.headers
    )
    steps = {step["name"]: step["status"] for step in (await operation.json())["steps"]}
    assert steps["credit_balance"] == "compensated"  # the money had reached the balance
    assert await balance_fen(gateway, buyer) == 0
    holding = await yuebao_holding(gateway, buyer)
    assert fen(holding["shares"]) == 3_000 * YUAN
    assert fen(holding["fast_redemption_allowance"]) == 10_000 * YUAN
    assert await trade_state(gateway, buyer, trade_id) == "created"
    await books.check(settled=True)


async def test_someone_elses_trade_cannot_be_paid(
    gateway: Client, new_user: NewUser, merchant_api_key: str
) -> None:
    buyer = await buyer_with(gateway, new_user, balance_fen=100 * YUAN, yuebao_fen=0)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 10 * YUAN)
    stranger = await buyer_with(gateway, new_user, balance_fen=100 * YUAN, yuebao_fen=0)
    response = await wallet_pay(gateway, stranger, trade_id)
    await problem_of(response, 404, "NOT_FOUND")
    assert await balance_fen(gateway, stranger) == 100 * YUAN
