"""Consumer credit through the gateway (issue 18): real payment, wealth, credit and loan
services, the loan service on the module's ManualClock.

Huabei is a wallet-pay method: the saga reserves on the line, moves the money from
platform:loan:huabei into the payer's balance and pays the merchant from there (an
ordinary payment to them). Concurrent purchases never exceed the line. A cash loan is
decided at once from the credit advice and disbursed into the balance; a repayment moves
money into the loan's ledger account and is applied by the waterfall. After every flow
the books are checked: the payment ledger's audit, the loan books' own identities, each
loan account's balance = collected - lent, and ``colony audit`` (infra.cli.audit) clean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from conftest import service_settings
from gateway.clients import ServiceChannels
from gateway.tests.conftest import User, balance_fen, problem_of, top_up
from gateway.tests.lending_support import fund_lending
from gateway.tests.saga_support import new_key
from gateway.tests.test_credit import OPENED_SCORE, score_when
from gateway.tests.test_retail_payments import WATER_BILLER, water_reference
from gateway.tests.test_wallet_pay import trade_for, trade_state, wallet_pay
from gateway.tests.wealth_support import Books, completed, fen, relog
from infra.cli import audit

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
# A newcomer whose account opening the credit service has applied (score 551): the
# advice's Huabei line (docs/credit.md "Limit advice").
OPENED_LINE_FEN = 500 * YUAN
# The lowest score advised a cash loan (5,000 yuan, 0.05%-0.06% a day).
ADVISED_CASH_SCORE = 600
# Savings that take a verified newcomer past it (assets held).
SAVINGS_FEN = 5_000 * YUAN


@pytest.fixture(scope="module")
def service_addresses(loan_service_addresses: dict[str, str]) -> dict[str, str]:
    return loan_service_addresses


@pytest.fixture(scope="module")
def books(channels: ServiceChannels, mongo_client: MongoClient, database_name: str) -> Books:
    return Books.of(channels, mongo_client, database_name, loans=True)


@pytest.fixture(scope="module", autouse=True)
async def lending_capital(gateway: Client, operator: User) -> None:
    """Cash loans are lent within the loan business's capital (docs/loans.md "Funding")."""
    await fund_lending(gateway, operator)


@pytest.fixture(scope="module")
async def merchant_api_key(gateway: Client, new_merchant: NewUser) -> str:
    from gateway.tests.conftest import create_api_key

    return await create_api_key(gateway, await new_merchant())


Audit = Callable[[], Awaitable[list[str]]]


@pytest.fixture(scope="module")
def colony_audit(mongo_url: str, database_name: str) -> Audit:
    """`colony audit` over the module's payment, wealth and loan databases."""

    async def run() -> list[str]:
        return await audit(
            *(
                service_settings(name, mongo_url, f"{database_name}_{name}")
                for name in ("payment", "wealth", "loan")
            )
        )

    return run


async def opened_user(gateway: Client, new_user: NewUser) -> User:
    """A fresh user whose account opening the credit service has applied (line 500 yuan)."""
    user = await new_user()
    await score_when(gateway, user, lambda score: score["score"] == OPENED_SCORE)
    return user


async def cash_loan(gateway: Client, user: User, loan_id: str) -> dict[str, Any]:
    response = await gateway.get(f"/v1/loans/cash-loans/{loan_id}", headers=user.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def huabei(gateway: Client, user: User) -> dict[str, Any]:
    response = await gateway.get("/v1/loans/huabei", headers=user.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def test_a_huabei_purchase_through_wallet_pay_draws_on_the_line(
    gateway: Client,
    new_user: NewUser,
    merchant_api_key: str,
    books: Books,
    colony_audit: Audit,
) -> None:
    buyer = await opened_user(gateway, new_user)
    opened = await huabei(gateway, buyer)
    assert fen(opened["line"]["line"]) == OPENED_LINE_FEN
    assert fen(opened["line"]["available"]) == OPENED_LINE_FEN
    assert opened["current_bill"] is None

    trade_id = await trade_for(gateway, merchant_api_key, buyer, 120 * YUAN)
    result = await completed(await wallet_pay(gateway, buyer, trade_id, methods=["huabei"]))
    assert [(part["method"], fen(part["amount"])) for part in result["funding"]] == [
        ("huabei", 120 * YUAN)
    ]
    assert await trade_state(gateway, buyer, trade_id) == "paid"
    assert await balance_fen(gateway, buyer) == 0
    line = (await huabei(gateway, buyer))["line"]
    assert (fen(line["used"]), fen(line["reserved"])) == (120 * YUAN, 0)
    assert fen(line["available"]) == OPENED_LINE_FEN - 120 * YUAN

    wallet = await (await gateway.get("/v1/wallet", headers=buyer.headers)).json()
    assert fen(wallet["loans"]["huabei"]["used"]) == 120 * YUAN
    assert wallet["loans"]["cash_loans"] == []

    balances = await books.check_loans()
    assert balances["platform:loan:huabei"] == -120 * YUAN
    assert await colony_audit() == []


async def test_balance_then_huabei_in_the_payers_order(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    buyer = await opened_user(gateway, new_user)
    await top_up(gateway, buyer, 30 * YUAN, new_key())
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 50 * YUAN)
    result = await completed(
        await wallet_pay(gateway, buyer, trade_id, methods=["balance", "huabei"])
    )
    assert [part["method"] for part in result["funding"]] == ["huabei"]
    assert await balance_fen(gateway, buyer) == 30 * YUAN
    await books.check_loans()


async def test_twenty_concurrent_purchases_on_a_line_that_affords_five_give_five(
    gateway: Client,
    new_user: NewUser,
    merchant_api_key: str,
    books: Books,
    colony_audit: Audit,
) -> None:
    buyer = await opened_user(gateway, new_user)
    await huabei(gateway, buyer)  # the line opens: 500 yuan
    trade_ids = [await trade_for(gateway, merchant_api_key, buyer, 100 * YUAN) for _ in range(20)]
    responses = await asyncio.gather(
        *(wallet_pay(gateway, buyer, trade_id, methods=["huabei"]) for trade_id in trade_ids)
    )
    paid = [response for response in responses if response.status == 201]
    assert len(paid) == 5, [response.status for response in responses]
    for response in responses:
        if response.status != 201:
            problem = await response.json(content_type="application/problem+json")
            assert problem["reason"] in {"HUABEI_LINE_EXCEEDED", "INSUFFICIENT_FUNDS"}, problem
    line = (await huabei(gateway, buyer))["line"]
    assert (fen(line["used"]), fen(line["reserved"]), fen(line["available"])) == (
        500 * YUAN,
        0,
        0,
    )
    states = [await trade_state(gateway, buyer, trade_id) for trade_id in trade_ids]
    assert states.count("paid") == 5
    assert await balance_fen(gateway, buyer) == 0
    await books.check_loans()
    assert await colony_audit() == []


async def test_a_huabei_repayment_gives_the_line_back(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    buyer = await opened_user(gateway, new_user)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 200 * YUAN)
    await completed(await wallet_pay(gateway, buyer, trade_id, methods=["huabei"]))
    await top_up(gateway, buyer, 300 * YUAN, new_key())

    too_much = await gateway.post(
        "/v1/loans/repayments",
        json={"target": "huabei", "amount_fen": 250 * YUAN},
        headers=buyer.keyed(new_key()),
    )
    await problem_of(too_much, 422, "REPAYMENT_EXCEEDS_OWED")
    assert await balance_fen(gateway, buyer) == 300 * YUAN

    repaid = await completed(
        await gateway.post(
            "/v1/loans/repayments",
            json={"target": "huabei", "amount_fen": 200 * YUAN},
            headers=buyer.keyed(new_key()),
        )
    )
    assert fen(repaid["amount"]) == 200 * YUAN
    assert await balance_fen(gateway, buyer) == 100 * YUAN
    line = (await huabei(gateway, buyer))["line"]
    assert fen(line["used"]) == 0
    assert fen(line["available"]) == fen(line["line"])  # the top-up raised the score too
    listed = await (await gateway.get("/v1/loans/repayments", headers=buyer.headers)).json()
    assert [r["state"] for r in listed["repayments"]] == ["applied"]
    await books.check_loans()


async def test_a_cash_loan_needs_an_advised_ceiling(
    gateway: Client, new_user: NewUser, books: Books
) -> None:
    """A newcomer (score 551) is advised no cash loan: the "310" decision declines it at
    once, with its reasons, and nothing moves."""
    borrower = await opened_user(gateway, new_user)
    result = await completed(
        await gateway.post(
            "/v1/loans/cash-loans",
            json={"amount_fen": 1_000 * YUAN, "term_months": 6},
            headers=borrower.keyed(new_key()),
        )
    )
    assert result["decision"] == "declined"
    loan = await (
        await gateway.get(f"/v1/loans/cash-loans/{result['loan_id']}", headers=borrower.headers)
    ).json()
    assert loan["state"] == "declined"
    assert "NO_CASH_LOAN_ADVISED" in loan["decline_reasons"]
    assert await balance_fen(gateway, borrower) == 0
    other = await opened_user(gateway, new_user)
    hidden = await gateway.get(f"/v1/loans/cash-loans/{result['loan_id']}", headers=other.headers)
    await problem_of(hidden, 404, "NOT_FOUND")
    await books.check_loans()


async def test_a_cash_loan_is_disbursed_repaid_by_the_waterfall_and_settled(
    gateway: Client,
    new_user: NewUser,
    clock: ManualClock,
    books: Books,
    operator: User,
) -> None:
    """A top-up verifies the card and brings assets: the score passes 600, which is advised
    a 5,000-yuan ceiling at 0.05%-0.06% a day. 1,000 yuan for 6 months (by the day: the
    lower rate) are disbursed into the balance; 10 days later 10 x 50 = 500 fen of
    interest is due: a 1,000-yuan repayment pays the interest first, then 995 yuan of
    principal; the last 5 yuan settle the loan."""
    borrower = await new_user()
    await top_up(gateway, borrower, SAVINGS_FEN, new_key())
    await score_when(gateway, borrower, lambda score: score["score"] >= ADVISED_CASH_SCORE)
    too_much = await completed(
        await gateway.post(
            "/v1/loans/cash-loans",
            json={"amount_fen": 6_000 * YUAN, "term_months": 6},
            headers=borrower.keyed(new_key()),
        )
    )
    assert too_much["decision"] == "declined"
    applied = await completed(
        await gateway.post(
            "/v1/loans/cash-loans",
            json={"amount_fen": 1_000 * YUAN, "term_months": 6, "method": "by_day"},
            headers=borrower.keyed(new_key()),
        )
    )
    assert applied["decision"] == "approved"
    loan_id = applied["loan_id"]
    assert await balance_fen(gateway, borrower) == SAVINGS_FEN + 1_000 * YUAN
    loan = await cash_loan(gateway, borrower, loan_id)
    assert (loan["state"], loan["daily_rate"]) == ("active", "0.0005")
    assert len(loan["schedule"]) == 6
    assert fen(loan["principal_outstanding"]) == 1_000 * YUAN
    wallet = await (await gateway.get("/v1/wallet", headers=borrower.headers)).json()
    assert [found["loan_id"] for found in wallet["loans"]["cash_loans"]] == [loan_id]
    await books.check_loans()

    clock.advance(timedelta(days=10))
    await relog(gateway, borrower, operator)
    loan = await cash_loan(gateway, borrower, loan_id)
    assert fen(loan["owed"]["payoff"]) == 1_000 * YUAN + 500
    repaid = await completed(
        await gateway.post(
            "/v1/loans/repayments",
            json={"target": "cash_loan", "loan_id": loan_id, "amount_fen": 1_000 * YUAN},
            headers=borrower.keyed(new_key()),
        )
    )
    assert {name: fen(money) for name, money in repaid["applied"].items()} == {
        "penalty": 0,
        "fee": 0,
        "interest": 500,
        "principal": 1_000 * YUAN - 500,
    }
    last = await completed(
        await gateway.post(
            "/v1/loans/repayments",
            json={"target": "cash_loan", "loan_id": loan_id, "amount_fen": 500},
            headers=borrower.keyed(new_key()),
        )
    )
    assert fen(last["applied"]["principal"]) == 500
    loan = await cash_loan(gateway, borrower, loan_id)
    assert loan["state"] == "settled"
    assert await balance_fen(gateway, borrower) == SAVINGS_FEN - 500
    balances = await books.check_loans()
    assert balances["platform:loan:cash_loan"] == 500  # the interest collected

    portfolio = await (
        await gateway.get("/v1/admin/loans/portfolio", headers=operator.headers)
    ).json()
    assert portfolio["npl_ratio"] in {"0", "0.0000"}


async def test_operator_portfolio_and_loan_jobs(
    gateway: Client, operator: User, new_user: NewUser
) -> None:
    report = await gateway.get("/v1/admin/loans/portfolio", headers=operator.headers)
    assert report.status == 200, await report.text()
    portfolio = await report.json()
    assert set(portfolio) >= {"products", "principal", "npl_ratio"}
    customer = await new_user()
    refused = await gateway.get("/v1/admin/loans/portfolio", headers=customer.headers)
    assert refused.status == 403
    run = await gateway.post(
        "/v1/admin/jobs/loans", json={"business_date": "2025-03-01"}, headers=operator.headers
    )
    assert run.status == 200, await run.text()
    again = await gateway.post(
        "/v1/admin/jobs/loans", json={"business_date": "2025-03-01"}, headers=operator.headers
    )
    assert (await again.json())["already_completed"] is True
    future = await gateway.post(
        "/v1/admin/jobs/loans", json={"business_date": "2099-01-01"}, headers=operator.headers
    )
    await problem_of(future, 400, "INVALID_BUSINESS_DATE")


async def advance_to(clock: ManualClock, moment: datetime) -> None:
    assert moment > clock.now()
    clock.advance(moment - clock.now())


async def pay_water_bill_with_huabei(gateway: Client, buyer: User, amount_fen: int) -> None:
    """A utility bill paid by Huabei (the biller sees an ordinary bill payment)."""
    response = await gateway.post(
        "/v1/wallet/payments",
        json={
            "bill": {
                "biller_id": WATER_BILLER,
                "reference": water_reference(),
                "amount_fen": amount_fen,
            },
            "methods": ["huabei"],
        },
        headers=buyer.keyed(new_key()),
    )
    await completed(response)


async def test_bills_on_the_statement_day_installments_and_the_auto_debit(
    gateway: Client,
    new_user: NewUser,
    clock: ManualClock,
    operator: User,
    books: Books,
) -> None:
    """Two purchases of 300 yuan in March are billed on 1 April (statement day 1, due 11
    April, minimum 10% = 30 yuan). One bill becomes 3 installments (fee 2.5% = 7.50 yuan,
    2.50 a part); the other is taken by the auto-debit on its due date."""
    debited, converting = await opened_user(gateway, new_user), await opened_user(gateway, new_user)
    for buyer in (debited, converting):
        await pay_water_bill_with_huabei(gateway, buyer, 300 * YUAN)
    setting = await gateway.put(
        "/v1/loans/auto-debit",
        json={"enabled": True, "sources": ["balance", "yuebao"]},
        headers=debited.headers,
    )
    assert setting.status == 200, await setting.text()
    assert (await setting.json())["enabled"] is True

    await advance_to(clock, datetime(2025, 4, 1, 2, 0, tzinfo=UTC))  # 10:00 in China
    await relog(gateway, debited, converting, operator)
    run = await gateway.post(
        "/v1/admin/jobs/loans", json={"business_date": "2025-04-01"}, headers=operator.headers
    )
    assert run.status == 200, await run.text()
    assert (await run.json())["bills_issued"] >= 2
    for buyer in (debited, converting):
        bill = (await huabei(gateway, buyer))["current_bill"]
        assert (bill["statement_date"], bill["due_date"], bill["state"]) == (
            "2025-04-01",
            "2025-04-11",
            "open",
        )
        assert fen(bill["unpaid"]["total"]) == 300 * YUAN
        assert fen(bill["minimum_payment"]) == 30 * YUAN

    bill_id = (await huabei(gateway, converting))["current_bill"]["bill_id"]
    hidden = await gateway.get(f"/v1/loans/huabei/bills/{bill_id}", headers=debited.headers)
    await problem_of(hidden, 404, "NOT_FOUND")
    offers = await (
        await gateway.get(
            f"/v1/loans/huabei/bills/{bill_id}/installment-offers", headers=converting.headers
        )
    ).json()
    assert [(o["months"], fen(o["fee"])) for o in offers["offers"]] == [
        (3, 750),
        (6, 1_350),
        (12, 2_640),
    ]
    key = new_key()
    converted = await gateway.post(
        f"/v1/loans/huabei/bills/{bill_id}/installments",
        json={"months": 3},
        headers=converting.keyed(key),
    )
    assert converted.status == 201, await converted.text()
    plan = await converted.json()
    assert [(fen(p["principal"]), fen(p["fee"])) for p in plan["parts"]] == [(10_000, 250)] * 3
    replay = await gateway.post(
        f"/v1/loans/huabei/bills/{bill_id}/installments",
        json={"months": 3},
        headers=converting.keyed(key),
    )
    assert (await replay.json())["plan_id"] == plan["plan_id"]

    await top_up(gateway, debited, 500 * YUAN, new_key())
    await advance_to(clock, datetime(2025, 4, 11, 2, 0, tzinfo=UTC))
    await relog(gateway, debited, converting, operator)
    run = await gateway.post(
        "/v1/admin/jobs/loans", json={"business_date": "2025-04-11"}, headers=operator.headers
    )
    assert run.status == 200, await run.text()
    assert (await run.json())["auto_debits"]["completed"] >= 1
    repayments = (
        await (await gateway.get("/v1/loans/repayments", headers=debited.headers)).json()
    )["repayments"]
    assert [(r["automatic"], r["state"]) for r in repayments] == [(True, "applied")]
    taken = fen(repayments[0]["amount"])
    assert await balance_fen(gateway, debited) == 500 * YUAN - taken
    bill = (await huabei(gateway, debited))["current_bill"]
    assert fen(bill["paid"]["total"]) == taken
    await books.check_loans()
