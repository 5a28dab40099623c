"""Insurance through the gateway (issue 20): real payment, wealth, credit, loan and insurance
services, the insurance service on the module's ManualClock.

A quote is bought by the policy_premium saga (the premium into platform:insurance:omnibus,
the net premium on to the insurer, the commission kept); a cancellation refunds by the
policy_refund saga (all of it in the cooling-off period, later pro rata, ROUND_DOWN); an
approved claim is paid to the beneficiary's balance by the claim_payout saga. After every
flow the books are checked (gateway.tests.insurance_support.InsuranceBooks): the payment
ledger's audit, each insurance account's balance = what GetInsuranceAudit says it must hold,
and ``colony audit`` with the insurance accounts. Nobody sees or acts on another's quote,
policy or claim.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from conftest import service_settings
from gateway.clients import InsuranceClient, PaymentClient, ServiceChannels
from gateway.insurance.ledger import OMNIBUS_ACCOUNT_ID
from gateway.tests.conftest import User, balance_fen, problem_of, top_up
from gateway.tests.insurance_support import InsuranceBooks, buy, claim_of, policy_of, quote
from gateway.tests.saga_support import eventually, new_key
from gateway.tests.wealth_support import completed, fen, relog
from services.payment.store import PaymentStore

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
# docs/insurance.md: travel, age 18-59, 8-15 days = 25 yuan; commission 0.25.
TRAVEL_FEN = 2_500
TRAVEL_COMMISSION_FEN = 625
PINGAN = "platform:insurance:insurer:pingan"
TRAVEL = {"product_id": "travel", "insured_age": 30, "duration_days": 10}


@pytest.fixture(scope="module")
def service_addresses(insurance_service_addresses: dict[str, str]) -> dict[str, str]:
    return insurance_service_addresses


@pytest.fixture(scope="module")
def credit_upstream_addresses(
    payment_address: str, manual_wealth_address: str, manual_insurance_address: str
) -> dict[str, str]:
    """The module's credit service follows the insurance feed too (and the module's own
    payment and wealth services)."""
    return {
        "payment": payment_address,
        "wealth": manual_wealth_address,
        "insurance": manual_insurance_address,
    }


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


async def funded(gateway: Client, new_user: NewUser, amount_fen: int) -> User:
    user = await new_user()
    await top_up(gateway, user, amount_fen, new_key())
    return user


async def travel_policy(gateway: Client, user: User) -> dict[str, Any]:
    """A travel policy bought from the balance; the operation's result."""
    quoted = await quote(gateway, user, **TRAVEL)
    return await completed(await buy(gateway, user, quoted["quote_id"]))


async def test_products_name_their_insurer_and_rule(gateway: Client, new_user: NewUser) -> None:
    user = await new_user()
    response = await gateway.get("/v1/insurance/products", headers=user.headers)
    assert response.status == 200, await response.text()
    products = {p["product_id"]: p for p in (await response.json())["products"]}
    assert set(products) == {
        "account-security",
        "return-shipping",
        "merchant-deposit",
        "travel",
        "health",
    }
    assert products["travel"]["insurer_id"] == "pingan"
    assert products["travel"]["commission_rate"] == "0.25"
    assert fen(products["account-security"]["cover_max"]) == 1_000_000 * YUAN


async def test_a_travel_policy_is_bought_from_the_balance_and_the_commission_kept(
    gateway: Client, new_user: NewUser, books: InsuranceBooks
) -> None:
    before = await books.check()
    user = await funded(gateway, new_user, 100 * YUAN)
    quoted = await quote(gateway, user, **TRAVEL)
    assert fen(quoted["premium"]) == TRAVEL_FEN
    assert quoted["term_days"] == 10
    key = new_key()
    result = await completed(await buy(gateway, user, quoted["quote_id"], key))
    assert fen(result["premium"]) == TRAVEL_FEN
    assert [(p["method"], fen(p["amount"])) for p in result["funding"]] == [("balance", 2_500)]
    policy = await policy_of(gateway, user, result["policy_id"])
    assert policy["state"] == "active"
    assert policy["start_date"] == "2025-03-01"
    assert policy["end_date"] == "2025-03-10"
    assert await balance_fen(gateway, user) == 100 * YUAN - TRAVEL_FEN

    # The same request again: the same operation, nothing charged twice.
    again = await completed(await buy(gateway, user, quoted["quote_id"], key))
    assert again["policy_id"] == result["policy_id"]
    assert await balance_fen(gateway, user) == 100 * YUAN - TRAVEL_FEN
    # The quote is used: a new request for it is refused, nothing moves.
    response = await buy(gateway, user, quoted["quote_id"])
    await problem_of(response, 422, "QUOTE_ALREADY_USED")
    assert await balance_fen(gateway, user) == 100 * YUAN - TRAVEL_FEN

    after = await books.check()
    omnibus_gain = after[OMNIBUS_ACCOUNT_ID] - before.get(OMNIBUS_ACCOUNT_ID, 0)
    assert omnibus_gain == TRAVEL_COMMISSION_FEN
    assert after[PINGAN] - before.get(PINGAN, 0) == TRAVEL_FEN - TRAVEL_COMMISSION_FEN

    response = await gateway.get("/v1/insurance/policies", headers=user.headers)
    assert [p["policy_id"] for p in (await response.json())["policies"]] == [result["policy_id"]]
    wallet = await (await gateway.get("/v1/wallet", headers=user.headers)).json()
    assert [p["policy_id"] for p in wallet["insurance"]["policies"]] == [result["policy_id"]]


async def test_a_premium_the_balance_cannot_pay_is_refused_and_nothing_moves(
    gateway: Client, new_user: NewUser, books: InsuranceBooks
) -> None:
    user = await funded(gateway, new_user, 10 * YUAN)
    quoted = await quote(gateway, user, **TRAVEL)
    response = await buy(gateway, user, quoted["quote_id"])
    await problem_of(response, 422, "INSUFFICIENT_FUNDS")
    assert await balance_fen(gateway, user) == 10 * YUAN
    await books.check()


async def test_bad_quotes_are_refused(gateway: Client, new_user: NewUser) -> None:
    user = await new_user()
    for body, status, reason in (
        ({"product_id": "nope"}, 404, "NOT_FOUND"),
        ({"product_id": "travel", "insured_age": 30}, 400, "INVALID_ARGUMENT"),
        ({"product_id": "travel", "insured_age": 81, "duration_days": 5}, 422, "NOT_INSURABLE"),
        ({"product_id": "merchant-deposit", "cover_fen": 100_000}, 400, "INVALID_ARGUMENT"),
        ({"product_id": "return-shipping", "trade_id": "t_nobody"}, 404, "NOT_FOUND"),
    ):
        response = await gateway.post("/v1/insurance/quotes", json=body, headers=user.headers)
        await problem_of(response, status, reason)


async def test_cancelling_in_the_cooling_off_period_refunds_everything(
    gateway: Client, new_user: NewUser, books: InsuranceBooks, clock: ManualClock
) -> None:
    user = await funded(gateway, new_user, 500 * YUAN)
    quoted = await quote(gateway, user, product_id="health", insured_age=30, duration_days=180)
    premium_fen = fen(quoted["premium"])
    assert premium_fen == 16_500
    bought = await completed(await buy(gateway, user, quoted["quote_id"]))
    policy_id = bought["policy_id"]
    clock.advance(timedelta(days=14))
    await relog(gateway, user)
    response = await gateway.post(
        f"/v1/insurance/policies/{policy_id}/cancellation", headers=user.keyed(new_key())
    )
    result = await completed(response)
    assert fen(result["refund"]) == premium_fen
    assert await balance_fen(gateway, user) == 500 * YUAN
    policy = await policy_of(gateway, user, policy_id)
    assert (policy["state"], policy["refund_state"]) == ("cancelled", "paid")
    # Cancelled once: another cancellation request answers that cancellation, and its
    # transfers (keyed by the policy) move nothing more.
    response = await gateway.post(
        f"/v1/insurance/policies/{policy_id}/cancellation", headers=user.keyed(new_key())
    )
    again = await completed(response)
    assert (again["posting_id"], fen(again["refund"])) == (result["posting_id"], premium_fen)
    assert await balance_fen(gateway, user) == 500 * YUAN
    await books.check()


async def test_cancelling_later_refunds_pro_rata_rounded_down(
    gateway: Client, new_user: NewUser, books: InsuranceBooks, clock: ManualClock
) -> None:
    user = await funded(gateway, new_user, 500 * YUAN)
    quoted = await quote(gateway, user, product_id="health", insured_age=30, duration_days=180)
    bought = await completed(await buy(gateway, user, quoted["quote_id"]))
    policy = await policy_of(gateway, user, bought["policy_id"])
    clock.advance(timedelta(days=100))
    await relog(gateway, user)
    response = await gateway.post(
        f"/v1/insurance/policies/{bought['policy_id']}/cancellation",
        headers=user.keyed(new_key()),
    )
    result = await completed(response)
    # Cover runs start .. start + 179; cancelled on start + 100: 79 days left (the end date
    # less the cancellation date) of 180. ROUND_DOWN: 16,500 x 79 / 180 = 7,241.67 → 7,241.
    start = date.fromisoformat(policy["start_date"])
    assert date.fromisoformat(policy["end_date"]) == start + timedelta(days=179)
    assert date.fromisoformat(result["cancelled_on"]) == start + timedelta(days=100)
    expected = 16_500 * 79 // 180
    assert fen(result["refund"]) == expected == 7_241
    assert policy["term_days"] == 180
    assert await balance_fen(gateway, user) == 500 * YUAN - 16_500 + expected
    await books.check()


async def test_a_travel_claim_is_reviewed_then_paid_or_rejected_with_its_reason(
    gateway: Client, new_user: NewUser, operator: User, books: InsuranceBooks
) -> None:
    user = await funded(gateway, new_user, 100 * YUAN)
    policy_id = (await travel_policy(gateway, user))["policy_id"]
    balance = await balance_fen(gateway, user)
    key = new_key()
    body = {
        "policy_id": policy_id,
        "event_reference": "flight-CA1234-delay",
        "amount_fen": 300 * YUAN,
        "note": "luggage lost",
    }
    response = await gateway.post("/v1/insurance/claims", json=body, headers=user.keyed(key))
    assert response.status == 201, await response.text()
    claim = await response.json()
    assert claim["state"] == "adjudicating"
    # The same request again files nothing new; another for the same event is a duplicate.
    again = await gateway.post("/v1/insurance/claims", json=body, headers=user.keyed(key))
    assert (await again.json())["claim_id"] == claim["claim_id"]
    duplicate = await gateway.post("/v1/insurance/claims", json=body, headers=user.keyed(new_key()))
    problem = await problem_of(duplicate, 422, "DUPLICATE_CLAIM")
    assert problem["metadata"]["claim_id"] == claim["claim_id"]

    response = await gateway.get("/v1/admin/insurance/claims", headers=operator.headers)
    assert claim["claim_id"] in [c["claim_id"] for c in (await response.json())["claims"]]
    # A rejection must carry its reason.
    response = await gateway.post(
        f"/v1/admin/insurance/claims/{claim['claim_id']}/review",
        json={"decision": "reject"},
        headers=operator.headers,
    )
    await problem_of(response, 400, "INVALID_ARGUMENT")
    response = await gateway.post(
        f"/v1/admin/insurance/claims/{claim['claim_id']}/review",
        json={"decision": "approve"},
        headers=operator.headers,
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["state"] == "paid"
    assert await balance_fen(gateway, user) == balance + 300 * YUAN
    paid = await claim_of(gateway, user, claim["claim_id"])
    assert paid["state"] == "paid" and paid["payout_posting_id"]
    await books.check()

    second = await gateway.post(
        "/v1/insurance/claims",
        json={**body, "event_reference": "hotel-cancelled"},
        headers=user.keyed(new_key()),
    )
    claim_id = (await second.json())["claim_id"]
    response = await gateway.post(
        f"/v1/admin/insurance/claims/{claim_id}/review",
        json={"decision": "reject", "reason": "not covered: cancelled by the traveller"},
        headers=operator.headers,
    )
    rejected = await response.json()
    assert rejected["state"] == "rejected"
    assert rejected["decision_reason"] == "not covered: cancelled by the traveller"
    # A decided claim cannot be decided again.
    response = await gateway.post(
        f"/v1/admin/insurance/claims/{claim_id}/review",
        json={"decision": "approve"},
        headers=operator.headers,
    )
    await problem_of(response, 422, "ILLEGAL_TRANSITION")
    assert await balance_fen(gateway, user) == balance + 300 * YUAN
    await books.check()


async def test_nobody_sees_or_acts_on_anothers_policy_quote_or_claim(
    gateway: Client, new_user: NewUser, operator: User
) -> None:
    owner = await funded(gateway, new_user, 100 * YUAN)
    other = await funded(gateway, new_user, 100 * YUAN)
    policy_id = (await travel_policy(gateway, owner))["policy_id"]
    quoted = await quote(gateway, owner, **TRAVEL)
    response = await gateway.post(
        "/v1/insurance/claims",
        json={"policy_id": policy_id, "event_reference": "e1", "amount_fen": 100},
        headers=owner.keyed(new_key()),
    )
    claim_id = (await response.json())["claim_id"]

    for method, path, body in (
        ("GET", f"/v1/insurance/policies/{policy_id}", None),
        ("POST", f"/v1/insurance/policies/{policy_id}/cancellation", None),
        ("GET", f"/v1/insurance/claims/{claim_id}", None),
        ("GET", f"/v1/insurance/claims?policy_id={policy_id}", None),
        ("POST", "/v1/insurance/policies", {"quote_id": quoted["quote_id"]}),
        (
            "POST",
            "/v1/insurance/claims",
            {"policy_id": policy_id, "event_reference": "e2", "amount_fen": 100},
        ),
    ):
        response = await gateway.request(method, path, json=body, headers=other.keyed(new_key()))
        await problem_of(response, 404, "NOT_FOUND")
    response = await gateway.get("/v1/insurance/policies", headers=other.headers)
    assert (await response.json())["policies"] == []
    assert await balance_fen(gateway, other) == 100 * YUAN
    # Operator routes are for operators only.
    response = await gateway.get("/v1/admin/insurance/claims", headers=owner.headers)
    await problem_of(response, 403, "PERMISSION_DENIED")
    assert (await policy_of(gateway, owner, policy_id))["state"] == "active"


async def test_the_credit_bureau_follows_the_insurance_feed(
    gateway: Client, new_user: NewUser, operator: User
) -> None:
    user = await funded(gateway, new_user, 100 * YUAN)
    await travel_policy(gateway, user)

    async def insurance_feed() -> dict[str, Any] | None:
        response = await gateway.get("/v1/admin/credit/feeds", headers=operator.headers)
        assert response.status == 200, await response.text()
        feeds = {feed["feed"]: feed for feed in (await response.json())["feeds"]}
        feed = feeds.get("insurance")
        return feed if feed is not None and int(feed["position"]) > 0 else None

    feed = await eventually(insurance_feed, 30.0, "the credit service applies insurance events")
    # Policies and claims are known types: none skipped as unknown.
    assert feed["events_skipped_unknown"] == 0
    assert feed["events_applied"] > 0
