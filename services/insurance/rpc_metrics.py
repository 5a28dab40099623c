"""The insurance service's business metrics: claims paid, counted as their payment commits."""

from __future__ import annotations

from chassis.metrics import CLAIMS_PAID, CLAIMS_PAID_FEN, count_committed
from colony.insurance.v1 import insurance_pb2 as pb

CLAIM_PAID = "insurance.claim.paid"


def count_claim_paid(payload: bytes) -> None:
    claim = pb.Claim.FromString(payload)
    CLAIMS_PAID.inc()
    CLAIMS_PAID_FEN.inc(claim.amount.amount_fen)


def export_insurance_metrics() -> None:
    count_committed({CLAIM_PAID: count_claim_paid}, CLAIMS_PAID, CLAIMS_PAID_FEN)
