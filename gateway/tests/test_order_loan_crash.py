"""Crash tests of an order loan (the merchant_order_loan saga): SIGKILL a real gateway
inside it, as test_loan_repayment_crash does for a repayment.

Real payment and loan services. Each case: a buyer pays a 100-yuan trade to the merchant
(in escrow), and the merchant borrows 80 yuan against it through
``POST /v1/merchant/loans/order-loans`` with a gateway that kills itself once the saga was
written, and before every step's call, after it answered (unrecorded) and after it was
recorded. A restarted gateway's recovery loop must finish it: completed, the loan active,
one withholding on the trade, the payout posted once, the merchant's balance up by exactly
the loan, and platform:loan:capital (which order loans are lent from and repaid into)
reconciled with the funding and the loan books. Then the trade settles and the job relays
its withholding: the loan is repaid from it, once.
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
from colony.common.v1 import money_pb2
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.payment.v1 import payment_pb2, payment_pb2_grpc
from colony.payment.v1 import withholding_pb2 as wpb
from gateway.app import SAGAS_COLLECTION
from gateway.clients import PaymentClient, ServiceChannels
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.clients.withholding import WithholdingClient
from gateway.loans.merchant.funding import (
    CAPITAL_ACCOUNT_ID,
    SHAREHOLDERS_ACCOUNT_ID,
    FundingAccounts,
)
from gateway.loans.merchant.ledger import MerchantLoanLedger
from gateway.loans.merchant.order_loans import OrderLoanJobs, order_loan_saga
from gateway.sagas.definition import SagaState, StepStatus, derive_saga_id
from gateway.sagas.failpoints import SAGA_POINT, Failpoint, Phase
from gateway.sagas.log import SagaLog
from gateway.tests.conftest import (
    CARD,
    api_key_headers,
    merchant_registration,
    personal_registration,
)
from gateway.tests.saga_support import (
    FINISHED_WITHIN_SECONDS,
    REQUEST_TIMEOUT,
    GatewayProcess,
    GatewayRuns,
    Party,
    eventually,
    gateway_environment,
    new_key,
    register,
    setup_gateway,
)
from services.payment.ledger import PostingKind
from services.payment.risk import DEFAULT_RULES_DATA
from services.payment.store import PaymentStore

pytestmark = pytest.mark.slow

TRADE_FEN = 10_000
LOAN_FEN = 8_000
_NOT_CALLED: Any = None
SAGA = order_loan_saga(_NOT_CALLED, _NOT_CALLED, _NOT_CALLED)
STEPS = SAGA.step_names
_PENDING, _STARTED, _DONE = StepStatus.PENDING, StepStatus.STARTED, StepStatus.DONE


def _statuses_after(step_name: str, phase: Phase) -> tuple[StepStatus, ...]:
    index = SAGA.index_of(step_name)
    at_kill = _DONE if phase is Phase.DONE else _STARTED
    return (_DONE,) * index + (at_kill,) + (_PENDING,) * (len(STEPS) - index - 1)


FORWARD_POINTS = {
    str(Failpoint(SAGA.name, SAGA_POINT, Phase.CREATED)): (_PENDING,) * len(STEPS),
    **{
        str(Failpoint(SAGA.name, name, phase)): _statuses_after(name, phase)
        for name in STEPS
        for phase in (Phase.STARTED, Phase.CALLED, Phase.DONE)
    },
}


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, unreachable_address: str, manual_loan_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return {**addresses, "payment": payment_address, "loan": manual_loan_address}


@dataclass(kw_only=True)
class World(GatewayRuns):
    payment: PaymentClient
    lending: MerchantLendingClient
    withholding: WithholdingClient
    store: PaymentStore
    merchant: Party
    buyer: Party
    buyer_phone: str
    api_key: str
    lent_fen: int = 0


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    channels = ServiceChannels.open(service_addresses)
    # One buyer pays a trade per case within a minute or two: risk control's velocity rules
    # would rightly challenge that, and this module is about crashes, not risk (as
    # test_saga_crash). Every other default rule stays in force.
    rules = [r for r in DEFAULT_RULES_DATA if not str(r["kind"]).startswith("velocity")]
    await payment_pb2_grpc.PaymentServiceStub(channels.payment).SetRiskRules(
        payment_pb2.SetRiskRulesRequest(rules_json=json.dumps(rules))
    )
    lending = MerchantLendingClient(channels.loan, 5.0)
    await lending.pay_in_capital(
        mpb.PayInCapitalRequest(idempotency_key=new_key(), amount=_cny(10_000_000))
    )
    # ... and its money, which the order loans are lent from (the loan_funding saga's move).
    payment = PaymentClient(channels.payment, 5.0)
    await FundingAccounts(payment).ensure()
    await payment.platform_transfer(
        payment_pb2.PlatformTransferRequest(
            idempotency_key=new_key(),
            from_account_id=SHAREHOLDERS_ACCOUNT_ID,
            to_account_id=CAPITAL_ACCOUNT_ID,
            amount=_cny(10_000_000),
            memo="test set-up",
            reference="order-loan-crash",
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
            async with session.post(
                f"{setup.url}/v1/topups",
                json={"amount_fen": TRADE_FEN * 20, "bank_card_number": CARD},
                headers=buyer.headers(new_key()),
            ) as response:
                assert response.status == 201, await response.text()
        world = World(
            environ=environ,
            log_dir=log_dir,
            session=session,
            payment=PaymentClient(channels.payment, 5.0),
            lending=lending,
            withholding=WithholdingClient(channels.payment, 5.0),
            store=PaymentStore(mongo_client[f"{database_name}_payment"]),
            merchant=merchant,
            buyer=buyer,
            buyer_phone=buyer_body["phone"],
            api_key=api_key,
        )
        try:
            yield world
        finally:
            await world.close(channels)


def _cny(fen: int) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=fen, currency="CNY")


@pytest.fixture(scope="module")
def saga_log(mongo_client: MongoClient, database_name: str) -> SagaLog:
    return SagaLog(mongo_client[f"{database_name}_gateway"][SAGAS_COLLECTION])


async def _paid_trade(world: World, url: str) -> str:
    async with world.session.post(
        f"{url}/v1/merchant/trades",
        json={"buyer_phone": world.buyer_phone, "amount_fen": TRADE_FEN, "description": "tea"},
        headers=api_key_headers(world.api_key, new_key()),
    ) as response:
        assert response.status == 201, await response.text()
        trade_id = str((await response.json())["trade_id"])
    async with world.session.post(
        f"{url}/v1/trades/{trade_id}/pay", headers=world.buyer.headers(new_key())
    ) as response:
        assert response.status == 200, await response.text()
    return trade_id


async def _borrow_and_die(world: World, gateway: GatewayProcess) -> str:
    key = new_key()
    with pytest.raises(aiohttp.ClientError):
        async with world.session.post(
            f"{gateway.url}/v1/merchant/loans/order-loans",
            json={"amount_fen": LOAN_FEN},
            headers=world.merchant.headers(key),
        ) as response:
            raise AssertionError(f"answered {response.status}: {await response.text()}")
    await gateway.killed()
    return derive_saga_id(world.merchant.user_id, key)


async def _recovered(world: World, saga_log: SagaLog, operation_id: str) -> str:
    restarted = await world.gateway().start(world.session)

    async def final() -> str | None:
        record = await saga_log.get(operation_id)
        assert record is not None
        assert record.state is not SagaState.PARKED, record
        return record.state.value if record.state.is_final else None

    try:
        return await eventually(final, FINISHED_WITHIN_SECONDS, f"{operation_id} finishes")
    finally:
        await restarted.stop()


@pytest.mark.parametrize("point", FORWARD_POINTS)
async def test_an_order_loan_killed_at_any_step_completes_after_restart(
    world: World, saga_log: SagaLog, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    trade_id = await _paid_trade(world, crashing.url)
    operation_id = await _borrow_and_die(world, crashing)
    left = await saga_log.get(operation_id)
    assert left is not None
    assert (left.state, left.statuses) == (SagaState.RUNNING, FORWARD_POINTS[point])

    assert await _recovered(world, saga_log, operation_id) == "completed"
    world.lent_fen += LOAN_FEN
    record = await saga_log.get(operation_id)
    assert record is not None
    loan_id = record.input["loan_id"]
    loan = (await world.lending.get_order_loan(mpb.GetOrderLoanRequest(loan_id=loan_id))).loan
    assert loan.state == mpb.ORDER_LOAN_STATE_ACTIVE
    assert [t.trade_id for t in loan.trades] == [trade_id]
    listed = await world.withholding.list_withholdings(
        wpb.ListWithholdingsRequest(reference=loan_id)
    )
    assert [(w.trade_id, w.state) for w in listed.withholdings] == [
        (trade_id, wpb.WITHHOLDING_STATE_ACTIVE)
    ]
    payouts = await world.store.postings.count_documents(
        {"reference": loan_id, "kind": PostingKind.PLATFORM_TRANSFER.value}
    )
    assert payouts == 1, "the payout posted once"
    merchant = await world.payment.get_account(world.merchant.account_id)
    assert merchant.balance.amount_fen == world.lent_fen
    await _check_books(world)


async def test_the_settlements_repay_every_loan_once(world: World) -> None:
    """The trades settle; the job (run twice) relays each withholding once."""
    gateway = await world.gateway().start(world.session)
    try:
        loans = await world.lending.list_order_loans(
            mpb.ListOrderLoansRequest(merchant_id=world.merchant.account_id)
        )
        for loan in loans.loans:
            for trade in loan.trades:
                async with world.session.post(
                    f"{gateway.url}/v1/merchant/trades/{trade.trade_id}/ship",
                    headers=api_key_headers(world.api_key),
                ) as response:
                    assert response.status == 200, await response.text()
                async with world.session.post(
                    f"{gateway.url}/v1/trades/{trade.trade_id}/confirm-receipt",
                    headers=world.buyer.headers(),
                ) as response:
                    assert response.status == 200, await response.text()
    finally:
        await gateway.stop()
    jobs = OrderLoanJobs(
        world.lending, world.withholding, world.payment, MerchantLoanLedger(world.payment)
    )
    await jobs.run()
    await jobs.run()
    loans = await world.lending.list_order_loans(
        mpb.ListOrderLoansRequest(merchant_id=world.merchant.account_id)
    )
    assert loans.loans, "the cases lent"
    for loan in loans.loans:
        # the cap (80 yuan + 30 days of interest, 81.20) withheld of the 99.40 net: 80 yuan
        # repaid (the same day: no interest), 1.20 given back
        assert (loan.state, loan.collected.amount_fen) == (mpb.ORDER_LOAN_STATE_SETTLED, 8_120)
        assert [(e.amount.amount_fen, e.returned) for e in loan.excess] == [(120, True)]
    merchant = await world.payment.get_account(world.merchant.account_id)
    paid_per_trade = 9_940 - 8_120 + 120
    assert merchant.balance.amount_fen == world.lent_fen + len(loans.loans) * paid_per_trade
    await _check_books(world)


async def _check_books(world: World) -> None:
    assert await world.store.audit_ledger() == []
    audit = await world.lending.get_merchant_lending_audit(mpb.GetMerchantLendingAuditRequest())
    books = audit.order_loans
    assert list(books.breaches) == []
    assert books.in_flight.amount_fen == 0
    capacity = (await world.lending.get_lending_capacity(mpb.GetLendingCapacityRequest())).capacity
    capital = capacity.capital.amount_fen + capacity.bank_borrowing.amount_fen
    account = await world.payment.get_account(CAPITAL_ACCOUNT_ID)
    # capital + borrowing + (collected - lent) of the books lent from it (no facilities here)
    assert account.balance.amount_fen == capital + books.expected_balance_fen
