"""Registration tells nothing of who holds a phone or a resident id (issue 21 item 5).

The phone is proven first (an SMS code only its holder receives), so a stranger trying a
taken phone and a free one gets the same 400 PHONE_NOT_VERIFIED; the 409 ALREADY_REGISTERED
reaches only whoever holds the phone, who knows already.

A resident id is declared at registration and claimed only once proven: binding a card the
bank confirms in the account's real name (KYC level 3). So a caller who proved their own phone
and registers with a resident id another account holds gets the answer a free id gets, and an
account at the same level; one proven resident id never has two accounts.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from gateway.tests.conftest import (
    CARD,
    User,
    bind_card,
    log_in,
    next_phone,
    next_resident_id,
    personal_registration,
    problem_of,
    verified,
)

Client = TestClient[Any, Any]
UNPROVEN = {"verification_id": "pv_" + "0" * 32, "verification_code": "000000"}
# Headers that name the moment or the request, not the answer.
PER_REQUEST_HEADERS = {"date", "x-trace-id", "traceparent"}


async def test_a_taken_phone_and_a_free_one_answer_alike_without_the_code(
    gateway: Client, new_user: Any
) -> None:
    taken = (await new_user()).phone
    answers = []
    for phone in (taken, next_phone()):
        response = await gateway.post(
            "/v1/auth/register", json={**personal_registration(phone), **UNPROVEN}
        )
        problem = await problem_of(response, 400, "PHONE_NOT_VERIFIED")
        problem.pop("trace_id", None)
        answers.append(json.dumps(problem, sort_keys=True))
    assert answers[0] == answers[1]


async def _answer(response: ClientResponse, *own_values: str) -> tuple[int, list[Any], bytes]:
    """Status, headers and body bytes, with the values that are this request's own (its
    phone, its user and account ids, its trace) replaced by placeholders."""
    body = await response.read()
    headers = [
        (name.lower(), "<per request>" if name.lower() in PER_REQUEST_HEADERS else value)
        for name, value in sorted(response.headers.items())
    ]
    for index, own in enumerate(own_values):
        body = body.replace(own.encode(), f"<own {index}>".encode())
    return response.status, headers, body


async def _register(gateway: Client, resident_id: str) -> tuple[Any, User]:
    body = await verified(gateway, personal_registration(resident_id=resident_id))
    response = await gateway.post("/v1/auth/register", json=body)
    assert response.status == 201, await response.text()
    registered = await response.json()
    answer = await _answer(response, body["phone"], registered["user_id"], registered["account_id"])
    user = User(
        phone=body["phone"],
        password=body["password"],
        user_id=registered["user_id"],
        account_id=registered["account_id"],
        access_token=await log_in(gateway, body["phone"]),
    )
    return answer, user


async def _wallet(gateway: Client, user: User) -> tuple[Any, dict[str, Any]]:
    response = await gateway.get("/v1/wallet", headers=user.headers)
    assert response.status == 200, await response.text()
    wallet = await response.json()
    return await _answer(response, user.account_id), wallet


async def test_a_claimed_resident_id_and_a_free_one_answer_alike(
    gateway: Client, new_user: Any
) -> None:
    claimed = next_resident_id()
    holder = await new_user(resident_id=claimed)
    await bind_card(gateway, holder)  # proven: KYC level 3, the id is claimed

    on_claimed, prober = await _register(gateway, claimed)
    on_free, newcomer = await _register(gateway, next_resident_id())
    # Byte for byte, once each request's own phone, ids and trace are set aside.
    assert on_claimed == on_free
    # Nor does the account opened tell them apart: both wait at KYC level 2 for a proof.
    (claimed_wallet, wallet), (free_wallet, _) = (
        await _wallet(gateway, prober),
        await _wallet(gateway, newcomer),
    )
    assert wallet["kyc_level"] == 2
    assert claimed_wallet == free_wallet


async def test_one_proven_resident_id_never_has_two_accounts(gateway: Client) -> None:
    # Declared twice (the second without knowing of the first), proven once.
    resident_id = next_resident_id()
    (_, first), (_, second) = (
        await _register(gateway, resident_id),
        await _register(gateway, resident_id),
    )
    await bind_card(gateway, second)  # the first to prove it claims it
    refused = await gateway.post(
        "/v1/wallet/cards", json={"bank_card_number": CARD}, headers=first.headers
    )
    problem = await problem_of(refused, 422, "CARD_HOLDER_NOT_CONFIRMED")
    assert "verified on another account" in problem["detail"]
    for user, level, cards in ((first, 2, 0), (second, 3, 1)):
        _, wallet = await _wallet(gateway, user)
        listed = await gateway.get("/v1/wallet/cards", headers=user.headers)
        assert (wallet["kyc_level"], len((await listed.json())["cards"])) == (level, cards)


async def test_concurrent_proofs_of_one_resident_id_prove_one_account(gateway: Client) -> None:
    resident_id = next_resident_id()
    users = [(await _register(gateway, resident_id))[1] for _ in range(4)]
    answers = await asyncio.gather(
        *(
            gateway.post("/v1/wallet/cards", json={"bank_card_number": CARD}, headers=u.headers)
            for u in users
        )
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [201, 422, 422, 422], statuses
    levels = [(await _wallet(gateway, user))[1]["kyc_level"] for user in users]
    assert sorted(levels) == [2, 2, 2, 3]
