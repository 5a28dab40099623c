"""Insurance premiums from Yu'e Bao and Huabei, account-security cover, and the expiry job
(issue 20), through the gateway over the real payment, wealth, credit, loan and insurance
services (the insurance and loan services on the module's ManualClock).

After every flow the insurance books are reconciled with the ledger
(gateway.tests.insurance_support.InsuranceBooks, with ``colony audit``), and so are the
wealth and loan books where a premium drew on them (gateway.tests.wealth_support.Books).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from conftest import service_settings
from gateway.clients import InsuranceClient, PaymentClient, ServiceChannels
from gateway.tests.conftest import User, balance_fen, statement, top_up
from gateway.tests.insurance_support import InsuranceBooks, buy, policy_of, quote
from gateway.tests.saga_support import new_key
from gateway.tests.test_credit import OPENED_SCORE, score_when
from gateway.tests.wealth_support import Books, completed, fen, relog, subscribe_yuebao
from services.payment.store import PaymentStore

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
TRAVEL = {"product_id": "travel", "insured_age": 30, "duration_days": 10}
TRAVEL_FEN = 2_500
# docs/insurance.md: a newcomer's score 551 is in the 550-599 band (188 fen); a new account
# adds 20 fen: 2.08 yuan a year.
ACCOUNT_SECURITY_FEN = 208


@pytest.fixture(scope="module")
def service_addresses(insurance_service_addresses: dict[str, str]) -> dict[str, str]:
    return insurance_service_addresses


@pytest.fixture(scope="module")
def books(
    channels: ServiceChannels, mongo_client: MongoClient, database_name: str, mongo_url: str
) -> InsuranceBooks:
    return InsuranceBooks(
        payment=PaymentClient(channels.payment, 5.0),
        insurance=InsuranceClient(channels.insurance, 5.0),
        store=PaymentStore(mongo_client[f"{database_name}_payment"]),
        settings=tuple(
            service_settings(name, mongo_url, f"{database_name}_{name}")
            for name in ("payment", "wealth", "loan", "insurance")
        ),
    )


@pytest.fixture(scope="module")
def other_books(channels: ServiceChannels, mongo_client: MongoClient, database_name: str) -> Books:
    return Books.of(channels, mongo_client, database_name, loans=True)


def funding_of(result: dict[str, Any]) -> list[tuple[str, int]]:
    return [(part["method"], fen(part["amount"])) for part in result["funding"]]


async def test_a_premium_is_paid_from_yuebao(
    gateway: Client, new_user: NewUser, books: InsuranceBooks, other_books: Books
) -> None:
    user = await new_user()
    await top_up(gateway, user, 100 * YUAN, new_key())
    await completed(await subscribe_yuebao(gateway, user, 100 * YUAN))
    assert await balance_fen(gateway, user) == 0
    quoted = await quote(gateway, user, **TRAVEL)
    result = await completed(await buy(gateway, user, quoted["quote_id"], methods=["yuebao"]))
    assert funding_of(result) == [("yuebao", TRAVEL_FEN)]
    assert await balance_fen(gateway, user) == 0
    wallet = await (await gateway.get("/v1/wallet", headers=user.headers)).json()
    assert fen(wallet["wealth"]["yuebao"]["shares"]) == 100 * YUAN - TRAVEL_FEN
    assert (await policy_of(gateway, user, result["policy_id"]))["state"] == "active"
    await books.check()
    await other_books.check()


async def test_a_premium_is_paid_with_huabei(
    gateway: Client, new_user: NewUser, books: InsuranceBooks, other_books: Books
) -> None:
    user = await new_user()
    await score_when(gateway, user, lambda score: score["score"] == OPENED_SCORE)
    quoted = await quote(gateway, user, **TRAVEL)
    result = await completed(await buy(gateway, user, quoted["quote_id"], methods=["huabei"]))
    assert funding_of(result) == [("huabei", TRAVEL_FEN)]
    assert await balance_fen(gateway, user) == 0
    line = await (await gateway.get("/v1/loans/huabei", headers=user.headers)).json()
    assert fen(line["line"]["used"]) == TRAVEL_FEN
    await books.check()
    await other_books.check_loans()


async def test_account_security_is_priced_from_the_score_and_pays_a_confirmed_debit(
    gateway: Client, new_user: NewUser, operator: User, books: InsuranceBooks
) -> None:
    user = await new_user()
    await score_when(gateway, user, lambda score: score["score"] == OPENED_SCORE)
    await top_up(gateway, user, 10 * YUAN, new_key())
    quoted = await quote(gateway, user, product_id="account-security")
    assert fen(quoted["premium"]) == ACCOUNT_SECURITY_FEN
    assert fen(quoted["cover"]) == 1_000_000 * YUAN
    policy_id = (await completed(await buy(gateway, user, quoted["quote_id"])))["policy_id"]
    debit = (await statement(gateway, user))[0]["posting_id"]  # the debit claimed for
    balance = await balance_fen(gateway, user)

    response = await gateway.post(
        "/v1/insurance/claims",
        json={"policy_id": policy_id, "event_reference": debit, "amount_fen": 50 * YUAN},
        headers=user.keyed(new_key()),
    )
    assert response.status == 201, await response.text()
    claim = await response.json()
    assert claim["state"] == "adjudicating"  # waits for risk control or an operator
    # Evidence for another debit approves nothing.
    response = await gateway.post(
        f"/v1/admin/insurance/claims/{claim['claim_id']}/evidence",
        json={"posting_id": "some-other-posting"},
        headers=operator.headers,
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["state"] == "adjudicating"
    response = await gateway.post(
        f"/v1/admin/insurance/claims/{claim['claim_id']}/evidence",
        json={"posting_id": debit, "note": "the SIM was swapped"},
        headers=operator.headers,
    )
    assert response.status == 200, await response.text()
    paid = await response.json()
    assert paid["state"] == "paid"
    assert paid["evidence"][-1]["attested_by"] == f"operator:{operator.user_id}"
    assert await balance_fen(gateway, user) == balance + 50 * YUAN
    await books.check()


async def test_the_insurance_job_expires_policies_past_their_cover(
    gateway: Client,
    new_user: NewUser,
    operator: User,
    clock: ManualClock,
    books: InsuranceBooks,
) -> None:
    user = await new_user()
    await top_up(gateway, user, 100 * YUAN, new_key())
    quoted = await quote(gateway, user, **TRAVEL)
    policy_id = (await completed(await buy(gateway, user, quoted["quote_id"])))["policy_id"]
    end_date = (await policy_of(gateway, user, policy_id))["end_date"]
    clock.advance(timedelta(days=11))
    await relog(gateway, user, operator)
    today = clock.now().date().isoformat()
    assert today > end_date
    response = await gateway.post(
        "/v1/admin/jobs/insurance", json={"business_date": today}, headers=operator.headers
    )
    assert response.status == 200, await response.text()
    run = await response.json()
    assert run["policies_expired"] >= 1 and not run["already_completed"]
    assert (await policy_of(gateway, user, policy_id))["state"] == "expired"
    wallet = await (await gateway.get("/v1/wallet", headers=user.headers)).json()
    assert wallet["insurance"]["policies"] == []
    # A date run again does nothing.
    again = await gateway.post(
        "/v1/admin/jobs/insurance", json={"business_date": today}, headers=operator.headers
    )
    assert (await again.json())["already_completed"] is True
    await books.check()
