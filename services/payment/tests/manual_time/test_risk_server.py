"""Real-time risk control (风控) over real gRPC against a real mongod, on a manual clock.

Each default rule fires through the service; a CHALLENGE is met with the payment password
on the same idempotency key; rules are data that take effect at once; every decision is on
record; a refused movement moves nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta

import grpc
import pytest

from chassis.clock import BUSINESS_TIMEZONE, ManualClock
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import fake_bank_card_for
from services.payment.risk import DEFAULT_RULES_DATA
from services.payment.tests.manual_time.risk_support import (
    PASSWORD,
    YUAN,
    bind_card,
    list_decisions,
    payee,
    real_name_payer,
    risk_refusal,
    send,
    verified_payer,
)
from services.payment.tests.support import (
    Stub,
    cny,
    new_key,
    open_merchant,
    open_person,
    top_up,
)
from services.payment.tests.trade_support import (
    PAYMENT_PASSWORD,
    Parties,
    assert_books_balance,
    balance_fen,
    create_trade,
    error_info,
    get_account,
    get_trade,
    pay_trade,
    refused,
)


@pytest.fixture
async def default_rules_afterwards(stub: Stub) -> AsyncIterator[None]:
    """Put the default rules back after a test that changes them."""
    yield
    await stub.SetRiskRules(pb.SetRiskRulesRequest(rules_json=json.dumps(DEFAULT_RULES_DATA)))


async def test_a_personal_account_is_real_name_and_a_bound_card_verifies_it(stub) -> None:
    person = await open_person(stub)
    assert person.kyc_level == 2
    await top_up(stub, person.account_id, 100)  # a top-up from any card proves no name
    assert (await get_account(stub, person.account_id)).kyc_level == 2
    await bind_card(stub, person.account_id)
    assert (await get_account(stub, person.account_id)).kyc_level == 3


# --- each default rule, through the service ------------------------------------------------


async def test_a_real_name_payer_above_5000_yuan_in_one_movement_is_denied(
    stub, store, clock: ManualClock
) -> None:
    payer = await real_name_payer(stub, clock, 600_000)
    assert (await get_account(stub, payer)).kyc_level == 2
    receiver = await payee(stub)

    reason, rules = await risk_refusal(send(stub, payer, receiver, 500_001))
    assert reason == "RISK_DENIED"
    assert "single-transaction-limit" in rules
    assert await balance_fen(stub, payer) == 600_000
    assert await balance_fen(stub, receiver) == 0

    # The maximum itself is not denied, only challenged (as any payment above 2,000 yuan).
    reason, rules = await risk_refusal(send(stub, payer, receiver, 500_000))
    assert reason == "RISK_CHALLENGE_REQUIRED"
    assert "single-transaction-limit" not in rules
    await assert_books_balance(store)


async def test_the_eleventh_payment_within_a_minute_is_challenged(
    stub, store, clock: ManualClock
) -> None:
    payer = await verified_payer(stub, 10_000)
    receiver = await payee(stub)
    for _ in range(10):
        await send(stub, payer, receiver, 100)
    reason, rules = await risk_refusal(send(stub, payer, receiver, 100))
    assert (reason, rules) == ("RISK_CHALLENGE_REQUIRED", {"velocity-count-challenge"})
    assert await balance_fen(stub, receiver) == 1_000

    clock.advance(timedelta(seconds=60))  # a new minute
    await send(stub, payer, receiver, 100)
    assert await balance_fen(stub, receiver) == 1_100
    await assert_books_balance(store)


async def test_the_31st_payment_within_a_minute_is_denied(
    stub, store, default_rules_afterwards: None
) -> None:
    # The challenge at the 11th is switched off (rules are data) so that no password is needed.
    rules = [
        {**rule, "enabled": rule["rule_id"] != "velocity-count-challenge"}
        for rule in DEFAULT_RULES_DATA
    ]
    await stub.SetRiskRules(pb.SetRiskRulesRequest(rules_json=json.dumps(rules)))
    payer = await verified_payer(stub, 10_000)
    receiver = await payee(stub)
    for _ in range(30):
        await send(stub, payer, receiver, 100)
    reason, fired = await risk_refusal(send(stub, payer, receiver, 100))
    assert (reason, fired) == ("RISK_DENIED", {"velocity-count-deny"})
    assert await balance_fen(stub, receiver) == 3_000
    await assert_books_balance(store)


async def test_more_than_20000_yuan_within_a_minute_is_challenged(stub, store) -> None:
    payer = await verified_payer(stub, 2_200_000, password=True)
    receiver = await payee(stub)
    await send(stub, payer, receiver, 1_900_000, risk=PASSWORD)
    # 200,000 fen alone needs no password, but 2,100,000 fen in a minute does.
    reason, rules = await risk_refusal(send(stub, payer, receiver, 200_000))
    assert (reason, rules) == ("RISK_CHALLENGE_REQUIRED", {"velocity-amount"})
    assert await balance_fen(stub, payer) == 300_000
    await assert_books_balance(store)


def until_next_business_day(moment: datetime) -> timedelta:
    """How far it is from moment to 01:00 of the next business day (China Standard Time)."""
    local = moment.astimezone(BUSINESS_TIMEZONE)
    next_day = datetime.combine(local.date() + timedelta(days=1), time(1), BUSINESS_TIMEZONE)
    return next_day - local


async def test_a_real_name_payer_above_20000_yuan_in_a_day_is_denied_until_the_next_day(
    stub, store, clock: ManualClock
) -> None:
    clock.advance(until_next_business_day(clock.now()))  # a whole business day ahead
    payer = await real_name_payer(stub, clock, 2_000_001)
    receiver = await payee(stub)
    await send(stub, payer, receiver, 50_000)
    clock.advance(timedelta(seconds=61))
    for _ in range(10):  # 2,000 yuan a minute: no password, no velocity rule
        await send(stub, payer, receiver, 195_000)
        clock.advance(timedelta(seconds=61))
    reason, rules = await risk_refusal(send(stub, payer, receiver, 1))
    assert (reason, rules) == ("RISK_DENIED", {"daily-limit"})
    assert await balance_fen(stub, payer) == 1

    clock.advance(until_next_business_day(clock.now()))
    await send(stub, payer, receiver, 1)
    assert await balance_fen(stub, payer) == 0
    await assert_books_balance(store)


async def test_a_first_transfer_above_500_yuan_to_a_new_payee_is_challenged(stub, store) -> None:
    payer = await verified_payer(stub, 500_000)
    stranger, neighbour, friend = await payee(stub), await payee(stub), await payee(stub)

    reason, rules = await risk_refusal(send(stub, payer, stranger, 50_001))
    assert (reason, rules) == ("RISK_CHALLENGE_REQUIRED", {"new-payee-transfer"})
    await send(stub, payer, neighbour, 50_000)  # the maximum itself is allowed
    await send(stub, payer, neighbour, 50_001)  # and the neighbour is now known
    await send(stub, payer, friend, 100)
    await send(stub, payer, friend, 50_001)
    # Payments to merchants are not covered: shops are new payees all the time.
    merchant = (await open_merchant(stub)).account_id
    trade = await create_trade(stub, Parties(buyer=payer, merchant=merchant), 60_000)
    assert (await pay_trade(stub, trade)).trade.state == pb.TRADE_STATE_PAID
    assert await balance_fen(stub, stranger) == 0
    await assert_books_balance(store)


async def test_a_blacklisted_party_moves_no_money_in_any_kind_of_movement(stub, store) -> None:
    payer = await verified_payer(stub, 10_000)
    receiver = await payee(stub)
    await send(stub, payer, receiver, 100)
    await stub.SetBlacklisted(
        pb.SetBlacklistedRequest(account_id=receiver, blacklisted=True, reason="fraud report")
    )
    reason, rules = await risk_refusal(send(stub, payer, receiver, 100))
    assert (reason, rules) == ("RISK_DENIED", {"blacklisted-party"})
    assert (await balance_fen(stub, payer), await balance_fen(stub, receiver)) == (9_900, 100)

    await stub.SetBlacklisted(
        pb.SetBlacklistedRequest(account_id=payer, blacklisted=True, reason="court-listed")
    )
    merchant = (await open_merchant(stub)).account_id
    trade = await create_trade(stub, Parties(buyer=payer, merchant=merchant), 100)
    await bind_card(stub, payer)
    withdrawal = stub.Withdraw(
        pb.WithdrawRequest(
            idempotency_key=new_key(),
            account_id=payer,
            amount=cny(100),
            bank_card_number=fake_bank_card_for("张三"),
        )
    )
    bill = stub.PayBill(
        pb.PayBillRequest(
            idempotency_key=new_key(),
            account_id=payer,
            biller_id="huaxia-mobile",
            reference="13912345678",
            amount=cny(100),
        )
    )
    for movement in (pay_trade(stub, trade), withdrawal, bill):
        assert await risk_refusal(movement) == ("RISK_DENIED", {"blacklisted-party"})
    assert await balance_fen(stub, payer) == 9_900
    assert (await get_trade(stub, trade.trade_id)).state == pb.TRADE_STATE_CREATED

    for account_id in (payer, receiver):
        await stub.SetBlacklisted(
            pb.SetBlacklistedRequest(account_id=account_id, blacklisted=False)
        )
    await send(stub, payer, receiver, 100)
    assert await balance_fen(stub, receiver) == 200
    await assert_books_balance(store)


async def test_a_payment_from_a_device_not_seen_before_is_challenged(stub, store) -> None:
    payer = await verified_payer(stub, 10_000, password=True)
    receiver = await payee(stub)
    old_phone = pb.RiskSignals(device_id="phone-a")
    new_phone = pb.RiskSignals(device_id="phone-b")
    await send(stub, payer, receiver, 100, risk=old_phone)  # the first device is trusted
    await send(stub, payer, receiver, 100, risk=old_phone)

    key = new_key()
    reason, rules = await risk_refusal(send(stub, payer, receiver, 100, risk=new_phone, key=key))
    assert (reason, rules) == ("RISK_CHALLENGE_REQUIRED", {"unknown-device"})
    assert await balance_fen(stub, receiver) == 200
    answered = pb.RiskSignals(device_id="phone-b", payment_password=PAYMENT_PASSWORD)
    await send(stub, payer, receiver, 100, risk=answered, key=key)
    await send(stub, payer, receiver, 100, risk=new_phone)  # now a known device
    await send(stub, payer, receiver, 100, risk=old_phone)
    assert await balance_fen(stub, receiver) == 500
    await assert_books_balance(store)


# --- rules are data ------------------------------------------------------------------------

TINY_TRANSFERS_ONLY = [
    {
        "rule_id": "tiny-transfers",
        "kind": "single_transaction_limit",
        "action": "DENY",
        "enabled": True,
        "payment_kinds": ["transfer"],
        "amount_fen_max_by_kyc_level": {"1": 1, "2": 1, "3": 1},
        "description": "transfers of one fen at most",
    },
    {
        "rule_id": "observe-devices",
        "kind": "unknown_device",
        "action": "ALLOW",
        "enabled": False,
        "payment_kinds": ["payment", "transfer", "withdrawal"],
        "amount_fen_max": 0,
    },
]


async def test_rules_set_as_data_take_effect_at_once_and_read_back_the_same(
    stub, store, default_rules_afterwards: None
) -> None:
    payer = await verified_payer(stub, 10_000)
    receiver = await payee(stub)
    response = await stub.SetRiskRules(
        pb.SetRiskRulesRequest(rules_json=json.dumps(TINY_TRANSFERS_ONLY))
    )
    assert response.rule_count == 2
    stored = await stub.GetRiskRules(pb.GetRiskRulesRequest())
    assert json.loads(stored.rules_json) == TINY_TRANSFERS_ONLY

    reason, rules = await risk_refusal(send(stub, payer, receiver, 2))
    assert (reason, rules) == ("RISK_DENIED", {"tiny-transfers"})
    await send(stub, payer, receiver, 1)
    merchant = (await open_merchant(stub)).account_id
    trade = await create_trade(stub, Parties(buyer=payer, merchant=merchant), 9_000)
    await pay_trade(stub, trade, risk=pb.RiskSignals(device_id="a-new-phone"))
    assert await balance_fen(stub, payer) == 999
    await assert_books_balance(store)


@pytest.mark.parametrize(
    "rules_json",
    [
        "not json at all",
        json.dumps({"rule_id": "not-a-list"}),
        json.dumps([{"rule_id": "x", "kind": "teleport", "action": "DENY"}]),
        json.dumps([{**TINY_TRANSFERS_ONLY[0], "amount_fen_max_by_kyc_level": {"1": -1}}]),
        json.dumps([{**TINY_TRANSFERS_ONLY[0], "action": "SHRUG"}]),
        json.dumps([{**TINY_TRANSFERS_ONLY[0], "rule_id": "Upper Case"}]),
        json.dumps([{**TINY_TRANSFERS_ONLY[0], "colour": "red"}]),
        json.dumps([TINY_TRANSFERS_ONLY[0], TINY_TRANSFERS_ONLY[0]]),
        json.dumps(
            [{"rule_id": "v", "kind": "velocity_count", "action": "DENY", "count_max": True}]
        ),
    ],
    ids=[
        "not-json",
        "not-a-list",
        "unknown-kind",
        "negative-and-missing-levels",
        "unknown-action",
        "bad-rule-id",
        "unknown-field",
        "duplicate-id",
        "boolean-count",
    ],
)
async def test_invalid_rules_are_refused_and_the_rules_in_force_stay(
    stub, rules_json: str, default_rules_afterwards: None
) -> None:
    before = (await stub.GetRiskRules(pb.GetRiskRulesRequest())).rules_json
    error = await refused(stub.SetRiskRules(pb.SetRiskRulesRequest(rules_json=rules_json)))
    assert (error.code(), error_info(error).reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_RISK_RULE",
    )
    assert (await stub.GetRiskRules(pb.GetRiskRulesRequest())).rules_json == before
    payer = await verified_payer(stub, 60_000)
    reason, rules = await risk_refusal(send(stub, payer, await payee(stub), 50_001))
    assert (reason, rules) == ("RISK_CHALLENGE_REQUIRED", {"new-payee-transfer"})


async def test_the_default_rules_read_back_as_the_documented_data(stub) -> None:
    rules = json.loads((await stub.GetRiskRules(pb.GetRiskRulesRequest())).rules_json)
    assert [rule["rule_id"] for rule in rules] == [rule["rule_id"] for rule in DEFAULT_RULES_DATA]
    by_id = {rule["rule_id"]: rule for rule in rules}
    assert by_id["single-transaction-limit"]["amount_fen_max_by_kyc_level"]["2"] == 5_000 * YUAN
    assert by_id["new-payee-transfer"]["payment_kinds"] == ["transfer"]


# --- the audit trail -----------------------------------------------------------------------


async def test_every_decision_allowed_or_refused_is_on_record_with_its_rules(stub) -> None:
    payer = await verified_payer(stub, 100_000, password=True)
    friend, stranger = await payee(stub), await payee(stub)
    await send(stub, payer, friend, 100)
    await risk_refusal(send(stub, payer, stranger, 60_000))
    await send(stub, payer, stranger, 60_000, risk=PASSWORD)
    await stub.SetBlacklisted(
        pb.SetBlacklistedRequest(account_id=friend, blacklisted=True, reason="fraud report")
    )
    await risk_refusal(send(stub, payer, friend, 100))

    decisions = await list_decisions(stub, payer)
    seen = sorted(
        (d.payee_account_id, d.amount.amount_fen, d.action, tuple(d.rule_ids), d.proceeded)
        for d in decisions
    )
    assert seen == sorted(
        [
            (friend, 100, "ALLOW", (), True),
            (stranger, 60_000, "CHALLENGE", ("new-payee-transfer",), False),
            (stranger, 60_000, "CHALLENGE", ("new-payee-transfer",), True),
            (friend, 100, "DENY", ("blacklisted-party",), False),
        ]
    )
    assert {d.payment_kind for d in decisions} == {"transfer"}
    assert all(d.payer_account_id == payer for d in decisions)
    assert all(len(d.reasons) == len(d.rule_ids) for d in decisions)
    await stub.SetBlacklisted(pb.SetBlacklistedRequest(account_id=friend, blacklisted=False))


async def test_paging_through_decisions_made_in_the_same_instant_loses_none(stub) -> None:
    payer = await verified_payer(stub, 10_000)
    receiver = await payee(stub)
    for _ in range(3):
        await send(stub, payer, receiver, 100)  # the manual clock stands still: one instant
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = await stub.ListRiskDecisions(
            pb.ListRiskDecisionsRequest(
                payer_account_id=payer, page=paging_pb2.PageRequest(page_size=2, page_token=token)
            )
        )
        seen += [d.decision_id for d in page.decisions]
        token = page.page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 3
