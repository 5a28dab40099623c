"""The payment password and payment authorizations as risk control asks for them, over real
gRPC against a real mongod, on a manual clock: weak passwords refused, a challenge met once
with the password on the same key, wrong tries counted (and only wrong ones, also under
concurrency) up to a three-hour lock, and single-use authorizations standing in for it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc

from chassis.clock import ManualClock
from colony.payment.v1 import payment_pb2 as pb
from services.payment.identity import resident_id_check_char
from services.payment.tests.manual_time.risk_support import (
    PASSWORD,
    WRONG_PASSWORD,
    payee,
    risk_refusal,
    send,
    set_password,
    verified_payer,
)
from services.payment.tests.support import (
    Stub,
    cny,
    new_key,
    new_phone,
    open_merchant,
    open_person,
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
    pay_trade,
    refused,
)

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
