"""One Huabei purchase converted into installments through the gateway (issue 18 item 3):
GET /v1/loans/huabei/purchases, .../{purchase_id}/installment-offers and POST
.../{purchase_id}/installments, the purchase named by the operation id of its payment.

The hand-computed table (docs/loans.md "Installments"): a purchase of 333.33 yuan (33,333
fen); total fee = principal x rate, rounded half-even to the fen; principal and fee split
evenly, the remainder on the last part.

    months  rate    fee                          principal parts           fee parts
    3       2.5%    833.325 -> 833               11,111 x 3                277, 277, 279
    6       4.5%    1,499.985 -> 1,500           5,555 x 5, 5,558          250 x 6
    12      8.8%    2,933.304 -> 2,933           2,777 x 11, 2,786         244 x 11, 249
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests import test_loans
from gateway.tests.conftest import problem_of
from gateway.tests.saga_support import new_key
from gateway.tests.test_huabei_refunds import refund, used_becomes
from gateway.tests.test_loans import NewUser, huabei, opened_user
from gateway.tests.test_wallet_pay import trade_for, wallet_pay
from gateway.tests.wealth_support import Books, completed, fen

Client = TestClient[Any, Any]
service_addresses = test_loans.service_addresses
books = test_loans.books
merchant_api_key = test_loans.merchant_api_key

PRINCIPAL_FEN = 33_333
OFFERS = [
    (3, "0.025", 833, [(11_111, 277), (11_111, 277), (11_111, 279)]),
    (6, "0.045", 1_500, [(5_555, 250)] * 5 + [(5_558, 250)]),
    (12, "0.088", 2_933, [(2_777, 244)] * 11 + [(2_786, 249)]),
]


def _table(offer: dict[str, Any]) -> tuple[int, str, int, list[tuple[int, int]]]:
    parts = [(fen(part["principal"]), fen(part["fee"])) for part in offer["parts"]]
    return offer["months"], offer["fee_rate"], fen(offer["fee"]), parts


async def test_one_purchase_in_three_six_or_twelve_installments(
    gateway: Client, new_user: NewUser, merchant_api_key: str, books: Books
) -> None:
    buyer = await opened_user(gateway, new_user)
    trade_id = await trade_for(gateway, merchant_api_key, buyer, PRINCIPAL_FEN)
    paid = await wallet_pay(gateway, buyer, trade_id, methods=["huabei"])
    assert paid.status == 201, await paid.text()
    operation_id = (await paid.json())["operation_id"]
    await completed(paid)

    listed = await (await gateway.get("/v1/loans/huabei/purchases", headers=buyer.headers)).json()
    [purchase] = listed["purchases"]
    assert purchase["purchase_id"] == operation_id
    assert (purchase["state"], purchase["reference"]) == ("captured", f"trade:{trade_id}")
    assert fen(purchase["amount"]) == PRINCIPAL_FEN

    path = f"/v1/loans/huabei/purchases/{operation_id}"
    offers = await (await gateway.get(f"{path}/installment-offers", headers=buyer.headers)).json()
    assert [_table(offer) for offer in offers["offers"]] == OFFERS

    stranger = await opened_user(gateway, new_user)
    hidden = await gateway.get(f"{path}/installment-offers", headers=stranger.headers)
    await problem_of(hidden, 404, "NOT_FOUND")
    bad = await gateway.post(
        f"{path}/installments", json={"months": 4}, headers=buyer.keyed(new_key())
    )
    await problem_of(bad, 400, "INVALID_ARGUMENT")

    key = new_key()
    converted = await gateway.post(
        f"{path}/installments", json={"months": 6}, headers=buyer.keyed(key)
    )
    assert converted.status == 201, await converted.text()
    plan = await converted.json()
    assert (plan["months"], fen(plan["principal"]), fen(plan["fee"])) == (6, PRINCIPAL_FEN, 1_500)
    assert [(fen(p["principal"]), fen(p["fee"])) for p in plan["parts"]] == OFFERS[1][3]
    again = await gateway.post(f"{path}/installments", json={"months": 6}, headers=buyer.keyed(key))
    assert (await again.json())["plan_id"] == plan["plan_id"]
    twice = await gateway.post(
        f"{path}/installments", json={"months": 3}, headers=buyer.keyed(new_key())
    )
    await problem_of(twice, 422, "INSTALLMENT_NOT_ALLOWED")

    listed = await (await gateway.get("/v1/loans/huabei/purchases", headers=buyer.headers)).json()
    assert listed["purchases"][0]["installment_plan_id"] == plan["plan_id"]
    line = (await huabei(gateway, buyer))["line"]
    assert fen(line["used"]) == PRINCIPAL_FEN  # the plan's principal is still owed

    # A refund of a purchase in installments becomes credit for the next bill.
    await refund(gateway, merchant_api_key, buyer, trade_id, 3_333)
    line = await used_becomes(gateway, buyer, PRINCIPAL_FEN - 3_333)
    assert fen(line["credit"]) == 3_333
    await books.check_loans()
