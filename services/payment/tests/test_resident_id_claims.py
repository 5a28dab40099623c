"""A resident id is declared when an account opens and claimed once proven (issue 21 item 5).

Opening a personal account records the id whoever else gave it, so the answer tells nothing
of other accounts; binding a card the bank confirms in the account's name (KYC level 3)
claims it, and a second account can never prove the same id. Claims made under the old rule
(the declared id was unique) stand as proven.
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from pymongo.errors import DuplicateKeyError

from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import fake_bank_card_for
from services.payment.store import PaymentStore
from services.payment.tests.support import (
    error_reason,
    new_key,
    new_phone,
    new_resident_id,
    open_merchant,
)

CARD = fake_bank_card_for("张三")


async def open_with(stub, resident_id: str) -> pb.Account:
    response = await stub.OpenPersonalAccount(
        pb.OpenPersonalAccountRequest(
            idempotency_key=new_key(),
            owner_ref=uuid.uuid4().hex,
            real_name="张三",
            resident_id=resident_id,
            phone=new_phone(),
        )
    )
    return response.account


def bind(stub, account_id: str, key: str | None = None):
    return stub.BindCard(
        pb.BindCardRequest(
            idempotency_key=key or new_key(), account_id=account_id, bank_card_number=CARD
        )
    )


async def test_two_accounts_may_declare_an_id_and_only_one_proves_it(
    stub, store: PaymentStore
) -> None:
    resident_id = new_resident_id()
    first, second = await open_with(stub, resident_id), await open_with(stub, resident_id)
    assert first.kyc_level == second.kyc_level == 2
    assert first.resident_id_masked == second.resident_id_masked

    key = new_key()
    proven = await bind(stub, second.account_id, key)
    assert proven.account.kyc_level == 3
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await bind(stub, first.account_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refused.value) == "CARD_HOLDER_NOT_CONFIRMED"
    assert "verified on another account" in (refused.value.details() or "")

    # The refusal changed nothing; the proof's replay answers as before; a second card of
    # the proven account binds (its claim is already its own).
    listed = await stub.ListBoundCards(pb.ListBoundCardsRequest(account_id=first.account_id))
    assert list(listed.cards) == []
    got = await stub.GetAccount(pb.GetAccountRequest(account_id=first.account_id))
    assert got.account.kyc_level == 2
    assert (await bind(stub, second.account_id, key)) == proven
    claims = store.identities.find({"resident_id": resident_id}, {"_id": 1, "proven": 1})
    assert {d["_id"]: d["proven"] async for d in claims} == {
        first.account_id: False,
        second.account_id: True,
    }


async def test_a_merchant_binding_claims_nothing(stub) -> None:
    merchant = await open_merchant(stub, "张三")
    assert (await bind(stub, merchant.account_id)).account.kyc_level == 3


async def test_claims_of_the_old_rule_stand_as_proven(
    mongo_client: MongoClient, database_name: str
) -> None:
    """A database from before: the declared id was unique (index resident_id_1)."""
    store = PaymentStore(mongo_client[f"{database_name}_legacy_identities"])
    await store.identities.create_index("resident_id", unique=True)
    resident_id = new_resident_id()
    await store.identities.insert_one({"_id": "2088legacy", "resident_id": resident_id})

    await store.ensure_account_indexes()
    await store.ensure_account_indexes()  # every start runs it: idempotent

    assert "resident_id_1" not in await store.identities.index_information()
    legacy = await store.identities.find_one({"_id": "2088legacy"})
    assert legacy is not None and legacy["proven"] is True
    # Declared again: accepted; proven again: refused by the index.
    await store.identities.insert_one(
        {"_id": "2088newcomer", "resident_id": resident_id, "proven": False}
    )
    with pytest.raises(DuplicateKeyError):
        await store.identities.update_one(
            {"_id": "2088newcomer"}, {"$set": {"proven_resident_id": resident_id}}
        )
