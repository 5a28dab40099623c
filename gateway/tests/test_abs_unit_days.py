"""ABS coupon by unit-days through the gateway (issue 19): units bought mid-period earn the
coupon from their purchase day, not the whole period.

A 50,000-yuan fixed part is paid out and bought by a 6% pool whose units investor a bought
(50,000 yuan) on day 0; investor b buys 20,000 yuan of units on day 10. On day 30 the
merchant repays the 750 yuan of interest owed. Unit-days: a 5,000,000 x 30 = 150,000,000,
b 2,000,000 x 20 = 40,000,000; coupon 190,000,000 x 0.06 / 365 = 31,232.88 -> 31,232 fen
(on the units at the period's end it would be 34,520); a 31,232 x 15/19 = 24,656.84 ->
24,657 (the odd fen to the larger remainder), b 31,232 x 4/19 = 6,575.16 -> 6,575, into
their wallets; excess spread 75,000 - 31,232 = 43,768 to the lender. `colony audit` is clean.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock, business_date_of
from chassis.settings import SERVICE_NAMES
from gateway.clients import PaymentClient, ServiceChannels
from gateway.loans.merchant.ledger import MERCHANT_LOAN_ACCOUNT_ID
from gateway.tests.conftest import User, balance_fen, top_up
from gateway.tests.lending_support import create_pool
from gateway.tests.saga_support import new_key
from gateway.tests.test_merchant_lending import colony_audit, get, post, settled_trade
from gateway.tests.wealth_support import completed, fen, relog

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
POOL = "abs-unit-days-1"
POOL_ACCOUNT = "platform:loan:abs:" + POOL


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, unreachable_address: str, manual_loan_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return {**addresses, "payment": payment_address, "loan": manual_loan_address}


async def ledger_fen(channels: ServiceChannels, account_id: str) -> int:
    payment = PaymentClient(channels.payment, 5.0)
    return int((await payment.get_account(account_id)).balance.amount_fen)


async def facility_and_pool(
    gateway: Client,
    operator: User,
    new_user: NewUser,
    new_merchant: NewUser,
    *,
    clock: ManualClock,
    pool_id: str,
    amount_fen: int,
) -> tuple[User, str]:
    """Capital paid in, a merchant whose facility of amount_fen (50,000 yuan fixed) is paid
    out, and a 6% pool revolving for 60 days: (the merchant, the facility id)."""
    start = business_date_of(clock.now())
    capital = {"amount_fen": 500_000 * YUAN}
    await completed(await post(gateway, operator, "/v1/admin/loans/funding/capital", capital))
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
    sales = amount_fen // 100
    await top_up(gateway, buyer, sales, new_key())
    await settled_trade(gateway, seller, buyer, sales)
    opened = await completed(
        await post(
            gateway,
            seller,
            "/v1/merchant/loans/facilities",
            {"amount_fen": amount_fen, "fixed_amount_fen": 50_000 * YUAN},
        )
    )
    assert opened["decision"] == "approved"
    await create_pool(
        gateway,
        operator,
        pool_id,
        revolving_until=start + timedelta(days=60),
        min_remaining_days=30,
    )
    return seller, str(opened["facility_id"])


async def test_units_bought_mid_period_earn_from_their_day(
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
    seller, facility_id = await facility_and_pool(
        gateway,
        operator,
        new_user,
        new_merchant,
        clock=clock,
        pool_id=POOL,
        amount_fen=100_000 * YUAN,
    )
    a, b = await new_user(), await new_user()
    await top_up(gateway, a, 50_000 * YUAN, new_key())
    await top_up(gateway, b, 20_000 * YUAN, new_key())
    await completed(
        await post(gateway, a, f"/v1/abs-pools/{POOL}/units", {"amount_fen": 50_000 * YUAN})
    )
    purchase = await completed(
        await post(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}/purchases", {})
    )
    assert purchase["bought"] == [facility_id]

    clock.advance(timedelta(days=10))
    await relog(gateway, operator, seller, a, b)
    await completed(
        await post(gateway, b, f"/v1/abs-pools/{POOL}/units", {"amount_fen": 20_000 * YUAN})
    )
    clock.advance(timedelta(days=20))
    await relog(gateway, operator, seller, a, b)
    repaid = await completed(
        await post(
            gateway,
            seller,
            f"/v1/merchant/loans/facilities/{facility_id}/repayments",
            {"part": "fixed", "amount_fen": 750 * YUAN},
        )
    )
    assert (repaid["interest_fen"], repaid["principal_fen"]) == (750 * YUAN, 0)
    lender_before = await ledger_fen(channels, MERCHANT_LOAN_ACCOUNT_ID)
    month = await completed(
        await post(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}/pass-through", {})
    )
    assert (month["investor_interest_fen"], month["excess_fen"]) == (31_232, 43_768)
    assert await balance_fen(gateway, a) == 24_657
    assert await balance_fen(gateway, b) == 6_575
    assert await ledger_fen(channels, MERCHANT_LOAN_ACCOUNT_ID) == lender_before - 75_000 + 43_768
    report = await get(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}")
    (period,) = report["periods"]
    assert period["days"] == 30
    shares = {s["investor_id"]: fen(s["interest"]) for s in period["shares"]}
    assert shares == {a.account_id: 24_657, b.account_id: 6_575}
    assert fen(report["cash"]) == await ledger_fen(channels, POOL_ACCOUNT) == 2_000_000
    assert await colony_audit(mongo_url, database_name) == []
