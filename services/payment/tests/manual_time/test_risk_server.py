"""Real-time risk control (风控) over real gRPC against a real mongod, on a manual clock.

Each default rule fires through the service; a CHALLENGE is met with the payment password
on the same idempotency key; rules are data that take effect at once; every decision is on
record; a refused movement moves nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta

import grpc
import pytest

from chassis.clock import BUSINESS_TIMEZONE, ManualClock
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import fake_bank_card_for
from services.payment.identity import resident_id_check_char
from services.payment.risk import DEFAULT_RULES_DATA
from services.payment.tests.support import (
    Stub,
    cny,
    new_key,
    new_phone,
    open_merchant,
    open_person,
    top_up,
)
from services.payment.tests.trade_support import (
    PAYMENT_PASSWORD,
    WRONG_PAYMENT_PASSWORD,
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

YUAN = 100
PASSWORD = pb.RiskSignals(payment_password=PAYMENT_PASSWORD)
WRONG_PASSWORD = pb.RiskSignals(payment_password=WRONG_PAYMENT_PASSWORD)


@pytest.fixture
async def default_rules_afterwards(stub: Stub) -> AsyncIterator[None]:
    """Put the default rules back after a test that changes them."""
    yield
    await stub.SetRiskRules(pb.SetRiskRulesRequest(rules_json=json.dumps(DEFAULT_RULES_DATA)))


async def set_password(stub: Stub, account_id: str) -> None:
    await stub.SetPaymentPassword(
        pb.SetPaymentPasswordRequest(account_id=account_id, new_password=PAYMENT_PASSWORD)
    )


async def send(
    stub: Stub,
    from_id: str,
    to_id: str,
    fen: int,
    *,
    risk: pb.RiskSignals | None = None,
    key: str | None = None,
) -> pb.TransferResponse:
    return await stub.Transfer(
        pb.TransferRequest(
            idempotency_key=key or new_key(),
            from_account_id=from_id,
            to_account_id=to_id,
            amount=cny(fen),
            risk=risk,
        )
    )


async def risk_refusal(call) -> tuple[str, set[str]]:
    """The reason of a risk refusal and the rule ids it names."""
    error = await refused(call)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(error)
    return info.reason, set(filter(None, info.metadata.get("rule_ids", "").split(",")))


async def verified_payer(stub: Stub, fen: int, *, password: bool = False) -> str:
    """A payer with a bound card in their name (KYC level 3), topped up with fen."""
    payer = (await open_person(stub)).account_id
    await bind_card(stub, payer)
    await top_up(stub, payer, fen)
    if password:
        await set_password(stub, payer)
    return payer


async def real_name_payer(stub: Stub, clock: ManualClock, fen: int) -> str:
    """A payer with fen but no top-up (KYC level 2), funded by transfers from a friend.

    The friend sends at most 500 yuan the first time and 2,000 yuan at a time, a minute
    apart, so that no rule asks for a password (argon2 costs a quarter second a try here).
    """
    payer = (await open_person(stub)).account_id
    friend = await verified_payer(stub, fen)
    sent_fen = 0
    for chunk_fen_max in (50_000, *([200_000] * 100)):
        if sent_fen == fen:
            return payer
        chunk_fen = min(chunk_fen_max, fen - sent_fen)
        await send(stub, friend, payer, chunk_fen)
        sent_fen += chunk_fen
        clock.advance(timedelta(seconds=61))
    raise AssertionError(f"{fen} fen is too much to fund a real-name payer")


async def payee(stub: Stub) -> str:
    return (await open_person(stub, "李四")).account_id


async def list_decisions(stub: Stub, payer: str) -> list[pb.RiskDecisionRecord]:
    response = await stub.ListRiskDecisions(
        pb.ListRiskDecisionsRequest(
            payer_account_id=payer, page=paging_pb2.PageRequest(page_size=100)
        )
    )
    return list(response.decisions)


# --- KYC -----------------------------------------------------------------------------------


async def bind_card(stub, account_id: str) -> None:
    """Bind the card the fake bank issued to open_person's default name."""
    await stub.BindCard(
        pb.BindCardRequest(
            idempotency_key=new_key(),
            account_id=account_id,
            bank_card_number=fake_bank_card_for("张三"),
        )
    )


async def test_a_personal_account_is_real_name_and_a_bound_card_verifies_it(stub) -> None:
    person = await open_person(stub)
    assert person.kyc_level == 2
    await top_up(stub, person.account_id, 100)  # a top-up from any card proves no name
    assert (await get_account(stub, person.account_id)).kyc_level == 2
    await bind_card(stub, person.account_id)
    assert (await get_account(stub, person.account_id)).kyc_level == 3


# --- the payment password ----------------------------------------------------------------


async def test_a_payment_password_from_the_owners_phone_number_is_refused_as_weak(stub) -> None:
    person = await open_person(stub)
    for password in ("12345", "1234567", "12a456", "111111", "654321", person.phone[-6:]):
        error = await refused(
            stub.SetPaymentPassword(
                pb.SetPaymentPasswordRequest(account_id=person.account_id, new_password=password)
            )
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, password
        assert error_info(error).reason in ("INVALID_PAYMENT_PASSWORD", "WEAK_PAYMENT_PASSWORD")
    assert not (await get_account(stub, person.account_id)).payment_password_set


async def test_a_payment_password_from_the_owners_birthday_is_refused_as_weak(stub) -> None:
    first_17 = "110101" + "19870625" + "314"  # born 25 June 1987
    person = await stub.OpenPersonalAccount(
        pb.OpenPersonalAccountRequest(
            idempotency_key=new_key(),
            owner_ref=new_key(),
            real_name="王五",
            resident_id=first_17 + resident_id_check_char(first_17),
            phone=new_phone(),
        )
    )
    error = await refused(
        stub.SetPaymentPassword(
            pb.SetPaymentPasswordRequest(
                account_id=person.account.account_id, new_password="870625"
            )
        )
    )
    assert error_info(error).reason == "WEAK_PAYMENT_PASSWORD"


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


async def test_a_large_payment_is_challenged_and_goes_through_once_with_the_password(
    stub, store
) -> None:
    buyer = await verified_payer(stub, 300_000)
    merchant = (await open_merchant(stub)).account_id
    trade = await create_trade(stub, Parties(buyer=buyer, merchant=merchant), 200_001)
    key = new_key()

    reason, rules = await risk_refusal(pay_trade(stub, trade, key=key))
    assert (reason, rules) == ("RISK_CHALLENGE_REQUIRED", {"large-payment-password"})
    assert await balance_fen(stub, buyer) == 300_000
    no_password = await refused(pay_trade(stub, trade, key=key, risk=PASSWORD))
    assert error_info(no_password).reason == "PAYMENT_PASSWORD_NOT_SET"

    await set_password(stub, buyer)
    assert (await get_account(stub, buyer)).payment_password_set
    paid = await pay_trade(stub, trade, key=key, risk=PASSWORD)
    assert paid.trade.state == pb.TRADE_STATE_PAID
    replayed = await pay_trade(stub, trade, key=key)
    assert replayed.posting.posting_id == paid.posting.posting_id
    assert await balance_fen(stub, buyer) == 300_000 - 200_001
    assert await store.postings.count_documents({"reference": trade.trade_id}) == 1

    # 2,000 yuan itself needs no password.
    small = await create_trade(stub, Parties(buyer=buyer, merchant=merchant), 99_999)
    assert (await pay_trade(stub, small)).trade.state == pb.TRADE_STATE_PAID
    await assert_books_balance(store)


async def test_a_wrong_payment_password_is_refused_with_the_tries_left(stub, store) -> None:
    payer = await verified_payer(stub, 300_000, password=True)
    receiver = await payee(stub)
    error = await refused(send(stub, payer, receiver, 200_001, risk=WRONG_PASSWORD))
    info = error_info(error)
    assert (error.code(), info.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYMENT_PASSWORD_WRONG",
    )
    assert info.metadata["attempts_remaining"] == "4"
    assert await balance_fen(stub, payer) == 300_000

    await send(stub, payer, receiver, 200_001, risk=PASSWORD)
    # The right password cleared the count: the next wrong one has all five tries again.
    error = await refused(send(stub, payer, receiver, 1, risk=WRONG_PASSWORD))
    assert error_info(error).metadata["attempts_remaining"] == "4"
    assert await balance_fen(stub, receiver) == 200_001
    await assert_books_balance(store)


async def test_five_wrong_passwords_lock_even_the_right_one_out_for_three_hours(
    stub, store, clock: ManualClock
) -> None:
    payer = await verified_payer(stub, 300_000, password=True)
    receiver = await payee(stub)
    for tries_left in ("4", "3", "2", "1", "0"):
        error = await refused(send(stub, payer, receiver, 200_001, risk=WRONG_PASSWORD))
        info = error_info(error)
        assert (info.reason, info.metadata["attempts_remaining"]) == (
            "PAYMENT_PASSWORD_WRONG",
            tries_left,
        )
    locked_until = info.metadata["locked_until"]
    assert locked_until == (clock.now() + timedelta(hours=3)).isoformat()

    error = await refused(send(stub, payer, receiver, 200_001, risk=PASSWORD))
    assert error_info(error).reason == "PAYMENT_PASSWORD_LOCKED"
    assert error_info(error).metadata["locked_until"] == locked_until
    clock.advance(timedelta(hours=3) - timedelta(seconds=1))
    error = await refused(send(stub, payer, receiver, 200_001, risk=PASSWORD))
    assert error_info(error).reason == "PAYMENT_PASSWORD_LOCKED"
    assert await balance_fen(stub, payer) == 300_000

    clock.advance(timedelta(seconds=1))
    await send(stub, payer, receiver, 200_001, risk=PASSWORD)
    assert await balance_fen(stub, receiver) == 200_001
    await assert_books_balance(store)


async def test_concurrent_right_passwords_all_pay_and_only_wrong_tries_count(stub, store) -> None:
    payer = await verified_payer(stub, 3_000_000, password=True)
    receiver = await payee(stub)
    # Six concurrent large payments with the right password: every one goes through (each
    # try's slot is given back), and none is counted as a wrong try.
    paid = await asyncio.gather(
        *(send(stub, payer, receiver, 200_001, risk=PASSWORD) for _ in range(6))
    )
    assert len(paid) == 6
    assert await balance_fen(stub, receiver) == 6 * 200_001
    error = await refused(send(stub, payer, receiver, 1, risk=WRONG_PASSWORD))
    assert error_info(error).metadata["attempts_remaining"] == "4"

    # Eight concurrent wrong tries and two right ones: at most the four wrong tries left are
    # ever verified (the lock comes at the fifth wrong try in all), nothing is paid by a
    # wrong one, and the right ones either pay or meet the lock.
    mixed = await asyncio.gather(
        *(send(stub, payer, receiver, 200_001, risk=WRONG_PASSWORD) for _ in range(8)),
        *(send(stub, payer, receiver, 200_001, risk=PASSWORD) for _ in range(2)),
        return_exceptions=True,
    )
    wrong = [error_info(e).reason for e in mixed[:8] if isinstance(e, grpc.aio.AioRpcError)]
    assert len(wrong) == 8  # no wrong password ever paid
    assert set(wrong) <= {"PAYMENT_PASSWORD_WRONG", "PAYMENT_PASSWORD_LOCKED"}
    right_paid = sum(1 for outcome in mixed[8:] if isinstance(outcome, pb.TransferResponse))
    assert await balance_fen(stub, receiver) == (6 + right_paid) * 200_001
    record = await store.get_password_record(payer)
    assert record is not None and record.state.tries_in_flight == ()
    await assert_books_balance(store)


async def test_concurrent_wrong_guesses_never_get_more_than_five_tries(stub, store) -> None:
    payer = await verified_payer(stub, 3_000_000, password=True)
    receiver = await payee(stub)
    guesses = await asyncio.gather(
        *(send(stub, payer, receiver, 200_001, risk=WRONG_PASSWORD) for _ in range(8)),
        return_exceptions=True,
    )
    reasons = sorted(error_info(e).reason for e in guesses if isinstance(e, grpc.aio.AioRpcError))
    assert reasons == ["PAYMENT_PASSWORD_LOCKED"] * 3 + ["PAYMENT_PASSWORD_WRONG"] * 5
    assert await balance_fen(stub, payer) == 3_000_000
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


async def authorize(stub: Stub, account_id: str, fen: int, password: str = PAYMENT_PASSWORD) -> str:
    response = await stub.AuthorizePayment(
        pb.AuthorizePaymentRequest(
            account_id=account_id, payment_password=password, amount=cny(fen)
        )
    )
    return response.authorization


def authorized(authorization: str) -> pb.RiskSignals:
    return pb.RiskSignals(payment_authorization=authorization)


async def test_a_payment_authorization_answers_one_challenge_once_and_replays_keep_their_answer(
    stub, store
) -> None:
    payer = await verified_payer(stub, 900_000, password=True)
    receiver = await payee(stub)
    authorization = await authorize(stub, payer, 200_001)
    assert len(authorization) >= 32
    # Only its digest is stored.
    assert await store.payment_authorizations.count_documents({"_id": authorization}) == 0

    key = new_key()
    sent = await send(stub, payer, receiver, 200_001, risk=authorized(authorization), key=key)
    # The replay of the movement that spent it still finds its answer.
    replayed = await send(stub, payer, receiver, 200_001, risk=authorized(authorization), key=key)
    assert replayed.posting.posting_id == sent.posting.posting_id
    # Spent: a second movement cannot use it.
    error = await refused(send(stub, payer, receiver, 200_001, risk=authorized(authorization)))
    assert error_info(error).reason == "PAYMENT_AUTHORIZATION_INVALID"
    assert await balance_fen(stub, receiver) == 200_001
    await assert_books_balance(store)


async def test_a_payment_authorization_is_refused_when_too_small_expired_or_someone_elses(
    stub, store, clock
) -> None:
    payer = await verified_payer(stub, 900_000, password=True)
    other = await verified_payer(stub, 900_000, password=True)
    receiver = await payee(stub)

    # Every movement here is above 2,000 yuan: challenged, so the authorization must answer.
    authorization = await authorize(stub, payer, 250_000)
    error = await refused(send(stub, payer, receiver, 250_001, risk=authorized(authorization)))
    assert error_info(error).reason == "PAYMENT_AUTHORIZATION_INVALID"

    someone_elses = await authorize(stub, other, 300_000)
    error = await refused(send(stub, payer, receiver, 250_000, risk=authorized(someone_elses)))
    assert error_info(error).reason == "PAYMENT_AUTHORIZATION_INVALID"

    error = await refused(send(stub, payer, receiver, 250_000, risk=authorized("made-up")))
    assert error_info(error).reason == "PAYMENT_AUTHORIZATION_INVALID"
    # The refusals spent nothing: the authorization still answers for what it covers.
    await send(stub, payer, receiver, 250_000, risk=authorized(authorization))
    assert await balance_fen(stub, receiver) == 250_000

    lapsing = await authorize(stub, payer, 300_000)
    clock.advance(timedelta(seconds=301))
    error = await refused(send(stub, payer, receiver, 250_000, risk=authorized(lapsing)))
    assert error_info(error).reason == "PAYMENT_AUTHORIZATION_INVALID"
    await assert_books_balance(store)


async def test_a_payment_that_needs_no_second_factor_leaves_an_authorization_unspent(
    stub, store
) -> None:
    payer = await verified_payer(stub, 900_000, password=True)
    receiver = await payee(stub)
    authorization = await authorize(stub, payer, 250_000)
    await send(stub, payer, receiver, 10_000, risk=authorized(authorization))  # allowed
    await send(stub, payer, receiver, 250_000, risk=authorized(authorization))  # challenged
    error = await refused(send(stub, payer, receiver, 250_000, risk=authorized(authorization)))
    assert error_info(error).reason == "PAYMENT_AUTHORIZATION_INVALID"
    assert await balance_fen(stub, receiver) == 260_000
    await assert_books_balance(store)


async def test_authorizing_a_payment_takes_the_right_password_and_counts_wrong_ones(stub) -> None:
    payer = await verified_payer(stub, 10_000, password=True)
    error = await refused(authorize(stub, payer, 100, password=WRONG_PAYMENT_PASSWORD))
    info = error_info(error)
    assert (info.reason, info.metadata["attempts_remaining"]) == ("PAYMENT_PASSWORD_WRONG", "4")
    no_password = await refused(authorize(stub, await verified_payer(stub, 100), 100))
    assert error_info(no_password).reason == "PAYMENT_PASSWORD_NOT_SET"
    empty = await refused(authorize(stub, payer, 100, password=""))
    assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(empty).reason == "INVALID_PAYMENT_PASSWORD"
