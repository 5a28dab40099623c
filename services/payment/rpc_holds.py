"""Hold RPCs: the TCC try/confirm/cancel of funds, and the expiry sweeper."""

from __future__ import annotations

import logging
import uuid

from chassis.errors import NotFound
from chassis.grpc_server import Context
from chassis.mongo import Session, run_in_transaction
from chassis.wire import amount_from_proto
from colony.payment.v1 import payment_pb2 as pb
from services.payment.holds import (
    Hold,
    check_repeated_create,
    plan_capture,
    plan_hold,
    plan_void,
    require_hold_id,
    void_before_create,
)
from services.payment.ledger import (
    PostingKind,
    plan_movement,
    validate_memo,
)
from services.payment.risk import PaymentKind
from services.payment.rpc_base import (
    HOLD_SWEEP_BATCH,
    HOLD_SWEEP_BATCHES_MAX,
    NO_SECOND_FACTOR,
    PaymentRpcBase,
    require_account_id,
)
from services.payment.wire import account_to_proto, hold_to_proto, posting_to_proto

log = logging.getLogger(__name__)


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
        verified = (
            await self._second_factor(requested.account_id, request.risk)
            if payee_id
            else NO_SECOND_FACTOR
        )

        async def create(session: Session) -> pb.CreateHoldResponse:
            existing = await self._store.get_hold(requested.hold_id, session)
            if existing is not None:
                hold = check_repeated_create(existing, requested)
                account = await self._store.get_account(hold.account_id, session)
            else:
                hold = requested
                if payee_id:
                    # A hold that reserves a payment is screened as that payment.
                    payer = await self._store.get_account(hold.account_id, session)
                    await self._screen(
                        session,
                        payer=payer,
                        payee_account_id=payee_id,
                        payment_kind=PaymentKind.PAYMENT,
                        amount_fen=hold.amount_fen,
                        device_id=request.risk.device_id,
                        second_factor=verified,
                    )
                account = await self._store.insert_hold(session, hold)
                await self._events.append(
                    session, "payment.hold.created", hold.hold_id, hold_to_proto(hold)
                )
            return pb.CreateHoldResponse(
                hold=hold_to_proto(hold), account=account_to_proto(account)
            )

        async with self._risk_audit(), self._movement_scope(requested.account_id):
            return await run_in_transaction(self._client, create)

    async def CaptureHold(
        self, request: pb.CaptureHoldRequest, context: Context
    ) -> pb.CaptureHoldResponse:
        hold_id = require_hold_id(request.hold_id)
        amount_fen = request.amount.amount_fen and amount_from_proto(request.amount)
        credit_account_id = require_account_id(request.credit_account_id, "credit_account_id")

        async def capture(session: Session) -> pb.CaptureHoldResponse:
            hold = await self._require_hold(hold_id, session)
            captured = plan_capture(
                hold,
                amount_fen=amount_fen,
                credit_account_id=credit_account_id,
                posting_id=uuid.uuid4().hex,
                now=self._clock.now(),
            )
            if captured is hold:  # a repeated confirm: return the original posting
                posting = await self._store.get_posting(hold.posting_id, session)
                return pb.CaptureHoldResponse(
                    hold=hold_to_proto(hold), posting=posting_to_proto(posting)
                )
            await self._store.close_hold(session, hold, captured)
            posting = plan_movement(
                posting_id=captured.posting_id,
                kind=PostingKind.HOLD_CAPTURE,
                from_account_id=hold.account_id,
                to_account_id=credit_account_id,
                amount_fen=captured.captured_fen,
                posted_at=self._clock.now(),
                memo=request.memo or hold.memo,
            )
            await self._post(session, posting, reference=hold_id)
            await self._events.append(
                session, "payment.hold.captured", hold_id, hold_to_proto(captured)
            )
            return pb.CaptureHoldResponse(
                hold=hold_to_proto(captured), posting=posting_to_proto(posting)
            )

        hold = await self._require_hold(hold_id)
        async with self._movement_scope(hold.account_id):
            return await run_in_transaction(self._client, capture)

    async def VoidHold(self, request: pb.VoidHoldRequest, context: Context) -> pb.VoidHoldResponse:
        hold_id = require_hold_id(request.hold_id)
        hold = await self.void_hold(hold_id, expired=False)
        return pb.VoidHoldResponse(hold=hold_to_proto(hold))

    async def void_hold(self, hold_id: str, *, expired: bool) -> Hold:
        """Release a hold (or burn its id if it does not exist yet); idempotent."""

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
            return await run_in_transaction(self._client, void)

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
