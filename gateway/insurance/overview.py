"""The insurance of the wallet overview (GET /v1/wallet): the caller's policies in force."""

from __future__ import annotations

from typing import Any

from colony.common.v1 import paging_pb2
from colony.insurance.v1 import insurance_pb2 as ipb
from gateway.clients import InsuranceClient
from gateway.edge.openapi import schema_ref
from gateway.insurance.representations import policy_json

# The overview lists at most this many policies (GET /v1/insurance/policies has all).
POLICIES_SHOWN_MAX = 20

WALLET_INSURANCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The caller's insurance policies in force (GET /v1/insurance/policies has "
    "them all). Absent when the insurance service cannot answer right now.",
    "required": ["policies"],
    "properties": {
        "policies": {
            "type": "array",
            "items": schema_ref("InsurancePolicy"),
            "description": "Active policies, newest first.",
        },
    },
}


async def insurance_summary(insurance: InsuranceClient, holder_id: str) -> dict[str, Any]:
    """The holder's active policies as the wallet shows them."""
    response = await insurance.list_policies(
        ipb.ListPoliciesRequest(
            holder_id=holder_id, page=paging_pb2.PageRequest(page_size=POLICIES_SHOWN_MAX)
        )
    )
    return {
        "policies": [
            policy_json(policy)
            for policy in response.policies
            if policy.state == ipb.POLICY_STATE_ACTIVE
        ]
    }
