"""An ABS pool's money through the gateway (issue 19): real payment and loan services, the
loan service and the gateway on the module's ManualClock.

The operator funds the lender; a merchant's 50,000-yuan fixed part is paid out. Investors a
and b buy 30,000 and 20,000 yuan of units of a 6% pool with wallet money (the money moves
into platform:loan:abs:<pool>; one fen beyond the balance is INSUFFICIENT_FUNDS and buys
nothing); their holdings show in GET /v1/wallet. The pool buys the fixed part: its price
goes to platform:loan:merchant and the capacity returns. Ten days later the merchant repays
250 yuan of interest and 10,000 of principal; the pass-through pays 49.31 and 32.88 yuan of
coupon into the investors' wallets, 167.81 of excess spread to the lender, and keeps 10,000
for new loans. After the revolving period no units are sold (POOL_CLOSED), and the next
period returns 20,000 yuan of principal 3:2. After each step `colony audit` is clean: the
pool's account holds the cash the pool reports, platform:loan:merchant what its books say.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock, business_date_of
from chassis.settings import SERVICE_NAMES
from colony.loan.v1 import merchant_lending_pb2 as mpb
from gateway.clients import PaymentClient, ServiceChannels
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.loans.merchant.ledger import MERCHANT_LOAN_ACCOUNT_ID
from gateway.tests.conftest import User, balance_fen, problem_of, top_up
from gateway.tests.lending_support import create_pool
from gateway.tests.saga_support import new_key
from gateway.tests.test_merchant_lending import colony_audit, get, post, settled_trade
from gateway.tests.wealth_support import completed, fen, relog
from services.loan.statements import add_months

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
POOL = "abs-money-1"
POOL_ACCOUNT = "platform:loan:abs:" + POOL
STATE: dict[str, Any] = {}


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, unreachable_address: str, manual_loan_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return {**addresses, "payment": payment_address, "loan": manual_loan_address}


async def ledger_fen(channels: ServiceChannels, account_id: str) -> int:
    payment = PaymentClient(channels.payment, 5.0)
    return int((await payment.get_account(account_id)).balance.amount_fen)


async def test_investors_buy_units_and_the_pool_buys_a_loan(
    gateway: Client,
    operator: User,
    new_user: NewUser,
    new_merchant: NewUser,
    *,
    channels: ServiceChannels,
    clock: ManualClock,
    mongo_url: str,
    database_name: str,
) -> None:
    STATE["start"] = start = business_date_of(clock.now())
    await completed(
        await post(
            gateway, operator, "/v1/admin/loans/funding/capital", {"amount_fen": 200_000 * YUAN}
        )
    )
    policy = {
        "min_months_with_settlements": 1,
        "max_refund_rate": "0.05",
        "max_share_of_sales": "100",
    }
    response = await gateway.put(
        "/v1/admin/loans/merchant-credit-policy", json=policy, headers=operator.keyed(new_key())
    )
    assert response.status == 200, await response.text()
    seller, buyer = await new_merchant(), await new_user()
    await top_up(gateway, buyer, 1_000 * YUAN, new_key())
    await settled_trade(gateway, seller, buyer, 1_000 * YUAN)
    opened = await completed(
        await post(
            gateway,
            seller,
            "/v1/merchant/loans/facilities",
            {"amount_fen": 100_000 * YUAN, "fixed_amount_fen": 50_000 * YUAN},
        )
    )
    assert opened["decision"] == "approved"
    STATE["seller"], STATE["facility"] = seller, opened["facility_id"]

    await create_pool(
        gateway,
        operator,
        POOL,
        revolving_until=start + timedelta(days=20),
        min_remaining_days=30,
    )

    a, b = await new_user(), await new_user()
    STATE["a"], STATE["b"] = a, b
    await top_up(gateway, a, 30_000 * YUAN, new_key())
    await top_up(gateway, b, 20_000 * YUAN, new_key())
    too_much = await post(
        gateway, b, f"/v1/abs-pools/{POOL}/units", {"amount_fen": 20_000 * YUAN + 1}
    )
    await problem_of(too_much, 422, "INSUFFICIENT_FUNDS")
    assert await balance_fen(gateway, b) == 20_000 * YUAN
    bought = await completed(
        await post(gateway, a, f"/v1/abs-pools/{POOL}/units", {"amount_fen": 30_000 * YUAN})
    )
    assert bought["units_fen"] == 30_000 * YUAN
    await completed(
        await post(gateway, b, f"/v1/abs-pools/{POOL}/units", {"amount_fen": 20_000 * YUAN})
    )
    assert await balance_fen(gateway, a) == await balance_fen(gateway, b) == 0
    assert await ledger_fen(channels, POOL_ACCOUNT) == 50_000 * YUAN
    wallet = await get(gateway, a, "/v1/wallet")
    assert [(h["pool_id"], fen(h["units"])) for h in wallet["abs"]["holdings"]] == [
        (POOL, 30_000 * YUAN)
    ]
    assert fen(wallet["abs"]["units"]) == 30_000 * YUAN
    missing = await post(gateway, a, "/v1/abs-pools/no-such-pool/units", {"amount_fen": YUAN})
    await problem_of(missing, 404, "NOT_FOUND")
    assert await colony_audit(mongo_url, database_name) == []

    lender_before = await ledger_fen(channels, MERCHANT_LOAN_ACCOUNT_ID)
    used_before = fen((await get(gateway, operator, "/v1/admin/loans/funding"))["used"])
    purchase = await completed(
        await post(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}/purchases", {})
    )
    assert (purchase["bought"], purchase["spent_fen"]) == ([opened["facility_id"]], 5_000_000)
    assert await ledger_fen(channels, POOL_ACCOUNT) == 0
    assert await ledger_fen(channels, MERCHANT_LOAN_ACCOUNT_ID) == lender_before + 5_000_000
    capacity = await get(gateway, operator, "/v1/admin/loans/funding")
    assert fen(capacity["used"]) == used_before - 5_000_000
    assert await colony_audit(mongo_url, database_name) == []


async def test_a_month_passes_through_to_the_investors_wallets(
    gateway: Client,
    operator: User,
    channels: ServiceChannels,
    *,
    clock: ManualClock,
    mongo_url: str,
    database_name: str,
) -> None:
    start: date = STATE["start"]
    seller, a, b = STATE["seller"], STATE["a"], STATE["b"]
    clock.advance(timedelta(days=10))
    await relog(gateway, operator, seller, a, b)
    repaid = await completed(
        await post(
            gateway,
            seller,
            f"/v1/merchant/loans/facilities/{STATE['facility']}/repayments",
            {"part": "fixed", "amount_fen": 10_250 * YUAN},
        )
    )
    assert (repaid["interest_fen"], repaid["principal_fen"]) == (250 * YUAN, 10_000 * YUAN)
    lender_before = await ledger_fen(channels, MERCHANT_LOAN_ACCOUNT_ID)
    path = f"/v1/admin/loans/abs-pools/{POOL}/pass-through"
    key = new_key()
    month = await completed(await gateway.post(path, json={}, headers=operator.keyed(key)))
    assert month["period_id"] == f"{POOL}:{(start + timedelta(days=10)).isoformat()}"
    assert (month["investor_interest_fen"], month["excess_fen"]) == (8_219, 16_781)
    assert await balance_fen(gateway, a) == 4_931
    assert await balance_fen(gateway, b) == 3_288
    assert await ledger_fen(channels, POOL_ACCOUNT) == 1_000_000  # principal awaiting loans
    # Collected 1,025,000 fen out of the lender's account, 16,781 of excess spread back.
    assert (
        await ledger_fen(channels, MERCHANT_LOAN_ACCOUNT_ID) == lender_before - 1_025_000 + 16_781
    )
    replay = await gateway.post(path, json={}, headers=operator.keyed(key))
    assert replay.status == 201 and (await replay.json())["result"] == month
    again = await gateway.post(path, json={}, headers=operator.keyed(new_key()))
    await problem_of(again, 422, "POOL_PERIOD_NOT_OVER")
    assert await balance_fen(gateway, a) == 4_931

    report = await get(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}")
    (period,) = report["periods"]
    assert fen(period["interest_collected"]) + fen(period["principal_collected"]) == sum(
        fen(period[name])
        for name in (
            "investor_interest",
            "excess_spread",
            "purchases",
            "principal_returned",
            "carried_out",
        )
    )
    assert report["account_id"] == POOL_ACCOUNT and fen(report["cash"]) == 1_000_000
    assert await colony_audit(mongo_url, database_name) == []


async def test_after_the_revolving_period_principal_returns_to_investors(
    gateway: Client,
    operator: User,
    channels: ServiceChannels,
    *,
    clock: ManualClock,
    mongo_url: str,
    database_name: str,
) -> None:
    seller, a, b = STATE["seller"], STATE["a"], STATE["b"]
    clock.advance(timedelta(days=21))
    await relog(gateway, operator, seller, a, b)
    closed = await post(gateway, a, f"/v1/abs-pools/{POOL}/units", {"amount_fen": YUAN})
    await problem_of(closed, 422, "POOL_CLOSED")
    await completed(
        await post(
            gateway,
            seller,
            f"/v1/merchant/loans/facilities/{STATE['facility']}/repayments",
            {"part": "fixed", "amount_fen": 10_420 * YUAN},
        )
    )
    month = await completed(
        await post(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}/pass-through", {})
    )
    assert (month["investor_interest_fen"], month["returned_fen"]) == (17_260, 2_000_000)
    assert await balance_fen(gateway, a) == 4_931 + 10_356 + 1_200_000
    assert await balance_fen(gateway, b) == 3_288 + 6_904 + 800_000
    assert await ledger_fen(channels, POOL_ACCOUNT) == 0
    wallet = await get(gateway, b, "/v1/wallet")
    (holding,) = wallet["abs"]["holdings"]
    assert (fen(holding["units"]), fen(holding["principal_returned"])) == (1_200_000, 800_000)
    assert fen(holding["interest_received"]) == 3_288 + 6_904
    assert await colony_audit(mongo_url, database_name) == []


async def repay_interest_and(gateway: Client, seller: User, principal_fen: int) -> None:
    path = f"/v1/merchant/loans/facilities/{STATE['facility']}"
    facility = await get(gateway, seller, path)
    owed = fen(facility["fixed"]["interest_owed"]) + principal_fen
    await completed(
        await post(gateway, seller, path + "/repayments", {"part": "fixed", "amount_fen": owed})
    )


async def test_the_scheduled_job_passes_a_month_through_once(
    gateway: Client,
    operator: User,
    channels: ServiceChannels,
    *,
    clock: ManualClock,
    mongo_url: str,
    database_name: str,
) -> None:
    seller, a, b = STATE["seller"], STATE["a"], STATE["b"]
    jobs = "/v1/admin/jobs/order-loans"
    # The last period ended on day 31: nothing is due for a month.
    assert (await post(gateway, operator, jobs, {})).status == 200
    before = {user.phone: await balance_fen(gateway, user) for user in (a, b)}
    last_end: date = STATE["start"] + timedelta(days=31)
    clock.advance(timedelta(days=(add_months(last_end, 1) - last_end).days))
    await relog(gateway, operator, seller, a, b)
    await repay_interest_and(gateway, seller, 10_000 * YUAN)
    ran = await post(gateway, operator, jobs, {})
    assert ran.status == 200, await ran.text()
    assert (await ran.json())["abs_periods"] == 1
    report = await get(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}")
    period = report["periods"][-1]
    days = period["days"]
    assert fen(period["investor_interest"]) == 3_000_000 * 6 * days // (100 * 365)
    assert fen(period["principal_returned"]) == 1_000_000
    shares = {s["investor_id"]: s for s in period["shares"]}
    for user in (a, b):
        share = shares[user.account_id]
        paid = fen(share["interest"]) + fen(share["principal_returned"])
        assert await balance_fen(gateway, user) == before[user.phone] + paid
    assert fen(shares[a.account_id]["principal_returned"]) == 600_000
    again = await post(gateway, operator, jobs, {})
    assert (await again.json())["abs_periods"] == 0
    assert await balance_fen(gateway, a) == before[a.phone] + paid_to(shares[a.account_id])
    assert await colony_audit(mongo_url, database_name) == []

    # A round that died after the period was recorded: the next round posts its legs.
    clock.advance(timedelta(days=31))
    await relog(gateway, operator, seller, a, b)
    await repay_interest_and(gateway, seller, 5_000 * YUAN)
    lending = MerchantLendingClient(channels.loan, 5.0)
    await lending.pass_through_abs_pool(
        mpb.PassThroughAbsPoolRequest(idempotency_key=new_key(), pool_id=POOL, monthly=True)
    )
    breaches = await colony_audit(mongo_url, database_name)
    assert any(breach.startswith(MERCHANT_LOAN_ACCOUNT_ID) for breach in breaches), breaches
    report = await get(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}")
    assert [p["posted"] for p in report["periods"]] == [True, True, True, False]
    assert (await (await post(gateway, operator, jobs, {})).json())["abs_periods"] == 0
    report = await get(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}")
    assert report["periods"][-1]["posted"] is True
    assert await colony_audit(mongo_url, database_name) == []


def paid_to(share: dict[str, Any]) -> int:
    return fen(share["interest"]) + fen(share["principal_returned"])
