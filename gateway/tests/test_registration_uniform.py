"""Registration does not tell a taken phone from a free one (issue 21 item 5).

The phone is proven first (an SMS code only its holder receives), so a stranger trying a
taken phone and a free one gets the same 400 PHONE_NOT_VERIFIED; the 409 ALREADY_REGISTERED
reaches only whoever holds the phone, who knows already.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.tests.conftest import next_phone, personal_registration, problem_of

Client = TestClient[Any, Any]
UNPROVEN = {"verification_id": "pv_" + "0" * 32, "verification_code": "000000"}


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
