"""The single statement shows Huabei purchases and repayments readably (issue 18;
gateway.loans.statement): a purchase paid with Huabei is one line, the purchase, with its
funding by method; the transfer from platform:loan:huabei behind it is not listed; a
repayment and the Huabei share of a refund are labelled. Real services, the gateway in
process.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests import test_loans
from gateway.tests.conftest import User, top_up
from gateway.tests.saga_support import new_key
from gateway.tests.test_huabei_refunds import refund, used_becomes
from gateway.tests.test_loans import YUAN, NewUser, opened_user
from gateway.tests.test_wallet_pay import trade_for, wallet_pay
from gateway.tests.wealth_support import completed, fen

Client = TestClient[Any, Any]
service_addresses = test_loans.service_addresses
merchant_api_key = test_loans.merchant_api_key
HUABEI = "platform:loan:huabei"


async def statement(gateway: Client, user: User, query: str = "") -> dict[str, Any]:
    response = await gateway.get(f"/v1/statement{query}", headers=user.headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


def summary(line: dict[str, Any]) -> tuple[str, str, int, int | None]:
    """(kind, label, amount, what the balance gave) of one line."""
    balance = line.get("balance_amount")
    return (
        line["kind"],
        line.get("label", ""),
        fen(line["amount"]),
        None if balance is None else fen(balance),
    )


async def test_a_huabei_purchase_is_one_line_with_its_funding_and_repayments_are_labelled(
    gateway: Client, new_user: NewUser, merchant_api_key: str
) -> None:
    """30 yuan in the balance; an 80-yuan trade paid 30 from the balance and 50 by Huabei;
    then 50 yuan topped up and repaid to Huabei."""
    buyer = await opened_user(gateway, new_user)
    await top_up(gateway, buyer, 30 * YUAN, new_key())
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 80 * YUAN)
    await completed(
        await wallet_pay(gateway, buyer, trade_id, methods=["balance", "huabei"], split=True)
    )
    await top_up(gateway, buyer, 50 * YUAN, new_key())
    await completed(
        await gateway.post(
            "/v1/loans/repayments",
            json={"target": "huabei", "amount_fen": 50 * YUAN},
            headers=buyer.keyed(new_key()),
        )
    )

    lines = (await statement(gateway, buyer))["entries"]
    assert [summary(line) for line in lines] == [
        ("hold_capture", "huabei_repayment", -50 * YUAN, None),
        ("top_up", "", 50 * YUAN, None),
        ("trade_payment", "huabei_purchase", -80 * YUAN, -30 * YUAN),
        ("top_up", "", 30 * YUAN, None),
    ]
    purchase = lines[2]
    assert purchase["reference"] == trade_id
    assert [(f["method"], fen(f["amount"])) for f in purchase["funding"]] == [
        ("balance", 30 * YUAN),
        ("huabei", 50 * YUAN),
    ]
    assert fen(purchase["balance_after"]) == 0
    assert lines[0]["counterpart_account_id"] == HUABEI

    # One line a page: the purchase on its page still knows its funding (read beyond the
    # page), and the page holding the funding transfer lists nothing for it.
    pages: list[list[dict[str, Any]]] = []
    token = ""
    for _ in range(10):
        page = await statement(gateway, buyer, f"?page_size=1&page_token={token}")
        pages.append(page["entries"])
        token = page["next_page_token"]
        if not token:
            break
    listed = [summary(line) for page in pages for line in page]
    assert listed == [summary(line) for line in lines]
    assert [len(page) for page in pages] == [1, 1, 1, 0, 1]


async def test_the_huabei_share_of_a_refund_is_labelled(
    gateway: Client, new_user: NewUser, merchant_api_key: str
) -> None:
    buyer = await opened_user(gateway, new_user)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, 40 * YUAN)
    await completed(await wallet_pay(gateway, buyer, trade_id, methods=["huabei"]))
    await refund(gateway, merchant_api_key, buyer, trade_id, 40 * YUAN)
    await used_becomes(gateway, buyer, 0)

    lines = (await statement(gateway, buyer))["entries"]
    assert [summary(line) for line in lines] == [
        ("hold_capture", "huabei_refund_to_line", -40 * YUAN, None),
        ("trade_refund", "", 40 * YUAN, None),
        ("trade_payment", "huabei_purchase", -40 * YUAN, 0),
    ]
