"""Risk rules: each fires exactly at its boundary, the strictest action wins, disabled rules
never fire, rule data is validated strictly and round-trips."""

import json
from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.errors import FailedPrecondition, InvalidArgument
from services.payment.risk import (
    DEFAULT_RULES,
    DEFAULT_RULES_DATA,
    RULES_MAX,
    FiredRule,
    KycLevel,
    PaymentContext,
    PaymentKind,
    RiskAction,
    RiskDecision,
    Rule,
    evaluate_risk,
    parse_rules,
    require_allowed,
    rules_to_data,
)

YUAN = 100


def context(**changes: object) -> PaymentContext:
    """A harmless payment: 1 yuan between known parties from a known device, nothing recent."""
    base = PaymentContext(
        payer_account_id="2088000000000001",
        payer_kyc_level=KycLevel.BANK_CARD_VERIFIED,
        payee_account_id="2088000000000002",
        payment_kind=PaymentKind.TRANSFER,
        amount_fen=100,
        device_id="device-1",
        device_known=True,
        payee_known=True,
        last_minute_count=0,
        last_minute_amount_fen=0,
        today_amount_fen=0,
        payer_blacklisted=False,
        payee_blacklisted=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def one_rule(**data: object) -> tuple[Rule, ...]:
    return parse_rules([{"rule_id": "r", "action": "DENY", **data}])


KYC_LIMITS = {"1": 50_000, "2": 500_000, "3": 5_000_000}


def fires(rules: tuple[Rule, ...], ctx: PaymentContext) -> bool:
    return evaluate_risk(rules, ctx).rule_ids == ("r",)


# (rule data, context exactly at the maximum: does not fire, one fen/count above: fires)
BOUNDARIES: list[tuple[str, Mapping[str, object], PaymentContext, PaymentContext]] = [
    (
        "single limit, KYC 1",
        {"kind": "single_transaction_limit", "amount_fen_max_by_kyc_level": KYC_LIMITS},
        context(payer_kyc_level=KycLevel.PHONE_VERIFIED, amount_fen=50_000),
        context(payer_kyc_level=KycLevel.PHONE_VERIFIED, amount_fen=50_001),
    ),
    (
        "single limit, KYC 2",
        {"kind": "single_transaction_limit", "amount_fen_max_by_kyc_level": KYC_LIMITS},
        context(payer_kyc_level=KycLevel.REAL_NAME, amount_fen=500_000),
        context(payer_kyc_level=KycLevel.REAL_NAME, amount_fen=500_001),
    ),
    (
        "single limit, KYC 3",
        {"kind": "single_transaction_limit", "amount_fen_max_by_kyc_level": KYC_LIMITS},
        context(amount_fen=5_000_000),
        context(amount_fen=5_000_001),
    ),
    (
        # 499,000 spent today + 1,000 = 500,000 (the KYC 2 maximum); + 1,001 is one fen over.
        "daily limit, KYC 2",
        {"kind": "daily_limit", "amount_fen_max_by_kyc_level": KYC_LIMITS},
        context(payer_kyc_level=KycLevel.REAL_NAME, today_amount_fen=499_000, amount_fen=1_000),
        context(payer_kyc_level=KycLevel.REAL_NAME, today_amount_fen=499_000, amount_fen=1_001),
    ),
    (
        "daily limit, KYC 1, first payment of the day",
        {"kind": "daily_limit", "amount_fen_max_by_kyc_level": KYC_LIMITS},
        context(payer_kyc_level=KycLevel.PHONE_VERIFIED, amount_fen=50_000),
        context(payer_kyc_level=KycLevel.PHONE_VERIFIED, amount_fen=50_001),
    ),
    (
        # 9 in the last minute + this one = 10 (allowed); 10 + this one = 11 fires.
        "velocity count",
        {"kind": "velocity_count", "count_max": 10},
        context(last_minute_count=9),
        context(last_minute_count=10),
    ),
    (
        # 1,999,900 + 100 = 2,000,000 (the maximum); + 101 is one fen over.
        "velocity amount",
        {"kind": "velocity_amount", "amount_fen_max": 2_000_000},
        context(last_minute_amount_fen=1_999_900, amount_fen=100),
        context(last_minute_amount_fen=1_999_900, amount_fen=101),
    ),
    (
        "new payee",
        {"kind": "new_payee", "amount_fen_max": 50_000},
        context(payee_known=False, amount_fen=50_000),
        context(payee_known=False, amount_fen=50_001),
    ),
    (
        "unknown device with a threshold",
        {"kind": "unknown_device", "amount_fen_max": 10_000},
        context(device_known=False, amount_fen=10_000),
        context(device_known=False, amount_fen=10_001),
    ),
    (
        "unknown device, any amount",
        {"kind": "unknown_device", "amount_fen_max": 0},
        context(device_known=True, amount_fen=1),
        context(device_known=False, amount_fen=1),
    ),
    (
        "blacklisted payer",
        {"kind": "blacklisted_party"},
        context(),
        context(payer_blacklisted=True),
    ),
    (
        "blacklisted payee",
        {"kind": "blacklisted_party", "parties": ["payee"]},
        context(payer_blacklisted=False),
        context(payee_blacklisted=True),
    ),
]


@pytest.mark.parametrize(
    ("rule_data", "at_maximum", "above"),
    [pytest.param(data, at, above, id=name) for name, data, at, above in BOUNDARIES],
)
def test_rule_fires_one_step_above_its_maximum_and_not_at_it(
    rule_data: Mapping[str, object], at_maximum: PaymentContext, above: PaymentContext
) -> None:
    rules = one_rule(**rule_data)
    assert not fires(rules, at_maximum)
    assert fires(rules, above)


def test_new_payee_rule_ignores_known_payees() -> None:
    rules = one_rule(kind="new_payee", amount_fen_max=0)
    assert not fires(rules, context(payee_known=True, amount_fen=10**9))


def test_blacklist_rule_checks_only_the_configured_party() -> None:
    rules = one_rule(kind="blacklisted_party", parties=["payer"])
    assert not fires(rules, context(payee_blacklisted=True))
    both = evaluate_risk(
        one_rule(kind="blacklisted_party"), context(payer_blacklisted=True, payee_blacklisted=True)
    )
    assert both.reasons == ("payer 2088000000000001 and payee 2088000000000002 on the blacklist",)


def test_rule_limited_to_some_payment_kinds_ignores_the_others() -> None:
    rules = one_rule(kind="new_payee", amount_fen_max=0, payment_kinds=["transfer"])
    assert fires(rules, context(payee_known=False))
    assert not fires(rules, context(payee_known=False, payment_kind=PaymentKind.PAYMENT))
    assert not fires(rules, context(payee_known=False, payment_kind=PaymentKind.WITHDRAWAL))


def test_fired_rule_carries_a_readable_reason() -> None:
    decision = evaluate_risk(
        one_rule(kind="single_transaction_limit", amount_fen_max_by_kyc_level=KYC_LIMITS),
        context(payer_kyc_level=KycLevel.PHONE_VERIFIED, amount_fen=50_001),
    )
    assert decision == RiskDecision(
        action=RiskAction.DENY,
        fired=(
            FiredRule(
                "r",
                RiskAction.DENY,
                "amount 50001 fen is above the single-transaction maximum of 50000 fen "
                "for KYC level 1",
            ),
        ),
    )


def mixed_rules(*actions: str) -> tuple[Rule, ...]:
    """One always-firing rule per action (unknown device, threshold 0)."""
    return parse_rules(
        [
            {"rule_id": f"r{i}", "kind": "unknown_device", "action": action, "amount_fen_max": 0}
            for i, action in enumerate(actions)
        ]
    )


@pytest.mark.parametrize(
    ("actions", "strictest"),
    [
        ((), RiskAction.ALLOW),
        (("ALLOW",), RiskAction.ALLOW),
        (("ALLOW", "CHALLENGE"), RiskAction.CHALLENGE),
        (("CHALLENGE", "ALLOW"), RiskAction.CHALLENGE),
        (("CHALLENGE", "DENY", "ALLOW"), RiskAction.DENY),
        (("DENY", "CHALLENGE"), RiskAction.DENY),
    ],
)
def test_decision_is_the_strictest_fired_action_and_lists_every_fired_rule(
    actions: tuple[str, ...], strictest: RiskAction
) -> None:
    decision = evaluate_risk(mixed_rules(*actions), context(device_known=False))
    assert decision.action is strictest
    assert decision.rule_ids == tuple(f"r{i}" for i in range(len(actions)))


def test_an_allow_rule_is_recorded_but_does_not_block() -> None:
    decision = evaluate_risk(mixed_rules("ALLOW"), context(device_known=False))
    assert decision.rule_ids == ("r0",)
    require_allowed(decision, second_factor_verified=False)


def test_default_rules_allow_an_ordinary_payment() -> None:
    assert evaluate_risk(DEFAULT_RULES, context()) == RiskDecision(RiskAction.ALLOW, ())


def test_default_rules_ask_a_phone_only_payer_for_the_password_above_200_yuan() -> None:
    phone_only = {"payer_kyc_level": KycLevel.PHONE_VERIFIED}
    assert evaluate_risk(DEFAULT_RULES, context(**phone_only, amount_fen=200 * YUAN)).fired == ()
    decision = evaluate_risk(DEFAULT_RULES, context(**phone_only, amount_fen=200 * YUAN + 1))
    assert (decision.action, decision.rule_ids) == (
        RiskAction.CHALLENGE,
        ("large-payment-password",),
    )


def test_default_rules_deny_a_phone_only_payer_above_500_yuan_naming_both_rules() -> None:
    decision = evaluate_risk(
        DEFAULT_RULES,
        context(payer_kyc_level=KycLevel.PHONE_VERIFIED, amount_fen=500 * YUAN + 1),
    )
    assert decision.action is RiskAction.DENY
    assert decision.rule_ids == ("single-transaction-limit", "large-payment-password")


def test_default_rules_deny_a_blacklisted_payee_even_when_otherwise_fine() -> None:
    decision = evaluate_risk(DEFAULT_RULES, context(payee_blacklisted=True))
    assert (decision.action, decision.rule_ids) == (RiskAction.DENY, ("blacklisted-party",))


def test_default_rules_let_a_dishonest_debtor_transfer_500_yuan_and_deny_one_fen_more() -> None:
    debtor = context(payer_dishonest_debtor=True, amount_fen=500 * YUAN)
    assert evaluate_risk(DEFAULT_RULES, debtor).action is RiskAction.ALLOW
    above = evaluate_risk(DEFAULT_RULES, replace(debtor, amount_fen=500 * YUAN + 1))
    assert (above.action, above.rule_ids) == (RiskAction.DENY, ("dishonest-debtor",))
    withdrawal = replace(debtor, amount_fen=500 * YUAN + 1, payment_kind=PaymentKind.WITHDRAWAL)
    assert evaluate_risk(DEFAULT_RULES, withdrawal).rule_ids == ("dishonest-debtor",)
    # Paying a merchant for daily life is not what the court list restricts.
    shopping = replace(debtor, amount_fen=500 * YUAN + 1, payment_kind=PaymentKind.PAYMENT)
    assert evaluate_risk(DEFAULT_RULES, shopping).action is RiskAction.ALLOW
    listed_not = context(amount_fen=500 * YUAN + 1)
    assert evaluate_risk(DEFAULT_RULES, listed_not).action is RiskAction.ALLOW


def test_default_rules_challenge_a_new_device_and_a_large_first_transfer() -> None:
    decision = evaluate_risk(
        DEFAULT_RULES, context(device_known=False, payee_known=False, amount_fen=500 * YUAN + 1)
    )
    assert decision.action is RiskAction.CHALLENGE
    assert decision.rule_ids == ("new-payee-transfer", "unknown-device")


def test_default_velocity_rules_challenge_the_11th_and_deny_the_31st_payment() -> None:
    assert evaluate_risk(DEFAULT_RULES, context(last_minute_count=9)).action is RiskAction.ALLOW
    assert evaluate_risk(DEFAULT_RULES, context(last_minute_count=10)).rule_ids == (
        "velocity-count-challenge",
    )
    denied = evaluate_risk(DEFAULT_RULES, context(last_minute_count=30))
    assert denied.action is RiskAction.DENY
    assert denied.rule_ids == ("velocity-count-challenge", "velocity-count-deny")


def test_require_allowed_refuses_deny_with_the_rule_ids() -> None:
    decision = evaluate_risk(mixed_rules("CHALLENGE", "DENY"), context(device_known=False))
    with pytest.raises(FailedPrecondition) as refusal:
        require_allowed(decision, second_factor_verified=True)
    assert refusal.value.reason == "RISK_DENIED"
    assert refusal.value.metadata == {"rule_ids": "r0,r1"}


def test_require_allowed_asks_for_the_second_factor_on_challenge() -> None:
    decision = evaluate_risk(mixed_rules("CHALLENGE"), context(device_known=False))
    with pytest.raises(FailedPrecondition) as refusal:
        require_allowed(decision, second_factor_verified=False)
    assert refusal.value.reason == "RISK_CHALLENGE_REQUIRED"
    assert refusal.value.metadata == {"rule_ids": "r0"}
    require_allowed(decision, second_factor_verified=True)


contexts = st.builds(
    PaymentContext,
    payer_account_id=st.just("payer"),
    payer_kyc_level=st.sampled_from(KycLevel),
    payee_account_id=st.just("payee"),
    payment_kind=st.sampled_from(PaymentKind),
    amount_fen=st.integers(min_value=1, max_value=10**12),
    device_id=st.just("d"),
    device_known=st.booleans(),
    payee_known=st.booleans(),
    last_minute_count=st.integers(min_value=0, max_value=1_000),
    last_minute_amount_fen=st.integers(min_value=0, max_value=10**12),
    today_amount_fen=st.integers(min_value=0, max_value=10**12),
    payer_blacklisted=st.booleans(),
    payee_blacklisted=st.booleans(),
    payer_dishonest_debtor=st.booleans(),
)


@given(ctx=contexts)
def test_disabled_rules_never_fire(ctx: PaymentContext) -> None:
    disabled = tuple(replace(rule, enabled=False) for rule in DEFAULT_RULES)
    assert evaluate_risk(disabled, ctx) == RiskDecision(RiskAction.ALLOW, ())


@given(ctx=contexts)
def test_decision_action_is_the_most_severe_of_the_fired_rules(ctx: PaymentContext) -> None:
    decision = evaluate_risk(DEFAULT_RULES, ctx)
    severity = [RiskAction.ALLOW, RiskAction.CHALLENGE, RiskAction.DENY]
    expected = max((fired.action for fired in decision.fired), key=severity.index, default=None)
    assert decision.action is (expected or RiskAction.ALLOW)
    assert set(decision.rule_ids) <= {rule.rule_id for rule in DEFAULT_RULES}


def test_default_rules_round_trip_through_json() -> None:
    text = json.dumps(rules_to_data(DEFAULT_RULES))
    assert parse_rules(json.loads(text)) == DEFAULT_RULES
    assert len(DEFAULT_RULES) == len(DEFAULT_RULES_DATA) == 10


def test_kyc_levels_may_be_written_as_numbers() -> None:
    rules = one_rule(
        kind="daily_limit", amount_fen_max_by_kyc_level={1: 1, 2: 2, 3: 3}, enabled=False
    )
    assert rules_to_data(rules)[0]["amount_fen_max_by_kyc_level"] == {"1": 1, "2": 2, "3": 3}


VALID = {"rule_id": "r", "kind": "velocity_amount", "action": "DENY", "amount_fen_max": 1}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "moon_phase"}, "kind"),
        ({"kind": None}, "kind"),
        ({"action": "BLOCK"}, "action"),
        ({"action": "deny"}, "action"),
        ({"rule_id": ""}, "rule_id"),
        ({"rule_id": "Has Spaces"}, "rule_id"),
        ({"rule_id": 7}, "rule_id"),
        ({"rule_id": "x" * 65}, "rule_id"),
        ({"rule_id": "r\n"}, "rule_id"),
        ({"amount_fen_max": -1}, "amount_fen_max"),
        ({"amount_fen_max": 1.5}, "amount_fen_max"),
        ({"amount_fen_max": "100"}, "amount_fen_max"),
        ({"amount_fen_max": True}, "amount_fen_max"),
        ({"amount_fen_max": 1_000_000_000_001}, "amount_fen_max"),
        ({"amount_max_fen": 1}, "amount_max_fen"),
        ({"count_max": 1}, "count_max"),
        ({"enabled": "yes"}, "enabled"),
        ({"payment_kinds": []}, "payment_kinds"),
        ({"payment_kinds": "transfer"}, "payment_kinds"),
        ({"payment_kinds": ["transfer", "transfer"]}, "payment_kinds"),
        ({"payment_kinds": ["gift"]}, "payment_kinds"),
        ({"description": "x" * 201}, "description"),
    ],
)
def test_parse_refuses_bad_rule_data(changes: Mapping[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        parse_rules([{**VALID, **changes}])
    assert refusal.value.reason == "INVALID_RISK_RULE"
    assert refusal.value.metadata["field"] == field
    assert refusal.value.metadata["rule_index"] == "0"


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"rule_id": "r", "kind": "velocity_amount", "action": "DENY"}, "amount_fen_max"),
        ({"rule_id": "r", "kind": "velocity_count", "action": "DENY"}, "count_max"),
        (
            {"rule_id": "r", "kind": "velocity_count", "action": "DENY", "count_max": 1_000_001},
            "count_max",
        ),
        (
            {
                "rule_id": "r",
                "kind": "daily_limit",
                "action": "DENY",
                "amount_fen_max_by_kyc_level": {"1": 1, "2": 2},
            },
            "amount_fen_max_by_kyc_level",
        ),
        (
            {
                "rule_id": "r",
                "kind": "daily_limit",
                "action": "DENY",
                "amount_fen_max_by_kyc_level": {"1": 1, "2": 2, "3": 3, "4": 4},
            },
            "amount_fen_max_by_kyc_level",
        ),
        (
            {
                "rule_id": "r",
                "kind": "daily_limit",
                "action": "DENY",
                "amount_fen_max_by_kyc_level": {"1": 1, "2": 2, "3": -3},
            },
            "3",
        ),
        (
            {
                "rule_id": "r",
                "kind": "single_transaction_limit",
                "action": "DENY",
                "amount_fen_max_by_kyc_level": [1, 2, 3],
            },
            "amount_fen_max_by_kyc_level",
        ),
        (
            {"rule_id": "r", "kind": "blacklisted_party", "action": "DENY", "parties": ["bank"]},
            "parties",
        ),
        ("not an object", "rule"),
    ],
)
def test_parse_refuses_missing_or_malformed_parameters(rule: object, field: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        parse_rules([rule])  # type: ignore[list-item]
    assert refusal.value.metadata["field"] == field


def test_parse_refuses_a_duplicate_rule_id_naming_the_second() -> None:
    with pytest.raises(InvalidArgument) as refusal:
        parse_rules([VALID, VALID])
    assert refusal.value.metadata == {"rule_index": "1", "rule_id": "r", "field": "rule_id"}


def test_parse_refuses_too_many_rules_and_a_non_list() -> None:
    many = [{**VALID, "rule_id": f"r{i}"} for i in range(RULES_MAX + 1)]
    with pytest.raises(InvalidArgument):
        parse_rules(many)
    assert len(parse_rules(many[:RULES_MAX])) == RULES_MAX
    with pytest.raises(InvalidArgument):
        parse_rules("[]")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [{"amount_fen": 0}, {"last_minute_count": -1}, {"today_amount_fen": -1}],
)
def test_payment_context_refuses_impossible_figures(changes: Mapping[str, object]) -> None:
    with pytest.raises(ValueError):
        context(**changes)
