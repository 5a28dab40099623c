"""How insurance objects look in JSON: products, quotes, policies, claims, the job run.

Money as everywhere (gateway.edge.representations.money_proto_json); rates as decimal
strings ("0.20"); enum values as lower-case names without their prefix ("active",
"return_shipping"); dates as YYYY-MM-DD. The ledger postings behind a policy or a claim are
shown by id (they are the holder's own statement entries); internal keys are not.
"""

from __future__ import annotations

from typing import Any

from colony.insurance.v1 import insurance_pb2 as ipb
from gateway.edge.openapi import schema_ref
from gateway.edge.representations import money_proto_json, optional_timestamp_json
from gateway.wealth.representations import enum_name, enum_names

MONEY = schema_ref("Money")
KIND_PREFIX = "PRODUCT_KIND_"
POLICY_STATE_PREFIX = "POLICY_STATE_"
CLAIM_STATE_PREFIX = "CLAIM_STATE_"
EVIDENCE_PREFIX = "EVIDENCE_KIND_"


def product_json(product: ipb.Product) -> dict[str, Any]:
    return {
        "product_id": product.product_id,
        "kind": enum_name(ipb.ProductKind, product.kind, KIND_PREFIX),
        "name": product.name,
        "insurer_id": product.insurer_id,
        "commission_rate": product.commission_rate,
        "cover_max": money_proto_json(product.cover_max),
        "pricing_rule": product.pricing_rule,
    }


def quote_json(quote: ipb.Quote) -> dict[str, Any]:
    return {
        "quote_id": quote.quote_id,
        "product_id": quote.product_id,
        "subject_id": quote.subject_id,
        "premium": money_proto_json(quote.premium),
        "cover": money_proto_json(quote.cover),
        "term_days": quote.term_days,
        "quoted_at": optional_timestamp_json(quote.quoted_at),
        "expires_at": optional_timestamp_json(quote.expires_at),
        "used": bool(quote.policy_id),
    }


def policy_json(policy: ipb.Policy) -> dict[str, Any]:
    return {
        "policy_id": policy.policy_id,
        "product_id": policy.product_id,
        "kind": enum_name(ipb.ProductKind, policy.kind, KIND_PREFIX),
        "subject_id": policy.subject_id,
        "insurer_id": policy.insurer_id,
        "state": enum_name(ipb.PolicyState, policy.state, POLICY_STATE_PREFIX),
        "premium": money_proto_json(policy.premium),
        "cover": money_proto_json(policy.cover),
        "cover_remaining": money_proto_json(policy.cover_remaining),
        "claims_paid": money_proto_json(policy.claims_paid),
        "fixed_payout": money_proto_json(policy.fixed_payout),
        "term_days": policy.term_days,
        "start_date": policy.start_date or None,
        "end_date": policy.end_date or None,
        "cancelled_on": policy.cancelled_on or None,
        "refund": money_proto_json(policy.refund),
        "refund_state": enum_name(ipb.RefundState, policy.refund_state, "REFUND_STATE_"),
        "premium_posting_id": policy.premium_transfer_id or None,
        "refund_posting_id": policy.refund_transfer_id or None,
        "created_at": optional_timestamp_json(policy.created_at),
    }


def evidence_json(evidence: ipb.Evidence) -> dict[str, Any]:
    return {
        "kind": enum_name(ipb.EvidenceKind, evidence.kind, EVIDENCE_PREFIX),
        "reference": evidence.reference,
        "attested_by": evidence.attested_by,
        "note": evidence.note,
    }


def claim_json(claim: ipb.Claim) -> dict[str, Any]:
    return {
        "claim_id": claim.claim_id,
        "policy_id": claim.policy_id,
        "product_id": claim.product_id,
        "kind": enum_name(ipb.ProductKind, claim.kind, KIND_PREFIX),
        "beneficiary_id": claim.beneficiary_id,
        "event_reference": claim.event_reference,
        "amount": money_proto_json(claim.amount),
        "state": enum_name(ipb.ClaimState, claim.state, CLAIM_STATE_PREFIX),
        "evidence": [evidence_json(evidence) for evidence in claim.evidence],
        "decision_reason": claim.decision_reason,
        "decided_by": claim.decided_by,
        "payout_posting_id": claim.payout_transfer_id or None,
        "submitted_at": optional_timestamp_json(claim.submitted_at),
        "decided_at": optional_timestamp_json(claim.decided_at),
        "paid_at": optional_timestamp_json(claim.paid_at),
    }


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": list(properties),
        "properties": properties,
    }
    if description:
        schema["description"] = description
    return schema


_STRING = {"type": "string"}
_DATE = {"type": ["string", "null"], "format": "date"}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_ID = {"type": ["string", "null"]}
_KIND = {"type": "string", "enum": enum_names(ipb.ProductKind, KIND_PREFIX)}

SCHEMAS: dict[str, dict[str, Any]] = {
    "InsuranceProduct": _object(
        {
            "product_id": _STRING,
            "kind": _KIND,
            "name": _STRING,
            "insurer_id": {**_STRING, "description": "The partner insurer."},
            "commission_rate": {**_STRING, "description": "The platform's share, a decimal."},
            "cover_max": MONEY,
            "pricing_rule": _STRING,
        }
    ),
    "InsuranceProducts": _object(
        {"products": {"type": "array", "items": schema_ref("InsuranceProduct")}}
    ),
    "InsuranceQuote": _object(
        {
            "quote_id": _STRING,
            "product_id": _STRING,
            "subject_id": {**_STRING, "description": "The trade, merchant or account insured."},
            "premium": MONEY,
            "cover": MONEY,
            "term_days": {"type": "integer"},
            "quoted_at": _TIME,
            "expires_at": {**_TIME, "description": "Valid 15 minutes."},
            "used": {"type": "boolean"},
        },
        "A price bound to its inputs; buy it with POST /v1/insurance/policies.",
    ),
    "InsurancePolicy": _object(
        {
            "policy_id": _STRING,
            "product_id": _STRING,
            "kind": _KIND,
            "subject_id": _STRING,
            "insurer_id": _STRING,
            "state": {
                "type": "string",
                "enum": enum_names(ipb.PolicyState, POLICY_STATE_PREFIX),
            },
            "premium": MONEY,
            "cover": MONEY,
            "cover_remaining": MONEY,
            "claims_paid": MONEY,
            "fixed_payout": MONEY,
            "term_days": {"type": "integer"},
            "start_date": _DATE,
            "end_date": _DATE,
            "cancelled_on": _DATE,
            "refund": MONEY,
            "refund_state": {
                "type": "string",
                "enum": enum_names(ipb.RefundState, "REFUND_STATE_"),
            },
            "premium_posting_id": _ID,
            "refund_posting_id": _ID,
            "created_at": _TIME,
        }
    ),
    "InsurancePolicies": _object(
        {
            "policies": {"type": "array", "items": schema_ref("InsurancePolicy")},
            "next_page_token": _STRING,
        }
    ),
    "InsuranceEvidence": _object(
        {
            "kind": {"type": "string", "enum": enum_names(ipb.EvidenceKind, EVIDENCE_PREFIX)},
            "reference": _STRING,
            "attested_by": _STRING,
            "note": _STRING,
        }
    ),
    "InsuranceClaim": _object(
        {
            "claim_id": _STRING,
            "policy_id": _STRING,
            "product_id": _STRING,
            "kind": _KIND,
            "beneficiary_id": _STRING,
            "event_reference": _STRING,
            "amount": MONEY,
            "state": {"type": "string", "enum": enum_names(ipb.ClaimState, CLAIM_STATE_PREFIX)},
            "evidence": {"type": "array", "items": schema_ref("InsuranceEvidence")},
            "decision_reason": {**_STRING, "description": "Why it was rejected (or approved)."},
            "decided_by": _STRING,
            "payout_posting_id": _ID,
            "submitted_at": _TIME,
            "decided_at": _TIME,
            "paid_at": _TIME,
        }
    ),
    "InsuranceClaims": _object(
        {
            "claims": {"type": "array", "items": schema_ref("InsuranceClaim")},
            "next_page_token": _STRING,
        }
    ),
}
