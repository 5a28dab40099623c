"""The payment service's business metrics: postings committed by kind, holds open."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from chassis.metrics import (
    HOLDS_OPEN,
    PAYMENTS,
    PAYMENTS_AMOUNT_FEN,
    PeriodicJobs,
    count_committed,
    refresh_figures,
)
from chassis.mongo import Document
from colony.payment.v1 import payment_pb2 as pb
from services.payment.holds import HoldState

POSTING_RECORDED = "payment.posting.recorded"


def count_posting(payload: bytes) -> None:
    """One committed posting: its kind, and the money it moved (the sum of its credits)."""
    posting = pb.Posting.FromString(payload)
    moved_fen = sum(
        entry.amount.amount_fen for entry in posting.entries if entry.amount.amount_fen > 0
    )
    PAYMENTS.labels(posting.kind).inc()
    PAYMENTS_AMOUNT_FEN.labels(posting.kind).inc(moved_fen)


def export_payment_metrics(service: PeriodicJobs, database: AsyncDatabase[Document]) -> None:
    """Count postings as they commit; refresh colony_holds_open (an indexed count)."""
    count_committed({POSTING_RECORDED: count_posting}, PAYMENTS, PAYMENTS_AMOUNT_FEN)
    holds = database["holds"]

    async def read() -> None:
        HOLDS_OPEN.set(await holds.count_documents({"state": HoldState.HELD.value}))

    refresh_figures(service, read, HOLDS_OPEN)
