"""Merchant lending through the gateway (issue 19): real payment and loan services, the
loan service and the gateway on the module's ManualClock.

The operator funds the loan business (capital, bank borrowing at most 50% of it); a merchant
with a settled trade reads its figures, is declined by the default credit policy, then
approved under the operator's; the fixed part is paid into its balance, the revolving part
drawn up to the lending capacity (one fen more is refused), interest accrues by the day and
a repayment from the balance pays interest then principal. After each flow the merchant
lending books reconcile with platform:loan:merchant (the RPC audit and `colony audit`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from chassis.settings import SERVICE_NAMES
from conftest import service_settings
from gateway.clients import PaymentClient, ServiceChannels
from gateway.loans.merchant.funding import (
    BANK_LENDER_ACCOUNT_ID,
    CAPITAL_ACCOUNT_ID,
    SHAREHOLDERS_ACCOUNT_ID,
)
from gateway.tests.conftest import (
    User,
    api_key_headers,
    balance_fen,
    create_api_key,
    problem_of,
    top_up,
)
from gateway.tests.saga_support import new_key
from gateway.tests.wealth_support import completed, fen, relog
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


async def colony_audit(mongo_url: str, database_name: str) -> list[str]:
    return await audit(
        service_settings("payment", mongo_url, f"{database_name}_payment"),
        loan_settings=service_settings("loan", mongo_url, f"{database_name}_loan"),
    )


async def settled_trade(gateway: Client, merchant: User, buyer: User, amount_fen: int) -> None:
    """A trade paid, shipped and confirmed: settled to the merchant (less 0.6%)."""
    api_key = await create_api_key(gateway, merchant)
    created = await gateway.post(
        "/v1/merchant/trades",
        json={"buyer_phone": buyer.phone, "amount_fen": amount_fen, "description": "tea"},
        headers=api_key_headers(api_key, new_key()),
    )
    assert created.status == 201, await created.text()
    trade_id = (await created.json())["trade_id"]
    for response in (
        await gateway.post(f"/v1/trades/{trade_id}/pay", headers=buyer.keyed(new_key())),
        await gateway.post(
            f"/v1/merchant/trades/{trade_id}/ship", headers=api_key_headers(api_key)
        ),
        await gateway.post(f"/v1/trades/{trade_id}/confirm-receipt", headers=buyer.headers),
    ):
        assert response.status == 200, await response.text()


async def post(gateway: Client, user: User, path: str, body: dict[str, Any]) -> Any:
    return await gateway.post(path, json=body, headers=user.keyed(new_key()))


async def get(gateway: Client, user: User, path: str) -> dict[str, Any]:
    response = await gateway.get(path, headers=user.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


@pytest.fixture(scope="module")
async def seller(gateway: Client, new_user: NewUser, new_merchant: NewUser) -> User:
    """A merchant with one settled trade of 1,000 yuan."""
    merchant, buyer = await new_merchant(), await new_user()
    await top_up(gateway, buyer, 1_000 * YUAN, new_key())
    await settled_trade(gateway, merchant, buyer, 1_000 * YUAN)
    return merchant


SETTLED_FEN = 1_000 * YUAN - 600  # the trade less the 0.6% acquiring fee
TERMS = {"amount_fen": 100_000 * YUAN, "fixed_amount_fen": 50_000 * YUAN}
FACILITY: dict[str, str] = {}


async def ledger_balances(channels: ServiceChannels) -> tuple[int, int, int]:
    """platform:loan:capital, platform:loan:shareholders, the fake bank lender: balances."""
    payment = PaymentClient(channels.payment, 5.0)
    return (
        (await payment.get_account(CAPITAL_ACCOUNT_ID)).balance.amount_fen,
        (await payment.get_account(SHAREHOLDERS_ACCOUNT_ID)).balance.amount_fen,
        (await payment.get_account(BANK_LENDER_ACCOUNT_ID)).balance.amount_fen,
    )


async def test_bank_borrowing_is_at_most_half_the_capital(
    gateway: Client,
    operator: User,
    channels: ServiceChannels,
    *,
    mongo_url: str,
    database_name: str,
) -> None:
    funded = await completed(
        await post(
            gateway, operator, "/v1/admin/loans/funding/capital", {"amount_fen": 60_000 * YUAN}
        )
    )
    assert fen(funded["capacity"]["capital"]) == 60_000 * YUAN
    over = await post(
        gateway, operator, "/v1/admin/loans/funding/borrowings", {"amount_fen": 30_000 * YUAN + 1}
    )
    problem = await problem_of(over, 422, "BORROWING_LIMIT")
    assert problem["metadata"]["room_fen"] == str(30_000 * YUAN)
    # The refusal moved nothing: the capital account holds the capital only.
    assert await ledger_balances(channels) == (60_000 * YUAN, -60_000 * YUAN, 0)
    borrowed = await completed(
        await post(
            gateway, operator, "/v1/admin/loans/funding/borrowings", {"amount_fen": 30_000 * YUAN}
        )
    )
    capacity = borrowed["capacity"]
    assert (fen(capacity["capacity"]), fen(capacity["borrowing_allowed"])) == (
        90_000 * YUAN,
        30_000 * YUAN,
    )
    assert await ledger_balances(channels) == (90_000 * YUAN, -60_000 * YUAN, -30_000 * YUAN)
    # 10,000 yuan repaid to the bank, then borrowed again: the money follows the book.
    repaid = await completed(
        await post(
            gateway,
            operator,
            "/v1/admin/loans/funding/borrowing-repayments",
            {"amount_fen": 10_000 * YUAN},
        )
    )
    assert fen(repaid["capacity"]["bank_borrowing"]) == 20_000 * YUAN
    assert await ledger_balances(channels) == (80_000 * YUAN, -60_000 * YUAN, -20_000 * YUAN)
    too_much = await post(
        gateway,
        operator,
        "/v1/admin/loans/funding/borrowing-repayments",
        {"amount_fen": 20_000 * YUAN + 1},
    )
    await problem_of(too_much, 422, "INVALID_AMOUNT")
    assert await colony_audit(mongo_url, database_name) == []
    await completed(
        await post(
            gateway, operator, "/v1/admin/loans/funding/borrowings", {"amount_fen": 10_000 * YUAN}
        )
    )
    assert await ledger_balances(channels) == (90_000 * YUAN, -60_000 * YUAN, -30_000 * YUAN)


async def test_the_credit_decision_reads_the_merchants_figures(
    gateway: Client, seller: User, operator: User
) -> None:
    figures = await get(gateway, seller, "/v1/merchant/loans/figures")
    assert figures["months_with_settlements"] == 1
    assert fen(figures["settled_sales"]) == 1_000 * YUAN
    assert fen(figures["refunded"]) == 0
    assert await balance_fen(gateway, seller) == SETTLED_FEN

    # The default policy declines it, with every reason.
    declined = await completed(await post(gateway, seller, "/v1/merchant/loans/facilities", TERMS))
    assert declined["decision"] == "declined"
    facility = await get(
        gateway, seller, f"/v1/merchant/loans/facilities/{declined['facility_id']}"
    )
    assert facility["state"] == "declined"
    assert facility["declines"] == ["SHORT_SETTLEMENT_HISTORY", "ABOVE_SALES_LIMIT"]
    assert await balance_fen(gateway, seller) == SETTLED_FEN

    # The operator's policy: one month of settlements, up to 100x the year's sales.
    policy = {
        "min_months_with_settlements": 1,
        "max_refund_rate": "0.05",
        "max_share_of_sales": "100",
    }
    response = await gateway.put(
        "/v1/admin/loans/merchant-credit-policy", json=policy, headers=operator.keyed(new_key())
    )
    assert response.status == 200, await response.text()
    assert await get(gateway, operator, "/v1/admin/loans/merchant-credit-policy") == policy


async def test_a_fixed_part_under_50000_yuan_is_refused_naming_the_rule(
    gateway: Client, seller: User
) -> None:
    # 40,000 yuan of 200,000 is 20% but under 50,000 yuan.
    small = await post(
        gateway,
        seller,
        "/v1/merchant/loans/facilities",
        {"amount_fen": 200_000 * YUAN, "fixed_amount_fen": 40_000 * YUAN},
    )
    # The body model states the rule (minimum 5000000), so the gateway refuses it first.
    problem = await problem_of(small, 400, "INVALID_AMOUNT")
    assert problem["metadata"]["field"] == "fixed_amount_fen"
    assert "5000000" in problem["detail"]


async def test_the_fixed_part_is_paid_out_and_draws_stop_at_capacity(
    gateway: Client, seller: User, operator: User, clock: ManualClock
) -> None:
    clock.advance(timedelta(seconds=1))  # newest first: decided after the declined one
    opened = await completed(await post(gateway, seller, "/v1/merchant/loans/facilities", TERMS))
    assert opened["decision"] == "approved"
    FACILITY["path"] = path = f"/v1/merchant/loans/facilities/{opened['facility_id']}"
    assert await balance_fen(gateway, seller) == SETTLED_FEN + 50_000 * YUAN
    listed = await get(gateway, seller, "/v1/merchant/loans/facilities")
    assert [f["state"] for f in listed["facilities"]] == ["active", "declined"]

    # Capacity 90,000 yuan, 50,000 used: a draw of 40,000 yuan + 1 fen is refused.
    over_draw = await post(gateway, seller, path + "/draws", {"amount_fen": 40_000 * YUAN + 1})
    problem = await problem_of(over_draw, 422, "LENDING_CAPACITY")
    assert problem["metadata"]["available_fen"] == str(40_000 * YUAN)
    drawn = await completed(
        await post(gateway, seller, path + "/draws", {"amount_fen": 40_000 * YUAN})
    )
    assert drawn["decision"] == "approved"
    capacity = await get(gateway, operator, "/v1/admin/loans/funding")
    assert (fen(capacity["used"]), fen(capacity["available"])) == (90_000 * YUAN, 0)
    assert fen(capacity["merchant_used"]) == 90_000 * YUAN
    assert await balance_fen(gateway, seller) == SETTLED_FEN + 90_000 * YUAN


async def test_interest_by_the_day_and_a_repayment_from_the_balance(
    gateway: Client, seller: User, operator: User, clock: ManualClock
) -> None:
    path = FACILITY["path"]
    # Ten days later: revolving 40,000 x 0.06% x 10 = 240 yuan; fixed 50,000 x 0.05% x 10 = 250.
    clock.advance(timedelta(days=10))
    await relog(gateway, seller, operator)
    facility = await get(gateway, seller, path)
    assert fen(facility["revolving"]["interest_owed"]) == 240 * YUAN
    assert fen(facility["fixed"]["interest_owed"]) == 250 * YUAN
    assert fen(facility["revolving_available"]) == 10_000 * YUAN

    # Overpaying is refused; the payoff repays interest then principal from the balance.
    payoff = {"part": "revolving", "amount_fen": 40_240 * YUAN}
    too_much = await post(
        gateway, seller, path + "/repayments", {**payoff, "amount_fen": 40_240 * YUAN + 1}
    )
    await problem_of(too_much, 422, "REPAYMENT_EXCEEDS_OWED")
    repaid = await completed(await post(gateway, seller, path + "/repayments", payoff))
    assert (repaid["interest_fen"], repaid["principal_fen"]) == (240 * YUAN, 40_000 * YUAN)
    assert await balance_fen(gateway, seller) == SETTLED_FEN + 90_000 * YUAN - 40_240 * YUAN
    capacity = await get(gateway, operator, "/v1/admin/loans/funding")
    assert fen(capacity["available"]) == 40_000 * YUAN


async def test_the_books_reconcile_with_the_ledger(
    gateway: Client,
    operator: User,
    new_merchant: NewUser,
    *,
    channels: ServiceChannels,
    mongo_url: str,
    database_name: str,
) -> None:
    # Lent 90,000 yuan, collected 40,240: the facilities' books say -49,760 yuan.
    books = await get(gateway, operator, "/v1/admin/loans/merchant-audit")
    assert books["breaches"] == []
    assert books["expected_balance_fen"] == (40_240 - 90_000) * YUAN
    assert fen(books["principal_outstanding"]) == 50_000 * YUAN
    # The loans were lent out of the capital and repaid into it: capital 60,000 + borrowing
    # 30,000 - principal outstanding 50,000 + interest collected 240 = 40,240 yuan.
    assert (await ledger_balances(channels))[0] == 40_240 * YUAN
    assert await colony_audit(mongo_url, database_name) == []

    # Another merchant cannot see the facility, or draw on it.
    other = await new_merchant()
    path = FACILITY["path"]
    await problem_of(await gateway.get(path, headers=other.headers), 404, "NOT_FOUND")
    stolen = await post(gateway, other, path + "/draws", {"amount_fen": YUAN})
    await problem_of(stolen, 404, "NOT_FOUND")


async def test_merchant_routes_are_the_merchants_own(
    gateway: Client, new_user: NewUser, new_merchant: NewUser, operator: User
) -> None:
    person = await new_user()
    response = await gateway.get("/v1/merchant/loans/facilities", headers=person.headers)
    assert response.status == 403
    other = await new_merchant()
    unknown = await gateway.get("/v1/merchant/loans/facilities/mf_nope", headers=other.headers)
    await problem_of(unknown, 404, "NOT_FOUND")
    listed = await get(gateway, other, "/v1/merchant/loans/facilities")
    assert listed["facilities"] == []
    bad = await post(
        gateway, other, "/v1/merchant/loans/facilities", {"amount_fen": 100_000 * YUAN}
    )
    await problem_of(bad, 400, "INVALID_AMOUNT")
    refused = await gateway.get("/v1/admin/loans/funding", headers=other.headers)
    assert refused.status == 403


async def test_an_overdue_facility_is_withheld_from_every_later_settlement(
    gateway: Client,
    *,
    seller: User,
    operator: User,
    new_user: NewUser,
    clock: ManualClock,
    mongo_url: str,
    database_name: str,
) -> None:
    path = FACILITY["path"]
    # A year and a day after it started, the fixed 50,000 yuan is still owed: overdue.
    clock.advance(timedelta(days=366))
    await relog(gateway, seller, operator)
    facility = await get(gateway, seller, path)
    assert facility["overdue"] is True
    owed = fen(facility["fixed"]["owed"])
    # 50,000 yuan x 0.05% x 376 days of interest (10 + 366)
    assert owed == 50_000 * YUAN + 940_000
    run = await post(gateway, operator, "/v1/admin/jobs/order-loans", {})
    assert run.status == 200, await run.text()
    assert (await run.json())["facility_withholdings"] == 1

    # The merchant sells 1,000 yuan: the whole 994 net goes to the facility, none to them.
    buyer = await new_user()
    await top_up(gateway, buyer, 1_000 * YUAN, new_key())
    before = await balance_fen(gateway, seller)
    await settled_trade(gateway, seller, buyer, 1_000 * YUAN)
    assert await balance_fen(gateway, seller) == before
    run = await post(gateway, operator, "/v1/admin/jobs/order-loans", {})
    assert (await run.json())["facility_collected_fen"] == SETTLED_FEN
    facility = await get(gateway, seller, path)
    assert fen(facility["fixed"]["owed"]) == owed - SETTLED_FEN
    again = await post(gateway, operator, "/v1/admin/jobs/order-loans", {})
    assert (await again.json())["facility_withholdings"] == 0  # the instruction still stands
    assert fen((await get(gateway, seller, path))["fixed"]["owed"]) == owed - SETTLED_FEN
    assert await colony_audit(mongo_url, database_name) == []
