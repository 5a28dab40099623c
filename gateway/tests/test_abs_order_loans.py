"""An ABS pool buys an order loan, through the gateway (issue 19): real payment and loan
services, the loan service and the gateway on the module's ManualClock.

A merchant borrows 800 yuan against a 1,000-yuan trade in escrow. An investor buys 1,000
yuan of units of a 6% pool (order loans run 30 days: the pool asks 10 days of term left).
The operator's purchase buys the order loan at par: its price goes back to the lender's cash,
platform:loan:capital (the order loan was lent from it), the capacity's used drops by 800
yuan. Five days later the trade settles: 812 yuan is withheld into the capital (the loan + 2
yuan of interest, the rest of the cap given back). The pass-through takes the 802 yuan
collected (the order-loan leg) out of the capital into the pool: 0.82 yuan of coupon to the
investor, 1.18 of excess spread to the lender (platform:loan:capital, the account the report
names), 800 yuan carried; the lender kept nothing of it. After each step `colony audit` is
clean.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock, business_date_of
from chassis.settings import SERVICE_NAMES
from gateway.clients import ServiceChannels
from gateway.loans.merchant.funding import CAPITAL_ACCOUNT_ID
from gateway.tests.conftest import User, balance_fen, create_api_key, top_up
from gateway.tests.lending_support import create_pool
from gateway.tests.saga_support import new_key
from gateway.tests.test_abs_money import ledger_fen
from gateway.tests.test_merchant_lending import colony_audit, get, post
from gateway.tests.test_order_loans import Shop, run_job
from gateway.tests.wealth_support import completed, fen, relog

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]
YUAN = 100
POOL = "abs-orders-1"
POOL_ACCOUNT = "platform:loan:abs:" + POOL


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, unreachable_address: str, manual_loan_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return {**addresses, "payment": payment_address, "loan": manual_loan_address}


async def test_a_pool_buys_an_order_loan_and_its_settlement_passes_through(
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
    start = business_date_of(clock.now())
    await completed(
        await post(
            gateway, operator, "/v1/admin/loans/funding/capital", {"amount_fen": 100_000 * YUAN}
        )
    )
    merchant, buyer, investor = await new_merchant(), await new_user(), await new_user()
    await top_up(gateway, buyer, 1_000 * YUAN, new_key())
    shop = Shop(gateway, merchant, buyer, await create_api_key(gateway, merchant))
    trade_id = await shop.paid_trade(1_000 * YUAN)
    lent = await completed(
        await post(gateway, merchant, "/v1/merchant/loans/order-loans", {"amount_fen": 800 * YUAN})
    )
    loan_id = lent["loan_id"]

    await create_pool(
        gateway,
        operator,
        POOL,
        revolving_until=start + timedelta(days=20),
        min_remaining_days=10,
    )
    await top_up(gateway, investor, 1_000 * YUAN, new_key())
    await completed(
        await post(gateway, investor, f"/v1/abs-pools/{POOL}/units", {"amount_fen": 1_000 * YUAN})
    )

    capital_before = await ledger_fen(channels, CAPITAL_ACCOUNT_ID)
    used_before = fen((await get(gateway, operator, "/v1/admin/loans/funding"))["used"])
    purchase = await completed(
        await post(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}/purchases", {})
    )
    assert (purchase["bought"], purchase["spent_fen"]) == ([loan_id], 800 * YUAN)
    assert purchase["order_loan_spent_fen"] == 800 * YUAN
    # The price goes back to the lender's cash, the capital the loan was lent from.
    assert await ledger_fen(channels, CAPITAL_ACCOUNT_ID) == capital_before + 800 * YUAN
    assert await ledger_fen(channels, POOL_ACCOUNT) == 200 * YUAN
    funding = await get(gateway, operator, "/v1/admin/loans/funding")
    assert fen(funding["used"]) == used_before - 800 * YUAN
    report = await get(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}")
    assert [(loan["loan_id"], loan["kind"]) for loan in report["loans"]] == [
        (loan_id, "order_loan")
    ]
    assert report["eligibility"]["loan_kinds"] == ["facility", "order_loan"]
    assert await colony_audit(mongo_url, database_name) == []

    # Five days on the trade settles: 802 yuan repays the loan, the cap's rest given back.
    clock.advance(timedelta(days=5))
    await relog(gateway, operator, merchant, buyer, investor)
    await shop.settle(trade_id)
    await run_job(gateway, operator)
    capital_before = await ledger_fen(channels, CAPITAL_ACCOUNT_ID)
    month = await completed(
        await post(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}/pass-through", {})
    )
    # coupon 100,000 x 0.06 x 5 / 365 = 82.19 → 82 fen; 200 - 82 = 118 excess spread
    assert (month["collected_fen"], month["order_loan_collected_fen"]) == (80_200, 80_200)
    assert (month["investor_interest_fen"], month["excess_fen"]) == (82, 118)
    assert await balance_fen(gateway, investor) == 82
    assert await ledger_fen(channels, CAPITAL_ACCOUNT_ID) == capital_before - 80_200 + 118
    assert await ledger_fen(channels, POOL_ACCOUNT) == 100_000  # 200 + 800 yuan carried

    (period,) = (await get(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}"))["periods"]
    assert fen(period["order_loan_collected"]) == 80_200
    assert fen(period["lender_kept_interest"]) == fen(period["lender_kept_principal"]) == 0
    assert period["excess_spread_account_id"] == CAPITAL_ACCOUNT_ID
    # capital + borrowing - principal outstanding (0: sold, then repaid) + income retained:
    # 100,000 yuan; 2 yuan of interest passed to the pool; 1.18 of it back as excess spread.
    assert await ledger_fen(channels, CAPITAL_ACCOUNT_ID) == 100_000 * YUAN + 118
    assert await colony_audit(mongo_url, database_name) == []
