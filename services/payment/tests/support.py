"""Shared helpers for the payment service's tests: ids, money, stubs and short calls."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, timedelta

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from colony.common.v1 import money_pb2
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc
from services.payment.identity import resident_id_check_char
from services.payment.store import PaymentStore

CARD = "6222020200112233446"  # passes Luhn
DECLINED_CARD = "4000000000000002"  # the fake bank declines it

Stub = payment_pb2_grpc.PaymentServiceStub


def cny(fen: int) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=fen, currency="CNY")


def new_key() -> str:
    return uuid.uuid4().hex


def new_resident_id() -> str:
    """A random valid resident id: Beijing Dongcheng, born 1960-2005, random sequence."""
    birth = date(1960, 1, 1) + timedelta(days=secrets.randbelow(365 * 45))
    first_17 = f"110101{birth:%Y%m%d}{secrets.randbelow(1000):03d}"
    return first_17 + resident_id_check_char(first_17)


def new_phone() -> str:
    return f"139{secrets.randbelow(10**8):08d}"


def error_reason(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason a refusal carries."""
    status = rpc_status.from_call(error)
    assert status is not None, "every refusal carries google.rpc.Status details"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info.reason


async def open_person(stub: Stub, name: str = "张三") -> pb.Account:
    response = await stub.OpenPersonalAccount(
        pb.OpenPersonalAccountRequest(
            idempotency_key=new_key(),
            owner_ref=uuid.uuid4().hex,
            real_name=name,
            resident_id=new_resident_id(),
            phone=new_phone(),
        )
    )
    return response.account


async def open_merchant(stub: Stub, name: str = "Colony Coffee") -> pb.Account:
    response = await stub.OpenMerchantAccount(
        pb.OpenMerchantAccountRequest(
            idempotency_key=new_key(),
            owner_ref=uuid.uuid4().hex,
            merchant_name=name,
            phone=new_phone(),
            business_licence="91330100MA2CFX1234",
        )
    )
    return response.account


async def top_up(stub: Stub, account_id: str, fen: int) -> pb.TopUpResponse:
    return await stub.TopUp(
        pb.TopUpRequest(
            idempotency_key=new_key(), account_id=account_id, amount=cny(fen), bank_card_number=CARD
        )
    )


async def transfer(stub: Stub, from_id: str, to_id: str, fen: int) -> pb.TransferResponse:
    return await stub.Transfer(
        pb.TransferRequest(
            idempotency_key=new_key(), from_account_id=from_id, to_account_id=to_id, amount=cny(fen)
        )
    )


async def assert_ledger_consistent(store: PaymentStore) -> None:
    assert await store.audit_ledger() == []
