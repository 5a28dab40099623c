"""Crash tests of a loan repayment (the loan_repayment saga): SIGKILL a real gateway inside
it, as test_wallet_pay_crash does for wallet pay.

Real payment, wealth, credit and loan services. The buyer bought 200 yuan on Huabei and
has 100 yuan in the balance; each case repays 1 yuan of Huabei (prepaid: credit for the
next bill) through ``POST /v1/loans/repayments``, with a gateway that kills itself once the
saga was written, and before every step's call, after it answered (unrecorded) and after
it was recorded. A restarted gateway's recovery loop must finish it: completed, the
repayment applied once, the balance down by exactly 1 yuan, nothing held, the hold
captured once into platform:loan:huabei, and the loan books reconciled with the ledger.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from chassis.mongo import MongoClient
from colony.loan.v1 import loan_pb2 as lpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.app import SAGAS_COLLECTION
from gateway.clients import LoanClient, PaymentClient, ServiceChannels, WealthClient
from gateway.loans.ledger import HUABEI_ACCOUNT_ID
from gateway.loans.sagas.repayment import HOLD, loan_repayment_saga
from gateway.sagas.definition import SagaState, StepStatus, derive_saga_id, step_key
from gateway.sagas.failpoints import SAGA_POINT, Failpoint, Phase
from gateway.sagas.log import SagaLog
from gateway.tests.conftest import (
    CARD,
    api_key_headers,
    merchant_registration,
    personal_registration,
)
from gateway.tests.saga_support import (
    REQUEST_TIMEOUT,
    GatewayProcess,
    Party,
    eventually,
    gateway_environment,
    new_key,
    register,
    setup_gateway,
)
from gateway.tests.test_huabei_pay_crash import (
    OPENED_SCORE,
    SCORE_WITHIN_SECONDS,
    credit_upstream_addresses,
    service_addresses,
)
from gateway.tests.test_wallet_pay_crash import WalletWorld, _postings, _record, _recovered
from gateway.tests.wealth_support import Books
from services.payment.ledger import PostingKind
from services.payment.risk import DEFAULT_RULES_DATA
from services.payment.store import PaymentStore

pytestmark = pytest.mark.slow

__all__ = ["credit_upstream_addresses", "service_addresses"]

PURCHASE_FEN = 20_000
BALANCE_FEN = 10_000
AMOUNT_FEN = 100

_NOT_CALLED: Any = None
REPAYMENT = loan_repayment_saga(_NOT_CALLED, _NOT_CALLED, _NOT_CALLED, _NOT_CALLED)
STEPS = REPAYMENT.step_names
_PENDING, _STARTED, _DONE = StepStatus.PENDING, StepStatus.STARTED, StepStatus.DONE


def _statuses_after(step_name: str, phase: Phase) -> tuple[StepStatus, ...]:
    index = REPAYMENT.index_of(step_name)
    at_kill = _DONE if phase is Phase.DONE else _STARTED
    return (_DONE,) * index + (at_kill,) + (_PENDING,) * (len(STEPS) - index - 1)


FORWARD_POINTS = {
    str(Failpoint(REPAYMENT.name, SAGA_POINT, Phase.CREATED)): (_PENDING,) * len(STEPS),
    **{
        str(Failpoint(REPAYMENT.name, name, phase)): _statuses_after(name, phase)
        for name in STEPS
        for phase in (Phase.STARTED, Phase.CALLED, Phase.DONE)
    },
}


@dataclass
class RepaymentWorld(WalletWorld):
    loan: LoanClient | None = None
    repaid_fen: int = 0


async def _post(
    session: aiohttp.ClientSession, url: str, party: Party, body: dict[str, Any]
) -> dict[str, Any]:
    async with session.post(url, json=body, headers=party.headers(new_key())) as response:
        assert response.status == 201, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RepaymentWorld]:
    channels = ServiceChannels.open(service_addresses)
    payment = PaymentClient(channels.payment, 5.0)
    rules = [r for r in DEFAULT_RULES_DATA if not str(r["kind"]).startswith("velocity")]
    await payment.set_risk_rules(json.dumps(rules))
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        environ = gateway_environment(mongo_url, database_name, service_addresses)
        log_dir = tmp_path_factory.mktemp("gateway-logs")
        async with setup_gateway(session, environ, log_dir) as setup:
            buyer_body = personal_registration()
            buyer = await register(session, setup.url, buyer_body)
            merchant = await register(session, setup.url, merchant_registration())
            async with session.post(
                f"{setup.url}/v1/merchant/api-keys", headers=merchant.headers()
            ) as response:
                assert response.status == 201, await response.text()
                api_key = str((await response.json())["api_key"])

            async def opened() -> bool | None:
                async with session.get(
                    f"{setup.url}/v1/credit/score", headers=buyer.headers()
                ) as response:
                    assert response.status == 200, await response.text()
                    return (await response.json())["score"] >= OPENED_SCORE or None

            await eventually(opened, SCORE_WITHIN_SECONDS, "the account opening is scored")
            async with session.post(
                f"{setup.url}/v1/merchant/trades",
                json={
                    "buyer_phone": buyer_body["phone"],
                    "amount_fen": PURCHASE_FEN,
                    "description": "tea",
                },
                headers=api_key_headers(api_key, new_key()),
            ) as response:
                assert response.status == 201, await response.text()
                trade_id = str((await response.json())["trade_id"])
            paid = await _post(
                session,
                f"{setup.url}/v1/wallet/payments",
                buyer,
                {"trade_id": trade_id, "methods": ["huabei"]},
            )
            assert paid["state"] == "completed", paid
            await _post(
                session,
                f"{setup.url}/v1/topups",
                buyer,
                {"amount_fen": BALANCE_FEN, "bank_card_number": CARD},
            )
        world = RepaymentWorld(
            environ=environ,
            log_dir=log_dir,
            session=session,
            books=Books(
                payment=payment,
                wealth=WealthClient(channels.wealth, 5.0),
                store=PaymentStore(mongo_client[f"{database_name}_payment"]),
                loan=LoanClient(channels.loan, 5.0),
            ),
            investor=buyer,
            balance_fen=BALANCE_FEN,
            shares_fen=0,
            buyer_phone=buyer_body["phone"],
            merchant_api_key=api_key,
            loan=LoanClient(channels.loan, 5.0),
        )
        try:
            yield world
        finally:
            await world.close(channels)


@pytest.fixture(scope="module")
def saga_log(mongo_client: MongoClient, database_name: str) -> SagaLog:
    return SagaLog(mongo_client[f"{database_name}_gateway"][SAGAS_COLLECTION])


async def _repay_and_die(world: RepaymentWorld, gateway: GatewayProcess) -> str:
    key = new_key()
    with pytest.raises(aiohttp.ClientError):
        async with world.session.post(
            f"{gateway.url}/v1/loans/repayments",
            json={"target": "huabei", "amount_fen": AMOUNT_FEN},
            headers=world.investor.headers(key),
        ) as response:
            raise AssertionError(f"answered {response.status}: {await response.text()}")
    await gateway.killed()
    return derive_saga_id(world.investor.user_id, key)


@pytest.mark.parametrize("point", FORWARD_POINTS)
async def test_a_repayment_killed_at_any_step_completes_after_restart(
    world: RepaymentWorld, saga_log: SagaLog, point: str
) -> None:
    assert world.loan is not None
    crashing = await world.gateway(failpoint=point).start(world.session)
    operation_id = await _repay_and_die(world, crashing)
    left = await _record(saga_log, operation_id)
    assert (left.state, left.statuses) == (SagaState.RUNNING, FORWARD_POINTS[point])

    assert await _recovered(world, operation_id) == "completed"

    world.repaid_fen += AMOUNT_FEN
    record = await _record(saga_log, operation_id)
    repayment_id = record.input["repayment_id"]
    repayments = await world.loan.list_repayments(
        lpb.ListRepaymentsRequest(borrower_id=world.investor.account_id)
    )
    states = {r.repayment_id: r.state for r in repayments.repayments}
    assert states[repayment_id] == lpb.REPAYMENT_STATE_APPLIED
    # The hold on the buyer captured once into the Huabei account; nothing else held.
    hold_id = step_key(operation_id, HOLD)
    assert await _postings(world, hold_id, PostingKind.HOLD_CAPTURE) == 1
    hold = await world.books.payment.get_hold(hold_id)
    assert hold.state == pb.HOLD_STATE_CAPTURED
    account = await world.books.payment.get_account(world.investor.account_id)
    expected_fen = BALANCE_FEN - world.repaid_fen
    assert (account.balance.amount_fen, account.available.amount_fen) == (expected_fen,) * 2
    line = (
        await world.loan.get_huabei_line(
            lpb.GetHuabeiLineRequest(borrower_id=world.investor.account_id)
        )
    ).line
    assert line.used.amount_fen == PURCHASE_FEN - world.repaid_fen, line
    assert await world.books.store.audit_ledger() == []
    audit = await world.loan.get_loan_audit(lpb.GetLoanAuditRequest())
    assert list(audit.breaches) == []
    for figures in audit.accounts:
        assert figures.pending.amount_fen == 0, figures
        if figures.account_id == HUABEI_ACCOUNT_ID:
            huabei = await world.books.payment.get_account(HUABEI_ACCOUNT_ID)
            assert huabei.balance.amount_fen == figures.expected_balance_fen, figures
            assert huabei.balance.amount_fen == world.repaid_fen - PURCHASE_FEN
