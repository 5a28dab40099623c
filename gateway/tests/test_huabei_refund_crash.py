"""Crash tests of a Huabei refund: SIGKILL a real gateway at every point of the huabei_refund
saga, which the gateway's payment-feed follower starts (gateway.loans.refunds).

Real payment, wealth, credit and loan services (the world of test_huabei_pay_crash: a
buyer holding nothing, whose purchases draw on a 500-yuan Huabei line). Each case pays a
10-yuan trade with Huabei through a gateway carrying the failpoint, then the merchant's
full refund is decided in the payment service (as the merchant's or the platform's route
does): the follower sees it on the feed and starts the saga, which kills the gateway at
the point. A restarted clean gateway (its follower reading the feed again from the saved
position, its recovery loop resuming the saga) must finish it alone:

- killed once the saga was written (inside the follower's batch, before its position was
  saved), and before every step's call, after it answered (unrecorded) and after it was
  recorded: completed, the refund taken from the balance into platform:loan:huabei by one
  capture, the line's used part back where it was, the purchase refunded once;
- a buyer who spent part of the refund before the saga ran (no gateway up when it was
  decided): what the balance still holds goes back to the line, the rest stays owed.

After every case: the payment ledger's audit is clean, the buyer's balance is 0 with
nothing held, the loan books find no breach and platform:loan:huabei holds exactly what
they say (collected - lent), nothing in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from colony.common.v1 import money_pb2
from colony.loan.v1 import loan_pb2 as lpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.loans.ledger import HUABEI_ACCOUNT_ID
from gateway.loans.refunds import refund_saga_id
from gateway.loans.sagas.huabei_refund import HOLD, huabei_refund_saga, trade_reference
from gateway.sagas.definition import SagaState, StepStatus, step_key
from gateway.sagas.failpoints import SAGA_POINT, Failpoint, Phase
from gateway.sagas.log import SagaLog, SagaRecord
from gateway.tests import test_huabei_pay_crash as huabei_pay_crash
from gateway.tests.conftest import api_key_headers, merchant_registration, personal_registration
from gateway.tests.saga_support import GatewayProcess, Party, eventually, new_key, register
from gateway.tests.test_huabei_pay_crash import (
    AMOUNT_FEN,
    OPENED_SCORE,
    SCORE_WITHIN_SECONDS,
    HuabeiWorld,
)
from gateway.tests.test_wallet_pay_crash import _postings
from services.payment.ledger import PostingKind

pytestmark = pytest.mark.slow

# The module fixtures of test_huabei_pay_crash: its services, buyer-less world and saga log.
credit_upstream_addresses = huabei_pay_crash.credit_upstream_addresses
service_addresses = huabei_pay_crash.service_addresses
world = huabei_pay_crash.world
saga_log = huabei_pay_crash.saga_log

_NOT_CALLED: Any = None
REFUND = huabei_refund_saga(_NOT_CALLED, _NOT_CALLED)
STEPS = REFUND.step_names
_PENDING, _STARTED, _DONE = StepStatus.PENDING, StepStatus.STARTED, StepStatus.DONE
FINISHED_WITHIN_SECONDS = 60.0
SPENT_FEN = 600


def _statuses_after(step_name: str, phase: Phase) -> tuple[StepStatus, ...]:
    index = REFUND.index_of(step_name)
    at_kill = _DONE if phase is Phase.DONE else _STARTED
    return (_DONE,) * index + (at_kill,) + (_PENDING,) * (len(STEPS) - index - 1)


POINTS = {
    str(Failpoint(REFUND.name, SAGA_POINT, Phase.CREATED)): (_PENDING,) * len(STEPS),
    **{
        str(Failpoint(REFUND.name, name, phase)): _statuses_after(name, phase)
        for name in STEPS
        for phase in (Phase.STARTED, Phase.CALLED, Phase.DONE)
    },
}


@dataclass(frozen=True, slots=True)
class Buyer:
    """A fresh buyer per case: a refunded trade lowers the buyer's score (refund share),
    and with it the next line."""

    party: Party
    phone: str


async def _new_buyer(world: HuabeiWorld, gateway: GatewayProcess) -> Buyer:
    """A verified newcomer, scored on opening, whose 500-yuan Huabei line is open."""
    body = personal_registration()
    party = await register(world.session, gateway.url, body)

    async def opened() -> bool | None:
        async with world.session.get(
            f"{gateway.url}/v1/credit/score", headers=party.headers()
        ) as response:
            assert response.status == 200, await response.text()
            return (await response.json())["score"] == OPENED_SCORE or None

    await eventually(opened, SCORE_WITHIN_SECONDS, "the account opening is scored")
    async with world.session.get(
        f"{gateway.url}/v1/loans/huabei", headers=party.headers()
    ) as response:
        assert response.status == 200, await response.text()
    return Buyer(party, body["phone"])


async def _paid_with_huabei(world: HuabeiWorld, gateway: GatewayProcess, buyer: Buyer) -> str:
    """A 10-yuan trade paid wholly by Huabei through this gateway; its id."""
    async with world.session.post(
        f"{gateway.url}/v1/merchant/trades",
        json={"buyer_phone": buyer.phone, "amount_fen": AMOUNT_FEN, "description": "tea"},
        headers=api_key_headers(world.merchant_api_key, new_key()),
    ) as response:
        assert response.status == 201, await response.text()
        trade_id = str((await response.json())["trade_id"])
    async with world.session.post(
        f"{gateway.url}/v1/wallet/payments",
        json={"trade_id": trade_id, "methods": ["huabei"]},
        headers=buyer.party.headers(new_key()),
    ) as response:
        assert response.status == 201, await response.text()
    return trade_id


async def _refund_in_full(world: HuabeiWorld, buyer: Buyer, trade_id: str) -> str:
    """The buyer asks for everything back and the platform approves: the refund saga's id."""
    payment = world.books.payment
    await payment.request_trade_refund(
        pb.RequestTradeRefundRequest(
            trade_id=trade_id, buyer_account_id=buyer.party.account_id, reason="broken"
        )
    )
    await payment.decide_trade_refund(
        pb.DecideTradeRefundRequest(trade_id=trade_id, merchant_account_id="", approve=True)
    )
    return refund_saga_id(f"{trade_reference(trade_id)}:refunded:{AMOUNT_FEN}")


async def _saga(saga_log: SagaLog, saga_id: str) -> SagaRecord:
    async def created() -> SagaRecord | None:
        return await saga_log.get(saga_id)

    return await eventually(created, FINISHED_WITHIN_SECONDS, f"saga {saga_id} exists")


async def _completed_after_restart(world: HuabeiWorld, saga_log: SagaLog, saga_id: str) -> None:
    restarted = await world.gateway().start(world.session)
    try:

        async def finished() -> SagaRecord | None:
            record = await saga_log.get(saga_id)
            if record is None:
                return None
            assert record.state is not SagaState.PARKED, record
            return record if record.state.is_final else None

        record = await eventually(finished, FINISHED_WITHIN_SECONDS, f"saga {saga_id} finishes")
        assert record.state is SagaState.COMPLETED, record
    finally:
        await restarted.stop()


async def _check(
    world: HuabeiWorld, buyer: Buyer, saga_id: str, trade_id: str, refunded_fen: int
) -> None:
    assert world.loan is not None
    borrower_id = buyer.party.account_id
    assert await world.books.store.audit_ledger() == []
    account = await world.books.payment.get_account(borrower_id)
    assert (account.balance.amount_fen, account.available.amount_fen) == (0, 0)
    line = (
        await world.loan.get_huabei_line(lpb.GetHuabeiLineRequest(borrower_id=borrower_id))
    ).line
    assert (line.used.amount_fen, line.reserved.amount_fen) == (AMOUNT_FEN - refunded_fen, 0)
    purchase = (
        await world.loan.find_huabei_purchase(
            lpb.FindHuabeiPurchaseRequest(
                borrower_id=borrower_id, reference=trade_reference(trade_id)
            )
        )
    ).purchase
    assert purchase.refunded.amount_fen == refunded_fen
    captures = await _postings(world, step_key(saga_id, HOLD), PostingKind.HOLD_CAPTURE)
    assert captures == (1 if refunded_fen else 0)
    audit = await world.loan.get_loan_audit(lpb.GetLoanAuditRequest())
    assert list(audit.breaches) == []
    for figures in audit.accounts:
        assert figures.pending.amount_fen == 0, figures
        if figures.account_id == HUABEI_ACCOUNT_ID:
            huabei = await world.books.payment.get_account(HUABEI_ACCOUNT_ID)
            assert huabei.balance.amount_fen == figures.expected_balance_fen, figures
            assert huabei.balance.amount_fen == -world.used_fen


@pytest.mark.parametrize("point", POINTS)
async def test_a_huabei_refund_killed_at_any_step_completes_after_restart(
    world: HuabeiWorld, saga_log: SagaLog, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    buyer = await _new_buyer(world, crashing)
    trade_id = await _paid_with_huabei(world, crashing, buyer)
    saga_id = await _refund_in_full(world, buyer, trade_id)
    await crashing.killed()
    left = await _saga(saga_log, saga_id)
    assert (left.state, left.statuses) == (SagaState.RUNNING, POINTS[point])

    await _completed_after_restart(world, saga_log, saga_id)

    await _check(world, buyer, saga_id, trade_id, AMOUNT_FEN)


async def test_a_refund_the_buyer_partly_spent_returns_what_the_balance_holds(
    world: HuabeiWorld, saga_log: SagaLog
) -> None:
    gateway = await world.gateway().start(world.session)
    try:
        buyer = await _new_buyer(world, gateway)
        trade_id = await _paid_with_huabei(world, gateway, buyer)
        payee = await register(world.session, gateway.url, merchant_registration())
    finally:
        await gateway.stop()
    # Decided while no gateway follows the feed; the buyer spends 6 of the 10 yuan at once.
    saga_id = await _refund_in_full(world, buyer, trade_id)
    await world.books.payment.transfer(
        pb.TransferRequest(
            idempotency_key=new_key(),
            from_account_id=buyer.party.account_id,
            to_account_id=payee.account_id,
            amount=money_pb2.Money(amount_fen=SPENT_FEN, currency="CNY"),
        )
    )

    await _completed_after_restart(world, saga_log, saga_id)

    record = await _saga(saga_log, saga_id)
    assert record.result is not None
    assert record.result["returned_to_line"]["amount_fen"] == AMOUNT_FEN - SPENT_FEN
    assert record.result["kept_in_balance"]["amount_fen"] == SPENT_FEN
    world.used_fen += SPENT_FEN  # the spent part stays owed on the line
    await _check(world, buyer, saga_id, trade_id, AMOUNT_FEN - SPENT_FEN)
