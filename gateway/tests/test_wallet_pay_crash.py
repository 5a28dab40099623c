"""Crash tests of wallet pay (the wallet_payment saga): SIGKILL a real gateway inside it.

The method of test_saga_crash and test_wealth_saga_crash: a ``python -m gateway`` process
with the test-only failpoint (gateway.sagas.failpoints) kills itself at an exact point of
the saga it runs for ``POST /v1/wallet/payments``, and a restarted gateway's recovery loop
must finish the saga alone. The kill points are read from the saga's definition (the one
the gateway builds, gateway.payment.sagas.wallet_payment), so a renamed, added or removed step
moves them along. The buyer's balance is 0 and all their money is in Yu'e Bao, so every
payment redeems shares fast into the balance and pays from there:

- a trade paid by Yu'e Bao, killed once the saga was written (its Huabei steps SKIPPED in
  it: the payment has no Huabei part), and for every step that runs before its call (the
  "started" write durable), after its call answered (unrecorded) and after it was
  recorded: completed after the restart, the trade paid once, the
  shares down by exactly the amount, the balance where it was;
- a bill to a blacklisted biller (risk control denies PayBill, after the Yu'e Bao money
  reached the balance): killed after the refusal came back unrecorded, and
  after each undo's call answered and after it was recorded; compensated after the
  restart, the money taken back from the balance once and the shares back;
- the same bill killed after the payout into the balance answered but before it was
  recorded: the restart replays the keyed transfer, PayBill refuses, and the undo (which
  replays the transfer again before reversing it, WealthLedger.undo_payout) takes the
  money back exactly once.

After every case: the payment ledger's audit is clean, nothing is left held on the buyer,
the payout posted once (and reversed once when compensated), the payout is paid or
cancelled as the outcome says, and the Yu'e Bao omnibus balance equals the shares
outstanding (wealth_support.Books, settled).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from chassis.errors import DomainError
from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.app import SAGAS_COLLECTION
from gateway.clients import PaymentClient, ServiceChannels, WealthClient
from gateway.payment.sagas.wallet_payment import (
    CAPTURE_HUABEI,
    CREDIT_BALANCE,
    CREDIT_FROM_HUABEI,
    PAY,
    REDEEM_SHARES,
    RESERVE_HUABEI,
    wallet_payment_saga,
)
from gateway.sagas.definition import SagaState, StepStatus, derive_saga_id, step_key
from gateway.sagas.failpoints import SAGA_POINT, Failpoint, Phase
from gateway.sagas.log import SagaLog, SagaRecord
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
    gateway_environment,
    new_key,
    register,
    setup_gateway,
)
from gateway.tests.test_retail_payments import WATER_BILLER, water_reference
from gateway.tests.test_wealth_saga_crash import CrashWorld, _finished, service_addresses
from gateway.tests.wealth_support import Books
from gateway.wealth.ledger import WealthLedger
from services.payment.ledger import PostingKind
from services.payment.risk import DEFAULT_RULES_DATA
from services.payment.store import PaymentStore

pytestmark = pytest.mark.slow

# The module's services: the real payment and wealth services (the fixture of the Yu'e Bao
# subscription's crash module).
__all__ = ["service_addresses"]

# The buyer's whole top-up goes into Yu'e Bao: their balance stays 0, so Yu'e Bao pays.
YUEBAO_FEN = 50_000
AMOUNT_FEN = 1_000

# The definition the gateway runs, built only for its name and steps: nothing here calls
# a service, so the clients are never used.
_NOT_CALLED: Any = None
WALLET_PAY = wallet_payment_saga(
    _NOT_CALLED, _NOT_CALLED, WealthLedger(_NOT_CALLED), loan=_NOT_CALLED, loan_ledger=_NOT_CALLED
)
STEPS = WALLET_PAY.step_names
# A payment all from Yu'e Bao has no Huabei part: its Huabei steps are SKIPPED in the saga's
# first record (Step.skip), never run, so they have no kill points.
HUABEI_STEPS = (RESERVE_HUABEI, CREDIT_FROM_HUABEI, CAPTURE_HUABEI)
RUN_STEPS = [name for name in STEPS if name not in HUABEI_STEPS]
# The steps undone when a later one is refused (the ones before the point of no return).
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
    """The steps as the log has them when the process dies at a forward point."""
    index = WALLET_PAY.index_of(step_name)
    at_kill = _DONE if phase is Phase.DONE else _STARTED
    statuses = (_DONE,) * index + (at_kill,) + (_PENDING,) * (len(STEPS) - index - 1)
    return _with_skipped(statuses)


def _with_skipped(statuses: tuple[StepStatus, ...]) -> tuple[StepStatus, ...]:
    return tuple(
        _SKIPPED if name in HUABEI_STEPS else status
        for name, status in zip(STEPS, statuses, strict=True)
    )


# The saga written, no step begun; then for every step that runs: "about to call" durable
# (the call not made), the call answered but unrecorded, the step recorded.
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


@dataclass(frozen=True, slots=True)
class LeftAtKill:
    """Where a compensation point leaves things: the log, the buyer's balance and shares."""

    state: SagaState
    statuses: tuple[StepStatus, ...]
    # How much of the payout is still on the buyer's balance (AMOUNT_FEN or 0).
    balance_fen: int
    # How many of the buyer's shares are still redeemed (AMOUNT_FEN or 0).
    redeemed_fen: int


def _compensation_points() -> dict[str, LeftAtKill]:
    """After the refusal of pay came back unrecorded; then after each undo's call answered
    and after it was recorded (the last undoable step first)."""
    assert UNDOABLE_STEPS == [REDEEM_SHARES, CREDIT_BALANCE], UNDOABLE_STEPS
    refused = failpoint(PAY, Phase.CALLED)
    statuses = list(_statuses_after(PAY, Phase.CALLED))
    # The money reached the balance, the shares are redeemed, nothing is undone yet.
    points = {refused: LeftAtKill(SagaState.RUNNING, (*statuses,), AMOUNT_FEN, AMOUNT_FEN)}
    statuses[WALLET_PAY.index_of(PAY)] = _REFUSED
    # Once credit_balance's undo answered, the money is back off the balance; once
    # redeem_shares's did, the shares are back.
    # The Huabei steps are skipped (no Huabei part): nothing to undo, no kill points.
    undone = {
        CREDIT_BALANCE: (0, AMOUNT_FEN),
        REDEEM_SHARES: (0, 0),
    }
    for name in reversed(UNDOABLE_STEPS):
        index = WALLET_PAY.index_of(name)
        for phase, status in (
            (Phase.COMPENSATION_CALLED, _COMPENSATING),
            (Phase.COMPENSATION_DONE, _COMPENSATED),
        ):
            statuses[index] = status
            points[failpoint(name, phase)] = LeftAtKill(
                SagaState.COMPENSATING, (*statuses,), *undone[name]
            )
    return points


COMPENSATION_POINTS = _compensation_points()
# How a compensated payment's steps end: the undoable ones undone, pay refused, the rest
# never run (the Huabei ones skipped from the start).
COMPENSATED = _with_skipped(
    tuple(
        _COMPENSATED if name in UNDOABLE_STEPS else _REFUSED if name == PAY else _PENDING
        for name in STEPS
    )
)


@dataclass
class WalletWorld(CrashWorld):
    """The crash world of the Yu'e Bao subscription, with a merchant selling to the buyer
    (``investor``). balance_fen and shares_fen: what the buyer must have so far."""

    buyer_phone: str = ""
    merchant_api_key: str = ""


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[WalletWorld]:
    channels = ServiceChannels.open(service_addresses)
    payment = PaymentClient(channels.payment, 5.0)
    # One buyer pays a dozen times within a minute here: risk control's velocity rules would
    # rightly challenge that, and this module is about crashes, not risk. Every other
    # default rule stays in force.
    rules = [r for r in DEFAULT_RULES_DATA if not str(r["kind"]).startswith("velocity")]
    await payment.set_risk_rules(json.dumps(rules))
    # The water company's account is blacklisted: risk control denies every bill paid to it,
    # after the saga has brought the Yu'e Bao part into the balance (the route checks the
    # biller and the reference before anything moves, not the payee's standing).
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
            await _post(
                session,
                f"{setup.url}/v1/topups",
                buyer,
                {"amount_fen": YUEBAO_FEN, "bank_card_number": CARD},
            )
            subscribed = await _post(
                session,
                f"{setup.url}/v1/wealth/yuebao/subscriptions",
                buyer,
                {"amount_fen": YUEBAO_FEN},
            )
            assert subscribed["state"] == "completed", subscribed
        world = WalletWorld(
            environ=environ,
            log_dir=log_dir,
            session=session,
            books=Books(
                payment=payment,
                wealth=WealthClient(channels.wealth, 5.0),
                store=PaymentStore(mongo_client[f"{database_name}_payment"]),
            ),
            investor=buyer,
            balance_fen=0,
            shares_fen=YUEBAO_FEN,
            buyer_phone=buyer_body["phone"],
            merchant_api_key=api_key,
        )
        try:
            yield world
        finally:
            await world.close(channels)


@pytest.fixture(scope="module")
def saga_log(mongo_client: MongoClient, database_name: str) -> SagaLog:
    return SagaLog(mongo_client[f"{database_name}_gateway"][SAGAS_COLLECTION])


async def _post(
    session: aiohttp.ClientSession, url: str, party: Party, body: dict[str, Any]
) -> dict[str, Any]:
    async with session.post(url, json=body, headers=party.headers(new_key())) as response:
        assert response.status == 201, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def _trade(world: WalletWorld, gateway: GatewayProcess) -> str:
    """A trade of AMOUNT_FEN the merchant opens for the buyer."""
    async with world.session.post(
        f"{gateway.url}/v1/merchant/trades",
        json={"buyer_phone": world.buyer_phone, "amount_fen": AMOUNT_FEN, "description": "tea"},
        headers=api_key_headers(world.merchant_api_key, new_key()),
    ) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["trade_id"])


def _refused_bill() -> dict[str, Any]:
    """A bill PayBill refuses (RISK_DENIED: the biller's account is blacklisted, see world)."""
    return {"biller_id": WATER_BILLER, "reference": water_reference(), "amount_fen": AMOUNT_FEN}


REFUSAL_REASON = "RISK_DENIED"


def _refused_bill_payment() -> dict[str, Any]:
    return {"bill": _refused_bill(), "methods": ["yuebao"]}


async def _pay_and_die(world: WalletWorld, gateway: GatewayProcess, body: dict[str, Any]) -> str:
    """Send a wallet payment the gateway dies serving; the id of the operation it started."""
    key = new_key()
    with pytest.raises(aiohttp.ClientError):
        async with world.session.post(
            f"{gateway.url}/v1/wallet/payments",
            json=body,
            headers=world.investor.headers(key),
        ) as response:
            raise AssertionError(f"answered {response.status}: {await response.text()}")
    await gateway.killed()
    return derive_saga_id(world.investor.user_id, key)


async def _recovered(world: WalletWorld, operation_id: str) -> str:
    """The final state a clean gateway's recovery loop brings the operation to."""
    restarted = await world.gateway().start(world.session)
    try:
        return await _finished(world, restarted, operation_id)
    finally:
        await restarted.stop()


async def _record(saga_log: SagaLog, operation_id: str) -> SagaRecord:
    record = await saga_log.get(operation_id)
    assert record is not None, f"no saga {operation_id}"
    return record


async def _buyer_funds(world: WalletWorld) -> tuple[int, int, int]:
    """The buyer's balance, what is available of it, and their Yu'e Bao shares."""
    account = await world.books.payment.get_account(world.investor.account_id)
    holding = await world.books.wealth.get_yuebao_account(
        wpb.GetYuebaoAccountRequest(investor_id=world.investor.account_id)
    )
    return (
        account.balance.amount_fen,
        account.available.amount_fen,
        holding.account.shares.amount_fen,
    )


async def _postings(world: WalletWorld, reference: str, kind: PostingKind) -> int:
    """How many postings of this kind the payment ledger has under this reference."""
    return await world.books.store.postings.count_documents(
        {"reference": reference, "kind": kind.value}
    )


async def _hold_state(world: WalletWorld, hold_id: str) -> pb.HoldState.ValueType | None:
    try:
        hold = await world.books.payment.get_hold(hold_id)
    except DomainError as error:
        assert error.reason == "NOT_FOUND", error
        return None
    return hold.state


async def _check(world: WalletWorld, record: SagaRecord, *, completed: bool) -> None:
    """The buyer's money where the outcome says, the payout posted once (and reversed once
    when undone), nothing held, the books balanced and settled."""
    assert await _buyer_funds(world) == (world.balance_fen, world.balance_fen, world.shares_fen)
    payout_id = str(record.results()[REDEEM_SHARES]["payout_id"])
    payout = await world.books.wealth.get_payout(wpb.GetPayoutRequest(payout_id=payout_id))
    assert payout.payout.state == (
        wpb.PAYOUT_STATE_PAID if completed else wpb.PAYOUT_STATE_CANCELLED
    ), payout
    # The payout into the balance was posted once, whoever retried it.
    assert await _postings(world, payout_id, PostingKind.PLATFORM_TRANSFER) == 1
    # Undoing it takes the money back through a hold on the buyer, captured once.
    reversal_hold_id = step_key(record.saga_id, CREDIT_BALANCE) + ":compensation"
    reversed_ = await _postings(world, reversal_hold_id, PostingKind.HOLD_CAPTURE)
    reversal_state = await _hold_state(world, reversal_hold_id)
    if completed:
        assert (reversed_, reversal_state) == (0, None)
    else:
        assert (reversed_, reversal_state) == (1, pb.HOLD_STATE_CAPTURED)
    await world.books.check(settled=True)


@pytest.mark.parametrize("point", FORWARD_POINTS)
async def test_a_yuebao_trade_payment_killed_at_any_step_completes_after_restart(
    world: WalletWorld, saga_log: SagaLog, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    trade_id = await _trade(world, crashing)
    operation_id = await _pay_and_die(world, crashing, {"trade_id": trade_id})
    left = await _record(saga_log, operation_id)
    assert (left.state, left.statuses) == (SagaState.RUNNING, FORWARD_POINTS[point])

    assert await _recovered(world, operation_id) == "completed"

    record = await _record(saga_log, operation_id)
    assert record.input["funding"] == [["yuebao", AMOUNT_FEN]]
    trade = await world.books.payment.get_trade(trade_id)
    assert trade.state == pb.TRADE_STATE_PAID
    assert await _postings(world, trade_id, PostingKind.TRADE_PAYMENT) == 1  # paid once
    world.shares_fen -= AMOUNT_FEN
    await _check(world, record, completed=True)


@pytest.mark.parametrize("point", COMPENSATION_POINTS)
async def test_a_refused_yuebao_bill_payment_killed_while_undoing_is_compensated(
    world: WalletWorld, saga_log: SagaLog, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    operation_id = await _pay_and_die(world, crashing, _refused_bill_payment())
    left = await _record(saga_log, operation_id)
    expected = COMPENSATION_POINTS[point]
    balance_fen, _, shares_fen = await _buyer_funds(world)
    assert (left.state, left.statuses, balance_fen, shares_fen) == (
        expected.state,
        expected.statuses,
        world.balance_fen + expected.balance_fen,
        world.shares_fen - expected.redeemed_fen,
    )

    assert await _recovered(world, operation_id) == "compensated"

    record = await _record(saga_log, operation_id)
    assert record.error is not None and record.error.reason == REFUSAL_REASON
    assert record.statuses == COMPENSATED
    await _check(world, record, completed=False)


async def test_a_payout_killed_unrecorded_then_refused_is_taken_back_exactly_once(
    world: WalletWorld, saga_log: SagaLog
) -> None:
    # The transfer of the payout into the balance happened; the log only says "started".
    crashing = await world.gateway(failpoint(CREDIT_BALANCE, Phase.CALLED)).start(world.session)
    operation_id = await _pay_and_die(world, crashing, _refused_bill_payment())
    left = await _record(saga_log, operation_id)
    assert (left.state, left.statuses) == (
        SagaState.RUNNING,
        _statuses_after(CREDIT_BALANCE, Phase.CALLED),
    )
    payout_id = str(left.results()[REDEEM_SHARES]["payout_id"])
    assert await _postings(world, payout_id, PostingKind.PLATFORM_TRANSFER) == 1
    assert await _buyer_funds(world) == (
        world.balance_fen + AMOUNT_FEN,
        world.balance_fen + AMOUNT_FEN,
        world.shares_fen - AMOUNT_FEN,
    )

    # The restart replays the keyed transfer (it moves nothing again), PayBill refuses the
    # bill, and the undo replays the transfer once more before taking the money back.
    assert await _recovered(world, operation_id) == "compensated"

    record = await _record(saga_log, operation_id)
    assert record.error is not None and record.error.reason == REFUSAL_REASON
    assert record.statuses == COMPENSATED
    assert record.steps[WALLET_PAY.index_of(CREDIT_BALANCE)].attempts == 2
    await _check(world, record, completed=False)
