"""Risk rules as data: reading an operator's JSON (strictly) and writing rules back.

parse_rules(rules_to_data(rules)) == rules. Unknown kinds or fields and bad numbers are
INVALID_RISK_RULE, naming the rule and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TypedDict, TypeVar

from chassis.errors import InvalidArgument
from chassis.money import AMOUNT_FEN_MAX
from services.payment.risk_model import (
    _RULE_ID_PATTERN,
    ALL_PAYMENT_KINDS,
    COUNT_MAX,
    DESCRIPTION_LENGTH_MAX,
    RISK_RULES_JSON_LENGTH_MAX,
    RULES_MAX,
    BlacklistedParty,
    DailyLimit,
    DishonestDebtor,
    KycAmounts,
    KycLevel,
    NewPayee,
    Party,
    PaymentKind,
    RiskAction,
    Rule,
    RuleKind,
    SingleTransactionLimit,
    UnknownDevice,
    VelocityAmount,
    VelocityCount,
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
