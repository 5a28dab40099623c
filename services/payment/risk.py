"""Real-time risk control (风控): rules as data, evaluated before every outgoing payment.

DOMAIN.md §1: every transaction is watched in real time; suspicious ones are challenged or
blocked. Rules are data (`parse_rules` reads them from JSON-shaped dicts, `rules_to_data`
writes them back), so limits change without a code change. Evaluation is pure arithmetic
over figures the caller has already gathered (PaymentContext): no I/O here.

A decision is the strictest action among the rules that fired (DENY > CHALLENGE > ALLOW),
with every fired rule's id and a human-readable reason for the audit record. A rule whose
action is ALLOW only observes: it fires and is recorded but never blocks (for trying out a
new rule on live traffic before it bites). CHALLENGE means the client must confirm with a
second factor, the payment password.

Limits are "the most allowed": a rule fires when the figure goes *above* its maximum, so a
single-transaction maximum of 50,000 fen lets 50,000 fen through and stops 50,001.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import ClassVar, TypedDict, TypeVar

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import AMOUNT_FEN_MAX

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


_COMMON_FIELDS = frozenset({"rule_id", "kind", "action", "enabled", "payment_kinds", "description"})
_KIND_FIELDS: Mapping[RuleKind, frozenset[str]] = {
    RuleKind.SINGLE_TRANSACTION_LIMIT: frozenset({"amount_fen_max_by_kyc_level"}),
    RuleKind.DAILY_LIMIT: frozenset({"amount_fen_max_by_kyc_level"}),
    RuleKind.VELOCITY_COUNT: frozenset({"count_max"}),
    RuleKind.VELOCITY_AMOUNT: frozenset({"amount_fen_max"}),
    RuleKind.NEW_PAYEE: frozenset({"amount_fen_max"}),
    RuleKind.BLACKLISTED_PARTY: frozenset({"parties"}),
    RuleKind.UNKNOWN_DEVICE: frozenset({"amount_fen_max"}),
    RuleKind.DISHONEST_DEBTOR: frozenset({"amount_fen_max"}),
}
_OPTIONAL_KIND_FIELDS = frozenset({"parties"})


class _RuleDataError(Exception):
    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(problem)
        self.field_name = field_name
        self.problem = problem


def parse_rules_json(rules_json: str) -> tuple[Rule, ...]:
    """Rules from an operator's JSON list (too long, not JSON, or invalid: INVALID_RISK_RULE)."""
    if len(rules_json) > RISK_RULES_JSON_LENGTH_MAX:
        raise InvalidArgument("rules_json is too long", reason="INVALID_RISK_RULE")
    try:
        raw = json.loads(rules_json)
    except json.JSONDecodeError:
        raise InvalidArgument("rules_json is not JSON", reason="INVALID_RISK_RULE") from None
    return parse_rules(raw)


def parse_rules(raw: Sequence[Mapping[str, object]]) -> tuple[Rule, ...]:
    """Validate rule data strictly (unknown kinds or fields, bad numbers → INVALID_RISK_RULE)."""
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise InvalidArgument("risk rules must be a list", reason="INVALID_RISK_RULE")
    if len(raw) > RULES_MAX:
        raise InvalidArgument(
            f"at most {RULES_MAX} risk rules are allowed, got {len(raw)}",
            reason="INVALID_RISK_RULE",
        )
    rules: list[Rule] = []
    seen_ids: set[str] = set()
    for index, item in enumerate(raw):
        rule_id = str(item.get("rule_id", ""))[:64] if isinstance(item, Mapping) else ""
        try:
            rule = _parse_rule(item)
            if rule.rule_id in seen_ids:
                raise _RuleDataError("rule_id", f"duplicate rule_id {rule.rule_id!r}")
        except _RuleDataError as problem:
            raise InvalidArgument(
                f"risk rule #{index} ({rule_id or 'no id'}): {problem.field_name}: "
                f"{problem.problem}",
                reason="INVALID_RISK_RULE",
                metadata={
                    "rule_index": str(index),
                    "rule_id": rule_id,
                    "field": problem.field_name,
                },
            ) from None
        seen_ids.add(rule.rule_id)
        rules.append(rule)
    return tuple(rules)


def _parse_rule(item: object) -> Rule:
    if not isinstance(item, Mapping):
        raise _RuleDataError("rule", "must be an object")
    kind = _enum(item, "kind", RuleKind)
    allowed = _COMMON_FIELDS | _KIND_FIELDS[kind]
    unknown = sorted(str(key) for key in item if key not in allowed)
    if unknown:
        raise _RuleDataError(unknown[0], f"unknown field for a {kind.value} rule")
    missing = sorted(_KIND_FIELDS[kind] - _OPTIONAL_KIND_FIELDS - set(item))
    if missing:
        raise _RuleDataError(missing[0], "is required")
    rule_id = item.get("rule_id")
    if not isinstance(rule_id, str) or not _RULE_ID_PATTERN.fullmatch(rule_id):
        raise _RuleDataError("rule_id", "must be 1-64 of a-z, 0-9, '.', '_', '-'")
    description = item.get("description", "")
    if not isinstance(description, str) or len(description) > DESCRIPTION_LENGTH_MAX:
        raise _RuleDataError("description", f"must be text of at most {DESCRIPTION_LENGTH_MAX}")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _RuleDataError("enabled", "must be true or false")
    common: _CommonFields = {
        "rule_id": rule_id,
        "action": _enum(item, "action", RiskAction),
        "enabled": enabled,
        "payment_kinds": _enum_set(item, "payment_kinds", PaymentKind, ALL_PAYMENT_KINDS),
        "description": description,
    }
    if kind is RuleKind.SINGLE_TRANSACTION_LIMIT:
        return SingleTransactionLimit(**common, amount_fen_max_by_kyc_level=_kyc_amounts(item))
    if kind is RuleKind.DAILY_LIMIT:
        return DailyLimit(**common, amount_fen_max_by_kyc_level=_kyc_amounts(item))
    if kind is RuleKind.VELOCITY_COUNT:
        return VelocityCount(**common, count_max=_whole(item, "count_max", COUNT_MAX))
    if kind is RuleKind.VELOCITY_AMOUNT:
        return VelocityAmount(**common, amount_fen_max=_whole(item, "amount_fen_max"))
    if kind is RuleKind.NEW_PAYEE:
        return NewPayee(**common, amount_fen_max=_whole(item, "amount_fen_max"))
    if kind is RuleKind.BLACKLISTED_PARTY:
        parties = _enum_set(item, "parties", Party, frozenset(Party))
        return BlacklistedParty(**common, parties=parties)
    if kind is RuleKind.DISHONEST_DEBTOR:
        return DishonestDebtor(**common, amount_fen_max=_whole(item, "amount_fen_max"))
    return UnknownDevice(**common, amount_fen_max=_whole(item, "amount_fen_max"))


class _CommonFields(TypedDict):
    rule_id: str
    action: RiskAction
    enabled: bool
    payment_kinds: frozenset[PaymentKind]
    description: str


_E = TypeVar("_E", bound=StrEnum)


def _enum(item: Mapping[str, object], name: str, enum: type[_E]) -> _E:
    value = item.get(name)
    if not isinstance(value, str):
        raise _RuleDataError(name, "is required and must be text")
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum)
        raise _RuleDataError(name, f"{value!r} is not one of {choices}") from None


def _enum_set(
    item: Mapping[str, object], name: str, enum: type[_E], default: frozenset[_E]
) -> frozenset[_E]:
    if name not in item:
        return default
    values = item[name]
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise _RuleDataError(name, "must be a non-empty list")
    members = [_enum({name: value}, name, enum) for value in values]
    if len(set(members)) != len(members):
        raise _RuleDataError(name, "lists a value twice")
    return frozenset(members)


def _whole(item: Mapping[str, object], name: str, value_max: int = AMOUNT_FEN_MAX) -> int:
    value = item.get(name)
    # bool is an int in Python; `true` is never a number of fen.
    if type(value) is not int or not 0 <= value <= value_max:
        raise _RuleDataError(name, f"must be a whole number from 0 to {value_max}")
    return value


def _kyc_amounts(item: Mapping[str, object]) -> KycAmounts:
    name = "amount_fen_max_by_kyc_level"
    by_level = item.get(name)
    if not isinstance(by_level, Mapping):
        raise _RuleDataError(name, 'must be an object like {"1": 50000, "2": ..., "3": ...}')
    # JSON object keys are text; accept "1" and 1 alike, but every level exactly once.
    levels = {str(key) for key in by_level}
    expected = {str(level.value) for level in KycLevel}
    if levels != expected or len(by_level) != len(expected):
        raise _RuleDataError(name, f"needs exactly the KYC levels {sorted(expected)}")
    amounts = {str(key): value for key, value in by_level.items()}
    return KycAmounts(
        phone_verified_fen=_whole(amounts, str(KycLevel.PHONE_VERIFIED.value)),
        real_name_fen=_whole(amounts, str(KycLevel.REAL_NAME.value)),
        bank_card_verified_fen=_whole(amounts, str(KycLevel.BANK_CARD_VERIFIED.value)),
    )


def rules_to_data(rules: Sequence[Rule]) -> list[dict[str, object]]:
    """The JSON-shaped data of rules; parse_rules(rules_to_data(rules)) == rules."""
    return [_rule_to_data(rule) for rule in rules]


def _rule_to_data(rule: Rule) -> dict[str, object]:
    data: dict[str, object] = {
        "rule_id": rule.rule_id,
        "kind": rule.kind.value,
        "action": rule.action.value,
        "enabled": rule.enabled,
        "payment_kinds": sorted(kind.value for kind in rule.payment_kinds),
    }
    if rule.description:
        data["description"] = rule.description
    if isinstance(rule, SingleTransactionLimit | DailyLimit):
        amounts = rule.amount_fen_max_by_kyc_level
        data["amount_fen_max_by_kyc_level"] = {
            str(level.value): amounts.for_level(level) for level in KycLevel
        }
    elif isinstance(rule, VelocityCount):
        data["count_max"] = rule.count_max
    elif isinstance(rule, BlacklistedParty):
        data["parties"] = sorted(party.value for party in rule.parties)
    else:
        data["amount_fen_max"] = rule.amount_fen_max
    return data


# The default rules: product choices, in fen. Each number says why it is what it is.
_YUAN = 100
DEFAULT_RULES_DATA: tuple[Mapping[str, object], ...] = (
    {
        "rule_id": "single-transaction-limit",
        "kind": "single_transaction_limit",
        "action": "DENY",
        # The better the payer is identified, the more a stolen account could lose and the
        # more the platform can recover: 500 / 5,000 / 50,000 yuan a movement.
        "amount_fen_max_by_kyc_level": {"1": 500 * _YUAN, "2": 5_000 * _YUAN, "3": 50_000 * _YUAN},
        "description": "one movement above the KYC level's maximum",
    },
    {
        "rule_id": "large-payment-password",
        "kind": "single_transaction_limit",
        "action": "CHALLENGE",
        # Small payments go through password-free (like 小额免密); above 200 yuan (phone-only)
        # or 2,000 yuan (real-name) the payer confirms with the payment password.
        "amount_fen_max_by_kyc_level": {"1": 200 * _YUAN, "2": 2_000 * _YUAN, "3": 2_000 * _YUAN},
        "description": "large payment: confirm with the payment password",
    },
    {
        "rule_id": "daily-limit",
        "kind": "daily_limit",
        "action": "DENY",
        # Magnitudes of the PBOC 2015 payment-account classes (market: class I 1,000 yuan in
        # total, class III 200,000 yuan a year), applied per day: 1,000 / 20,000 / 200,000.
        "amount_fen_max_by_kyc_level": {
            "1": 1_000 * _YUAN,
            "2": 20_000 * _YUAN,
            "3": 200_000 * _YUAN,
        },
        "description": "today's outgoing total above the KYC level's maximum",
    },
    {
        "rule_id": "velocity-count-challenge",
        "kind": "velocity_count",
        "action": "CHALLENGE",
        # A person pays a handful of times a minute at most; an 11th looks like a script.
        "count_max": 10,
        "description": "many payments within a minute",
    },
    {
        "rule_id": "velocity-count-deny",
        "kind": "velocity_count",
        "action": "DENY",
        # Thirty a minute (one every two seconds, sustained) is a machine draining the account.
        "count_max": 30,
        "description": "a machine-like burst of payments",
    },
    {
        "rule_id": "velocity-amount",
        "kind": "velocity_amount",
        "action": "CHALLENGE",
        # 20,000 yuan leaving within one minute is how a taken-over account is emptied.
        "amount_fen_max": 20_000 * _YUAN,
        "description": "a large total within a minute",
    },
    {
        "rule_id": "new-payee-transfer",
        "kind": "new_payee",
        "action": "CHALLENGE",
        "payment_kinds": ["transfer"],
        # Telecom fraud asks victims to transfer to a stranger's "safe account": a first
        # transfer above 500 yuan to someone never paid before is confirmed. Merchants are
        # new payees all the time, so payments are not covered.
        "amount_fen_max": 500 * _YUAN,
        "description": "first transfer to this payee above 500 yuan",
    },
    {
        "rule_id": "blacklisted-party",
        "kind": "blacklisted_party",
        "action": "DENY",
        # A payer or payee on the blacklist (from credit: court-listed defaulters, fraud
        # accounts) moves no money through the platform.
        "parties": ["payee", "payer"],
        "description": "a party is on the blacklist",
    },
    {
        "rule_id": "dishonest-debtor",
        "kind": "dishonest_debtor",
        "action": "DENY",
        # A person the credit service lists as a dishonest debtor (a court list, or a loan 90+
        # days overdue) still pays for daily life, but sends no more than 500 yuan at a time
        # to others or out to a bank card.
        "payment_kinds": ["transfer", "withdrawal"],
        "amount_fen_max": 500 * _YUAN,
        "description": "a dishonest debtor's transfer or withdrawal above 500 yuan",
    },
    {
        "rule_id": "unknown-device",
        "kind": "unknown_device",
        "action": "CHALLENGE",
        # Account take-over starts with stolen credentials on a new phone: any movement from
        # a device never seen for this payer is confirmed with the payment password.
        "amount_fen_max": 0,
        "description": "payment from a device not seen before for this payer",
    },
)
DEFAULT_RULES: tuple[Rule, ...] = parse_rules(DEFAULT_RULES_DATA)
