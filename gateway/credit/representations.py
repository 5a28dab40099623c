"""How credit objects look in JSON responses, and their OpenAPI schemas.

Enum values are the lower-case names of the proto's (``deposit_waiver``, ``bachelor``);
reason and action codes are the credit service's stable codes as they are (docs/credit.md).
Money is the platform's Money object; times are RFC 3339 in UTC.
"""

from __future__ import annotations

from typing import Any

from colony.credit.v1 import credit_pb2 as cpb
from gateway.edge.openapi import schema_ref
from gateway.edge.paging import NEXT_PAGE_TOKEN_PROPERTY
from gateway.edge.representations import (
    money_proto_json,
    optional_timestamp_json,
    timestamp_json,
)

BANDS = ("POOR", "FAIR", "GOOD", "VERY_GOOD", "EXCELLENT")
DIMENSIONS = (
    "credit_history",
    "behaviour_preference",
    "fulfilment_capacity",
    "identity_traits",
    "social_connections",
)

_PURPOSE_PREFIX = "CONSENT_PURPOSE_"
PURPOSE_NAMES = {
    name.removeprefix(_PURPOSE_PREFIX).lower(): value
    for name, value in cpb.ConsentPurpose.items()
    if value != cpb.CONSENT_PURPOSE_UNSPECIFIED
}
_EDUCATION_PREFIX = "EDUCATION_"
EDUCATION_NAMES = {
    name.removeprefix(_EDUCATION_PREFIX).lower(): value
    for name, value in cpb.Education.items()
    if value != cpb.EDUCATION_UNSPECIFIED
}
_REMOVAL_PREFIX = "REMOVAL_REASON_"
REMOVAL_REASON_NAMES = {
    name.removeprefix(_REMOVAL_PREFIX).lower(): value
    for name, value in cpb.RemovalReason.items()
    if value != cpb.REMOVAL_REASON_UNSPECIFIED
}
# Which read of the score an access-log line records (the credit service names its RPC).
_READS = {"GetScore": "score", "CheckDepositWaiver": "deposit_waiver"}


def purpose_name(purpose: cpb.ConsentPurpose.ValueType) -> str:
    return cpb.ConsentPurpose.Name(purpose).removeprefix(_PURPOSE_PREFIX).lower()


def education_name(education: cpb.Education.ValueType) -> str | None:
    if education == cpb.EDUCATION_UNSPECIFIED:
        return None
    return cpb.Education.Name(education).removeprefix(_EDUCATION_PREFIX).lower()


def score_json(score: cpb.Score) -> dict[str, Any]:
    """A score as its viewer may see it (the service leaves out what they may not)."""
    return {
        "person_id": score.person_id,
        "score": score.score,
        "band": score.band,
        "model_version": score.model_version,
        "computed_at": timestamp_json(score.computed_at),
        "blacklisted": score.blacklisted,
        "newcomer": score.newcomer,
        "trigger": score.trigger,
        "dimensions": [
            {"dimension": d.dimension, "sub_score": d.sub_score} for d in score.dimensions
        ],
        "raised_by": [_reason_json(r) for r in score.raised_by],
        "lowered_by": [_reason_json(r) for r in score.lowered_by],
    }


def owner_score_json(score: cpb.Score, advice: cpb.CreditLimitAdvice) -> dict[str, Any]:
    """The owner's view: the score, the two actions that would raise it most, limit advice."""
    return {
        **score_json(score),
        "actions": [{"code": a.code, "points_gain": a.points_gain} for a in score.actions],
        "limit_advice": advice_json(advice),
    }


def merchant_score_json(score: cpb.Score) -> dict[str, Any]:
    """What a merchant with the owner's consent sees: the score and its band."""
    return {
        "person_id": score.person_id,
        "score": score.score,
        "band": score.band,
        "model_version": score.model_version,
        "computed_at": timestamp_json(score.computed_at),
    }


def _reason_json(reason: cpb.ScoreReason) -> dict[str, Any]:
    return {"code": reason.code, "dimension": reason.dimension, "points": reason.points}


def advice_json(advice: cpb.CreditLimitAdvice) -> dict[str, Any]:
    return {
        "huabei_line": money_proto_json(advice.huabei_line),
        "cash_loan_ceiling": money_proto_json(advice.cash_loan_ceiling),
        "daily_rate_min": advice.daily_rate_min or None,
        "daily_rate_max": advice.daily_rate_max or None,
        "refusal": advice.refusal or None,
    }


def declaration_json(declaration: cpb.Declaration) -> dict[str, Any]:
    return {
        "monthly_income": money_proto_json(declaration.monthly_income),
        "education": education_name(declaration.education),
        "employer": declaration.employer or None,
        "declared_at": timestamp_json(declaration.declared_at),
    }


def consent_json(grant: cpb.ConsentGrant) -> dict[str, Any]:
    return {
        "consent_id": grant.grant_id,
        "person_id": grant.person_id,
        "merchant_id": grant.merchant_id,
        "purpose": purpose_name(grant.purpose),
        "granted_at": timestamp_json(grant.granted_at),
        "expires_at": timestamp_json(grant.expires_at),
        "revoked_at": optional_timestamp_json(grant.revoked_at),
        "live": grant.live,
    }


def access_json(access: cpb.ScoreAccess) -> dict[str, Any]:
    return {
        "access_id": access.access_id,
        "person_id": access.person_id,
        "merchant_id": access.merchant_id,
        "purpose": purpose_name(access.purpose),
        "consent_id": access.grant_id,
        "read": _READS.get(access.method, access.method),
        "accessed_at": timestamp_json(access.accessed_at),
    }


def blacklist_entry_json(entry: cpb.BlacklistEntry) -> dict[str, Any]:
    return {
        "source": entry.source,
        "case_reference": entry.case_reference,
        "resident_id_hash": entry.resident_id_hash,
        "person_id": entry.person_id or None,
        "listed": entry.listed,
        "listed_at": optional_timestamp_json(entry.listed_at),
        "removed_at": optional_timestamp_json(entry.removed_at),
    }


def blacklist_change_json(change: cpb.BlacklistChange) -> dict[str, Any]:
    return {
        "source": change.source,
        "case_reference": change.case_reference,
        "resident_id_hash": change.resident_id_hash,
        "person_id": change.person_id or None,
        "change": change.change,
        "reason": change.reason,
        "note": change.note,
        "changed_at": timestamp_json(change.changed_at),
    }


def feed_status_json(feed: cpb.FeedStatus) -> dict[str, Any]:
    return {
        "feed": feed.feed,
        "position": feed.position,
        "events_behind": feed.events_behind,
        "events_behind_capped": feed.events_behind_capped,
        "seconds_behind": feed.seconds_behind,
        "events_applied": feed.events_applied,
        "events_skipped_unknown": feed.events_skipped_unknown,
        "connected": feed.connected,
        "last_error": feed.last_error,
        "last_applied_at": optional_timestamp_json(feed.last_applied_at),
        "lag_measured_at": optional_timestamp_json(feed.lag_measured_at),
    }


_NULLABLE_STRING = {"type": "string", "nullable": True}
_DATE_TIME = {"type": "string", "format": "date-time"}


def _nullable(schema: dict[str, Any], description: str) -> dict[str, Any]:
    # OpenAPI 3.0's "nullable" (3.1 readers ignore it): the document stays in the 3.0/3.1 subset.
    return {**schema, "nullable": True, "description": description}


_SCORE_PROPERTIES: dict[str, Any] = {
    "person_id": {
        "type": "string",
        "description": "The person the score is about: their personal payment account id.",
    },
    "score": {"type": "integer", "minimum": 350, "maximum": 950, "example": 612},
    "band": {"type": "string", "enum": list(BANDS)},
    "model_version": {
        "type": "string",
        "description": "The scorecard model that made the score.",
        "example": "sesame-2025.1",
    },
    "computed_at": _DATE_TIME,
}
_REASON_SCHEMA = {
    "type": "object",
    "required": ["code", "dimension", "points"],
    "properties": {
        "code": {"type": "string", "example": "IDENTITY_VERIFIED"},
        "dimension": {"type": "string", "enum": list(DIMENSIONS)},
        "points": {
            "type": "integer",
            "description": "Points the reason moved the score by, against a newcomer (signed).",
        },
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "CreditScore": {
        "type": "object",
        "description": "A score with its sub-scores and reasons (docs/credit.md).",
        "required": [
            *_SCORE_PROPERTIES,
            "blacklisted",
            "newcomer",
            "trigger",
            "dimensions",
            "raised_by",
            "lowered_by",
        ],
        "properties": {
            **_SCORE_PROPERTIES,
            "blacklisted": {"type": "boolean"},
            "newcomer": {
                "type": "boolean",
                "description": "Nothing is known yet beyond an opened account.",
            },
            "trigger": {
                "type": "string",
                "description": "What made the score: an event type, declaration, blacklist, "
                "model_loaded.",
            },
            "dimensions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["dimension", "sub_score"],
                    "properties": {
                        "dimension": {"type": "string", "enum": list(DIMENSIONS)},
                        "sub_score": {"type": "integer", "minimum": 0, "maximum": 100},
                    },
                },
            },
            "raised_by": {
                "type": "array",
                "items": _REASON_SCHEMA,
                "description": "Up to three reasons that raised the score, largest first.",
            },
            "lowered_by": {
                "type": "array",
                "items": _REASON_SCHEMA,
                "description": "Up to three reasons that lowered the score, largest first.",
            },
        },
    },
    "CreditLimitAdvice": {
        "type": "object",
        "required": [
            "huabei_line",
            "cash_loan_ceiling",
            "daily_rate_min",
            "daily_rate_max",
            "refusal",
        ],
        "properties": {
            "huabei_line": {**schema_ref("Money"), "description": "Huabei (花呗) credit line."},
            "cash_loan_ceiling": {
                **schema_ref("Money"),
                "description": "Jiebei (借呗) cash-loan ceiling.",
            },
            "daily_rate_min": _nullable(
                {"type": "string"},
                'Daily rate band of cash loans, a decimal fraction ("0.0003" is 0.03% a '
                "day); null when no cash loan is advised.",
            ),
            "daily_rate_max": _nullable({"type": "string"}, "See daily_rate_min."),
            "refusal": _nullable(
                {"type": "string", "enum": ["SCORE_TOO_LOW", "BLACKLISTED"]},
                "Why nothing is advised; null otherwise.",
            ),
        },
    },
    "OwnCreditScore": {
        "description": "The caller's own score: everything, the actions that would raise it "
        "most, and credit limit advice.",
        "allOf": [
            schema_ref("CreditScore"),
            {
                "type": "object",
                "required": ["actions", "limit_advice"],
                "properties": {
                    "actions": {
                        "type": "array",
                        "description": "The two actions that would raise the score most.",
                        "items": {
                            "type": "object",
                            "required": ["code", "points_gain"],
                            "properties": {
                                "code": {"type": "string", "example": "HOLD_MORE_ASSETS"},
                                "points_gain": {"type": "integer"},
                            },
                        },
                    },
                    "limit_advice": schema_ref("CreditLimitAdvice"),
                },
            },
        ],
    },
    "CreditScoreHistory": {
        "type": "object",
        "required": ["scores", "next_page_token"],
        "properties": {
            "scores": {
                "type": "array",
                "items": schema_ref("CreditScore"),
                "description": "Earlier scores, newest first: one whenever the score, model "
                "version or blacklisted flag changed.",
            },
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "MerchantCreditScore": {
        "type": "object",
        "description": "What a merchant with the person's SCORE consent sees.",
        "required": list(_SCORE_PROPERTIES),
        "properties": _SCORE_PROPERTIES,
    },
    "CreditDeclaration": {
        "type": "object",
        "required": ["monthly_income", "education", "employer", "declared_at"],
        "properties": {
            "monthly_income": {
                **schema_ref("Money"),
                "description": "Self-declared monthly income (0: not declared).",
            },
            "education": _nullable(
                {"type": "string", "enum": list(EDUCATION_NAMES)}, "null: not declared."
            ),
            "employer": _nullable({"type": "string"}, "null: not declared."),
            "declared_at": _DATE_TIME,
        },
    },
    "CreditConsent": {
        "type": "object",
        "required": [
            "consent_id",
            "person_id",
            "merchant_id",
            "purpose",
            "granted_at",
            "expires_at",
            "revoked_at",
            "live",
        ],
        "properties": {
            "consent_id": {"type": "string"},
            "person_id": {"type": "string"},
            "merchant_id": {"type": "string"},
            "purpose": {"type": "string", "enum": list(PURPOSE_NAMES)},
            "granted_at": _DATE_TIME,
            "expires_at": _DATE_TIME,
            "revoked_at": _nullable(
                _DATE_TIME, "Set once revoked; a revoked grant never works again."
            ),
            "live": {"type": "boolean", "description": "Not revoked and not expired."},
        },
    },
    "CreditConsentList": {
        "type": "object",
        "required": ["consents", "next_page_token"],
        "properties": {
            "consents": {"type": "array", "items": schema_ref("CreditConsent")},
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "CreditAccess": {
        "type": "object",
        "description": "One read of the caller's score by a merchant, with their consent.",
        "required": [
            "access_id",
            "person_id",
            "merchant_id",
            "purpose",
            "consent_id",
            "read",
            "accessed_at",
        ],
        "properties": {
            "access_id": {"type": "string"},
            "person_id": {"type": "string"},
            "merchant_id": {"type": "string"},
            "purpose": {"type": "string", "enum": list(PURPOSE_NAMES)},
            "consent_id": {"type": "string", "description": "The grant the merchant used."},
            "read": {"type": "string", "enum": ["score", "deposit_waiver"]},
            "accessed_at": _DATE_TIME,
        },
    },
    "CreditAccessList": {
        "type": "object",
        "required": ["accesses", "next_page_token"],
        "properties": {
            "accesses": {
                "type": "array",
                "items": schema_ref("CreditAccess"),
                "description": "Newest first.",
            },
            "next_page_token": NEXT_PAGE_TOKEN_PROPERTY,
        },
    },
    "CreditBlacklistEntry": {
        "type": "object",
        "required": [
            "source",
            "case_reference",
            "resident_id_hash",
            "person_id",
            "listed",
            "listed_at",
            "removed_at",
        ],
        "properties": {
            "source": {"type": "string", "example": "court:beijing-haidian"},
            "case_reference": {"type": "string"},
            "resident_id_hash": {"type": "string"},
            "person_id": _nullable({"type": "string"}, "The person, once known."),
            "listed": {"type": "boolean"},
            "listed_at": _nullable(_DATE_TIME, "When it was listed."),
            "removed_at": _nullable(_DATE_TIME, "When it was removed; null while listed."),
        },
    },
    "CreditBlacklistChange": {
        "type": "object",
        "required": [
            "source",
            "case_reference",
            "resident_id_hash",
            "person_id",
            "change",
            "reason",
            "note",
            "changed_at",
        ],
        "properties": {
            "source": {"type": "string"},
            "case_reference": {"type": "string"},
            "resident_id_hash": {"type": "string"},
            "person_id": _nullable({"type": "string"}, "The person, once known."),
            "change": {"type": "string", "enum": ["entered", "removed"]},
            "reason": {
                "type": "string",
                "description": "court_list, partner_list, loan_overdue_90, settled, "
                "list_withdrawn, loan_settled or account_opened.",
            },
            "note": {"type": "string"},
            "changed_at": _DATE_TIME,
        },
    },
    "CreditFeedStatus": {
        "type": "object",
        "required": [
            "feed",
            "position",
            "events_behind",
            "events_behind_capped",
            "seconds_behind",
            "events_applied",
            "events_skipped_unknown",
            "connected",
            "last_error",
            "last_applied_at",
            "lag_measured_at",
        ],
        "properties": {
            "feed": {"type": "string", "example": "payment"},
            "position": {"type": "string", "description": "The last upstream position applied."},
            "events_behind": {"type": "integer", "format": "int64"},
            "events_behind_capped": {"type": "boolean"},
            "seconds_behind": {
                "type": "number",
                "description": "How long the oldest unapplied event has waited (0: caught up).",
            },
            "events_applied": {"type": "integer", "format": "int64"},
            "events_skipped_unknown": {"type": "integer", "format": "int64"},
            "connected": {"type": "boolean"},
            "last_error": {"type": "string"},
            "last_applied_at": _nullable(_DATE_TIME, "null before the first event."),
            "lag_measured_at": _nullable(_DATE_TIME, "null before the first probe."),
        },
    },
}
