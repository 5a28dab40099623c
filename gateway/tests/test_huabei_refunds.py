"""A refund of a Huabei-paid trade goes back to the line (issue 18; docs/loans.md "Refunds").

Real payment, wealth, credit and loan services and the gateway in process, whose Huabei
refund job follows the payment feed. The merchant's refund decision pays the buyer's
balance as always; the Huabei share (the Huabei part is refunded first) then moves from the
balance into platform:loan:huabei and the line owes that much less, before or after the
bill was issued. The loan books reconcile with the ledger after each case.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from chassis.clock import ManualClock
from colony.loan.v1 import loan_pb2 as lpb
from gateway.tests import test_loans
from gateway.tests.conftest import User, balance_fen, top_up
from gateway.tests.saga_support import eventually, new_key
from gateway.tests.test_escrow_trades import buyer_post, merchant_post
from gateway.tests.test_loans import YUAN, NewUser, advance_to, huabei, opened_user
from gateway.tests.test_wallet_pay import trade_for, wallet_pay
from gateway.tests.wealth_support import Books, completed, fen, relog

Client = TestClient[Any, Any]
# The module fixtures of test_loans: its services, books and merchant.
service_addresses = test_loans.service_addresses
books = test_loans.books
merchant_api_key = test_loans.merchant_api_key
REFUND_WITHIN_SECONDS = 20.0


async def refund(gateway: Client, api_key: str, buyer: User, trade_id: str, fen_: int) -> None:
    """The buyer asks for fen_ back and the merchant approves it."""
    await buyer_post(
        gateway,
        buyer,
        f"/v1/trades/{trade_id}/refund-request",
        {"amount_fen": fen_, "reason": "not as described"},
    )
    await merchant_post(
        gateway, api_key, f"/v1/merchant/trades/{trade_id}/refund-decision", {"approve": True}
    )


async def used_becomes(gateway: Client, buyer: User, used_fen: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        line = (await huabei(gateway, buyer))["line"]
        return line if fen(line["used"]) == used_fen else None

    return await eventually(probe, REFUND_WITHIN_SECONDS, f"the line's used part is {used_fen}")


async def test_a_full_refund_of_an_unbilled_huabei_purchase_restores_the_line(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    buyer = await opened_user(gateway, new_user)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 120 * YUAN)
    await completed(await wallet_pay(gateway, buyer, trade_id, methods=["huabei"]))
    assert fen((await huabei(gateway, buyer))["line"]["used"]) == 120 * YUAN

    await refund(gateway, merchant_api_key, buyer, trade_id, 120 * YUAN)

    line = await used_becomes(gateway, buyer, 0)
    assert fen(line["available"]) == fen(line["line"])
    assert await balance_fen(gateway, buyer) == 0  # the refund went to the line, not to spend
    assert books.loan is not None
    purchases = await books.loan.list_huabei_purchases(
        lpb.ListHuabeiPurchasesRequest(borrower_id=buyer.account_id)
    )
    assert [p.refunded.amount_fen for p in purchases.purchases] == [120 * YUAN]
    balances = await books.check_loans()
    assert balances["platform:loan:huabei"] <= 0


async def test_partial_refunds_of_a_mixed_payment_return_the_huabei_part_first(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    """80 yuan paid 30 from the balance and 50 by Huabei. A refund of 40: all 40 to the line
    (used 10). A second of 40: 10 to the line (the rest of its part), 30 to the balance."""
    buyer = await opened_user(gateway, new_user)
    await top_up(gateway, buyer, 30 * YUAN, new_key())
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 80 * YUAN)
    result = await completed(
        await wallet_pay(gateway, buyer, trade_id, methods=["balance", "huabei"], split=True)
    )
    assert [(p["method"], fen(p["amount"])) for p in result["funding"]] == [
        ("balance", 30 * YUAN),
        ("huabei", 50 * YUAN),
    ]

    await refund(gateway, merchant_api_key, buyer, trade_id, 40 * YUAN)
    await used_becomes(gateway, buyer, 10 * YUAN)
    assert await balance_fen(gateway, buyer) == 0

    await refund(gateway, merchant_api_key, buyer, trade_id, 40 * YUAN)
    await used_becomes(gateway, buyer, 0)
    assert await balance_fen(gateway, buyer) == 30 * YUAN
    await books.check_loans()


async def test_a_refund_after_the_bill_was_issued_reduces_the_bill(
    gateway: Client,
    *,
    new_user: NewUser,
    merchant_api_key: str,
    clock: ManualClock,
    operator: User,
    books: Books,
) -> None:
    """100 yuan billed on the statement day; a refund of 60 leaves 40 on the bill."""
    buyer = await opened_user(gateway, new_user)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 100 * YUAN)
    await completed(await wallet_pay(gateway, buyer, trade_id, methods=["huabei"]))

    statement = clock.now().replace(day=1, hour=2, minute=0, second=0, microsecond=0)
    month = statement.month % 12 + 1
    year = statement.year + (1 if month == 1 else 0)
    statement_day = datetime(year, month, 1, 2, 0, tzinfo=UTC)
    await advance_to(clock, statement_day)
    await relog(gateway, buyer, operator)
    run = await gateway.post(
        "/v1/admin/jobs/loans",
        json={"business_date": statement_day.date().isoformat()},
        headers=operator.headers,
    )
    assert run.status == 200, await run.text()
    bill = (await huabei(gateway, buyer))["current_bill"]
    assert fen(bill["unpaid"]["principal"]) == 100 * YUAN

    await refund(gateway, merchant_api_key, buyer, trade_id, 60 * YUAN)

    await used_becomes(gateway, buyer, 40 * YUAN)
    bill = (await huabei(gateway, buyer))["current_bill"]
    assert fen(bill["unpaid"]["principal"]) == 40 * YUAN
    assert await balance_fen(gateway, buyer) == 0
    await books.check_loans()
