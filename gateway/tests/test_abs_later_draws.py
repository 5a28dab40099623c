"""Draws after a pool bought a revolving facility are the lender's, through the gateway
(issue 19; the rule: abs_pool.pool_share_of, docs/loans.md).

A 200,000-yuan facility's 50,000 fixed part and a 50,000 draw are sold to a 6% pool (investor
a's 100,000 yuan of units); the merchant then draws 50,000 more (the lender's). Ten days later
it repays 250 yuan of fixed interest and, on the revolving part, 600 of interest and 20,000
of principal. The pool's collections: the fixed 25,000 fen, and half the revolving part's
(it holds 5,000,000 of 8,000,000 outstanding + 2,000,000 repaid): 30,000 interest and
1,000,000 principal — only that moves from platform:loan:merchant to the pool; the lender
keeps the rest. Coupon 10,000,000 x 0.06 x 10 / 365 -> 16,438 into a's wallet, excess 38,562
back to the lender; the pool's account holds the 1,000,000 carried. `colony audit` is clean.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chassis.clock import ManualClock
from gateway.clients import ServiceChannels
from gateway.loans.merchant.ledger import MERCHANT_LOAN_ACCOUNT_ID
from gateway.tests.conftest import User, balance_fen, top_up
from gateway.tests.saga_support import new_key
from gateway.tests.test_abs_unit_days import (
    YUAN,
    Client,
    NewUser,
    facility_and_pool,
    ledger_fen,
    service_addresses,
)
from gateway.tests.test_merchant_lending import colony_audit, get, post
from gateway.tests.wealth_support import completed, fen, relog

POOL = "abs-later-draws-1"
POOL_ACCOUNT = "platform:loan:abs:" + POOL
__all__ = ["service_addresses"]  # the module's services: the loan service on the clock


async def test_draws_after_the_sale_stay_the_lenders(
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
        amount_fen=200_000 * YUAN,
    )
    path = f"/v1/merchant/loans/facilities/{facility_id}"
    await completed(await post(gateway, seller, path + "/draws", {"amount_fen": 50_000 * YUAN}))
    a = await new_user()
    for _ in range(2):  # a top-up is at most 50,000 yuan at a's KYC level
        await top_up(gateway, a, 50_000 * YUAN, new_key())
    await completed(
        await post(gateway, a, f"/v1/abs-pools/{POOL}/units", {"amount_fen": 100_000 * YUAN})
    )
    purchase = await completed(
        await post(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}/purchases", {})
    )
    assert (purchase["bought"], purchase["spent_fen"]) == ([facility_id], 10_000_000)
    await completed(await post(gateway, seller, path + "/draws", {"amount_fen": 50_000 * YUAN}))
    assert await colony_audit(mongo_url, database_name) == []

    clock.advance(timedelta(days=10))
    await relog(gateway, operator, seller, a)
    fixed = {"part": "fixed", "amount_fen": 250 * YUAN}
    await completed(await post(gateway, seller, path + "/repayments", fixed))
    revolving = {"part": "revolving", "amount_fen": 20_600 * YUAN}
    repaid = await completed(await post(gateway, seller, path + "/repayments", revolving))
    assert (repaid["interest_fen"], repaid["principal_fen"]) == (600 * YUAN, 20_000 * YUAN)
    lender_before = await ledger_fen(channels, MERCHANT_LOAN_ACCOUNT_ID)
    month = await completed(
        await post(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}/pass-through", {})
    )
    assert (month["investor_interest_fen"], month["excess_fen"]) == (16_438, 38_562)
    assert await balance_fen(gateway, a) == 16_438
    report: dict[str, Any] = await get(gateway, operator, f"/v1/admin/loans/abs-pools/{POOL}")
    (period,) = report["periods"]
    assert (fen(period["interest_collected"]), fen(period["principal_collected"])) == (
        55_000,
        1_000_000,
    )
    # Only the pool's part left the lender's account; the excess spread came back.
    assert (
        await ledger_fen(channels, MERCHANT_LOAN_ACCOUNT_ID) == lender_before - 1_055_000 + 38_562
    )
    assert fen(report["cash"]) == await ledger_fen(channels, POOL_ACCOUNT) == 1_000_000
    assert fen(report["principal"]) == 9_000_000
    assert await colony_audit(mongo_url, database_name) == []
