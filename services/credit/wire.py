"""Credit protos ⇄ credit domain values (conversions every service shares: chassis.wire)."""

from __future__ import annotations

from chassis.errors import InvalidArgument
from chassis.feed_follower import FeedLag
from chassis.wire import decimal_to_text, money_to_proto, timestamp_to_proto
from colony.credit.v1 import credit_pb2 as pb
from services.credit.blacklist import BlacklistChange, BlacklistEntry, ChangeReason, Listing
from services.credit.consent import Caller, CallerKind, ConsentGrant, ConsentPurpose, ScoreAccess
from services.credit.credit_advice import CreditLimitAdvice
from services.credit.deposit_waiver import WaiverDecision
from services.credit.features import Declaration, Education
from services.credit.feed_progress import FeedPosition
from services.credit.scorecard import Score

_CALLER_KINDS = {
    pb.CALLER_KIND_OWNER: CallerKind.OWNER,
    pb.CALLER_KIND_SERVICE: CallerKind.SERVICE,
    pb.CALLER_KIND_MERCHANT: CallerKind.MERCHANT,
    pb.CALLER_KIND_OPERATOR: CallerKind.OPERATOR,
}
_PURPOSES = {
    pb.CONSENT_PURPOSE_SCORE: ConsentPurpose.SCORE,
    pb.CONSENT_PURPOSE_DEPOSIT_WAIVER: ConsentPurpose.DEPOSIT_WAIVER,
}
_PURPOSE_PROTOS = {purpose: value for value, purpose in _PURPOSES.items()}
_REMOVAL_REASONS = {
    pb.REMOVAL_REASON_SETTLED: ChangeReason.SETTLED,
    pb.REMOVAL_REASON_LIST_WITHDRAWN: ChangeReason.LIST_WITHDRAWN,
}
_EDUCATION = {
    pb.EDUCATION_UNSPECIFIED: Education.NONE,
    pb.EDUCATION_SECONDARY: Education.SECONDARY,
    pb.EDUCATION_VOCATIONAL: Education.VOCATIONAL,
    pb.EDUCATION_BACHELOR: Education.BACHELOR,
    pb.EDUCATION_POSTGRADUATE: Education.POSTGRADUATE,
}
_EDUCATION_PROTOS = {education: value for value, education in _EDUCATION.items()}
EMPLOYER_LENGTH_MAX = 100
DECLARED_INCOME_FEN_MAX = 10_000_000 * 100  # ten million yuan a month: beyond, a typo


def caller_from_proto(caller: pb.Caller) -> Caller:
    kind = _CALLER_KINDS.get(caller.kind)
    if kind is None or not caller.id:
        raise InvalidArgument("caller (kind and id) is required", metadata={"field": "caller"})
    return Caller(kind, caller.id)


def purpose_from_proto(purpose: pb.ConsentPurpose.ValueType) -> ConsentPurpose:
    if purpose not in _PURPOSES:
        raise InvalidArgument("purpose is required", metadata={"field": "purpose"})
    return _PURPOSES[purpose]


def removal_reason_from_proto(reason: pb.RemovalReason.ValueType) -> ChangeReason:
    if reason not in _REMOVAL_REASONS:
        raise InvalidArgument("reason is required", metadata={"field": "reason"})
    return _REMOVAL_REASONS[reason]


def listings_from_proto(listings: list[pb.BlacklistListing]) -> list[Listing]:
    return [Listing(item.resident_id_hash, item.case_reference) for item in listings]


def declaration_from_proto(declaration: pb.Declaration) -> Declaration:
    income = declaration.monthly_income
    if income.currency not in {"", "CNY"}:
        raise InvalidArgument("only CNY is supported", reason="UNSUPPORTED_CURRENCY")
    if not 0 <= income.amount_fen <= DECLARED_INCOME_FEN_MAX:
        raise InvalidArgument("monthly_income is out of range", reason="INVALID_AMOUNT")
    if len(declaration.employer) > EMPLOYER_LENGTH_MAX:
        raise InvalidArgument(f"employer is longer than {EMPLOYER_LENGTH_MAX} characters")
    if declaration.education not in _EDUCATION:
        raise InvalidArgument("education is not known", metadata={"field": "education"})
    return Declaration(
        monthly_income_fen=income.amount_fen,
        education=_EDUCATION[declaration.education],
        employer=declaration.employer.strip(),
    )


def declaration_to_proto(declaration: Declaration) -> pb.Declaration:
    return pb.Declaration(
        monthly_income=money_to_proto(declaration.monthly_income_fen),
        education=_EDUCATION_PROTOS[declaration.education],
        employer=declaration.employer,
        declared_at=timestamp_to_proto(declaration.declared_at),
    )


def score_to_proto(score: Score) -> pb.Score:
    return pb.Score(
        person_id=score.person_id,
        score=score.score,
        band=score.band.value,
        model_version=score.model_version,
        dimensions=[
            pb.DimensionScore(dimension=d.dimension, sub_score=d.sub_score)
            for d in score.dimensions
        ],
        raised_by=[
            pb.ScoreReason(code=r.code, dimension=r.dimension, points=r.points)
            for r in score.raised_by
        ],
        lowered_by=[
            pb.ScoreReason(code=r.code, dimension=r.dimension, points=r.points)
            for r in score.lowered_by
        ],
        actions=[pb.ScoreAction(code=a.code, points_gain=a.points_gain) for a in score.actions],
        computed_at=timestamp_to_proto(score.computed_at),
        blacklisted=score.blacklisted,
        newcomer=score.newcomer,
        trigger=score.trigger,
    )


def grant_to_proto(grant: ConsentGrant, live: bool) -> pb.ConsentGrant:
    return pb.ConsentGrant(
        grant_id=grant.grant_id,
        person_id=grant.person_id,
        merchant_id=grant.merchant_id,
        purpose=_PURPOSE_PROTOS[grant.purpose],
        granted_at=timestamp_to_proto(grant.granted_at),
        expires_at=timestamp_to_proto(grant.expires_at),
        revoked_at=timestamp_to_proto(grant.revoked_at),
        live=live,
    )


def access_to_proto(access: ScoreAccess) -> pb.ScoreAccess:
    return pb.ScoreAccess(
        access_id=access.access_id,
        person_id=access.person_id,
        merchant_id=access.merchant_id,
        purpose=_PURPOSE_PROTOS[access.purpose],
        grant_id=access.grant_id,
        method=access.method,
        accessed_at=timestamp_to_proto(access.accessed_at),
    )


def waiver_to_proto(decision: WaiverDecision, score: Score) -> pb.CheckDepositWaiverResponse:
    return pb.CheckDepositWaiverResponse(
        waived=decision.waived,
        cap=money_to_proto(decision.cap_fen),
        score=score.score,
        refusal=decision.refusal.value,
        model_version=score.model_version,
    )


def advice_to_proto(advice: CreditLimitAdvice, score: Score) -> pb.CreditLimitAdvice:
    return pb.CreditLimitAdvice(
        person_id=score.person_id,
        score=advice.score,
        model_version=score.model_version,
        huabei_line=money_to_proto(advice.huabei_line_fen),
        cash_loan_ceiling=money_to_proto(advice.cash_loan_ceiling_fen),
        daily_rate_min=decimal_to_text(advice.daily_rate_min),
        daily_rate_max=decimal_to_text(advice.daily_rate_max),
        refusal=advice.refusal.value,
    )


def entry_to_proto(entry: BlacklistEntry) -> pb.BlacklistEntry:
    return pb.BlacklistEntry(
        source=entry.source,
        case_reference=entry.case_reference,
        resident_id_hash=entry.resident_id_hash,
        person_id=entry.person_id,
        listed=entry.listed,
        listed_at=timestamp_to_proto(entry.listed_at),
        removed_at=timestamp_to_proto(entry.removed_at),
    )


def change_to_proto(change: BlacklistChange) -> pb.BlacklistChange:
    return pb.BlacklistChange(
        source=change.source,
        case_reference=change.case_reference,
        resident_id_hash=change.resident_id_hash,
        person_id=change.person_id,
        change=change.change.value,
        reason=change.reason.value,
        note=change.note,
        changed_at=timestamp_to_proto(change.changed_at),
    )


def score_changed_to_proto(score: Score, previous_score: int) -> pb.ScoreChanged:
    return pb.ScoreChanged(
        person_id=score.person_id,
        score=score.score,
        previous_score=previous_score,
        model_version=score.model_version,
        blacklisted=score.blacklisted,
    )


def feed_status_to_proto(position: FeedPosition, lag: FeedLag) -> pb.FeedStatus:
    return pb.FeedStatus(
        feed=position.feed,
        position=str(position.position),
        events_behind=lag.events_behind,
        events_behind_capped=lag.events_behind_capped,
        seconds_behind=lag.seconds_behind,
        events_applied=position.events_applied,
        events_skipped_unknown=position.events_skipped_unknown,
        connected=lag.connected,
        last_error=lag.last_error,
        last_applied_at=timestamp_to_proto(position.last_applied_at),
        lag_measured_at=timestamp_to_proto(lag.measured_at),
    )
