"""Huabei lines granted within the lending capacity (docs/loans.md "Funding"): a grant or
raise is limited to used + reserved + the capacity available, the reason shown; a purchase
inside a granted line is never refused for capacity. Real gRPC, real mongod.

Capacity counts drawn lines (used + reserved), not undrawn limits. Capital 1,000 yuan,
nothing drawn: a line advised at 800 is granted 800; a second person's advised 1,500 is
granted 1,000 (LENDING_CAPACITY); the first buys 150 with Huabei (drawn, counted): the second
line is not cut and stays limited; with 1,000 more capital (1,850 available) the second
person's next sync is raised to its advice. A lower advice is never limited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import grpc
import pytest

from colony.loan.v1 import loan_pb2 as pb
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.loan.v1 import merchant_lending_pb2_grpc
from services.loan.credit_advice import CreditAdvice
from services.loan.huabei import open_line, sync_line
from services.loan.tests.support import (
    RunningLoan,
    advice,
    buy_with_huabei,
    cny,
    new_borrower,
    new_key,
)

YUAN = 100
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def advised(fen: int) -> CreditAdvice:
    return CreditAdvice(
        person_id="p",
        score=700,
        model_version="m",
        huabei_line_fen=fen,
        cash_loan_ceiling_fen=0,
        daily_rate_min=None,
        daily_rate_max=None,
        refusal="",
    )


def test_a_grant_is_limited_to_the_room_and_never_cuts_a_line() -> None:
    line = open_line(advised(80_000), 1, NOW, room_fen=20_000)
    assert (line.line_fen, line.advised_line_fen, line.limited_reason) == (
        20_000,
        80_000,
        "LENDING_CAPACITY",
    )
    # used + reserved 15,000, room 10,000 more: at most 25,000 (never below the line's 20,000)
    used = sync_line(replace(line, used_fen=15_000), advised(80_000), NOW, room_fen=10_000)
    assert (used.line_fen, used.limited_reason) == (25_000, "LENDING_CAPACITY")
    same = sync_line(line, advised(80_000), NOW, room_fen=0)
    assert (same.line_fen, same.limited_reason) == (20_000, "LENDING_CAPACITY")
    partly = sync_line(line, advised(80_000), NOW, room_fen=60_000)  # undrawn at most the room
    assert (partly.line_fen, partly.limited_reason) == (60_000, "LENDING_CAPACITY")
    raised = sync_line(line, advised(80_000), NOW, room_fen=80_000)
    assert (raised.line_fen, raised.limited_reason) == (80_000, "")
    lower = sync_line(raised, advised(30_000), NOW, room_fen=-5)
    assert (lower.line_fen, lower.limited_reason) == (30_000, "")
    assert sync_line(line, advised(80_000), NOW).line_fen == 80_000  # not limited


Merchant = merchant_lending_pb2_grpc.MerchantLendingServiceStub


@pytest.fixture(scope="module")
async def merchant(loan: RunningLoan) -> AsyncIterator[Merchant]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{loan.service.port}") as channel:
        yield merchant_lending_pb2_grpc.MerchantLendingServiceStub(channel)


async def sync(loan: RunningLoan, borrower: str, line_fen: int) -> pb.HuabeiLine:
    response = await loan.stub.SyncHuabeiLine(
        pb.SyncHuabeiLineRequest(
            idempotency_key=new_key(), borrower_id=borrower, advice=advice(borrower, line_fen)
        )
    )
    return response.line


async def test_lines_are_granted_within_the_capacity(loan: RunningLoan, merchant: Merchant) -> None:
    # Before any capital is paid in, lines are not limited (docs/loans.md).
    early = await sync(loan, new_borrower(), 5_000 * YUAN)
    assert (early.line.amount_fen, early.limited_reason) == (5_000 * YUAN, "")
    await merchant.PayInCapital(
        mpb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(1_000 * YUAN))
    )
    first, second = new_borrower(), new_borrower()
    granted = await sync(loan, first, 800 * YUAN)
    assert (granted.line.amount_fen, granted.limited_reason) == (800 * YUAN, "")
    # Nothing is drawn yet: the capacity (1,000) counts drawn lines, so 1,000 is available.
    limited = await sync(loan, second, 1_500 * YUAN)
    assert (limited.line.amount_fen, limited.advised_line.amount_fen) == (
        1_000 * YUAN,
        1_500 * YUAN,
    )
    assert limited.limited_reason == "LENDING_CAPACITY"
    await buy_with_huabei(loan.stub, first, 150 * YUAN)  # inside the line: never refused
    # 150 drawn: 850 available; the second line stays 1,000 (not cut), still limited.
    again = await sync(loan, second, 1_500 * YUAN)
    assert (again.line.amount_fen, again.limited_reason) == (1_000 * YUAN, "LENDING_CAPACITY")
    await merchant.PayInCapital(
        mpb.PayInCapitalRequest(idempotency_key=new_key(), amount=cny(1_000 * YUAN))
    )
    # 2,000 capital, 150 drawn: 1,850 available -> the advice of 1,500 is granted.
    raised = await sync(loan, second, 1_500 * YUAN)
    assert (raised.line.amount_fen, raised.limited_reason) == (1_500 * YUAN, "")
    got = await loan.stub.GetHuabeiLine(pb.GetHuabeiLineRequest(borrower_id=second))
    assert got.line.limited_reason == ""
