"""Risk control's model and evaluation: rules, what they see of a payment, the decision.

risk.py (the rules as data, the defaults) and risk_rules_data.py (reading and writing rule
data) build on this module; evaluation is pure arithmetic over figures the caller gathered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import ClassVar

from chassis.errors import FailedPrecondition

RULES_MAX = 1_000
RISK_RULES_JSON_LENGTH_MAX = 200_000
COUNT_MAX = 1_000_000
DESCRIPTION_LENGTH_MAX = 200
_RULE_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class RiskAction(StrEnum):
    ALLOW = "ALLOW"
    CHALLENGE = "CHALLENGE"
    DENY = "DENY"


_SEVERITY: Mapping[RiskAction, int] = {
    RiskAction.ALLOW: 0,
    RiskAction.CHALLENGE: 1,
    RiskAction.DENY: 2,
}


class PaymentKind(StrEnum):
    TRANSFER = "transfer"
    PAYMENT = "payment"
    WITHDRAWAL = "withdrawal"


ALL_PAYMENT_KINDS = frozenset(PaymentKind)


class KycLevel(IntEnum):
    """How well the payer is identified (实名认证 levels)."""

    PHONE_VERIFIED = 1  # a verified mobile number only
    REAL_NAME = 2  # name and resident identity number checked
    BANK_CARD_VERIFIED = 3  # and a bank card in the same name bound


class Party(StrEnum):
    PAYER = "payer"
    PAYEE = "payee"


class RuleKind(StrEnum):
    SINGLE_TRANSACTION_LIMIT = "single_transaction_limit"
    DAILY_LIMIT = "daily_limit"
    VELOCITY_COUNT = "velocity_count"
    VELOCITY_AMOUNT = "velocity_amount"
    NEW_PAYEE = "new_payee"
    BLACKLISTED_PARTY = "blacklisted_party"
    UNKNOWN_DEVICE = "unknown_device"
    DISHONEST_DEBTOR = "dishonest_debtor"


@dataclass(frozen=True, slots=True)
class PaymentContext:
    """What the risk rules see of one outgoing movement; the caller gathers the figures.

    The recent figures exclude the payment being evaluated: the count and amount of the
    payer's outgoing movements in the last 60 seconds, and their amount since the start
    of the business day.
    """

    payer_account_id: str
    payer_kyc_level: KycLevel
    payee_account_id: str
    payment_kind: PaymentKind
    amount_fen: int
    device_id: str
    device_known: bool
    payee_known: bool
    last_minute_count: int
    last_minute_amount_fen: int
    today_amount_fen: int
    payer_blacklisted: bool
    payee_blacklisted: bool
    # The payer is on the credit service's list of dishonest debtors (失信被执行人).
    payer_dishonest_debtor: bool = False

    def __post_init__(self) -> None:
        if self.amount_fen <= 0:
            raise ValueError("a payment to evaluate has a positive amount")
        if min(self.last_minute_count, self.last_minute_amount_fen, self.today_amount_fen) < 0:
            raise ValueError("recent activity figures cannot be negative")


@dataclass(frozen=True, slots=True)
class KycAmounts:
    """One maximum in fen per KYC level."""

    phone_verified_fen: int
    real_name_fen: int
    bank_card_verified_fen: int

    def for_level(self, level: KycLevel) -> int:
        """The maximum that applies to a payer of this KYC level."""
        if level is KycLevel.PHONE_VERIFIED:
            return self.phone_verified_fen
        if level is KycLevel.REAL_NAME:
            return self.real_name_fen
        return self.bank_card_verified_fen


@dataclass(frozen=True, slots=True, kw_only=True)
class _RuleBase:
    kind: ClassVar[RuleKind]
    rule_id: str
    action: RiskAction
    enabled: bool = True
    payment_kinds: frozenset[PaymentKind] = ALL_PAYMENT_KINDS
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SingleTransactionLimit(_RuleBase):
    """Fires when one movement is above the payer's KYC level's maximum."""

    kind: ClassVar[RuleKind] = RuleKind.SINGLE_TRANSACTION_LIMIT
    amount_fen_max_by_kyc_level: KycAmounts

    def reason_fired(self, context: PaymentContext) -> str | None:
        """Why the rule fires for this payment, or None."""
        limit_fen = self.amount_fen_max_by_kyc_level.for_level(context.payer_kyc_level)
        if context.amount_fen > limit_fen:
            return (
                f"amount {context.amount_fen} fen is above the single-transaction maximum of "
                f"{limit_fen} fen for KYC level {context.payer_kyc_level.value}"
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyLimit(_RuleBase):
    """Fires when today's outgoing total including this movement is above the maximum."""

    kind: ClassVar[RuleKind] = RuleKind.DAILY_LIMIT
    amount_fen_max_by_kyc_level: KycAmounts

    def reason_fired(self, context: PaymentContext) -> str | None:
        """Why the rule fires for this payment, or None."""
        limit_fen = self.amount_fen_max_by_kyc_level.for_level(context.payer_kyc_level)
        total_fen = context.today_amount_fen + context.amount_fen
        if total_fen > limit_fen:
            return (
                f"today's total {total_fen} fen would be above the daily maximum of "
                f"{limit_fen} fen for KYC level {context.payer_kyc_level.value}"
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class VelocityCount(_RuleBase):
    """Fires when this movement makes more than count_max in the last minute."""

    kind: ClassVar[RuleKind] = RuleKind.VELOCITY_COUNT
    count_max: int

    def reason_fired(self, context: PaymentContext) -> str | None:
        """Why the rule fires for this payment, or None."""
        count = context.last_minute_count + 1
        if count > self.count_max:
            return f"{count} payments within a minute, above the maximum of {self.count_max}"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class VelocityAmount(_RuleBase):
    """Fires when the last minute's outgoing total including this movement is above the max."""

    kind: ClassVar[RuleKind] = RuleKind.VELOCITY_AMOUNT
    amount_fen_max: int

    def reason_fired(self, context: PaymentContext) -> str | None:
        """Why the rule fires for this payment, or None."""
        total_fen = context.last_minute_amount_fen + context.amount_fen
        if total_fen > self.amount_fen_max:
            return (
                f"{total_fen} fen paid within a minute, above the maximum of "
                f"{self.amount_fen_max} fen"
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPayee(_RuleBase):
    """Fires on a first payment to a payee above amount_fen_max."""

    kind: ClassVar[RuleKind] = RuleKind.NEW_PAYEE
    amount_fen_max: int

    def reason_fired(self, context: PaymentContext) -> str | None:
        """Why the rule fires for this payment, or None."""
        if not context.payee_known and context.amount_fen > self.amount_fen_max:
            return (
                f"first payment to {context.payee_account_id} is {context.amount_fen} fen, "
                f"above the new-payee maximum of {self.amount_fen_max} fen"
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BlacklistedParty(_RuleBase):
    """Fires when the payer or the payee (as configured) is on the blacklist."""

    kind: ClassVar[RuleKind] = RuleKind.BLACKLISTED_PARTY
    parties: frozenset[Party] = field(default_factory=lambda: frozenset(Party))

    def reason_fired(self, context: PaymentContext) -> str | None:
        """Why the rule fires for this payment, or None."""
        listed = []
        if Party.PAYER in self.parties and context.payer_blacklisted:
            listed.append(f"payer {context.payer_account_id}")
        if Party.PAYEE in self.parties and context.payee_blacklisted:
            listed.append(f"payee {context.payee_account_id}")
        if listed:
            return " and ".join(listed) + " on the blacklist"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownDevice(_RuleBase):
    """Fires when a device never seen for this payer pays more than amount_fen_max."""

    kind: ClassVar[RuleKind] = RuleKind.UNKNOWN_DEVICE
    amount_fen_max: int

    def reason_fired(self, context: PaymentContext) -> str | None:
        """Why the rule fires for this payment, or None."""
        if not context.device_known and context.amount_fen > self.amount_fen_max:
            return (
                f"device {context.device_id!r} is new for this payer and the amount "
                f"{context.amount_fen} fen is above {self.amount_fen_max} fen"
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class DishonestDebtor(_RuleBase):
    """Fires on a movement above amount_fen_max by a payer on the credit blacklist.

    A court-listed defaulter (失信被执行人) keeps small everyday payments but moves no larger
    sums out of reach of the creditors; the list comes from the credit service's feed.
    """

    kind: ClassVar[RuleKind] = RuleKind.DISHONEST_DEBTOR
    amount_fen_max: int

    def reason_fired(self, context: PaymentContext) -> str | None:
        """Why the rule fires for this payment, or None."""
        if context.payer_dishonest_debtor and context.amount_fen > self.amount_fen_max:
            return (
                f"payer {context.payer_account_id} is on the credit blacklist; "
                f"{context.amount_fen} fen is above its maximum of {self.amount_fen_max} fen"
            )
        return None


Rule = (
    SingleTransactionLimit
    | DailyLimit
    | VelocityCount
    | VelocityAmount
    | NewPayee
    | BlacklistedParty
    | UnknownDevice
    | DishonestDebtor
)


@dataclass(frozen=True, slots=True)
class FiredRule:
    """One rule that fired, what it asks for and why."""

    rule_id: str
    action: RiskAction
    reason: str


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The strictest action of the fired rules (ALLOW when none fired), with every fired rule."""

    action: RiskAction
    fired: tuple[FiredRule, ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """The ids of the rules that fired, in rule order."""
        return tuple(fired.rule_id for fired in self.fired)

    @property
    def reasons(self) -> tuple[str, ...]:
        """The human-readable reasons, in rule order."""
        return tuple(fired.reason for fired in self.fired)


def evaluate_risk(rules: Sequence[Rule], context: PaymentContext) -> RiskDecision:
    """Run every enabled rule that covers this payment kind; the strictest action wins."""
    fired: list[FiredRule] = []
    action = RiskAction.ALLOW
    for rule in rules:
        if not rule.enabled or context.payment_kind not in rule.payment_kinds:
            continue
        reason = rule.reason_fired(context)
        if reason is None:
            continue
        fired.append(FiredRule(rule.rule_id, rule.action, reason))
        if _SEVERITY[rule.action] > _SEVERITY[action]:
            action = rule.action
    return RiskDecision(action=action, fired=tuple(fired))


def require_allowed(decision: RiskDecision, *, second_factor_verified: bool) -> None:
    """Refuse a DENY, and a CHALLENGE the payer has not met with the payment password.

    The refusal names the rule ids only; the reasons (which may say what tripped the rule)
    stay in the audit record rather than going back to a possibly hostile client.
    """
    rule_ids = ",".join(decision.rule_ids)
    if decision.action is RiskAction.DENY:
        raise FailedPrecondition(
            f"refused by risk control (rules: {rule_ids})",
            reason="RISK_DENIED",
            metadata={"rule_ids": rule_ids},
        )
    if decision.action is RiskAction.CHALLENGE and not second_factor_verified:
        raise FailedPrecondition(
            f"confirm with the payment password (rules: {rule_ids})",
            reason="RISK_CHALLENGE_REQUIRED",
            metadata={"rule_ids": rule_ids},
        )
