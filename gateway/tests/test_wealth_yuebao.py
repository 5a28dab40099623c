"""Yu'e Bao end to end through the gateway: real mongod, real payment and wealth services.

Subscribe → the business-date job for three dates (income credited as shares, its cash
brought into the omnibus account) → redeem fast up to the daily cap and normally above it,
paid on the next date by the job. After every step the books are checked (wealth_support):
the payment ledger's audit is clean and the fund's omnibus balance is what the wealth
records say, equal to the shares outstanding once nothing is owed. Failing steps undo
what they did: a subscription the balance cannot cover moves nothing; one the wealth
service never answers voids its hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import ServiceChannels
from gateway.sagas.definition import derive_saga_id, step_key
from gateway.tests.conftest import User, balance_fen, problem_of
from gateway.tests.saga_support import funded_payer, new_key
from gateway.tests.wealth_support import (
    Books,
    completed,
    fen,
    redeem_yuebao,
    relog,
    run_wealth_jobs,
    subscribe_yuebao,
    yuebao_holding,
)

Client = TestClient[Any, Any]
NewUser = Callable[..., Awaitable[User]]

YUAN = 100
FAST_CAP_FEN = 10_000 * YUAN
CST_MORNING = time(1, 0, tzinfo=UTC)  # 09:00 in Beijing


@pytest.fixture(scope="module")
def service_addresses(wealth_service_addresses: dict[str, str]) -> dict[str, str]:
    return wealth_service_addresses


@pytest.fixture(scope="module")
def books(channels: ServiceChannels, mongo_client: MongoClient, database_name: str) -> Books:
    return Books.of(channels, mongo_client, database_name)


def move_to_morning_of(clock: ManualClock, day: date) -> None:
    """Move the clock to 09:00 Beijing time on day (never backwards)."""
    clock.advance(datetime.combine(day, CST_MORNING) - clock.now())


def income_floor_fen(shares_fen: int, income_per_10k_yuan: str) -> int:
    """A holder's day: shares x 万份收益 / 10,000, rounded down to the fen."""
    exact = Decimal(shares_fen) * Decimal(income_per_10k_yuan) / 10_000
    return int(exact.to_integral_value(rounding=ROUND_DOWN))


async def income_lines(gateway: Client, user: User) -> list[dict[str, Any]]:
    response = await gateway.get("/v1/wealth/yuebao/income", headers=user.headers)
    assert response.status == 200, await response.text()
    return list((await response.json())["income"])


async def run_income_date(
    gateway: Client,
    operator: User,
    books: Books,
    job_date: date,
    *,
    shares: dict[str, int],
    holders: tuple[User, ...],
) -> None:
    """Run job_date's job and check the income of the day before; shares are updated."""
    outstanding_before = (await books.check(settled=True)).shares_outstanding_fen
    fund_before = await books.wealth.get_yuebao_fund(wpb.GetYuebaoFundRequest())
    report = await run_wealth_jobs(gateway, operator, job_date)
    income = report["income"]
    assert (income["business_date"], income["state"]) == (
        (job_date - timedelta(days=1)).isoformat(),
        "completed",
    )
    quote = income["income_per_10k_shares"]
    # Conservation: what the fund earned = what holders got + the residue carried on.
    exact_fen = Decimal(outstanding_before) * Decimal(quote) / 10_000
    residue_added = Decimal(income["residue_added_fen"])
    assert Decimal(fen(income["credited"])) + residue_added == exact_fen
    assert 0 <= residue_added < income["holders_paid"]
    fund = await books.wealth.get_yuebao_fund(wpb.GetYuebaoFundRequest())
    assert Decimal(fund.residue_fen) == Decimal(fund_before.residue_fen) + residue_added
    # The job paid the day's income into the omnibus: the new shares have cash behind them.
    await books.check(settled=True)
    for user in holders:
        line = (await income_lines(gateway, user))[0]
        expected_fen = income_floor_fen(shares[user.user_id], quote)
        assert line["business_date"] == income["business_date"]
        assert fen(line["shares_before"]) == shares[user.user_id]
        assert fen(line["income"]) == expected_fen
        shares[user.user_id] += expected_fen
        holding = await yuebao_holding(gateway, user)
        assert fen(holding["shares"]) == shares[user.user_id]
        assert fen(holding["yesterday_income"]) == expected_fen


async def test_subscribe_earn_for_three_dates_and_redeem_with_the_books_balanced_throughout(
    gateway: Client,
    clock: ManualClock,
    new_user: NewUser,
    operator: User,
    books: Books,
) -> None:
    audit = await gateway.get("/v1/admin/wealth/audit", headers=operator.headers)
    assert audit.status == 200, await audit.text()
    assert all(line["reconciled"] for line in (await audit.json())["omnibus"])
    alice = await funded_payer(gateway, new_user, 30_000 * YUAN)
    bob = await funded_payer(gateway, new_user, 1_000 * YUAN)
    await books.check(settled=True)

    # Subscribe: the balance moves into the omnibus account, shares appear one per fen.
    result = await completed(await subscribe_yuebao(gateway, alice, 25_000 * YUAN))
    assert fen(result["shares_held"]) == 25_000 * YUAN
    # An odd amount, so that each day leaves a fraction of a fen as residue.
    await completed(await subscribe_yuebao(gateway, bob, 333_33))
    assert await balance_fen(gateway, alice) == 5_000 * YUAN
    assert await balance_fen(gateway, bob) == 1_000 * YUAN - 333_33
    await books.check(settled=True)

    # Three business dates of income: each morning's job pays the day before.
    shares = {alice.user_id: 25_000 * YUAN, bob.user_id: 333_33}
    first_job_date = clock.now().date() + timedelta(days=1)
    for offset in range(3):
        job_date = first_job_date + timedelta(days=offset)
        move_to_morning_of(clock, job_date)
        await relog(gateway, alice, bob, operator)
        await run_income_date(
            gateway, operator, books, job_date, shares=shares, holders=(alice, bob)
        )
        if offset == 0:
            # The same date again pays nothing twice.
            again = await run_wealth_jobs(gateway, operator, job_date)
            assert again["income"]["already_completed"] is True
            assert again["payouts"]["paid"] == 0
            await books.check(settled=True)

    holding = await yuebao_holding(gateway, alice)
    lines = await income_lines(gateway, alice)
    assert len(lines) == 3
    assert fen(holding["cumulative_income"]) == sum(fen(line["income"]) for line in lines) > 0
    wallet = await (await gateway.get("/v1/wallet", headers=alice.headers)).json()
    assert wallet["wealth"]["yuebao"]["shares"] == holding["shares"]
    assert wallet["wealth"]["yuebao"]["cumulative_income"] == holding["cumulative_income"]

    # Redeem 15,000 yuan: 10,000 now (the day's fast cap), 5,000 on the next date.
    redeemed_on = clock.now().date()
    result = await completed(await redeem_yuebao(gateway, alice, 15_000 * YUAN))
    assert fen(result["paid_now"]) == FAST_CAP_FEN
    assert fen(result["paid_later"]) == 5_000 * YUAN
    assert result["paid_later_on"] == (redeemed_on + timedelta(days=1)).isoformat()
    assert await balance_fen(gateway, alice) == 5_000 * YUAN + FAST_CAP_FEN
    books_now = await books.check()
    assert books_now.payouts_owed_fen == 5_000 * YUAN
    # The cap is the wealth service's: the same day, everything further is normal.
    assert fen((await yuebao_holding(gateway, alice))["fast_redemption_allowance"]) == 0
    result = await completed(await redeem_yuebao(gateway, alice, 100 * YUAN))
    assert (fen(result["paid_now"]), fen(result["paid_later"])) == (0, 100 * YUAN)
    await books.check()

    # The next date's job pays the normal redemptions (and the day's income).
    next_date = redeemed_on + timedelta(days=1)
    move_to_morning_of(clock, next_date)
    await relog(gateway, alice, bob, operator)
    report = await run_wealth_jobs(gateway, operator, next_date)
    assert report["payouts"]["paid_fen"] >= 5_100 * YUAN
    assert await balance_fen(gateway, alice) == 5_000 * YUAN + FAST_CAP_FEN + 5_100 * YUAN
    await books.check(settled=True)


async def test_a_retried_subscription_is_the_same_operation_and_subscribes_once(
    gateway: Client, new_user: NewUser, books: Books
) -> None:
    investor = await funded_payer(gateway, new_user, 500 * YUAN)
    key = new_key()
    first = await completed(await subscribe_yuebao(gateway, investor, 200 * YUAN, key))
    second = await completed(await subscribe_yuebao(gateway, investor, 200 * YUAN, key))
    assert first == second
    assert fen((await yuebao_holding(gateway, investor))["shares"]) == 200 * YUAN
    assert await balance_fen(gateway, investor) == 300 * YUAN
    reused = await subscribe_yuebao(gateway, investor, 100 * YUAN, key)
    await problem_of(reused, 422, "IDEMPOTENCY_KEY_REUSED")
    await books.check(settled=True)


async def test_a_subscription_beyond_the_balance_is_refused_and_moves_nothing(
    gateway: Client, new_user: NewUser, books: Books
) -> None:
    investor = await funded_payer(gateway, new_user, 10 * YUAN)
    response = await subscribe_yuebao(gateway, investor, 10 * YUAN + 1)
    problem = await problem_of(response, 422, "INSUFFICIENT_FUNDS")
    operation = await gateway.get(
        f"/v1/operations/{problem['metadata']['operation_id']}", headers=investor.headers
    )
    assert (await operation.json())["state"] == "compensated"
    assert await balance_fen(gateway, investor) == 10 * YUAN
    holding = await yuebao_holding(gateway, investor)
    assert (fen(holding["shares"]), fen(holding["pending_subscriptions"])) == (0, 0)
    await books.check(settled=True)


async def test_redeeming_more_than_the_shares_is_refused_and_moves_nothing(
    gateway: Client, new_user: NewUser, books: Books
) -> None:
    investor = await funded_payer(gateway, new_user, 100 * YUAN)
    await completed(await subscribe_yuebao(gateway, investor, 50 * YUAN))
    response = await redeem_yuebao(gateway, investor, 50 * YUAN + 1)
    await problem_of(response, 422, "INSUFFICIENT_FUNDS")
    assert fen((await yuebao_holding(gateway, investor))["shares"]) == 50 * YUAN
    assert await balance_fen(gateway, investor) == 50 * YUAN
    await books.check(settled=True)


async def test_someone_elses_wealth_operation_is_not_found(
    gateway: Client, new_user: NewUser
) -> None:
    investor = await funded_payer(gateway, new_user, 100 * YUAN)
    response = await subscribe_yuebao(gateway, investor, 10 * YUAN)
    operation_id = (await response.json())["operation_id"]
    stranger = await new_user()
    other = await gateway.get(f"/v1/operations/{operation_id}", headers=stranger.headers)
    await problem_of(other, 404, "NOT_FOUND")


async def test_a_subscription_the_wealth_service_refuses_voids_its_hold(
    gateway: Client, new_user: NewUser, books: Books
) -> None:
    investor = await funded_payer(gateway, new_user, 100 * YUAN)
    key = new_key()
    # The purchase id this request's saga will use is burnt beforehand (as a CancelPurchase
    # that overtook its IssueShares would): the wealth service refuses the try.
    purchase_id = derive_saga_id(investor.user_id, key)
    await books.wealth.cancel_purchase(
        wpb.CancelPurchaseRequest(idempotency_key=new_key(), purchase_id=purchase_id)
    )
    response = await subscribe_yuebao(gateway, investor, 40 * YUAN, key)
    problem = await problem_of(response, 422, "PURCHASE_CANCELLED")
    operation_id = problem["metadata"]["operation_id"]
    hold = await books.payment.get_hold(step_key(operation_id, "reserve_funds"))
    assert hold.state == pb.HOLD_STATE_VOIDED
    account = await books.payment.get_account(investor.account_id)
    assert (account.balance.amount_fen, account.available.amount_fen) == (100 * YUAN, 100 * YUAN)
    holding = await yuebao_holding(gateway, investor)
    assert (fen(holding["shares"]), fen(holding["pending_subscriptions"])) == (0, 0)
    await books.check(settled=True)
