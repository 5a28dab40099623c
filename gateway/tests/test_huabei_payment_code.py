"""A payment code paid with Huabei (issue 18 item 1: wallet pay takes huabei for trades,
bills and payment codes): the payer chooses huabei for the code; the merchant's charge
draws on the line and the merchant receives an ordinary payment; the statement shows
the charge as one huabei_purchase line."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests import test_loans
from gateway.tests.conftest import balance_fen
from gateway.tests.saga_support import new_key
from gateway.tests.test_loans import YUAN, NewUser, huabei, opened_user
from gateway.tests.test_wallet_pay import charge, issue_code
from gateway.tests.wealth_support import Books, fen

Client = TestClient[Any, Any]
service_addresses = test_loans.service_addresses
books = test_loans.books
merchant_api_key = test_loans.merchant_api_key


async def test_a_payment_code_charged_on_the_huabei_line(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    payer = await opened_user(gateway, new_user)
    code = await issue_code(gateway, payer, methods=["huabei"])
    charged = await charge(gateway, merchant_api_key, code, 45 * YUAN, new_key())
    assert charged.status == 201, await charged.text()
    assert fen((await charged.json())["amount"]) == 45 * YUAN

    assert await balance_fen(gateway, payer) == 0
    line = (await huabei(gateway, payer))["line"]
    assert (fen(line["used"]), fen(line["reserved"])) == (45 * YUAN, 0)
    statement = await (await gateway.get("/v1/statement", headers=payer.headers)).json()
    [line_] = statement["entries"]
    assert (line_["kind"], line_["label"], fen(line_["amount"])) == (
        "code_payment",
        "huabei_purchase",
        -45 * YUAN,
    )
    assert [(f["method"], fen(f["amount"])) for f in line_["funding"]] == [("huabei", 45 * YUAN)]
    await books.check_loans()
