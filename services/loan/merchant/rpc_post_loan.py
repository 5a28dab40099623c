"""Post-loan control RPCs of facilities (post_loan.py holds the rule): the facilities the
gateway's job follows, settlement withholdings applied to them, excess given back."""

from __future__ import annotations

from chassis.errors import FailedPrecondition
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import amount_from_proto, money_to_proto, next_page, page_size_of
from colony.loan.v1 import merchant_lending_pb2 as pb
from services.loan.huabei import require_id
from services.loan.merchant.facilities import Part
from services.loan.merchant.post_loan import collect, excess_returned
from services.loan.merchant.rpc_base import MerchantRpcBase
from services.loan.merchant.steps import Step, StepKind, StepState, applied
from services.loan.merchant.wire import facility_to_proto


class PostLoanRpc(MerchantRpcBase):
    """Withholding an overdue facility from settlements."""

    async def ListFacilitiesToFollow(
        self, request: pb.ListFacilitiesToFollowRequest, context: Context
    ) -> pb.ListFacilitiesToFollowResponse:
        query = "facilities-to-follow"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 1)
        today = self._today()
        found = await self._store.facilities_to_follow(today, after[0] if after else "", page_size)
        return pb.ListFacilitiesToFollowResponse(
            facilities=[facility_to_proto(facility, today) for facility in found],
            page=next_page(
                len(found), page_size, lambda: encode_page_token(query, found[-1].facility_id)
            ),
        )

    async def ApplyFacilityCollection(
        self, request: pb.ApplyFacilityCollectionRequest, context: Context
    ) -> pb.ApplyFacilityCollectionResponse:
        facility_id = require_id(request.facility_id, "facility_id")
        application_id = require_id(request.application_id, "application_id")
        amount_fen = amount_from_proto(request.amount)

        async def apply(session: Session) -> pb.ApplyFacilityCollectionResponse:
            facility = await self._store.get_facility(facility_id, session)
            today = self._today()
            marker = await self._store.find_step(application_id, session)
            if marker is not None:  # applied before: the answer as it stands
                return pb.ApplyFacilityCollectionResponse(
                    facility=facility_to_proto(facility, today),
                    excess=money_to_proto(marker.amount_fen),
                )
            collected, where = collect(facility, amount_fen, today)
            posting_id = application_id.rsplit(":", 1)[-1]
            for part, fen, split in where.parts:
                step = Step(
                    f"{application_id}:{part.value}",
                    StepKind.REPAYMENT,
                    facility_id,
                    facility.merchant_id,
                    part,
                    fen,
                    StepState.PENDING,
                )
                done = applied(step, posting_id, split.interest_fen, split.principal_fen)
                await self._store.save_step(session, done)
            excess_state = StepState.PENDING if where.excess_fen else StepState.APPLIED
            await self._store.save_step(
                session,
                Step(
                    application_id,
                    StepKind.EXCESS,
                    facility_id,
                    facility.merchant_id,
                    Part.REVOLVING,
                    where.excess_fen,
                    excess_state,
                ),
            )
            await self._store.save_facility(session, collected)
            message = facility_to_proto(collected, today)
            await self._events.append(session, "loan.merchant.collected", facility_id, message)
            return pb.ApplyFacilityCollectionResponse(
                facility=message, excess=money_to_proto(where.excess_fen)
            )

        async with self._facility_locks.hold([facility_id]):
            return await self._idempotent(
                "facility-collection", request, pb.ApplyFacilityCollectionResponse, apply
            )

    async def ConfirmFacilityExcessReturned(
        self, request: pb.ConfirmFacilityExcessReturnedRequest, context: Context
    ) -> pb.ConfirmFacilityExcessReturnedResponse:
        application_id = require_id(request.application_id, "application_id")
        posting_id = require_id(request.payment_posting_id, "payment_posting_id")

        async def confirm(session: Session) -> pb.ConfirmFacilityExcessReturnedResponse:
            step = await self._store.get_step(application_id, StepKind.EXCESS, session)
            facility = await self._store.get_facility(step.facility_id, session)
            if step.state is StepState.PENDING:
                await self._store.save_step(session, applied(step, posting_id, 0, 0))
                facility = excess_returned(facility, step.amount_fen)
                await self._store.save_facility(session, facility)
            elif step.amount_fen and step.posting_id != posting_id:
                raise FailedPrecondition(
                    f"the excess of {application_id} was given back by another posting",
                    reason="REPAYMENT_MISMATCH",
                )
            return pb.ConfirmFacilityExcessReturnedResponse(
                facility=facility_to_proto(facility, self._today())
            )

        return await self._idempotent(
            "facility-excess", request, pb.ConfirmFacilityExcessReturnedResponse, confirm
        )
