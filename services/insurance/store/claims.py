"""Claims by id, by (policy, event), by state or policy, and the cover they take."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING

from chassis.errors import NotFound
from chassis.mongo import Document, Session
from services.insurance.claims import OPEN_STATES, Claim, ClaimState
from services.insurance.store.collections import InsuranceCollections, after_key, sum_of
from services.insurance.store.mapping import claim_from_document, claim_to_document


class ClaimStore(InsuranceCollections):
    async def find_claim(self, claim_id: str, session: Session | None = None) -> Claim | None:
        document = await self.claims.find_one({"_id": claim_id}, session=session)
        return claim_from_document(document) if document else None

    async def get_claim(self, claim_id: str, session: Session | None = None) -> Claim:
        claim = await self.find_claim(claim_id, session)
        if claim is None:
            raise NotFound(f"claim {claim_id} not found", metadata={"claim_id": claim_id})
        return claim

    async def claim_for_event(
        self, policy_id: str, event_reference: str, session: Session
    ) -> Claim | None:
        document = await self.claims.find_one(
            {"policy_id": policy_id, "event_reference": event_reference}, session=session
        )
        return claim_from_document(document) if document else None

    async def claims_not_rejected_fen(self, policy_id: str, session: Session | None = None) -> int:
        """The amounts of the policy's claims that still take cover (all but rejected)."""
        match = {"policy_id": policy_id, "state": {"$ne": ClaimState.REJECTED.value}}
        return await sum_of(self.claims, match, "amount_fen", session)

    async def open_claim_count(self, policy_id: str, session: Session) -> int:
        states = [state.value for state in OPEN_STATES]
        return await self.claims.count_documents(
            {"policy_id": policy_id, "state": {"$in": states}}, session=session
        )

    async def save_claim(self, session: Session, claim: Claim) -> None:
        await self.claims.replace_one(
            {"_id": claim.claim_id}, claim_to_document(claim), upsert=True, session=session
        )

    async def list_claims(
        self, state: ClaimState | None, policy_id: str, limit: int, after: tuple[str, ...] | None
    ) -> list[Claim]:
        """Claims in a state and/or of a policy, oldest first (the review queue's order)."""
        query: Document = {}
        if state is not None:
            query["state"] = state.value
        if policy_id:
            query["policy_id"] = policy_id
        if after is not None:
            query = {
                **query,
                **after_key("submitted_at", datetime.fromisoformat(after[0]), after[1], False),
            }
        cursor = (
            self.claims.find(query)
            .sort([("submitted_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [claim_from_document(document) async for document in cursor]
