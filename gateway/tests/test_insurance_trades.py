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
