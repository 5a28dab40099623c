"""Binding a card asks the bank about the holder's name *and* resident id (issue 21 item 5).

Binding is what proves an account's resident id, so the bank port is given both
(``BankChannel.confirm_card_holder(card, name, resident_id)``). The bank here is a FAKE of a
real one's four-element check: it knows which resident id each of its cards was issued to,
and confirms a card only for that name and that id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from conftest import service_settings
from services.payment.bank_channel import (
    CardHolderNotConfirmed,
    FakeBankChannel,
    fake_bank_card_for,
)
from services.payment.server import build_payment_service
from services.payment.tests.support import Stub, error_reason, new_key, new_phone, new_resident_id
from services.payment.tests.trade_support import manual_clock


class IdCheckingBank(FakeBankChannel):
    """A FAKE bank whose cards were issued to a name and a resident id (as a real bank's)."""

    def __init__(self) -> None:
        super().__init__()
        self.issued_to: dict[str, str] = {}
        self.asked: list[tuple[str, str | None]] = []

    async def confirm_card_holder(
        self, card_number: str, holder_name: str, resident_id: str | None
    ) -> None:
        self.asked.append((holder_name, resident_id))
        await super().confirm_card_holder(card_number, holder_name, resident_id)
        if self.issued_to.get(card_number) != resident_id:
            raise CardHolderNotConfirmed("the card was not issued to that resident id")


@pytest.fixture(scope="module")
def bank() -> IdCheckingBank:
    return IdCheckingBank()


@pytest.fixture(scope="module")
async def stub(
    bank: IdCheckingBank, mongo_url: str, mongo_client: MongoClient, database_name: str
) -> AsyncIterator[Stub]:
    settings = service_settings("payment", mongo_url, f"{database_name}_payment")
    service = await build_payment_service(settings, mongo_client, manual_clock(), bank)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield payment_pb2_grpc.PaymentServiceStub(channel)
    finally:
        await service.stop()


async def open_person(stub: Stub, resident_id: str) -> pb.Account:
    response = await stub.OpenPersonalAccount(
        pb.OpenPersonalAccountRequest(
            idempotency_key=new_key(),
            owner_ref=new_key(),
            real_name="张三",
            resident_id=resident_id,
            phone=new_phone(),
        )
    )
    return response.account


def bind(stub: Stub, account_id: str, card_number: str) -> object:
    return stub.BindCard(
        pb.BindCardRequest(
            idempotency_key=new_key(), account_id=account_id, bank_card_number=card_number
        )
    )


async def test_a_card_is_bound_only_for_the_resident_id_the_bank_issued_it_to(
    stub: Stub, bank: IdCheckingBank
) -> None:
    holder_id, namesake_id = new_resident_id(), new_resident_id()
    card = fake_bank_card_for("张三", 7)
    bank.issued_to[card] = holder_id
    holder = await open_person(stub, holder_id)
    namesake = await open_person(stub, namesake_id)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await bind(stub, namesake.account_id, card)  # type: ignore[misc]
    assert error_reason(refused.value) == "CARD_HOLDER_NOT_CONFIRMED"
    assert bank.asked[-1] == ("张三", namesake_id)
    unchanged = await stub.GetAccount(pb.GetAccountRequest(account_id=namesake.account_id))
    assert unchanged.account.kyc_level == 2

    bound = await bind(stub, holder.account_id, card)
    assert bound.account.kyc_level == 3  # type: ignore[attr-defined]
    assert bank.asked[-1] == ("张三", holder_id)
