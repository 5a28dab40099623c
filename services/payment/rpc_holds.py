"""Hold RPCs: the TCC try/confirm/cancel of funds, and the expiry sweeper.

With group commit on (rpc_batching.py), each goes through the batcher as a job
(batch_holds.py), a place that answers a challenge with a payment authorization included;
the one-transaction paths below are the same rules without it.
"""

from __future__ import annotations

import logging
import uuid
from typing import cast

from chassis.errors import NotFound
from chassis.grpc_server import Context
from chassis.mongo import Session, run_in_transaction
from chassis.wire import amount_from_proto
from colony.payment.v1 import payment_pb2 as pb
from services.payment.batch_holds import CaptureHoldJob, PlaceHoldJob, VoidHoldJob
from services.payment.holds import (
    Hold,
    capture_posting,
    check_repeated_create,
    plan_capture,
    plan_hold,
    plan_void,
    require_hold_id,
    void_before_create,
)
from services.payment.ledger import Account, Posting, validate_memo
from services.payment.payment_authorization import NO_SECOND_FACTOR, SecondFactor
from services.payment.risk import PaymentKind
from services.payment.rpc_base import PaymentRpcBase, require_account_id
from services.payment.screening import OutgoingPayment
from services.payment.wire import account_to_proto, hold_to_proto, posting_to_proto

log = logging.getLogger(__name__)

# The sweeper runs every few seconds and releases at most BATCH times BATCHES_MAX holds a run.
HOLD_SWEEP_INTERVAL_SECONDS = 5.0
HOLD_SWEEP_BATCH = 100
HOLD_SWEEP_BATCHES_MAX = 50


class HoldsRpc(PaymentRpcBase):
    """Holds (TCC) on accounts."""

    async def CreateHold(
        self, request: pb.CreateHoldRequest, context: Context
    ) -> pb.CreateHoldResponse:
        requested = plan_hold(
            hold_id=request.hold_id,
            account_id=require_account_id(request.account_id),
            amount_fen=amount_from_proto(request.amount),
            ttl_seconds=request.ttl_seconds,
            memo=validate_memo(request.memo),
            now=self._clock.now(),
        )
        payee_id = request.payee_account_id
        verified = NO_SECOND_FACTOR
        if payee_id:
            verified = await self._second_factor(requested.account_id, request.risk)
        if self._batcher is not None:
            job = PlaceHoldJob(requested, payee_id, request.risk.device_id, verified)
            return await self._batcher.submit_job(job, pb.CreateHoldResponse, hold_placed_response)

        async def create(session: Session) -> pb.CreateHoldResponse:
            hold, account = await self._place_hold(
                session, requested, payee_id, request.risk, verified
            )
            return pb.CreateHoldResponse(
                hold=hold_to_proto(hold), account=account_to_proto(account)
            )

        async with self._risk_audit(), self._movement_scope(requested.account_id):
            return await run_in_transaction(self._client, create)

    async def _place_hold(
        self,
        session: Session,
        hold: Hold,
        payee_id: str,
        risk: pb.RiskSignals,
        verified: SecondFactor,
    ) -> tuple[Hold, Account]:
        """Reserve a new hold (a repeated try returns the first); one that reserves a payment
        is screened as that payment."""
        existing = await self._store.get_hold(hold.hold_id, session)
        if existing is not None:
            repeated = check_repeated_create(existing, hold)
            return repeated, await self._store.get_account(repeated.account_id, session)
        if payee_id:
            payer = await self._store.get_account(hold.account_id, session)
            payment = OutgoingPayment(
                payee_id, PaymentKind.PAYMENT, hold.amount_fen, risk.device_id
            )
            await self._screen(session, payer, payment, verified)
        account = await self._store.insert_hold(session, hold)
        await self._events.append(
            session, "payment.hold.created", hold.hold_id, hold_to_proto(hold)
        )
        return hold, account

    async def CaptureHold(
        self, request: pb.CaptureHoldRequest, context: Context
    ) -> pb.CaptureHoldResponse:
        hold_id = require_hold_id(request.hold_id)
        amount_fen = request.amount.amount_fen and amount_from_proto(request.amount)
        credit_account_id = require_account_id(request.credit_account_id, "credit_account_id")
        if self._batcher is not None:
            job = CaptureHoldJob(hold_id, amount_fen, credit_account_id, request.memo)
            return await self._batcher.submit_job(
                job, pb.CaptureHoldResponse, hold_captured_response
            )

        async def capture(session: Session) -> pb.CaptureHoldResponse:
            hold = await self._require_hold(hold_id, session)
            now = self._clock.now()
            captured = plan_capture(
                hold,
                amount_fen=amount_fen,
                credit_account_id=credit_account_id,
                posting_id=uuid.uuid4().hex,
                now=now,
            )
            if captured is hold:  # a repeated confirm: return the original posting
                posting = await self._store.get_posting(hold.posting_id, session)
            else:
                posting = await self._capture(session, hold, captured, request.memo)
            return pb.CaptureHoldResponse(
                hold=hold_to_proto(captured), posting=posting_to_proto(posting)
            )

        hold = await self._require_hold(hold_id)
        async with self._movement_scope(hold.account_id):
            return await run_in_transaction(self._client, capture)

    async def _capture(self, session: Session, hold: Hold, captured: Hold, memo: str) -> Posting:
        """Close the hold and post what it captured, from its account to the credit account."""
        await self._store.close_hold(session, hold, captured)
        posting = capture_posting(hold, captured, memo, self._clock.now())
        await self._post(session, posting, reference=hold.hold_id)
        await self._events.append(
            session, "payment.hold.captured", hold.hold_id, hold_to_proto(captured)
        )
        return posting

    async def VoidHold(self, request: pb.VoidHoldRequest, context: Context) -> pb.VoidHoldResponse:
        hold_id = require_hold_id(request.hold_id)
        return await self.void_hold(hold_id, expired=False)

    async def void_hold(self, hold_id: str, *, expired: bool) -> pb.VoidHoldResponse:
        """Release a hold (or burn its id if it does not exist yet); idempotent."""
        if self._batcher is not None:
            job = VoidHoldJob(hold_id, expired)
            return await self._batcher.submit_job(job, pb.VoidHoldResponse, hold_voided_response)

        async def void(session: Session) -> Hold:
            now = self._clock.now()
            hold = await self._store.get_hold(hold_id, session)
            if hold is None:
                tombstone = void_before_create(hold_id, now)
                await self._store.insert_hold(session, tombstone)
                return tombstone
            voided = plan_void(hold, now, expired=expired)
            if voided is not hold:
                await self._store.close_hold(session, hold, voided)
                event_type = "payment.hold.expired" if expired else "payment.hold.voided"
                await self._events.append(session, event_type, hold_id, hold_to_proto(voided))
            return voided

        existing = await self._store.get_hold(hold_id)
        async with self._movement_scope(*([existing.account_id] if existing else [])):
            return hold_voided_response(await run_in_transaction(self._client, void))

    async def expire_due_holds(self) -> int:
        """Release every open hold past its TTL (the sweeper's work); returns how many."""
        expired = 0
        for _ in range(HOLD_SWEEP_BATCHES_MAX):
            due = await self._store.holds_due_to_expire(self._clock.now(), HOLD_SWEEP_BATCH)
            for hold in due:
                await self.void_hold(hold.hold_id, expired=True)
            expired += len(due)
            if len(due) < HOLD_SWEEP_BATCH:
                break
        return expired

    async def GetHold(self, request: pb.GetHoldRequest, context: Context) -> pb.GetHoldResponse:
        hold = await self._require_hold(require_hold_id(request.hold_id))
        return pb.GetHoldResponse(hold=hold_to_proto(hold))

    async def _require_hold(self, hold_id: str, session: Session | None = None) -> Hold:
        hold = await self._store.get_hold(hold_id, session)
        if hold is None:
            raise NotFound(f"hold {hold_id} does not exist", metadata={"hold_id": hold_id})
        return hold


def hold_placed_response(result: object) -> pb.CreateHoldResponse:
    hold, account = cast(tuple[Hold, Account], result)
    return pb.CreateHoldResponse(hold=hold_to_proto(hold), account=account_to_proto(account))


def hold_captured_response(result: object) -> pb.CaptureHoldResponse:
    hold, posting = cast(tuple[Hold, Posting], result)
    return pb.CaptureHoldResponse(hold=hold_to_proto(hold), posting=posting_to_proto(posting))


def hold_voided_response(result: object) -> pb.VoidHoldResponse:
    return pb.VoidHoldResponse(hold=hold_to_proto(cast(Hold, result)))
