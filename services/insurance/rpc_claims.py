"""Claim RPCs (claims.py holds the state machine and the adjudication rules)."""

from __future__ import annotations

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import next_page, page_size_of
from colony.insurance.v1 import insurance_pb2 as pb
from services.insurance.claims import (
    Claim,
    ClaimState,
    add_evidence,
    mark_claim_paid,
    record_claim_paid,
    require_not_duplicate,
    review_claim,
    submit_claim,
)
from services.insurance.policies import Policy
from services.insurance.rpc_base import InsuranceRpcBase
from services.insurance.wire import (
    CLAIM_STATE_FROM_PROTO,
    claim_to_proto,
    evidence_from_proto,
    evidence_list_from_proto,
    optional_amount_fen,
    require_id,
)

DECISION_EVENTS = {
    ClaimState.APPROVED: "insurance.claim.approved",
    ClaimState.REJECTED: "insurance.claim.rejected",
}


def decision_events(claim: Claim) -> tuple[str, ...]:
    """The event of the decision the claim reached, if any."""
    event_type = DECISION_EVENTS.get(claim.state)
    return (event_type,) if event_type else ()


class ClaimsRpc(InsuranceRpcBase):
    """Submit, evidence, review, pay, read."""

    async def SubmitClaim(
        self, request: pb.SubmitClaimRequest, context: Context
    ) -> pb.SubmitClaimResponse:
        claim_id = require_id(request.claim_id, "claim_id")
        policy_id = require_id(request.policy_id, "policy_id")
        evidence = evidence_list_from_proto(request.evidence)
        amount_fen = optional_amount_fen(request.amount, "amount")

        async def submit(session: Session) -> pb.SubmitClaimResponse:
            policy, taken_fen = await self._policy_for_claim(
                session, claim_id, policy_id, request.event_reference
            )
            claim = submit_claim(
                claim_id,
                policy,
                event_reference=request.event_reference,
                amount_fen=amount_fen,
                beneficiary_id=request.beneficiary_id,
                evidence=evidence,
                claims_not_rejected_fen=taken_fen,
                now=self._clock.now(),
            )
            events = ("insurance.claim.submitted", *decision_events(claim))
            return pb.SubmitClaimResponse(claim=await self._save_claim(session, claim, *events))

        return await self._idempotent("submit-claim", request, pb.SubmitClaimResponse, submit)

    async def _policy_for_claim(
        self, session: Session, claim_id: str, policy_id: str, event_reference: str
    ) -> tuple[Policy, int]:
        """The policy a new claim is filed on and the cover its other claims take."""
        if await self._store.find_claim(claim_id, session) is not None:
            raise FailedPrecondition(f"claim {claim_id} exists", reason="CLAIM_MISMATCH")
        policy = await self._store.get_policy(policy_id, session)
        first = await self._store.claim_for_event(policy_id, event_reference, session)
        require_not_duplicate(first, claim_id)
        await self._store.serialise_claims(session, policy_id)
        return policy, await self._store.claims_not_rejected_fen(policy_id, session)

    async def AddClaimEvidence(
        self, request: pb.AddClaimEvidenceRequest, context: Context
    ) -> pb.AddClaimEvidenceResponse:
        claim_id = require_id(request.claim_id, "claim_id")
        evidence = evidence_from_proto(request.evidence)

        async def add(session: Session) -> pb.AddClaimEvidenceResponse:
            claim = await self._store.get_claim(claim_id, session)
            policy = await self._store.get_policy(claim.policy_id, session)
            adjudicated = add_evidence(claim, policy, evidence, self._clock.now())
            events = decision_events(adjudicated)
            message = await self._save_claim(session, adjudicated, *events)
            return pb.AddClaimEvidenceResponse(claim=message)

        return await self._idempotent(
            "add-claim-evidence", request, pb.AddClaimEvidenceResponse, add
        )

    async def ReviewClaim(
        self, request: pb.ReviewClaimRequest, context: Context
    ) -> pb.ReviewClaimResponse:
        claim_id = require_id(request.claim_id, "claim_id")
        if request.decision == pb.REVIEW_DECISION_UNSPECIFIED:
            raise InvalidArgument("decision is required", metadata={"field": "decision"})

        async def review(session: Session) -> pb.ReviewClaimResponse:
            claim = await self._store.get_claim(claim_id, session)
            decided = review_claim(
                claim,
                approve=request.decision == pb.REVIEW_DECISION_APPROVE,
                operator_id=request.operator_id,
                reason=request.reason,
                now=self._clock.now(),
            )
            message = await self._save_claim(session, decided, *decision_events(decided))
            return pb.ReviewClaimResponse(claim=message)

        return await self._idempotent("review-claim", request, pb.ReviewClaimResponse, review)

    async def MarkClaimPaid(
        self, request: pb.MarkClaimPaidRequest, context: Context
    ) -> pb.MarkClaimPaidResponse:
        claim_id = require_id(request.claim_id, "claim_id")
        insurer_transfer_id = require_id(request.insurer_transfer_id, "insurer_transfer_id")
        payout_transfer_id = require_id(request.payout_transfer_id, "payout_transfer_id")

        async def mark(session: Session) -> pb.MarkClaimPaidResponse:
            claim = await self._store.get_claim(claim_id, session)
            now = self._clock.now()
            paid = mark_claim_paid(claim, insurer_transfer_id, payout_transfer_id, now)
            if paid is claim:
                return pb.MarkClaimPaidResponse(claim=claim_to_proto(claim))
            policy = await self._store.get_policy(claim.policy_id, session)
            await self._store.save_policy(session, record_claim_paid(policy, paid))
            message = await self._save_claim(session, paid, "insurance.claim.paid")
            return pb.MarkClaimPaidResponse(claim=message)

        return await self._idempotent("mark-claim-paid", request, pb.MarkClaimPaidResponse, mark)

    async def GetClaim(self, request: pb.GetClaimRequest, context: Context) -> pb.GetClaimResponse:
        claim = await self._store.get_claim(require_id(request.claim_id, "claim_id"))
        return pb.GetClaimResponse(claim=claim_to_proto(claim))

    async def ListClaims(
        self, request: pb.ListClaimsRequest, context: Context
    ) -> pb.ListClaimsResponse:
        state = CLAIM_STATE_FROM_PROTO.get(request.state)
        if state is None and not request.policy_id:
            raise InvalidArgument("state or policy_id is required", metadata={"field": "state"})
        query = f"claims:{request.state}:{request.policy_id}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        claims = await self._store.list_claims(state, request.policy_id, page_size, after)
        return pb.ListClaimsResponse(
            claims=[claim_to_proto(claim) for claim in claims],
            page=next_page(
                len(claims),
                page_size,
                lambda: encode_page_token(
                    query, claims[-1].submitted_at.isoformat(), claims[-1].claim_id
                ),
            ),
        )
