"""What the risk-control server tests share: payers with and without a payment password,
movements, and reading a risk refusal."""

from __future__ import annotations

from datetime import timedelta

import grpc

from chassis.clock import ManualClock
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import fake_bank_card_for
from services.payment.tests.support import (
    Stub,
    cny,
    new_key,
    open_person,
    top_up,
)
from services.payment.tests.trade_support import (
    PAYMENT_PASSWORD,
    WRONG_PAYMENT_PASSWORD,
    error_info,
    refused,
)

YUAN = 100
PASSWORD = pb.RiskSignals(payment_password=PAYMENT_PASSWORD)
WRONG_PASSWORD = pb.RiskSignals(payment_password=WRONG_PAYMENT_PASSWORD)


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


async def bind_card(stub, account_id: str) -> None:
    """Bind the card the fake bank issued to open_person's default name."""
    await stub.BindCard(
        pb.BindCardRequest(
            idempotency_key=new_key(),
            account_id=account_id,
            bank_card_number=fake_bank_card_for("张三"),
        )
    )
