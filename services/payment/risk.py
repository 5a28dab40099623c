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

The module is split by concept: risk_model.py (the rules, the context, evaluation),
risk_rules_data.py (rules as data), risk_top_up.py (money coming in); this module keeps the
default rules and re-exports the others' names for their callers.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.payment.risk_model import (
    ALL_PAYMENT_KINDS,
    COUNT_MAX,
    DESCRIPTION_LENGTH_MAX,
    RISK_RULES_JSON_LENGTH_MAX,
    RULES_MAX,
    BlacklistedParty,
    DailyLimit,
    DishonestDebtor,
    FiredRule,
    KycAmounts,
    KycLevel,
    NewPayee,
    Party,
    PaymentContext,
    PaymentKind,
    RiskAction,
    RiskDecision,
    Rule,
    RuleKind,
    SingleTransactionLimit,
    UnknownDevice,
    VelocityAmount,
    VelocityCount,
    evaluate_risk,
    require_allowed,
)
from services.payment.risk_rules_data import parse_rules, parse_rules_json, rules_to_data

__all__ = [
    "ALL_PAYMENT_KINDS",
    "COUNT_MAX",
    "DEFAULT_RULES",
    "DEFAULT_RULES_DATA",
    "DESCRIPTION_LENGTH_MAX",
    "RISK_RULES_JSON_LENGTH_MAX",
    "RULES_MAX",
    "BlacklistedParty",
    "DailyLimit",
    "DishonestDebtor",
    "FiredRule",
    "KycAmounts",
    "KycLevel",
    "NewPayee",
    "Party",
    "PaymentContext",
    "PaymentKind",
    "RiskAction",
    "RiskDecision",
    "Rule",
    "RuleKind",
    "SingleTransactionLimit",
    "UnknownDevice",
    "VelocityAmount",
    "VelocityCount",
    "evaluate_risk",
    "parse_rules",
    "parse_rules_json",
    "require_allowed",
    "rules_to_data",
]

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
