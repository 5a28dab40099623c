"""Policies by id, by holder, and the active ones past their end date (the expiry job)."""

from __future__ import annotations

from datetime import date, datetime

from pymongo import DESCENDING

from chassis.errors import NotFound
from chassis.mongo import Document, Session
from services.insurance.policies import Policy, PolicyState
from services.insurance.store.collections import InsuranceCollections, after_key
from services.insurance.store.mapping import policy_from_document, policy_to_document


class PolicyStore(InsuranceCollections):
    async def find_policy(self, policy_id: str, session: Session | None = None) -> Policy | None:
        document = await self.policies.find_one({"_id": policy_id}, session=session)
        return policy_from_document(document) if document else None

    async def get_policy(self, policy_id: str, session: Session | None = None) -> Policy:
        policy = await self.find_policy(policy_id, session)
        if policy is None:
            raise NotFound(f"policy {policy_id} not found", metadata={"policy_id": policy_id})
        return policy

    async def save_policy(self, session: Session, policy: Policy) -> None:
        await self.policies.replace_one(
            {"_id": policy.policy_id}, policy_to_document(policy), upsert=True, session=session
        )

    async def serialise_claims(self, session: Session, policy_id: str) -> None:
        """Write the policy so two transactions filing claims on it conflict.

        The cover check reads the policy's other claims; without a write to a shared document,
        two concurrent claims could each see the cover free (write skew).
        """
        await self.policies.update_one(
            {"_id": policy_id}, {"$inc": {"claim_writes": 1}}, session=session
        )

    async def list_policies(
        self, holder_id: str, limit: int, after: tuple[str, ...] | None
    ) -> list[Policy]:
        query: Document = {"holder_id": holder_id}
        if after is not None:
            query.update(after_key("created_at", datetime.fromisoformat(after[0]), after[1], True))
        cursor = (
            self.policies.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [policy_from_document(document) async for document in cursor]

    async def ended_policy_ids(self, business_date: date, after_id: str, limit: int) -> list[str]:
        """Ids of ACTIVE policies whose end date is before business_date, in id order."""
        cursor = (
            self.policies.find(
                {
                    "state": PolicyState.ACTIVE.value,
                    "end_date": {"$lt": business_date.isoformat()},
                    "_id": {"$gt": after_id},
                },
                {"_id": 1},
            )
            .sort("_id")
            .limit(limit)
        )
        return [document["_id"] async for document in cursor]

    async def find_job_run(self, business_date: date) -> Document | None:
        return await self.job_runs.find_one({"_id": business_date.isoformat()})

    async def record_job_run(self, business_date: date, expired: int, now: datetime) -> None:
        await self.job_runs.update_one(
            {"_id": business_date.isoformat()},
            {"$setOnInsert": {"expired": expired, "completed_at": now}},
            upsert=True,
        )
