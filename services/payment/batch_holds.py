"""Holds (TCC) in a batch (group commit): placing, capturing and releasing, as jobs.

Each decides as its one-transaction RPC in rpc_holds.py does, in the same order: a place
finds a repeated try first, then (for a hold that reserves a payment) screens the payer
as that payment, then reserves under the guard (active, not hot, available >= amount); a
capture closes the hold (its reservation released) and posts what it captured; a release
of an id nobody placed yet burns it. A hold made or closed earlier in the batch is seen
as it is now.

Pure: no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from chassis.errors import NotFound
from services.payment.batch import Batch
from services.payment.batch_jobs import (
    account_now,
    change_held,
    current_hold,
    post,
    posting_event,
    save_hold,
)
from services.payment.batch_model import BatchJob, Done, JobReads, MovementAsk
from services.payment.holds import (
    Hold,
    capture_posting,
    check_repeated_create,
    plan_capture,
    plan_void,
    require_can_reserve,
    void_before_create,
)
from services.payment.ledger import Posting
from services.payment.payment_authorization import SecondFactor
from services.payment.risk import PaymentKind


def _require_hold(batch: Batch, hold_id: str) -> Hold:
    hold = current_hold(batch, hold_id)
    if hold is None:
        raise NotFound(f"hold {hold_id} does not exist", metadata={"hold_id": hold_id})
    return hold


@dataclass(slots=True)
class PlaceHoldJob(BatchJob):
    """CreateHold: the hold as planned from the request (plan_hold), and its payment's payee."""

    hold: Hold
    payee_account_id: str = ""
    device_id: str = ""
    second_factor: SecondFactor | None = None
    record_id: str = ""
    fingerprint: str = ""
    idempotency_key: str = ""

    def reads(self) -> JobReads:
        parties = (self.hold.account_id, self.payee_account_id)
        factor = self.second_factor
        return JobReads(
            account_ids=tuple(a for a in parties if a),
            hold_ids=(self.hold.hold_id,),
            authorization_digests=(factor.authorization_digest,) if factor else (),
        )

    def decide(self, batch: Batch, index: int) -> Done:
        hold = self.hold
        existing = current_hold(batch, hold.hold_id)
        if existing is not None:
            repeated = check_repeated_create(existing, hold)
            return Done((repeated, account_now(batch, repeated.account_id)))
        screening = None
        if self.payee_account_id:
            payer = batch.with_balance(batch.account(hold.account_id))
            assert self.second_factor is not None
            ask = MovementAsk(
                record_id="",
                fingerprint="",
                idempotency_key="",
                from_account_id=hold.account_id,
                to_account_id=self.payee_account_id,
                amount_fen=hold.amount_fen,
                memo="",
                device_id=self.device_id,
                second_factor=self.second_factor,
                payment_kind=PaymentKind.PAYMENT,
            )
            screening = batch.screen(payer, ask, hold.amount_fen)
        account = batch.account(hold.account_id)
        document = batch.decision.documents[hold.account_id]
        current = replace(account, balance_fen=document.balance_fen, held_fen=document.held_fen)
        require_can_reserve(current, hold.amount_fen)  # a hot account first, then the guard
        if screening is not None:
            batch.proceed(batch.account(hold.account_id), screening)
        change_held(batch, hold.account_id, hold.amount_fen)
        save_hold(batch, hold)
        event = ("payment.hold.created", hold.hold_id, hold, batch.now)
        return Done((hold, account_now(batch, hold.account_id)), (event,))


@dataclass(slots=True)
class CaptureHoldJob(BatchJob):
    """CaptureHold: amount_fen 0 captures all that is held."""

    hold_id: str
    amount_fen: int
    credit_account_id: str
    memo: str
    record_id: str = ""
    fingerprint: str = ""
    idempotency_key: str = ""

    def reads(self) -> JobReads:
        return JobReads(account_ids=(self.credit_account_id,), hold_ids=(self.hold_id,))

    def decide(self, batch: Batch, index: int) -> Done:
        hold = _require_hold(batch, self.hold_id)
        captured = plan_capture(
            hold,
            amount_fen=self.amount_fen,
            credit_account_id=self.credit_account_id,
            posting_id=uuid.uuid4().hex,
            now=batch.now,
        )
        if captured is hold:  # a repeated confirm: the original posting
            return Done((captured, _posting(batch, hold.posting_id)))
        posting = capture_posting(hold, captured, self.memo, batch.now)
        # The reservation is released first, then the posting debits the account.
        document = batch.decision.documents[hold.account_id]
        document.held_fen -= hold.amount_fen
        try:
            post(batch, posting, hold.hold_id)
        finally:
            document.held_fen += hold.amount_fen
        change_held(batch, hold.account_id, -hold.amount_fen)
        save_hold(batch, captured)
        event = ("payment.hold.captured", hold.hold_id, captured, batch.now)
        return Done((captured, posting), (posting_event(posting), event))


def _posting(batch: Batch, posting_id: str) -> Posting:
    for posting, _ in batch.decision.postings:
        if posting.posting_id == posting_id:
            return posting
    found = batch.view.postings.get(posting_id)
    if found is None:
        raise NotFound(f"posting {posting_id} does not exist")
    return found


@dataclass(slots=True)
class VoidHoldJob(BatchJob):
    """VoidHold (and the sweeper's expiry): release a hold, or burn an id not placed yet."""

    hold_id: str
    expired: bool = False
    record_id: str = ""
    fingerprint: str = ""
    idempotency_key: str = ""

    def reads(self) -> JobReads:
        return JobReads(hold_ids=(self.hold_id,))

    def decide(self, batch: Batch, index: int) -> Done:
        hold = current_hold(batch, self.hold_id)
        if hold is None:
            tombstone = void_before_create(self.hold_id, batch.now)
            save_hold(batch, tombstone)
            return Done(tombstone)
        voided = plan_void(hold, batch.now, expired=self.expired)
        if voided is hold:
            return Done(voided)
        change_held(batch, hold.account_id, -hold.amount_fen)
        save_hold(batch, voided)
        event_type = "payment.hold.expired" if self.expired else "payment.hold.voided"
        return Done(voided, ((event_type, hold.hold_id, voided, batch.now),))
