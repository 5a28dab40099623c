"""Bound cards over real gRPC (issue 21 items 3 and 4): the bank confirms the holder's name,
binding (and only binding) raises KYC to level 3, withdrawals go only to a bound card."""

from __future__ import annotations

import grpc
import pytest

from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import (
    FAKE_BANK_DECLINED_CARDS,
    bank_channel_from,
    fake_bank_card_for,
    fake_bank_issued_to,
    luhn_valid,
)
from services.payment.tests.support import (
    CARD,
    assert_ledger_consistent,
    cny,
    error_reason,
    new_key,
    open_merchant,
    open_person,
    top_up,
)


async def bind(stub, account_id: str, card: str) -> pb.BindCardResponse:
    return await stub.BindCard(
        pb.BindCardRequest(idempotency_key=new_key(), account_id=account_id, bank_card_number=card)
    )


async def refusal_of(call) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return error_reason(refused.value)


def withdraw(stub, account_id: str, fen: int, card: str):
    return stub.Withdraw(
        pb.WithdrawRequest(
            idempotency_key=new_key(), account_id=account_id, amount=cny(fen), bank_card_number=card
        )
    )


def test_the_fake_bank_issues_cards_to_names_by_its_documented_rule() -> None:
    card = fake_bank_card_for("张三")
    assert len(card) == 19 and luhn_valid(card) and card.startswith("623058")
    assert fake_bank_issued_to(card, "张三") and fake_bank_issued_to(card, " 张三 ")
    assert not fake_bank_issued_to(card, "李四")
    assert fake_bank_card_for("张三", 1) != card and fake_bank_issued_to(
        fake_bank_card_for("张三", 1), "张三"
    )
    assert not fake_bank_issued_to(CARD, "张三")  # a Luhn-valid card it never issued


def test_the_fake_bank_is_wired_only_in_dev() -> None:
    assert bank_channel_from({"COLONY_ENV": "dev"}).clearing_account_id
    for environ in (
        {},
        {"COLONY_ENV": "prod"},
        {"COLONY_ENV": "prod", "COLONY_BANK_CHANNEL": "fake"},
        {"COLONY_ENV": "prod", "COLONY_BANK_CHANNEL": "no_such_module:factory"},
        {"COLONY_ENV": "prod", "COLONY_BANK_CHANNEL": "services.payment.cards:new_card_id"},
    ):
        with pytest.raises(SystemExit):
            bank_channel_from(environ)
    adapter = bank_channel_from(
        {
            "COLONY_ENV": "prod",
            "COLONY_BANK_CHANNEL": "services.payment.bank_channel:FakeBankChannel",
        }
    )
    assert adapter.clearing_account_id  # an adapter named explicitly is the deployer's choice


async def test_a_top_up_from_any_card_no_longer_raises_the_kyc_level(stub) -> None:
    person = await open_person(stub)
    response = await top_up(stub, person.account_id, 100)
    assert response.account.kyc_level == 2


async def test_binding_a_card_in_the_same_name_raises_kyc_to_level_3(stub) -> None:
    person = await open_person(stub, "王小明")
    bound = await bind(stub, person.account_id, fake_bank_card_for("王小明"))
    assert bound.account.kyc_level == 3
    assert (
        bound.card.card_id.startswith("card_")
        and bound.card.card_last4 == fake_bank_card_for("王小明")[-4:]
    )
    again = await bind(stub, person.account_id, fake_bank_card_for("王小明"))
    assert again.card.card_id == bound.card.card_id  # the same card is the same binding


async def test_a_card_in_another_name_or_unknown_to_the_bank_is_not_bound(stub) -> None:
    person = await open_person(stub, "王小明")
    for card in (fake_bank_card_for("李四"), CARD):
        assert await refusal_of(bind(stub, person.account_id, card)) == (
            "CARD_HOLDER_NOT_CONFIRMED"
        )
    declined = sorted(FAKE_BANK_DECLINED_CARDS)[0]
    assert await refusal_of(bind(stub, person.account_id, declined)) == "BANK_DECLINED"
    assert await refusal_of(bind(stub, person.account_id, "1234")) == "INVALID_ARGUMENT"
    listed = await stub.ListBoundCards(pb.ListBoundCardsRequest(account_id=person.account_id))
    assert list(listed.cards) == []
    account = await stub.GetAccount(pb.GetAccountRequest(account_id=person.account_id))
    assert account.account.kyc_level == 2


async def test_a_merchant_opens_below_level_3_and_binds_a_card_in_its_name(stub) -> None:
    merchant = await open_merchant(stub, "Colony Tea House")
    assert merchant.kyc_level == 2
    bound = await bind(stub, merchant.account_id, fake_bank_card_for("Colony Tea House"))
    assert bound.account.kyc_level == 3


async def test_withdrawals_go_only_to_a_bound_card(stub, store) -> None:
    person = await open_person(stub, "陈静")
    await top_up(stub, person.account_id, 2_000)
    card = fake_bank_card_for("陈静")
    assert await refusal_of(withdraw(stub, person.account_id, 500, card)) == "CARD_NOT_BOUND"
    assert await refusal_of(withdraw(stub, person.account_id, 500, CARD)) == "CARD_NOT_BOUND"
    await bind(stub, person.account_id, card)
    paid = await withdraw(stub, person.account_id, 500, card)
    assert paid.account.balance.amount_fen == 1_500
    await assert_ledger_consistent(store)


async def test_cards_are_listed_and_unbound_by_their_account_only(stub) -> None:
    person = await open_person(stub, "陈静")
    other = await open_person(stub, "陈静")
    first = await bind(stub, person.account_id, fake_bank_card_for("陈静"))
    second = await bind(stub, person.account_id, fake_bank_card_for("陈静", 7))
    listed = await stub.ListBoundCards(pb.ListBoundCardsRequest(account_id=person.account_id))
    assert [c.card_id for c in listed.cards] == [first.card.card_id, second.card.card_id]
    unbind_others = stub.UnbindCard(
        pb.UnbindCardRequest(account_id=other.account_id, card_id=first.card.card_id)
    )
    assert await refusal_of(unbind_others) == "NOT_FOUND"
    await stub.UnbindCard(
        pb.UnbindCardRequest(account_id=person.account_id, card_id=first.card.card_id)
    )
    listed = await stub.ListBoundCards(pb.ListBoundCardsRequest(account_id=person.account_id))
    assert [c.card_id for c in listed.cards] == [second.card.card_id]
    await top_up(stub, person.account_id, 1_000)
    gone = withdraw(stub, person.account_id, 100, fake_bank_card_for("陈静"))
    assert await refusal_of(gone) == "CARD_NOT_BOUND"


async def test_top_ups_are_limited_by_kyc_level_and_a_refusal_moves_nothing(stub, store) -> None:
    person = await open_person(stub, "周敏")
    refused = top_up(stub, person.account_id, 50_000 * 100 + 1)
    assert await refusal_of(refused) == "TOP_UP_LIMIT_EXCEEDED"
    assert await refusal_of(top_up(stub, person.account_id, 10**12)) == "TOP_UP_LIMIT_EXCEEDED"
    assert (await store.get_account(person.account_id)).balance_fen == 0
    await top_up(stub, person.account_id, 50_000 * 100)  # level 2's maximum, exactly
    await bind(stub, person.account_id, fake_bank_card_for("周敏"))
    await top_up(stub, person.account_id, 200_000 * 100)  # level 3's maximum
    above = top_up(stub, person.account_id, 200_000 * 100 + 1)
    assert await refusal_of(above) == "TOP_UP_LIMIT_EXCEEDED"
    assert (await store.get_account(person.account_id)).balance_fen == 250_000 * 100
    await assert_ledger_consistent(store)
