"""How a load-test answer counts: done, a business refusal, worth retrying, or an error.

A wallet that refuses a payment for lack of money, or asks for the payment password, is
working: those answers are counted apart from errors (Locust request type ``REFUSAL``, named
by the reason). A 5xx, a lost connection or a request still in progress is retried with the
same Idempotency-Key, as a real client would; anything else unexpected is an error.
"""

from __future__ import annotations

import enum
import json
from typing import Any

# Refusals that are business outcomes of a realistic mix, not faults of the platform.
BUSINESS_REASONS = frozenset(
    {
        "INSUFFICIENT_FUNDS",
        "RISK_CHALLENGE_REQUIRED",
        "RISK_DENIED",
        "ILLEGAL_TRANSITION",
        "FAST_REDEMPTION_CAP_EXCEEDED",
        "BELOW_MINIMUM",
        "HUABEI_LINE_EXCEEDED",
        "HUABEI_LINE_FROZEN",
        "LOAN_OVERDUE",
        "REPAYMENT_EXCEEDS_OWED",
    }
)
RETRY_STATUSES = frozenset({0, 500, 502, 503, 504})
RETRY_REASONS = frozenset({"REQUEST_IN_PROGRESS", "CONCURRENT_UPDATE", "UNAVAILABLE"})


class Outcome(enum.Enum):
    DONE = "done"
    REFUSED = "refused"  # a business refusal: counted apart, not an error
    RETRY = "retry"  # send the same request again with the same key
    ERROR = "error"


def problem_reason(body: str | None) -> str:
    """The reason of a problem+json body ("" when there is none)."""
    try:
        problem = json.loads(body or "")
    except ValueError:
        return ""
    return str(problem.get("reason", "")) if isinstance(problem, dict) else ""


def classify(status: int, body: str | None) -> tuple[Outcome, str]:
    """What an answer means for the simulated client, and the reason when it was refused."""
    if 200 <= status < 300:
        return Outcome.DONE, ""
    reason = problem_reason(body)
    if status in RETRY_STATUSES or reason in RETRY_REASONS:
        return Outcome.RETRY, reason or str(status)
    if status == 422 and reason in BUSINESS_REASONS:
        return Outcome.REFUSED, reason
    return Outcome.ERROR, reason or str(status)


def has_fields(payload: Any, *fields: str) -> bool:
    """The answer carries its content, not just a status."""
    return isinstance(payload, dict) and all(field in payload for field in fields)
