"""Face-to-face payment codes (付款码) and utility bills (水电煤缴费) over real gRPC, on a
manual clock, against a real mongod."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import grpc

from chassis.clock import ManualClock
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import luhn_valid
from services.payment.tests.support import Stub, cny, new_key, open_merchant, open_person, top_up
from services.payment.tests.trade_support import (
    PAYMENT_PASSWORD,
    assert_books_balance,
    balance_fen,
    entries_of,
    error_info,
    refusal_of,
)

WATER_BILLER = "westlake-water"
WATER_MERCHANT = "2188000000000101"


async def payer_and_shop(stub: Stub, payer_fen: int = 10_000) -> tuple[str, str]:
    payer = await open_person(stub, "张三丰")
    if payer_fen:
        await top_up(stub, payer.account_id, payer_fen)
    shop = await open_merchant(stub, "Colony Noodles")
    return payer.account_id, shop.account_id


async def issue_code(stub: Stub, account_id: str) -> pb.IssuePaymentCodeResponse:
    return await stub.IssuePaymentCode(pb.IssuePaymentCodeRequest(account_id=account_id))


def charge(
    stub: Stub, shop: str, code: str, fen: int, key: str | None = None, *, authorization: str = ""
):  # -> the call, to await or to hand to refusal_of
    return stub.ChargePaymentCode(
        pb.ChargePaymentCodeRequest(
            idempotency_key=key or new_key(),
            merchant_account_id=shop,
            code=code,
            amount=cny(fen),
            memo="two bowls of noodles",
            payment_authorization=authorization,
        )
    )


def with_check_digit(stem: str) -> str:
    """stem and the digit that makes it pass the Luhn check."""
    return next(stem + digit for digit in "0123456789" if luhn_valid(stem + digit))


def pay_bill(stub: Stub, account_id: str, biller_id: str, reference: str, fen: int, *, key=None):
    return stub.PayBill(
        pb.PayBillRequest(
            idempotency_key=key or new_key(),
            account_id=account_id,
            biller_id=biller_id,
            reference=reference,
            amount=cny(fen),
        )
    )


# --- payment codes -------------------------------------------------------------------------


async def test_charging_a_payment_code_moves_money_from_the_payer_to_the_merchant(
    stub, store, clock: ManualClock
) -> None:
    payer, shop = await payer_and_shop(stub)
    issued = await issue_code(stub, payer)
    assert len(issued.code) == 18 and issued.code.startswith("28") and issued.code.isdigit()
    assert issued.expires_at.ToDatetime() - clock.now().replace(tzinfo=None) == timedelta(
        seconds=60
    )
    assert await store.payment_codes.count_documents({"_id": issued.code}) == 0  # digest only

    charged = await charge(stub, shop, issued.code, 2_500)
    assert charged.posting.kind == "code_payment"
    assert entries_of(charged.posting) == {payer: -2_500, shop: 2_500}
    assert charged.payer_name == "*三丰"
    assert (await balance_fen(stub, payer), await balance_fen(stub, shop)) == (7_500, 2_500)
    await assert_books_balance(store)


async def test_a_payment_code_is_good_for_one_charge_only(stub, store) -> None:
    payer, shop = await payer_and_shop(stub)
    issued = await issue_code(stub, payer)
    await charge(stub, shop, issued.code, 1_000)
    assert await refusal_of(charge(stub, shop, issued.code, 1_000)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYMENT_CODE_USED",
    )
    other_shop = (await open_merchant(stub)).account_id
    assert await refusal_of(charge(stub, other_shop, issued.code, 1)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYMENT_CODE_USED",
    )
    assert await balance_fen(stub, payer) == 9_000
    await assert_books_balance(store)


async def test_replaying_a_charge_with_its_key_returns_the_same_posting(stub, store) -> None:
    payer, shop = await payer_and_shop(stub)
    issued = await issue_code(stub, payer)
    key = new_key()
    first = await charge(stub, shop, issued.code, 1_200, key=key)
    again = await charge(stub, shop, issued.code, 1_200, key=key)
    assert again == first
    assert await refusal_of(charge(stub, shop, issued.code, 1_300, key=key)) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert await balance_fen(stub, shop) == 1_200
    await assert_books_balance(store)


async def test_a_payment_code_expires_sixty_seconds_after_it_was_issued(
    stub, store, clock: ManualClock
) -> None:
    payer, shop = await payer_and_shop(stub)
    in_time = await issue_code(stub, payer)
    too_late = await issue_code(stub, payer)
    clock.advance(timedelta(seconds=59))
    await charge(stub, shop, in_time.code, 100)
    clock.advance(timedelta(seconds=1))
    error_reply = await refusal_of(charge(stub, shop, too_late.code, 100))
    assert error_reply == (grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_CODE_EXPIRED")
    assert await balance_fen(stub, payer) == 9_900
    await assert_books_balance(store)


async def test_a_code_never_issued_or_malformed_is_an_invalid_payment_code(stub) -> None:
    _, shop = await payer_and_shop(stub, payer_fen=0)
    never_issued = "28" + f"{secrets.randbelow(10**16):016d}"
    assert await refusal_of(charge(stub, shop, never_issued, 100)) == (
        grpc.StatusCode.NOT_FOUND,
        "INVALID_PAYMENT_CODE",
    )
    for malformed in ("", "1234", "18" + "0" * 16, "28" + "0" * 17, "28abcdefghijklmnop"):
        assert await refusal_of(charge(stub, shop, malformed, 100)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_PAYMENT_CODE",
        ), malformed


async def test_concurrent_charges_of_one_code_charge_it_once(stub, store) -> None:
    payer, shop = await payer_and_shop(stub)
    issued = await issue_code(stub, payer)
    outcomes = await asyncio.gather(
        *(charge(stub, shop, issued.code, 700) for _ in range(5)), return_exceptions=True
    )
    charged = [o for o in outcomes if isinstance(o, pb.ChargePaymentCodeResponse)]
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(charged) == 1
    assert [error_info(e).reason for e in refusals] == ["PAYMENT_CODE_USED"] * 4
    assert (await balance_fen(stub, payer), await balance_fen(stub, shop)) == (9_300, 700)
    await assert_books_balance(store)


async def test_a_charge_the_payer_cannot_cover_leaves_the_code_usable(stub, store) -> None:
    payer, shop = await payer_and_shop(stub, payer_fen=1_000)
    issued = await issue_code(stub, payer)
    assert await refusal_of(charge(stub, shop, issued.code, 1_001)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INSUFFICIENT_FUNDS",
    )
    await charge(stub, shop, issued.code, 1_000)
    assert await balance_fen(stub, payer) == 0
    await assert_books_balance(store)


async def test_a_challenged_charge_is_met_by_the_payers_authorization_only(stub, store) -> None:
    payer, shop = await payer_and_shop(stub, payer_fen=500_000)
    await stub.SetPaymentPassword(
        pb.SetPaymentPasswordRequest(account_id=payer, new_password=PAYMENT_PASSWORD)
    )
    # 2,500 yuan is above the password-free limit: challenged, and the code stays usable.
    issued = await issue_code(stub, payer)
    assert await refusal_of(charge(stub, shop, issued.code, 250_000)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "RISK_CHALLENGE_REQUIRED",
    )
    authorized = await stub.AuthorizePayment(
        pb.AuthorizePaymentRequest(
            account_id=payer, payment_password=PAYMENT_PASSWORD, amount=cny(250_000)
        )
    )
    # Above what the payer authorized: refused, nothing spent.
    assert await refusal_of(
        charge(stub, shop, issued.code, 250_001, authorization=authorized.authorization)
    ) == (grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_AUTHORIZATION_INVALID")
    await charge(stub, shop, issued.code, 250_000, authorization=authorized.authorization)
    assert await balance_fen(stub, shop) == 250_000
    # Spent: it cannot answer for another code.
    second = await issue_code(stub, payer)
    assert await refusal_of(
        charge(stub, shop, second.code, 250_000, authorization=authorized.authorization)
    ) == (grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_AUTHORIZATION_INVALID")
    await assert_books_balance(store)


async def test_only_people_show_codes_and_only_merchants_charge_them(stub, store) -> None:
    payer, shop = await payer_and_shop(stub)
    refused_issue = stub.IssuePaymentCode(pb.IssuePaymentCodeRequest(account_id=shop))
    assert await refusal_of(refused_issue) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ACCOUNT_KIND_NOT_ALLOWED",
    )
    issued = await issue_code(stub, payer)
    friend = (await open_person(stub)).account_id
    assert await refusal_of(charge(stub, friend, issued.code, 100)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ACCOUNT_KIND_NOT_ALLOWED",
    )
    await charge(stub, shop, issued.code, 100)  # the refused charge did not use the code
    await assert_books_balance(store)


# --- bills ---------------------------------------------------------------------------------


async def test_the_demo_billers_are_listed_with_their_merchant_accounts(stub) -> None:
    billers = (await stub.ListBillers(pb.ListBillersRequest())).billers
    assert [(b.biller_id, b.category, b.merchant_account_id) for b in billers] == [
        ("westlake-water", "water", "2188000000000101"),
        ("jiangnan-power", "electricity", "2188000000000102"),
        ("qiantang-gas", "gas", "2188000000000103"),
        ("huaxia-mobile", "telecom", "2188000000000104"),
    ]
    assert all(b.name and b.reference_hint for b in billers)


async def test_paying_a_bill_moves_the_money_to_the_billers_merchant_account(stub, store) -> None:
    payer, _ = await payer_and_shop(stub)
    water_before = await balance_fen(stub, WATER_MERCHANT)
    reference = with_check_digit("123456789")
    printed = f"{reference[:4]} {reference[4:8]} {reference[8:]}"  # as grouped on the bill
    key = new_key()
    paid = await pay_bill(stub, payer, WATER_BILLER, printed, 3_456, key=key)
    assert paid.posting.kind == "bill_payment"
    assert entries_of(paid.posting) == {payer: -3_456, WATER_MERCHANT: 3_456}
    assert paid.account.balance.amount_fen == 10_000 - 3_456
    assert await balance_fen(stub, WATER_MERCHANT) == water_before + 3_456
    lines = (await stub.ListStatement(pb.ListStatementRequest(account_id=payer))).entries
    assert (lines[0].kind, lines[0].reference) == ("bill_payment", reference)

    again = await pay_bill(stub, payer, WATER_BILLER, printed, 3_456, key=key)
    assert again.posting.posting_id == paid.posting.posting_id
    assert await balance_fen(stub, WATER_MERCHANT) == water_before + 3_456
    await assert_books_balance(store)


async def test_a_bill_with_a_bad_reference_is_refused_and_nothing_moves(stub, store) -> None:
    payer, _ = await payer_and_shop(stub)
    water_before = await balance_fen(stub, WATER_MERCHANT)
    valid = with_check_digit("123456789")
    mistyped = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    for biller_id, reference in [
        (WATER_BILLER, mistyped),
        (WATER_BILLER, valid[:-1]),
        (WATER_BILLER, "12345abcde"),
        (WATER_BILLER, ""),
        (WATER_BILLER, "1" * 65),
        ("jiangnan-power", "123456789012"),
        ("huaxia-mobile", "12912345678"),
    ]:
        assert await refusal_of(pay_bill(stub, payer, biller_id, reference, 100)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_BILL_REFERENCE",
        ), (biller_id, reference)
        # The check-only RPC refuses exactly what PayBill refuses.
        check = stub.CheckBillReference(
            pb.CheckBillReferenceRequest(biller_id=biller_id, reference=reference)
        )
        assert await refusal_of(check) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_BILL_REFERENCE",
        ), (biller_id, reference)
    assert await balance_fen(stub, payer) == 10_000
    assert await balance_fen(stub, WATER_MERCHANT) == water_before
    await assert_books_balance(store)


async def test_checking_a_good_reference_gives_it_as_paying_would_record_it(stub) -> None:
    valid = with_check_digit("123456789")
    checked = await stub.CheckBillReference(
        pb.CheckBillReferenceRequest(biller_id=WATER_BILLER, reference=f"{valid[:5]} {valid[5:]}")
    )
    assert checked.reference == valid
    unknown = stub.CheckBillReference(
        pb.CheckBillReferenceRequest(biller_id="atlantis-water", reference=valid)
    )
    assert await refusal_of(unknown) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")


async def test_a_bill_to_an_unknown_biller_is_not_found(stub) -> None:
    payer, _ = await payer_and_shop(stub)
    assert await refusal_of(pay_bill(stub, payer, "atlantis-water", "1234567897", 100)) == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND",
    )
    assert await balance_fen(stub, payer) == 10_000
