"""How the load test counts answers (pure: no Locust, no platform)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.wallet.journal import Journal, read_journal
from loadtests.wallet.outcomes import Outcome, classify
from loadtests.wallet.people import new_payment_password, new_phone, new_resident_id
from services.payment.identity import validate_phone, validate_resident_id
from services.payment.payment_password import validate_payment_password


def problem(reason: str) -> str:
    return json.dumps({"type": "x", "status": 422, "reason": reason})


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (201, "{}", (Outcome.DONE, "")),
        (422, problem("INSUFFICIENT_FUNDS"), (Outcome.REFUSED, "INSUFFICIENT_FUNDS")),
        (422, problem("RISK_CHALLENGE_REQUIRED"), (Outcome.REFUSED, "RISK_CHALLENGE_REQUIRED")),
        (503, problem("UNAVAILABLE"), (Outcome.RETRY, "UNAVAILABLE")),
        (0, None, (Outcome.RETRY, "0")),
        (409, problem("REQUEST_IN_PROGRESS"), (Outcome.RETRY, "REQUEST_IN_PROGRESS")),
        # A refusal that a correct client never causes is an error, not a business outcome.
        (400, problem("INVALID_ARGUMENT"), (Outcome.ERROR, "INVALID_ARGUMENT")),
        (422, problem("IDEMPOTENCY_KEY_REUSED"), (Outcome.ERROR, "IDEMPOTENCY_KEY_REUSED")),
        (404, "not json", (Outcome.ERROR, "404")),
    ],
)
def test_answers_are_counted_by_what_they_mean(
    status: int, body: str | None, expected: tuple[Outcome, str]
) -> None:
    assert classify(status, body) == expected


def test_simulated_people_have_valid_unique_identities() -> None:
    phones = {new_phone() for _ in range(1_000)}
    assert len(phones) == 1_000
    for phone in list(phones)[:50]:
        assert validate_phone(phone) == phone
    for _ in range(200):
        resident_id, phone = new_resident_id(), new_phone()
        assert validate_resident_id(resident_id) == resident_id
        password = new_payment_password(phone, resident_id)
        assert validate_payment_password(password, (phone, resident_id)) == password


def test_the_journal_of_every_process_is_read_back(tmp_path: Path) -> None:
    Journal(tmp_path).record("posting", posting_id="p1", what="top-up")
    (tmp_path / "journal-999.jsonl").write_text(json.dumps({"kind": "trade_paid"}) + "\n")
    assert sorted(entry["kind"] for entry in read_journal(tmp_path)) == ["posting", "trade_paid"]
