"""The credit line of the wallet overview (GET /v1/wallet): the caller's score and band."""

from __future__ import annotations

from typing import Any

from colony.credit.v1 import credit_pb2 as cpb
from gateway.clients import CreditClient

WALLET_CREDIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The caller's credit score (GET /v1/credit/score has the rest). Absent "
    "when the credit service cannot answer right now, and for merchant accounts.",
    "required": ["score", "band", "model_version"],
    "properties": {
        "score": {"type": "integer", "minimum": 350, "maximum": 950},
        "band": {
            "type": "string",
            "enum": ["POOR", "FAIR", "GOOD", "VERY_GOOD", "EXCELLENT"],
        },
        "model_version": {"type": "string"},
    },
}


async def score_summary(credit: CreditClient, person_id: str) -> dict[str, Any]:
    """The person's own score as the wallet shows it (the owner reads: the caller's account)."""
    score = await credit.get_score(
        cpb.GetScoreRequest(
            caller=cpb.Caller(kind=cpb.CALLER_KIND_OWNER, id=person_id), person_id=person_id
        )
    )
    return {"score": score.score, "band": score.band, "model_version": score.model_version}
