"""Insurance woven into trades (issue 20): return-shipping insurance (退货运费险) offered and
bought with a trade's payment, and its claim paid without the buyer asking when the trade is
refunded (the gateway follows the payment feed: gateway.insurance.refund_claims).

Real payment, wealth, credit, loan and insurance services; after every flow the books are
reconciled (gateway.tests.insurance_support.InsuranceBooks) and ``colony audit`` is clean.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.mongo import MongoClient
from conftest import service_settings
from gateway.clients import InsuranceClient, PaymentClient, ServiceChannels
from gateway.tests.conftest import (
    User,
    api_key_headers,
    balance_fen,
    create_api_key,
    problem_of,
    top_up,
)
from gateway.tests.insurance_support import InsuranceBooks, claim_of, policy_of
from gateway.tests.saga_support import eventually, new_key
from gateway.tests.test_wallet_pay import trade_for
from gateway.tests.wealth_support import fen
from services.payment.store import PaymentStore

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
# docs/insurance.md: a merchant with no refunds yet (< 5%), a trade under 500 yuan: 50 fen.
PREMIUM_FEN = 50
FIXED_PAYOUT_FEN = 1_200
CLAIM_WITHIN_SECONDS = 30.0


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


async def paid_with_cover(
    gateway: Client, new_user: NewUser, new_merchant: NewUser, amount_fen: int
) -> tuple[User, str, str, str]:
    """A buyer who paid a trade and bought its return-shipping cover with the payment:
    (buyer, the merchant's API key, trade id, policy id)."""
    buyer, merchant = await new_user(), await new_merchant()
    api_key = await create_api_key(gateway, merchant)
    await top_up(gateway, buyer, amount_fen + PREMIUM_FEN, new_key())
    trade_id = await trade_for(gateway, api_key, buyer, amount_fen)
    response = await gateway.post(
        f"/v1/trades/{trade_id}/return-shipping-quote", headers=buyer.headers
    )
    assert response.status == 201, await response.text()
    offered = await response.json()
    assert (fen(offered["premium"]), fen(offered["cover"])) == (PREMIUM_FEN, FIXED_PAYOUT_FEN)
    assert offered["subject_id"] == trade_id
    response = await gateway.post(
        "/v1/wallet/payments",
        json={"trade_id": trade_id, "return_shipping_quote_id": offered["quote_id"]},
        headers=buyer.keyed(new_key()),
    )
    assert response.status == 201, await response.text()
    paid = await response.json()
    assert paid["state"] == "completed", paid
    cover = paid["return_shipping_insurance"]
    assert cover["state"] == "completed", cover
    assert await balance_fen(gateway, buyer) == 0
    return buyer, api_key, trade_id, str(cover["result"]["policy_id"])


async def refund(gateway: Client, buyer: User, api_key: str, trade_id: str) -> None:
    response = await gateway.post(
        f"/v1/trades/{trade_id}/refund-request",
        json={"reason": "wrong size"},
        headers=buyer.headers,
    )
    assert response.status == 200, await response.text()
    response = await gateway.post(
        f"/v1/merchant/trades/{trade_id}/refund-decision",
        json={"approve": True},
        headers=api_key_headers(api_key),
    )
    assert response.status == 200, await response.text()


async def test_a_refunded_trade_pays_its_return_shipping_claim_without_being_asked(
    gateway: Client, new_user: NewUser, new_merchant: NewUser, books: InsuranceBooks
) -> None:
    await books.check()
    buyer, api_key, trade_id, policy_id = await paid_with_cover(
        gateway, new_user, new_merchant, 80 * YUAN
    )
    policy = await policy_of(gateway, buyer, policy_id)
    assert (policy["kind"], policy["state"], policy["subject_id"]) == (
        "return_shipping",
        "active",
        trade_id,
    )
    assert fen(policy["fixed_payout"]) == FIXED_PAYOUT_FEN
    await books.check()

    await refund(gateway, buyer, api_key, trade_id)

    async def paid_claim() -> dict[str, Any] | None:
        response = await gateway.get(
            f"/v1/insurance/claims?policy_id={policy_id}", headers=buyer.headers
        )
        assert response.status == 200, await response.text()
        claims = (await response.json())["claims"]
        return claims[0] if claims and claims[0]["state"] == "paid" else None

    claim = await eventually(paid_claim, CLAIM_WITHIN_SECONDS, "the return-shipping claim paid")
    assert fen(claim["amount"]) == FIXED_PAYOUT_FEN
    assert claim["event_reference"] == trade_id
    assert [e["kind"] for e in claim["evidence"]] == ["trade_refunded"]
    # The trade's 80 yuan back from escrow, and the 12 yuan of the claim: the premium stays paid.
    assert await balance_fen(gateway, buyer) == 80 * YUAN + FIXED_PAYOUT_FEN
    assert (await claim_of(gateway, buyer, claim["claim_id"]))["state"] == "paid"
    # Filing it again by hand is a duplicate of the claim already paid.
    response = await gateway.post(
        "/v1/insurance/claims", json={"policy_id": policy_id}, headers=buyer.keyed(new_key())
    )
    problem = await problem_of(response, 422, "DUPLICATE_CLAIM")
    assert problem["metadata"]["claim_id"] == claim["claim_id"]
    assert await balance_fen(gateway, buyer) == 80 * YUAN + FIXED_PAYOUT_FEN
    await books.check()


async def test_cover_for_a_trade_is_offered_only_to_its_buyer(
    gateway: Client, new_user: NewUser, new_merchant: NewUser
) -> None:
    buyer, other, merchant = await new_user(), await new_user(), await new_merchant()
    api_key = await create_api_key(gateway, merchant)
    trade_id = await trade_for(gateway, api_key, buyer, 10 * YUAN)
    response = await gateway.post(
        f"/v1/trades/{trade_id}/return-shipping-quote", headers=other.headers
    )
    await problem_of(response, 404, "NOT_FOUND")
    # A cover is accepted with a trade only, and only a quote of the caller's own.
    response = await gateway.post(
        f"/v1/trades/{trade_id}/return-shipping-quote", headers=buyer.headers
    )
    quote_id = (await response.json())["quote_id"]
    response = await gateway.post(
        "/v1/wallet/payments",
        json={
            "bill": {"biller_id": "b", "reference": "r", "amount_fen": 100},
            "return_shipping_quote_id": quote_id,
        },
        headers=buyer.keyed(new_key()),
    )
    await problem_of(response, 400, "INVALID_ARGUMENT")


async def test_a_quote_for_something_else_is_not_bought_with_the_trade(
    gateway: Client, new_user: NewUser, new_merchant: NewUser
) -> None:
    buyer, merchant = await new_user(), await new_merchant()
    api_key = await create_api_key(gateway, merchant)
    await top_up(gateway, buyer, 100 * YUAN, new_key())
    trade_id = await trade_for(gateway, api_key, buyer, 20 * YUAN)
    response = await gateway.post(
        "/v1/insurance/quotes",
        json={"product_id": "travel", "insured_age": 30, "duration_days": 10},
        headers=buyer.headers,
    )
    travel_quote = (await response.json())["quote_id"]
    response = await gateway.post(
        "/v1/wallet/payments",
        json={"trade_id": trade_id, "return_shipping_quote_id": travel_quote},
        headers=buyer.keyed(new_key()),
    )
    assert response.status == 201, await response.text()
    paid = await response.json()
    # The trade is paid; the travel quote is not bought in its place.
    assert paid["state"] == "completed"
    cover = paid["return_shipping_insurance"]
    assert (cover["state"], cover["error"]["reason"]) == ("refused", "INVALID_ARGUMENT")
    assert await balance_fen(gateway, buyer) == 80 * YUAN
    response = await gateway.get("/v1/insurance/policies", headers=buyer.headers)
    assert (await response.json())["policies"] == []


async def settled_trade(
    gateway: Client, buyer: User, api_key: str, amount_fen: int
) -> tuple[str, int]:
    """A trade the buyer paid and confirmed: (trade id, what the merchant received)."""
    trade_id = await trade_for(gateway, api_key, buyer, amount_fen)
    response = await gateway.post(
        "/v1/wallet/payments", json={"trade_id": trade_id}, headers=buyer.keyed(new_key())
    )
    assert response.status == 201, await response.text()
    response = await gateway.post(
        f"/v1/merchant/trades/{trade_id}/ship", headers=api_key_headers(api_key)
    )
    assert response.status == 200, await response.text()
    response = await gateway.post(f"/v1/trades/{trade_id}/confirm-receipt", headers=buyer.headers)
    assert response.status == 200, await response.text()
    assert (await response.json())["state"] == "settled"
    response = await gateway.get(
        f"/v1/merchant/trades/{trade_id}", headers=api_key_headers(api_key)
    )
    return trade_id, fen((await response.json())["merchant_settled"])


async def after_sales_refund(
    gateway: Client, operator: User, trade_id: str, amount_fen: int, key: str | None = None
) -> Any:
    return await gateway.post(
        f"/v1/admin/trades/{trade_id}/after-sales-refund",
        json={"amount_fen": amount_fen, "reason": "goods faulty after delivery"},
        headers=operator.keyed(key or new_key()),
    )


async def test_a_refund_the_merchant_cannot_fund_is_paid_by_its_deposit_insurance(
    gateway: Client,
    new_user: NewUser,
    new_merchant: NewUser,
    operator: User,
    books: InsuranceBooks,
) -> None:
    buyer, merchant = await new_user(), await new_merchant()
    api_key = await create_api_key(gateway, merchant)
    await top_up(gateway, buyer, 100 * YUAN, new_key())
    trade_id, received_fen = await settled_trade(gateway, buyer, api_key, 100 * YUAN)
    assert received_fen == 9_940  # less the 0.6% acquiring fee
    # The merchant insures a 1,000-yuan deposit instead of locking one: 1.5% at a 0% refund
    # rate = 15 yuan (docs/insurance.md).
    response = await gateway.post(
        "/v1/insurance/quotes",
        json={"product_id": "merchant-deposit", "cover_fen": 100_000},
        headers=merchant.headers,
    )
    assert response.status == 201, await response.text()
    quoted = await response.json()
    assert fen(quoted["premium"]) == 1_500
    response = await gateway.post(
        "/v1/insurance/policies",
        json={"quote_id": quoted["quote_id"]},
        headers=merchant.keyed(new_key()),
    )
    assert response.status == 201 and (await response.json())["state"] == "completed"
    merchant_fen = await balance_fen(gateway, merchant)
    assert merchant_fen == 9_940 - 1_500
    await books.check()

    # 90 yuan back to the buyer: more than the merchant holds, so the deposit cover pays.
    key = new_key()
    response = await after_sales_refund(gateway, operator, trade_id, 90 * YUAN, key)
    assert response.status == 201, await response.text()
    refunded = await response.json()
    assert refunded["paid_by"] == "deposit_insurance"
    assert refunded["claim"]["state"] == "paid"
    assert refunded["claim"]["beneficiary_id"] == buyer.account_id
    assert await balance_fen(gateway, buyer) == 90 * YUAN
    assert await balance_fen(gateway, merchant) == merchant_fen
    # The same request again pays nothing more.
    response = await after_sales_refund(gateway, operator, trade_id, 90 * YUAN, key)
    assert response.status == 201, await response.text()
    assert (await response.json())["claim"]["claim_id"] == refunded["claim"]["claim_id"]
    assert await balance_fen(gateway, buyer) == 90 * YUAN
    await books.check()


async def test_a_merchant_that_can_fund_an_after_sales_refund_pays_it_once(
    gateway: Client, new_user: NewUser, new_merchant: NewUser, operator: User
) -> None:
    buyer, merchant = await new_user(), await new_merchant()
    api_key = await create_api_key(gateway, merchant)
    await top_up(gateway, buyer, 100 * YUAN, new_key())
    trade_id, received_fen = await settled_trade(gateway, buyer, api_key, 50 * YUAN)
    response = await after_sales_refund(gateway, operator, trade_id, 10 * YUAN)
    assert response.status == 201, await response.text()
    assert (await response.json())["paid_by"] == "merchant"
    assert await balance_fen(gateway, buyer) == 60 * YUAN
    assert await balance_fen(gateway, merchant) == received_fen - 10 * YUAN

    # One after-sales refund per trade: another request answers the first, and moves nothing.
    response = await after_sales_refund(gateway, operator, trade_id, 20 * YUAN)
    assert response.status == 201, await response.text()
    assert fen((await response.json())["amount"]) == 10 * YUAN
    assert await balance_fen(gateway, buyer) == 60 * YUAN
    # More than the merchant received is refused before anything moves.
    response = await after_sales_refund(gateway, operator, trade_id, received_fen + 1)
    await problem_of(response, 400, "INVALID_AMOUNT")
