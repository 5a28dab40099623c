"""Crash tests of a Huabei payment (wallet pay with method "huabei"): SIGKILL a real gateway
inside the wallet_payment saga, as test_wallet_pay_crash does for Yu'e Bao.

Real payment, wealth, credit and loan services; a ``python -m gateway`` process with the
test-only failpoint kills itself at an exact point, and a restarted gateway's recovery
loop must finish the saga alone. The kill points are read from the saga's definition.
The buyer holds nothing: every payment draws on their Huabei line (500 yuan, the advice
for a verified newcomer), moves it from platform:loan:huabei into their balance, pays
from there.

- a trade paid by Huabei, killed once the saga was written (its Yu'e Bao steps SKIPPED in
  it: the payment has no Yu'e Bao part), and before every other step's call,
  after it answered (unrecorded) and after it was recorded: completed after the restart,
  the trade paid once, the line's used up by exactly the amount and nothing reserved;
- a bill to a blacklisted biller (risk control denies PayBill after the Huabei money
  reached the balance): killed after the refusal came back unrecorded, and after each
  undo's call answered and after it was recorded: compensated, the transfer taken back
  exactly once, the reservation released, the line as it was.

After every case: the payment ledger's audit is clean, the buyer's balance is 0 with
nothing held, the Huabei transfer was posted once, the loan books find no breach and
platform:loan:huabei holds exactly what they say (collected - lent), nothing in flight.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from chassis.mongo import MongoClient
from chassis.settings import SERVICE_NAMES
from colony.loan.v1 import loan_pb2 as lpb
from colony.payment.v1 import payment_pb2 as pb
from gateway.app import SAGAS_COLLECTION
from gateway.clients import LoanClient, PaymentClient, ServiceChannels, WealthClient
from gateway.loans.ledger import HUABEI_ACCOUNT_ID
from gateway.payment.sagas.wallet_payment import (
    CREDIT_BALANCE,
    CREDIT_FROM_HUABEI,
    MARK_PAYOUT_PAID,
    PAY,
    REDEEM_SHARES,
    RESERVE_HUABEI,
    wallet_payment_saga,
)
from gateway.sagas.definition import SagaState, StepStatus, step_key
from gateway.sagas.failpoints import SAGA_POINT, Failpoint, Phase
from gateway.sagas.log import SagaLog
from gateway.tests.conftest import api_key_headers, merchant_registration, personal_registration
from gateway.tests.saga_support import (
    REQUEST_TIMEOUT,
    GatewayProcess,
    eventually,
    gateway_environment,
    new_key,
    register,
    setup_gateway,
)
from gateway.tests.test_retail_payments import WATER_BILLER, water_reference
from gateway.tests.test_wallet_pay_crash import (
    WalletWorld,
    _pay_and_die,
    _postings,
    _record,
    _recovered,
)
from gateway.tests.wealth_support import Books
from gateway.wealth.ledger import WealthLedger
from services.payment.ledger import PostingKind
from services.payment.risk import DEFAULT_RULES_DATA
from services.payment.store import PaymentStore

pytestmark = pytest.mark.slow

AMOUNT_FEN = 1_000
OPENED_SCORE = 551
SCORE_WITHIN_SECONDS = 30.0

_NOT_CALLED: Any = None
WALLET_PAY = wallet_payment_saga(
    _NOT_CALLED, _NOT_CALLED, WealthLedger(_NOT_CALLED), loan=_NOT_CALLED, loan_ledger=_NOT_CALLED
)
STEPS = WALLET_PAY.step_names
# A payment all from Huabei has no Yu'e Bao part: its Yu'e Bao steps are SKIPPED in the
# saga's first record (Step.skip), never run, so they have no kill points.
YUEBAO_STEPS = (REDEEM_SHARES, CREDIT_BALANCE, MARK_PAYOUT_PAID)
RUN_STEPS = [name for name in STEPS if name not in YUEBAO_STEPS]
UNDOABLE_STEPS = [
    step.name for step in WALLET_PAY.steps if not step.retries_forward and step.name in RUN_STEPS
]
_PENDING, _STARTED, _DONE = StepStatus.PENDING, StepStatus.STARTED, StepStatus.DONE
_SKIPPED = StepStatus.SKIPPED
_COMPENSATING, _COMPENSATED, _REFUSED = (
    StepStatus.COMPENSATING,
    StepStatus.COMPENSATED,
    StepStatus.REFUSED,
)


def failpoint(step_name: str, phase: Phase) -> str:
    return str(Failpoint(WALLET_PAY.name, step_name, phase))


def _statuses_after(step_name: str, phase: Phase) -> tuple[StepStatus, ...]:
    index = WALLET_PAY.index_of(step_name)
    at_kill = _DONE if phase is Phase.DONE else _STARTED
    statuses = (_DONE,) * index + (at_kill,) + (_PENDING,) * (len(STEPS) - index - 1)
    return _with_skipped(statuses)


def _with_skipped(statuses: tuple[StepStatus, ...]) -> tuple[StepStatus, ...]:
    return tuple(
        _SKIPPED if name in YUEBAO_STEPS else status
        for name, status in zip(STEPS, statuses, strict=True)
    )


FORWARD_POINTS = {
    str(Failpoint(WALLET_PAY.name, SAGA_POINT, Phase.CREATED)): _with_skipped(
        (_PENDING,) * len(STEPS)
    ),
    **{
        failpoint(name, phase): _statuses_after(name, phase)
        for name in RUN_STEPS
        for phase in (Phase.STARTED, Phase.CALLED, Phase.DONE)
    },
}


def _compensation_points() -> dict[str, tuple[StepStatus, ...]]:
    refused = failpoint(PAY, Phase.CALLED)
    statuses = list(_statuses_after(PAY, Phase.CALLED))
    points = {refused: (*statuses,)}
    statuses[WALLET_PAY.index_of(PAY)] = _REFUSED
    for name in reversed(UNDOABLE_STEPS):
        index = WALLET_PAY.index_of(name)
        for phase, status in (
            (Phase.COMPENSATION_CALLED, _COMPENSATING),
            (Phase.COMPENSATION_DONE, _COMPENSATED),
        ):
            statuses[index] = status
            points[failpoint(name, phase)] = (*statuses,)
    return points


COMPENSATION_POINTS = _compensation_points()
COMPENSATED = _with_skipped(
    tuple(
        _COMPENSATED if name in UNDOABLE_STEPS else _REFUSED if name == PAY else _PENDING
        for name in STEPS
    )
)


@pytest.fixture(scope="module")
def credit_upstream_addresses(payment_address: str, wealth_address: str) -> dict[str, str]:
    """The module's credit service follows the module's own payment and wealth services."""
    return {"payment": payment_address, "wealth": wealth_address}


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str,
    wealth_address: str,
    credit_address: str,
    loan_address: str,
    unreachable_address: str,
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    addresses |= {
        "payment": payment_address,
        "wealth": wealth_address,
        "credit": credit_address,
        "loan": loan_address,
    }
    return addresses


@dataclass
class HuabeiWorld(WalletWorld):
    """The buyer and merchant of test_wallet_pay_crash; used_fen: the line's use so far."""

    loan: LoanClient | None = None
    used_fen: int = 0


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[HuabeiWorld]:
    channels = ServiceChannels.open(service_addresses)
    payment = PaymentClient(channels.payment, 5.0)
    rules = [r for r in DEFAULT_RULES_DATA if not str(r["kind"]).startswith("velocity")]
    await payment.set_risk_rules(json.dumps(rules))
    water = next(b for b in await payment.list_billers() if b.biller_id == WATER_BILLER)
    await payment.set_blacklisted(
        pb.SetBlacklistedRequest(
            account_id=water.merchant_account_id, blacklisted=True, reason="crash test"
        )
    )
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
                    return (await response.json())["score"] == OPENED_SCORE or None

            await eventually(opened, SCORE_WITHIN_SECONDS, "the account opening is scored")
            async with session.get(
                f"{setup.url}/v1/loans/huabei", headers=buyer.headers()
            ) as response:
                assert response.status == 200, await response.text()
        world = HuabeiWorld(
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
            balance_fen=0,
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


async def _trade(world: HuabeiWorld, gateway: GatewayProcess) -> str:
    async with world.session.post(
        f"{gateway.url}/v1/merchant/trades",
        json={"buyer_phone": world.buyer_phone, "amount_fen": AMOUNT_FEN, "description": "tea"},
        headers=api_key_headers(world.merchant_api_key, new_key()),
    ) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["trade_id"])


def _refused_bill_payment() -> dict[str, Any]:
    return {
        "bill": {
            "biller_id": WATER_BILLER,
            "reference": water_reference(),
            "amount_fen": AMOUNT_FEN,
        },
        "methods": ["huabei"],
    }


async def _check(world: HuabeiWorld, operation_id: str, *, completed: bool) -> None:
    """The buyer holds nothing, the line as the outcome says, the Huabei transfer posted
    once (and taken back once when undone), the loan books reconciled with the ledger."""
    assert world.loan is not None
    assert await world.books.store.audit_ledger() == []
    account = await world.books.payment.get_account(world.investor.account_id)
    assert (account.balance.amount_fen, account.available.amount_fen) == (0, 0)
    line = (
        await world.loan.get_huabei_line(
            lpb.GetHuabeiLineRequest(borrower_id=world.investor.account_id)
        )
    ).line
    assert (line.used.amount_fen, line.reserved.amount_fen) == (world.used_fen, 0), line
    reservation_id = step_key(operation_id, RESERVE_HUABEI)
    transfers = await _postings(world, reservation_id, PostingKind.PLATFORM_TRANSFER)
    reversal_key = step_key(operation_id, CREDIT_FROM_HUABEI) + ":compensation"
    reversals = await _postings(world, reversal_key, PostingKind.HOLD_CAPTURE)
    if completed:
        assert (transfers, reversals) == (1, 0)
    else:
        assert reversals == transfers <= 1
    audit = await world.loan.get_loan_audit(lpb.GetLoanAuditRequest())
    assert list(audit.breaches) == []
    for figures in audit.accounts:
        assert figures.pending.amount_fen == 0, figures
        if figures.account_id == HUABEI_ACCOUNT_ID:
            huabei = await world.books.payment.get_account(HUABEI_ACCOUNT_ID)
            assert huabei.balance.amount_fen == figures.expected_balance_fen, figures
            assert huabei.balance.amount_fen == -world.used_fen


@pytest.mark.parametrize("point", FORWARD_POINTS)
async def test_a_huabei_trade_payment_killed_at_any_step_completes_after_restart(
    world: HuabeiWorld, saga_log: SagaLog, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    trade_id = await _trade(world, crashing)
    operation_id = await _pay_and_die(
        world, crashing, {"trade_id": trade_id, "methods": ["huabei"]}
    )
    left = await _record(saga_log, operation_id)
    assert (left.state, left.statuses) == (SagaState.RUNNING, FORWARD_POINTS[point])

    assert await _recovered(world, operation_id) == "completed"

    record = await _record(saga_log, operation_id)
    assert record.input["funding"] == [["huabei", AMOUNT_FEN]]
    trade = await world.books.payment.get_trade(trade_id)
    assert trade.state == pb.TRADE_STATE_PAID
    assert await _postings(world, trade_id, PostingKind.TRADE_PAYMENT) == 1
    world.used_fen += AMOUNT_FEN
    await _check(world, operation_id, completed=True)


@pytest.mark.parametrize("point", COMPENSATION_POINTS)
async def test_a_refused_huabei_bill_payment_killed_while_undoing_is_compensated(
    world: HuabeiWorld, saga_log: SagaLog, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    operation_id = await _pay_and_die(world, crashing, _refused_bill_payment())
    left = await _record(saga_log, operation_id)
    assert left.statuses == COMPENSATION_POINTS[point]

    assert await _recovered(world, operation_id) == "compensated"

    record = await _record(saga_log, operation_id)
    assert record.error is not None and record.error.reason == "RISK_DENIED"
    assert record.statuses == COMPENSATED
    await _check(world, operation_id, completed=False)
