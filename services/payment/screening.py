"""Screening one outgoing movement (实时风控): what risk control decides and records.

Runs inside the movement's transaction: the rules (risk.py) see the payer's activity
(activity.py) as that transaction reads it. A refusal raises RiskRefused, which carries
the decision's record so that it can be kept after the transaction aborts; a movement that
may proceed yields its record, the payer's updated activity and the authorization it spends.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from chassis.errors import FailedPrecondition
from services.payment.activity import (
    Activity,
    device_known,
    payee_known,
    recent_figures,
    record_outgoing,
)
from services.payment.ledger import Account
from services.payment.payment_authorization import SecondFactor, authorization_to_spend
from services.payment.risk import (
    KycLevel,
    PaymentContext,
    PaymentKind,
    RiskAction,
    RiskDecision,
    Rule,
    evaluate_risk,
    require_allowed,
)


@dataclass(frozen=True, slots=True)
class OutgoingPayment:
    """The movement being screened, as its payer asked for it."""

    payee_account_id: str
    payment_kind: PaymentKind
    amount_fen: int
    device_id: str = ""


@dataclass(frozen=True, slots=True)
class RiskDecisionRecord:
    """The audit record of one risk decision, whether the movement proceeded or not."""

    decision_id: str
    payer_account_id: str
    payee_account_id: str
    payment_kind: PaymentKind
    amount_fen: int
    action: RiskAction
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    device_id: str
    decided_at: datetime
    proceeded: bool


@dataclass(frozen=True, slots=True)
class Screening:
    """A movement risk control lets proceed: its record, the payer's activity after it, and
    the digest of the payment authorization it spends ("" for none)."""

    record: RiskDecisionRecord
    activity: Activity
    authorization_digest: str


class RiskRefused(FailedPrecondition):
    """Risk control refused a movement (DENY, or a CHALLENGE not met); carries its record."""

    def __init__(self, refusal: FailedPrecondition, record: RiskDecisionRecord) -> None:
        super().__init__(refusal.message, reason=refusal.reason, metadata=refusal.metadata)
        self.record = record


def payment_context(
    payer: Account, payment: OutgoingPayment, blacklisted: Collection[str], now: datetime
) -> PaymentContext:
    """What the rules see of this movement: the payer's recent figures and known parties."""
    figures = recent_figures(payer.activity, now)
    return PaymentContext(
        payer_account_id=payer.account_id,
        payer_kyc_level=KycLevel(payer.kyc_level),
        payee_account_id=payment.payee_account_id,
        payment_kind=payment.payment_kind,
        amount_fen=payment.amount_fen,
        device_id=payment.device_id,
        device_known=device_known(payer.activity, payment.device_id),
        payee_known=payee_known(payer.activity, payment.payee_account_id),
        last_minute_count=figures.last_minute_count,
        last_minute_amount_fen=figures.last_minute_amount_fen,
        today_amount_fen=figures.today_amount_fen,
        payer_blacklisted=payer.account_id in blacklisted,
        payer_dishonest_debtor=payer.dishonest_debtor,
        payee_blacklisted=payment.payee_account_id in blacklisted,
    )


def decision_record(
    context: PaymentContext, decision: RiskDecision, decided_at: datetime, *, proceeded: bool
) -> RiskDecisionRecord:
    """The audit record of one risk decision."""
    return RiskDecisionRecord(
        decision_id=uuid.uuid4().hex,
        payer_account_id=context.payer_account_id,
        payee_account_id=context.payee_account_id,
        payment_kind=context.payment_kind,
        amount_fen=context.amount_fen,
        action=decision.action,
        rule_ids=decision.rule_ids,
        reasons=decision.reasons,
        device_id=context.device_id,
        decided_at=decided_at,
        proceeded=proceeded,
    )


def screen_outgoing(
    rules: Sequence[Rule],
    payer: Account,
    payment: OutgoingPayment,
    *,
    blacklisted: Collection[str],
    second_factor: SecondFactor,
    now: datetime,
) -> Screening:
    """Decide on one outgoing movement; raise RiskRefused unless it may proceed."""
    context = payment_context(payer, payment, blacklisted, now)
    decision = evaluate_risk(rules, context)
    record = decision_record(context, decision, now, proceeded=True)
    try:
        require_allowed(decision, second_factor_verified=second_factor.verified)
    except FailedPrecondition as refusal:
        raise RiskRefused(refusal, replace(record, proceeded=False)) from None
    activity = record_outgoing(
        payer.activity,
        now=now,
        amount_fen=payment.amount_fen,
        payee_account_id=payment.payee_account_id,
        device_id=payment.device_id,
    )
    return Screening(record, activity, authorization_to_spend(second_factor, decision))
