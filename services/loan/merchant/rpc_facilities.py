"""Facility RPCs (facilities.py and steps.py hold the rules): apply, pay out, draw, repay."""

from __future__ import annotations

from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import amount_from_proto, next_page, page_size_of
from colony.loan.v1 import merchant_lending_pb2 as pb
from services.loan.huabei import require_id
from services.loan.merchant.facilities import (
    Facility,
    FacilityState,
    Part,
    apply_for_facility,
    apply_repayment,
    cancel_facility,
    confirm_draw,
    facility_tombstone,
    release_draw,
    release_repayment,
    reserve_draw,
    reserve_repayment,
    start_facility,
)
from services.loan.merchant.funding import require_capacity
from services.loan.merchant.rpc_base import MerchantRpcBase
from services.loan.merchant.steps import (
    Step,
    StepKind,
    StepState,
    applied,
    can_cancel,
    cancelled,
    require_pending,
    require_retry_matches,
    tombstone,
)
from services.loan.merchant.wire import (
    draw_to_proto,
    facility_to_proto,
    figures_from_proto,
    repayment_to_proto,
    require_part,
)


class FacilitiesRpc(MerchantRpcBase):
    """Facilities, draws and facility repayments."""

    def _view(self, facility: Facility) -> pb.Facility:
        return facility_to_proto(facility, self._today())

    async def _save(self, session: Session, facility: Facility, event: str) -> pb.Facility:
        await self._store.save_facility(session, facility)
        message = self._view(facility)
        await self._events.append(session, event, facility.facility_id, message)
        return message

    async def ApplyFacility(
        self, request: pb.ApplyFacilityRequest, context: Context
    ) -> pb.ApplyFacilityResponse:
        facility_id = require_id(request.facility_id, "facility_id")
        merchant_id = require_id(request.merchant_id, "merchant_id")
        amount_fen = amount_from_proto(request.amount)
        fixed_fen = amount_from_proto(request.fixed_amount, "fixed_amount")

        async def apply(session: Session) -> pb.ApplyFacilityResponse:
            existing = await self._store.find_facility(facility_id, session)
            if existing is not None:
                return pb.ApplyFacilityResponse(facility=self._view(existing))
            today = self._today()
            overdue = await self._store.merchant_overdue(merchant_id, today, session)
            facility = apply_for_facility(
                facility_id=facility_id,
                merchant_id=merchant_id,
                amount_fen=amount_fen,
                fixed_fen=fixed_fen,
                figures=figures_from_proto(request.figures, overdue),
                policy=await self._store.credit_policy(session),
                now=self._clock.now(),
            )
            if facility.state is FacilityState.PENDING_DISBURSEMENT:
                require_capacity(await self._store.claim_capacity(session), fixed_fen)
            message = await self._save(session, facility, "loan.merchant.facility_decided")
            return pb.ApplyFacilityResponse(facility=message)

        return await self._idempotent("apply-facility", request, pb.ApplyFacilityResponse, apply)

    async def ConfirmFacilityDisbursement(
        self, request: pb.ConfirmFacilityDisbursementRequest, context: Context
    ) -> pb.ConfirmFacilityDisbursementResponse:
        facility_id = require_id(request.facility_id, "facility_id")
        posting_id = require_id(request.payment_posting_id, "payment_posting_id")

        async def confirm(session: Session) -> pb.ConfirmFacilityDisbursementResponse:
            facility = await self._store.get_facility(facility_id, session)
            started = start_facility(facility, posting_id, self._today())
            if started is facility:
                return pb.ConfirmFacilityDisbursementResponse(facility=self._view(facility))
            message = await self._save(session, started, "loan.merchant.facility_started")
            return pb.ConfirmFacilityDisbursementResponse(facility=message)

        return await self._idempotent(
            "confirm-facility", request, pb.ConfirmFacilityDisbursementResponse, confirm
        )

    async def CancelFacility(
        self, request: pb.CancelFacilityRequest, context: Context
    ) -> pb.CancelFacilityResponse:
        facility_id = require_id(request.facility_id, "facility_id")

        async def cancel(session: Session) -> pb.CancelFacilityResponse:
            facility = await self._store.find_facility(facility_id, session)
            if facility is None:
                tombstone_ = facility_tombstone(facility_id, self._clock.now())
                await self._store.save_facility(session, tombstone_)
                return pb.CancelFacilityResponse(facility=self._view(tombstone_))
            cancelled = cancel_facility(facility)
            if cancelled is facility:
                return pb.CancelFacilityResponse(facility=self._view(facility))
            message = await self._save(session, cancelled, "loan.merchant.facility_cancelled")
            return pb.CancelFacilityResponse(facility=message)

        return await self._idempotent("cancel-facility", request, pb.CancelFacilityResponse, cancel)

    async def GetFacility(
        self, request: pb.GetFacilityRequest, context: Context
    ) -> pb.GetFacilityResponse:
        facility = await self._store.get_facility(require_id(request.facility_id, "facility_id"))
        return pb.GetFacilityResponse(facility=self._view(facility))

    async def ListFacilities(
        self, request: pb.ListFacilitiesRequest, context: Context
    ) -> pb.ListFacilitiesResponse:
        merchant_id = require_id(request.merchant_id, "merchant_id")
        query = f"facilities:{merchant_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        facilities = await self._store.list_facilities(merchant_id, page_size, after)
        return pb.ListFacilitiesResponse(
            facilities=[self._view(facility) for facility in facilities],
            page=next_page(
                len(facilities),
                page_size,
                lambda: encode_page_token(
                    query, facilities[-1].decided_at.isoformat(), facilities[-1].facility_id
                ),
            ),
        )

    # draws
    async def TryDraw(self, request: pb.TryDrawRequest, context: Context) -> pb.TryDrawResponse:
        draw_id = require_id(request.draw_id, "draw_id")
        facility_id = require_id(request.facility_id, "facility_id")
        amount_fen = amount_from_proto(request.amount)

        async def try_draw(session: Session) -> pb.TryDrawResponse:
            existing = await self._store.find_step(draw_id, session)
            if existing is not None:
                step = require_retry_matches(existing, facility_id, Part.REVOLVING, amount_fen)
                return pb.TryDrawResponse(draw=draw_to_proto(step))
            facility = await self._store.get_facility(facility_id, session)
            reserved = reserve_draw(facility, amount_fen, self._today())
            require_capacity(await self._store.claim_capacity(session), amount_fen)
            step = Step(
                draw_id,
                StepKind.DRAW,
                facility_id,
                facility.merchant_id,
                Part.REVOLVING,
                amount_fen,
                StepState.PENDING,
            )
            await self._store.save_step(session, step)
            await self._store.save_facility(session, reserved)
            return pb.TryDrawResponse(draw=draw_to_proto(step))

        async with self._facility_locks.hold([facility_id]):
            return await self._idempotent("try-draw", request, pb.TryDrawResponse, try_draw)

    async def ConfirmDraw(
        self, request: pb.ConfirmDrawRequest, context: Context
    ) -> pb.ConfirmDrawResponse:
        draw_id = require_id(request.draw_id, "draw_id")
        posting_id = require_id(request.payment_posting_id, "payment_posting_id")

        async def confirm(session: Session) -> pb.ConfirmDrawResponse:
            step = await self._store.get_step(draw_id, StepKind.DRAW, session)
            facility = await self._store.get_facility(step.facility_id, session)
            if not require_pending(step, posting_id):
                return pb.ConfirmDrawResponse(
                    draw=draw_to_proto(step), facility=self._view(facility)
                )
            drawn = confirm_draw(facility, step.amount_fen, self._today())
            done = applied(step, posting_id, 0, step.amount_fen)
            await self._store.save_step(session, done)
            message = await self._save(session, drawn, "loan.merchant.drawn")
            return pb.ConfirmDrawResponse(draw=draw_to_proto(done), facility=message)

        return await self._idempotent("confirm-draw", request, pb.ConfirmDrawResponse, confirm)

    async def CancelDraw(
        self, request: pb.CancelDrawRequest, context: Context
    ) -> pb.CancelDrawResponse:
        draw_id = require_id(request.draw_id, "draw_id")

        async def cancel(session: Session) -> pb.CancelDrawResponse:
            step = await self._store.find_step(draw_id, session)
            if step is None:
                step = tombstone(draw_id, StepKind.DRAW)
                await self._store.save_step(session, step)
                return pb.CancelDrawResponse(draw=draw_to_proto(step))
            if can_cancel(step):
                facility = await self._store.get_facility(step.facility_id, session)
                await self._store.save_facility(session, release_draw(facility, step.amount_fen))
                step = cancelled(step)
                await self._store.save_step(session, step)
            return pb.CancelDrawResponse(draw=draw_to_proto(step))

        return await self._idempotent("cancel-draw", request, pb.CancelDrawResponse, cancel)

    # repayments
    async def TryFacilityRepayment(
        self, request: pb.TryFacilityRepaymentRequest, context: Context
    ) -> pb.TryFacilityRepaymentResponse:
        repayment_id = require_id(request.repayment_id, "repayment_id")
        facility_id = require_id(request.facility_id, "facility_id")
        part = require_part(request.part)
        amount_fen = amount_from_proto(request.amount)

        async def try_repayment(session: Session) -> pb.TryFacilityRepaymentResponse:
            existing = await self._store.find_step(repayment_id, session)
            if existing is not None:
                step = require_retry_matches(existing, facility_id, part, amount_fen)
                return pb.TryFacilityRepaymentResponse(repayment=repayment_to_proto(step))
            facility = await self._store.get_facility(facility_id, session)
            reserved = reserve_repayment(facility, part, amount_fen, self._today())
            step = Step(
                repayment_id,
                StepKind.REPAYMENT,
                facility_id,
                facility.merchant_id,
                part,
                amount_fen,
                StepState.PENDING,
            )
            await self._store.save_step(session, step)
            await self._store.save_facility(session, reserved)
            return pb.TryFacilityRepaymentResponse(repayment=repayment_to_proto(step))

        async with self._facility_locks.hold([facility_id]):
            return await self._idempotent(
                "try-facility-repayment", request, pb.TryFacilityRepaymentResponse, try_repayment
            )

    async def ConfirmFacilityRepayment(
        self, request: pb.ConfirmFacilityRepaymentRequest, context: Context
    ) -> pb.ConfirmFacilityRepaymentResponse:
        repayment_id = require_id(request.repayment_id, "repayment_id")
        posting_id = require_id(request.payment_posting_id, "payment_posting_id")

        async def confirm(session: Session) -> pb.ConfirmFacilityRepaymentResponse:
            step = await self._store.get_step(repayment_id, StepKind.REPAYMENT, session)
            facility = await self._store.get_facility(step.facility_id, session)
            if not require_pending(step, posting_id):
                return pb.ConfirmFacilityRepaymentResponse(
                    repayment=repayment_to_proto(step), facility=self._view(facility)
                )
            repaid, split = apply_repayment(facility, step.part, step.amount_fen, self._today())
            done = applied(step, posting_id, split.interest_fen, split.principal_fen)
            await self._store.save_step(session, done)
            message = await self._save(session, repaid, "loan.merchant.repaid")
            return pb.ConfirmFacilityRepaymentResponse(
                repayment=repayment_to_proto(done), facility=message
            )

        return await self._idempotent(
            "confirm-facility-repayment", request, pb.ConfirmFacilityRepaymentResponse, confirm
        )

    async def CancelFacilityRepayment(
        self, request: pb.CancelFacilityRepaymentRequest, context: Context
    ) -> pb.CancelFacilityRepaymentResponse:
        repayment_id = require_id(request.repayment_id, "repayment_id")

        async def cancel(session: Session) -> pb.CancelFacilityRepaymentResponse:
            step = await self._store.find_step(repayment_id, session)
            if step is None:
                step = tombstone(repayment_id, StepKind.REPAYMENT)
                await self._store.save_step(session, step)
                return pb.CancelFacilityRepaymentResponse(repayment=repayment_to_proto(step))
            if can_cancel(step):
                facility = await self._store.get_facility(step.facility_id, session)
                released = release_repayment(facility, step.part, step.amount_fen)
                await self._store.save_facility(session, released)
                step = cancelled(step)
                await self._store.save_step(session, step)
            return pb.CancelFacilityRepaymentResponse(repayment=repayment_to_proto(step))

        return await self._idempotent(
            "cancel-facility-repayment", request, pb.CancelFacilityRepaymentResponse, cancel
        )
