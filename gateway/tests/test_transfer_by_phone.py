"""Transfer by phone reveals no registration (issue 21 item 5), and 12.0 is the integer 12.

A transfer by phone names the payee's phone and their name in full. An unregistered phone,
and a registered one with a name that is not its holder's, get one answer: the same status,
reason, detail and headers; only a payer who knows both the phone and the name moves money.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests.conftest import balance_fen, next_phone, problem_of, top_up

Client = TestClient[Any, Any]
PAYEE_NAME = "张三"  # conftest.personal_registration's real_name
# What differs between any two answers: when, which trace, and the per-user budget left.
VARYING_HEADERS = {"date", "x-trace-id", "ratelimit-remaining", "ratelimit-reset", "ratelimit"}


def new_key() -> str:
    return str(uuid.uuid4())


async def transfer(gateway: Client, payer: Any, body: dict[str, Any]) -> Any:
    return await gateway.post("/v1/transfers", json=body, headers=payer.keyed(new_key()))


async def answer_of(response: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Everything a caller can see of an answer except what differs per request."""
    problem = json.loads(await response.read())
    problem.pop("trace_id", None)
    headers = {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower() not in VARYING_HEADERS
    }
    return response.status, headers, problem


async def test_the_right_phone_and_name_transfer(gateway: Client, new_user: Any) -> None:
    payer, payee = await new_user(), await new_user()
    await top_up(gateway, payer, 1_000, new_key())
    # The same name whatever its Unicode form or spaces: a full-width space inside is fine.
    response = await transfer(
        gateway,
        payer,
        {"amount_fen": 100, "to_phone": payee.phone, "payee_name": " 张\u3000三 "},
    )
    assert response.status == 201, await response.text()
    assert (await response.json())["counterpart_account_id"] == payee.account_id
    assert await balance_fen(gateway, payee) == 100


async def test_an_unregistered_phone_and_a_wrong_name_answer_alike_and_move_nothing(
    gateway: Client, new_user: Any, new_merchant: Any
) -> None:
    payer, payee = await new_user(), await new_user()
    merchant = await new_merchant()
    await top_up(gateway, payer, 1_000, new_key())
    probes = {
        "unregistered phone": {"to_phone": next_phone(), "payee_name": PAYEE_NAME},
        "registered phone, wrong name": {"to_phone": payee.phone, "payee_name": "李四"},
        "registered phone, surname only": {"to_phone": payee.phone, "payee_name": "张"},
        "merchant's phone, a person's name": {"to_phone": merchant.phone, "payee_name": "张三"},
    }
    answers = {}
    for probe, fields in probes.items():
        response = await transfer(gateway, payer, {"amount_fen": 100, **fields})
        problem = await problem_of(response, 422, "PAYEE_NOT_CONFIRMED")
        assert problem["metadata"] == {"field": "payee_name"}, probe
        answers[probe] = await answer_of(response)
    first, *others = answers.values()
    assert all(answer == first for answer in others), answers
    assert await balance_fen(gateway, payer) == 1_000
    assert await balance_fen(gateway, payee) == 0


async def test_the_payee_name_is_required_with_a_phone(gateway: Client, new_user: Any) -> None:
    payer, payee = await new_user(), await new_user()
    await top_up(gateway, payer, 1_000, new_key())
    response = await transfer(gateway, payer, {"amount_fen": 100, "to_phone": payee.phone})
    problem = await problem_of(response, 400, "INVALID_ARGUMENT")
    assert problem["metadata"] == {"field": "payee_name"}
    response = await transfer(
        gateway, payer, {"amount_fen": 100, "to_phone": payee.phone, "payee_name": "  "}
    )
    await problem_of(response, 400, "INVALID_ARGUMENT")
    assert await balance_fen(gateway, payer) == 1_000


async def test_a_whole_number_literal_is_that_integer_and_a_fraction_is_refused(
    gateway: Client, new_user: Any
) -> None:
    """JSON Schema's rule, the OpenAPI document's: 100.0 and 1.0e2 are the integer 100."""
    payer, payee = await new_user(), await new_user()
    await top_up(gateway, payer, 1_000, new_key())
    for literal in ("100.0", "1.0e2", "1E2"):
        response = await gateway.post(
            "/v1/transfers",
            data=f'{{"amount_fen": {literal}, "to_account_id": "{payee.account_id}"}}',
            headers={**payer.keyed(new_key()), "Content-Type": "application/json"},
        )
        assert response.status == 201, (literal, await response.text())
    # Judged exactly, as written: this is no whole number though a float would round it to one.
    for literal in ("100.000000000000000001", "100.5", "1e400"):
        response = await gateway.post(
            "/v1/transfers",
            data=f'{{"amount_fen": {literal}, "to_account_id": "{payee.account_id}"}}',
            headers={**payer.keyed(new_key()), "Content-Type": "application/json"},
        )
        assert response.status == 400, (literal, await response.text())
    assert await balance_fen(gateway, payee) == 300
