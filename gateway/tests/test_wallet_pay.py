"""Wallet pay through the gateway: a trade, a bill or a payment code paid by the payer's
ordered payment methods.

Real payment and wealth services. The balance pays when it covers (the default order),
Yu'e Bao when only it covers, the caller's own order is honoured, and a split draws the
methods in order. A Yu'e Bao-funded payment that risk control challenges is undone: the
shares come back and the books balance (the omnibus account still equals the shares); the
same request with the payment password then goes through, once. Bills are paid the same
way; a payment code is charged by the merchant with the methods the payer chose for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from gateway.clients import ServiceChannels
from gateway.payment.code_wallets import code_digest
from gateway.tests.conftest import (
    User,
    api_key_headers,
    balance_fen,
    create_api_key,
    problem_of,
)
from gateway.tests.saga_support import funded_payer, new_key
from gateway.tests.test_retail_payments import WATER_BILLER, water_reference
from gateway.tests.test_risk_challenges import PAYMENT_PASSWORD, set_payment_password
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
WRONG_PAYMENT_PASSWORD = "917253"


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


async def statement_lines(gateway: Client, user: User) -> int:
    response = await gateway.get("/v1/statement?page_size=100", headers=user.headers)
    assert response.status == 200, await response.text()
    return len((await response.json())["entries"])


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
    # Huabei is a method now (gateway/tests/test_loans.py); this module runs no loan service.
    huabei = await wallet_pay(gateway, buyer, trade_id, methods=["huabei"], split=True)
    await problem_of(huabei, 503, "UNAVAILABLE")
    assert await balance_fen(gateway, buyer) == 100 * YUAN
    assert await yuebao_shares(gateway, buyer) == 100 * YUAN
    assert await trade_state(gateway, buyer, trade_id) == "created"
    await books.check(settled=True)


async def test_a_yuebao_payment_risk_control_challenges_is_undone_then_paid_with_the_password(
    gateway: Client,
    new_user: NewUser,
    merchant_api_key: str,
    books: Books,
    *,
    mongo_client: MongoClient,
    database_name: str,
) -> None:
    # 2,500 yuan is above the password-free limit: risk control challenges PayTrade after
    # the shares were redeemed into the balance, so all of that is undone.
    buyer = await buyer_with(gateway, new_user, balance_fen=0, yuebao_fen=3_000 * YUAN)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 2_500 * YUAN)
    key = new_key()
    body = {"trade_id": trade_id}
    response = await gateway.post("/v1/wallet/payments", json=body, headers=buyer.keyed(key))
    problem = await problem_of(response, 422, "RISK_CHALLENGE_REQUIRED")
    first_operation_id = problem["metadata"]["operation_id"]
    operation = await gateway.get(f"/v1/operations/{first_operation_id}", headers=buyer.headers)
    steps = {step["name"]: step["status"] for step in (await operation.json())["steps"]}
    assert steps["credit_balance"] == "compensated"  # the money had reached the balance
    assert await balance_fen(gateway, buyer) == 0
    holding = await yuebao_holding(gateway, buyer)
    assert fen(holding["shares"]) == 3_000 * YUAN
    assert fen(holding["fast_redemption_allowance"]) == 10_000 * YUAN
    assert await trade_state(gateway, buyer, trade_id) == "created"
    await books.check(settled=True)

    # A wrong password is refused before anything moves, and starts nothing.
    await set_payment_password(gateway, buyer)
    wrong = await gateway.post(
        "/v1/wallet/payments",
        json={**body, "payment_password": WRONG_PAYMENT_PASSWORD},
        headers=buyer.keyed(key),
    )
    await problem_of(wrong, 422, "PAYMENT_PASSWORD_WRONG")
    # The same request with the password, under the same key, answers the challenge.
    answered = await gateway.post(
        "/v1/wallet/payments",
        json={**body, "payment_password": PAYMENT_PASSWORD},
        headers=buyer.keyed(key),
    )
    result = await completed(answered)
    assert funding_of(result) == [("yuebao", 2_500 * YUAN)]
    assert (await answered.json())["operation_id"] != first_operation_id
    # Replays, with the password or without, are answered by that payment.
    for replay_body in (body, {**body, "payment_password": PAYMENT_PASSWORD}):
        replay = await gateway.post(
            "/v1/wallet/payments", json=replay_body, headers=buyer.keyed(key)
        )
        assert (await completed(replay))["posting_id"] == result["posting_id"]
    assert await trade_state(gateway, buyer, trade_id) == "paid"
    assert await yuebao_shares(gateway, buyer) == 500 * YUAN
    assert await balance_fen(gateway, buyer) == 0
    await books.check(settled=True)
    # The password is in no saga log (what stands for it there is an authorization).
    sagas = [saga async for saga in mongo_client[f"{database_name}_gateway"]["sagas"].find()]
    assert any(saga["input"].get("payment_authorization") for saga in sagas)
    assert not any(PAYMENT_PASSWORD in str(saga) for saga in sagas)


async def test_a_bill_is_paid_by_yuebao_when_the_balance_does_not_cover_it(
    gateway: Client, new_user: NewUser, books: Books
) -> None:
    payer = await buyer_with(gateway, new_user, balance_fen=10 * YUAN, yuebao_fen=200 * YUAN)
    bill = {"biller_id": WATER_BILLER, "reference": water_reference(), "amount_fen": 86 * YUAN}
    response = await gateway.post(
        "/v1/wallet/payments", json={"bill": bill}, headers=payer.keyed(new_key())
    )
    result = await completed(response)
    assert result["target"] == "bill"
    assert (result["biller_id"], result["reference"]) == (bill["biller_id"], bill["reference"])
    assert funding_of(result) == [("yuebao", 86 * YUAN)]
    assert await balance_fen(gateway, payer) == 10 * YUAN
    assert await yuebao_shares(gateway, payer) == 114 * YUAN
    await books.check(settled=True)


async def test_a_split_bill_and_a_bill_with_a_bad_reference(
    gateway: Client, new_user: NewUser, books: Books
) -> None:
    payer = await buyer_with(gateway, new_user, balance_fen=30 * YUAN, yuebao_fen=50 * YUAN)
    bill = {"biller_id": WATER_BILLER, "reference": water_reference(), "amount_fen": 70 * YUAN}
    split = await gateway.post(
        "/v1/wallet/payments", json={"bill": bill, "split": True}, headers=payer.keyed(new_key())
    )
    result = await completed(split)
    assert funding_of(result) == [("balance", 30 * YUAN), ("yuebao", 40 * YUAN)]
    assert await balance_fen(gateway, payer) == 0
    assert await yuebao_shares(gateway, payer) == 10 * YUAN

    # A reference that fails the biller's check digit is refused before anything moves
    # (no redemption and reversal on the statement).
    lines = await statement_lines(gateway, payer)
    typo = {
        **bill,
        "reference": bill["reference"][:-1] + str((int(bill["reference"][-1]) + 1) % 10),
    }
    refused = await gateway.post(
        "/v1/wallet/payments",
        json={"bill": {**typo, "amount_fen": 10 * YUAN}, "methods": ["yuebao"]},
        headers=payer.keyed(new_key()),
    )
    await problem_of(refused, 400, "INVALID_BILL_REFERENCE")
    assert await yuebao_shares(gateway, payer) == 10 * YUAN
    assert await balance_fen(gateway, payer) == 0
    assert await statement_lines(gateway, payer) == lines
    await books.check(settled=True)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"trade_id": "t", "bill": {}},
        {"bill": "water"},
        {"bill": {"biller_id": WATER_BILLER, "reference": "1", "amount_fen": 1, "x": 1}},
        {"bill": {"biller_id": WATER_BILLER, "reference": "1", "amount_fen": 1.5}},
        {"bill": {"biller_id": "no-such-biller", "reference": "1", "amount_fen": 100}},
    ],
)
async def test_a_malformed_wallet_payment_is_refused(
    gateway: Client, new_user: NewUser, body: dict[str, Any]
) -> None:
    payer = await buyer_with(gateway, new_user, balance_fen=100 * YUAN, yuebao_fen=0)
    response = await gateway.post("/v1/wallet/payments", json=body, headers=payer.keyed(new_key()))
    assert response.status in (400, 404), await response.text()
    assert await balance_fen(gateway, payer) == 100 * YUAN


async def issue_code(gateway: Client, payer: User, **options: Any) -> str:
    response = await gateway.post("/v1/payment-codes", json=options, headers=payer.headers)
    assert response.status == 201, await response.text()
    return str((await response.json())["code"])


async def charge(gateway: Client, api_key: str, code: str, amount_fen: int, key: str) -> Any:
    return await gateway.post(
        "/v1/merchant/payment-code-charges",
        json={"code": code, "amount_fen": amount_fen, "memo": "noodles"},
        headers=api_key_headers(api_key, key),
    )


async def test_a_payment_code_is_paid_by_the_methods_its_payer_chose(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    payer = await buyer_with(gateway, new_user, balance_fen=20 * YUAN, yuebao_fen=100 * YUAN)
    # The default order: the balance does not cover 45 yuan, Yu'e Bao does.
    code = await issue_code(gateway, payer)
    key = new_key()
    charged = await charge(gateway, merchant_api_key, code, 45 * YUAN, key)
    assert charged.status == 201, await charged.text()
    answer = await charged.json()
    assert (fen(answer["amount"]), answer["memo"]) == (45 * YUAN, "noodles")
    assert answer["payer_name"] and answer["posting_id"]
    replay = await charge(gateway, merchant_api_key, code, 45 * YUAN, key)
    assert await replay.read() == await charged.read()
    assert await balance_fen(gateway, payer) == 20 * YUAN
    assert await yuebao_shares(gateway, payer) == 55 * YUAN

    # Balance only: a code whose charge the balance cannot cover is refused, nothing moves.
    balance_only = await issue_code(gateway, payer, methods=["balance"])
    refused = await charge(gateway, merchant_api_key, balance_only, 45 * YUAN, new_key())
    problem = await problem_of(refused, 422, "INSUFFICIENT_FUNDS")
    # The merchant learns that the payer cannot pay, not what the payer has.
    assert "metadata" not in problem and not any(c.isdigit() for c in problem["detail"])
    # A split: the balance first, the rest from Yu'e Bao.
    split = await issue_code(gateway, payer, split=True)
    charged = await charge(gateway, merchant_api_key, split, 50 * YUAN, new_key())
    assert charged.status == 201, await charged.text()
    assert await balance_fen(gateway, payer) == 0
    assert await yuebao_shares(gateway, payer) == 25 * YUAN
    await books.check(settled=True)


async def test_a_used_or_expired_code_is_refused_before_any_yuebao_is_redeemed(
    gateway: Client,
    new_user: NewUser,
    merchant_api_key: str,
    books: Books,
    *,
    clock: ManualClock,
    mongo_client: MongoClient,
    database_name: str,
) -> None:
    payer = await buyer_with(gateway, new_user, balance_fen=0, yuebao_fen=100 * YUAN)
    code = await issue_code(gateway, payer, methods=["yuebao"])
    first = await charge(gateway, merchant_api_key, code, 30 * YUAN, new_key())
    assert first.status == 201, await first.text()
    lines = await statement_lines(gateway, payer)

    again = await charge(gateway, merchant_api_key, code, 30 * YUAN, new_key())
    await problem_of(again, 422, "PAYMENT_CODE_USED")
    expiring = await issue_code(gateway, payer, methods=["yuebao"])
    # Its life ends (the payment service here runs on the real clock, the gateway on the
    # module's: the gateway's record of the code is what lapses).
    await mongo_client[f"{database_name}_gateway"]["payment_code_wallets"].update_one(
        {"_id": code_digest(expiring)}, {"$set": {"expires_at": clock.now()}}
    )
    late = await charge(gateway, merchant_api_key, expiring, 30 * YUAN, new_key())
    await problem_of(late, 422, "PAYMENT_CODE_EXPIRED")
    # Nothing was redeemed and given back: the payer's statement did not move.
    assert await statement_lines(gateway, payer) == lines
    assert await yuebao_shares(gateway, payer) == 70 * YUAN
    await books.check(settled=True)


async def test_a_large_code_charge_is_challenged_unless_the_payer_confirmed_the_code(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    payer = await buyer_with(gateway, new_user, balance_fen=1_000 * YUAN, yuebao_fen=3_000 * YUAN)
    await set_payment_password(gateway, payer)
    plain = await issue_code(gateway, payer)
    challenged = await charge(gateway, merchant_api_key, plain, 2_500 * YUAN, new_key())
    await problem_of(challenged, 422, "RISK_CHALLENGE_REQUIRED")
    assert await yuebao_shares(gateway, payer) == 3_000 * YUAN  # the redemption was undone

    wrong = await gateway.post(
        "/v1/payment-codes",
        json={"payment_password": WRONG_PAYMENT_PASSWORD, "amount_limit_fen": 2_500 * YUAN},
        headers=payer.headers,
    )
    await problem_of(wrong, 422, "PAYMENT_PASSWORD_WRONG")
    confirmed = await issue_code(
        gateway, payer, payment_password=PAYMENT_PASSWORD, amount_limit_fen=2_500 * YUAN
    )
    charged = await charge(gateway, merchant_api_key, confirmed, 2_500 * YUAN, new_key())
    assert charged.status == 201, await charged.text()
    assert await yuebao_shares(gateway, payer) == 500 * YUAN
    assert await balance_fen(gateway, payer) == 1_000 * YUAN
    await books.check(settled=True)


async def test_bad_payment_code_options_are_refused(gateway: Client, new_user: NewUser) -> None:
    payer = await new_user()
    for options in (
        {"methods": ["cash"]},
        {"methods": []},
        {"split": "yes"},
        {"x": 1},
        {"amount_limit_fen": 100},
        {"payment_password": PAYMENT_PASSWORD},
        {"payment_password": PAYMENT_PASSWORD, "amount_limit_fen": 1.5},
    ):
        response = await gateway.post("/v1/payment-codes", json=options, headers=payer.headers)
        assert response.status == 400, (options, await response.text())


async def test_someone_elses_trade_cannot_be_paid(
    gateway: Client, new_user: NewUser, merchant_api_key: str
) -> None:
    buyer = await buyer_with(gateway, new_user, balance_fen=100 * YUAN, yuebao_fen=0)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 10 * YUAN)
    stranger = await buyer_with(gateway, new_user, balance_fen=100 * YUAN, yuebao_fen=0)
    response = await wallet_pay(gateway, stranger, trade_id)
    await problem_of(response, 404, "NOT_FOUND")
    assert await balance_fen(gateway, stranger) == 100 * YUAN


async def test_a_trade_already_paid_is_refused_before_any_yuebao_is_redeemed(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    buyer = await buyer_with(gateway, new_user, balance_fen=100 * YUAN, yuebao_fen=300 * YUAN)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 80 * YUAN)
    await completed(await wallet_pay(gateway, buyer, trade_id))
    lines_before = await statement_lines(gateway, buyer)
    again = await wallet_pay(gateway, buyer, trade_id, methods=["yuebao"])
    problem = await problem_of(again, 422, "ILLEGAL_TRANSITION")
    assert "is paid" in problem["detail"]  # the payment service's escrow rule answered
    assert await yuebao_shares(gateway, buyer) == 300 * YUAN
    assert await statement_lines(gateway, buyer) == lines_before
    await books.check(settled=True)


async def test_a_method_that_runs_out_under_concurrency_falls_through_to_the_next(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    """100.00 in the balance, 50.00 in Yu'e Bao, eight concurrent 25.00 payments with
    ["balance", "yuebao"]: all eight choose the balance, four of them find it spent and fall
    through to Yu'e Bao, which pays two; six succeed, as they would one after another."""
    buyer = await buyer_with(gateway, new_user, balance_fen=100 * YUAN, yuebao_fen=50 * YUAN)
    trade_ids = [await trade_for(gateway, merchant_api_key, buyer, 25 * YUAN) for _ in range(8)]
    responses = await asyncio.gather(
        *(
            wallet_pay(gateway, buyer, trade_id, methods=["balance", "yuebao"])
            for trade_id in trade_ids
        )
    )
    paid = [response for response in responses if response.status == 201]
    refused = [response for response in responses if response.status != 201]
    assert len(paid) == 6, [response.status for response in responses]
    for response in refused:
        await problem_of(response, 422, "INSUFFICIENT_FUNDS")
    methods = sorted([funding_of(await completed(response))[0][0] for response in paid])
    assert methods == ["balance"] * 4 + ["yuebao"] * 2
    assert await balance_fen(gateway, buyer) == 0
    assert await yuebao_shares(gateway, buyer) == 0
    states = [await trade_state(gateway, buyer, trade_id) for trade_id in trade_ids]
    assert sorted(states) == ["created"] * 2 + ["paid"] * 6
    await books.check(settled=True)


async def test_a_key_used_for_another_kind_of_operation_is_refused_as_reused(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    """The saga the key started is a Yu'e Bao subscription: its input is not a wallet
    payment's, and the payment is refused as a reused key (not a 500), moving nothing."""
    buyer = await buyer_with(gateway, new_user, balance_fen=500 * YUAN, yuebao_fen=0)
    key = new_key()
    await completed(await subscribe_yuebao(gateway, buyer, 100 * YUAN, key))
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 200 * YUAN)
    reused = await gateway.post(
        "/v1/wallet/payments", json={"trade_id": trade_id}, headers=buyer.keyed(key)
    )
    await problem_of(reused, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await balance_fen(gateway, buyer) == 400 * YUAN
    assert await trade_state(gateway, buyer, trade_id) == "created"
    await books.check(settled=True)
