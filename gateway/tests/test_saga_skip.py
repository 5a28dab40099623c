"""Skipped steps (Step.skip): a step with nothing to do for a saga's input costs nothing.

A wallet payment from the balance alone has no Yu'e Bao and no Huabei part, and its six
steps for them used to be run (and logged twice each) only to return "skipped". Now the
saga's first record says SKIPPED for them, decided from the input alone: the engine never
calls, logs or compensates them, and a replica that resumes the saga after a crash reads
the same decision from the log. Real mongod; the steps are the test's own coroutines, so
every call is counted; the engines are built by hand over a saga log no gateway reads.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandListener, CommandStartedEvent

from chassis.clock import ManualClock
from chassis.errors import FailedPrecondition
from chassis.money import Money
from gateway.payment.methods import PaymentMethod
from gateway.payment.sagas.wallet_payment import (
    CAPTURE_HUABEI,
    CREDIT_BALANCE,
    CREDIT_FROM_HUABEI,
    MARK_PAYOUT_PAID,
    PAY,
    REDEEM_SHARES,
    RESERVE_HUABEI,
    BillTarget,
    WalletPaymentInput,
    wallet_payment_saga,
)
from gateway.sagas.definition import (
    RETRY_FORWARD,
    SKIPPED_RESULT,
    JsonObject,
    SagaDefinition,
    SagaState,
    Step,
    StepContext,
    StepStatus,
)
from gateway.sagas.engine import SagaEngine
from gateway.sagas.failpoints import Failpoint, Failpoints, Phase
from gateway.sagas.log import SagaLog
from gateway.sagas.retry import RetryPolicy
from gateway.wealth.ledger import WealthLedger

LEASE_SECONDS = 30.0
RETRY = RetryPolicy(
    attempts_per_pass=2, attempts_max=4, backoff_seconds_first=0.001, backoff_seconds_max=0.002
)
_SAGA_WRITES = ("insert", "findAndModify", "update")


class SagaWrites(CommandListener):
    """Counts the writes sent to the ``sagas`` collection of the test's database."""

    def __init__(self, database_name: str) -> None:
        self.database_name = database_name
        self.count = 0

    def started(self, event: CommandStartedEvent) -> None:
        if (
            event.database_name == self.database_name
            and event.command_name in _SAGA_WRITES
            and event.command.get(event.command_name) == "sagas"
        ):
            self.count += 1

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@pytest.fixture(scope="module")
def writes(database_name: str) -> SagaWrites:
    return SagaWrites(f"{database_name}_skip")


@pytest.fixture(scope="module")
async def saga_log(mongo_url: str, writes: SagaWrites) -> AsyncIterator[SagaLog]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, event_listeners=[writes])
    log = SagaLog(client[writes.database_name]["sagas"])
    await log.ensure_indexes()
    yield log
    await client.close()


class Killed(Exception):
    """The test's stand-in for SIGKILL at a failpoint: the pass stops where it is."""


def _kill() -> None:
    raise Killed


def counting_saga(calls: list[str], *, refuse: str = "") -> SagaDefinition:
    """Four steps; "yuebao" and "mark_paid" have nothing to do without a Yu'e Bao part.

    Every call of an action or a compensation is appended to calls; the step named by
    refuse is refused by its service.
    """

    def no_yuebao(saga_input: Mapping[str, Any]) -> bool:
        return not saga_input["yuebao_fen"]

    def step(name: str, *, forward_only: bool = False, skippable: bool = False) -> Step:
        async def action(context: StepContext) -> JsonObject:
            calls.append(name)
            if name == refuse:
                raise FailedPrecondition("refused by the test", reason="REFUSED_BY_TEST")
            return {"did": name}

        async def undo(context: StepContext) -> JsonObject:
            calls.append(f"undo {name}")
            return {}

        return Step(
            name,
            action,
            compensation=RETRY_FORWARD if forward_only else undo,
            skip=no_yuebao if skippable else None,
        )

    return SagaDefinition(
        name="counting",
        steps=(
            step("yuebao", skippable=True),
            step("hold"),
            step("pay", forward_only=True),
            step("mark_paid", forward_only=True, skippable=True),
        ),
        outcome=lambda saga_input, results: {"paid": results["pay"]["did"]},
    )


def engine_of(
    saga_log: SagaLog,
    definition: SagaDefinition,
    clock: ManualClock,
    failpoints: Failpoints | None = None,
) -> SagaEngine:
    return SagaEngine(
        saga_log,
        [definition],
        clock,
        instance_id=f"replica-{uuid.uuid4().hex[:6]}",
        lease_seconds=LEASE_SECONDS,
        retry=RETRY,
        failpoints=failpoints,
    )


async def start(
    engine: SagaEngine, definition: SagaDefinition, yuebao_fen: int, saga_id: str = ""
) -> str:
    saga_id = saga_id or uuid.uuid4().hex
    try:
        await engine.start(
            definition,
            saga_id=saga_id,
            owner_user_id="user-1",
            saga_input={"yuebao_fen": yuebao_fen},
            fingerprint="f",
            wait_seconds=30.0,
        )
    finally:
        await engine.close()
    return saga_id


_SKIPPED, _DONE = StepStatus.SKIPPED, StepStatus.DONE


async def test_steps_with_nothing_to_do_are_skipped_from_the_first_record(
    saga_log: SagaLog, clock: ManualClock, writes: SagaWrites
) -> None:
    calls: list[str] = []
    definition = counting_saga(calls)
    before = writes.count

    saga_id = await start(engine_of(saga_log, definition, clock), definition, 0)

    record = await saga_log.get(saga_id)
    assert record is not None
    assert record.state is SagaState.COMPLETED
    assert record.statuses == (_SKIPPED, _DONE, _DONE, _SKIPPED)
    assert calls == ["hold", "pay"]
    assert record.results()["yuebao"] == SKIPPED_RESULT
    assert record.result == {"paid": "pay"}
    # The first record, "started" and "done" of the two steps that ran, the completion.
    assert writes.count - before == 1 + 2 * 2 + 1


async def test_the_same_saga_with_something_to_do_runs_every_step(
    saga_log: SagaLog, clock: ManualClock, writes: SagaWrites
) -> None:
    calls: list[str] = []
    definition = counting_saga(calls)
    before = writes.count

    saga_id = await start(engine_of(saga_log, definition, clock), definition, 500)

    record = await saga_log.get(saga_id)
    assert record is not None
    assert (record.state, record.statuses) == (SagaState.COMPLETED, (_DONE,) * 4)
    assert calls == ["yuebao", "hold", "pay", "mark_paid"]
    assert writes.count - before == 1 + 2 * 4 + 1


async def test_a_refusal_compensates_only_the_steps_that_ran(
    saga_log: SagaLog, clock: ManualClock
) -> None:
    calls: list[str] = []
    definition = counting_saga(calls, refuse="pay")

    saga_id = await start(engine_of(saga_log, definition, clock), definition, 0)

    record = await saga_log.get(saga_id)
    assert record is not None
    assert record.state is SagaState.COMPENSATED
    assert record.statuses == (_SKIPPED, StepStatus.COMPENSATED, StepStatus.REFUSED, _SKIPPED)
    assert calls == ["hold", "pay", "undo hold"]


@pytest.mark.parametrize(
    ("step", "phase"), [("hold", Phase.STARTED), ("hold", Phase.DONE), ("pay", Phase.CALLED)]
)
async def test_a_saga_resumed_after_a_crash_keeps_its_skipped_steps_skipped(
    saga_log: SagaLog, clock: ManualClock, step: str, phase: Phase
) -> None:
    calls: list[str] = []
    definition = counting_saga(calls)
    failpoint = Failpoints(Failpoint(definition.name, step, phase), kill=_kill)
    saga_id = uuid.uuid4().hex
    with pytest.raises(Killed):
        await start(engine_of(saga_log, definition, clock, failpoint), definition, 0, saga_id)
    left = await saga_log.get(saga_id)
    assert left is not None and left.state is SagaState.RUNNING
    assert (left.statuses[0], left.statuses[3]) == (_SKIPPED, _SKIPPED)

    # Another replica, which never saw the input's decision being made, reads it from the log.
    replica = engine_of(saga_log, definition, clock)
    try:
        resumed = await replica.resume(saga_id)
    finally:
        await replica.close()

    assert resumed is not None
    assert (resumed.state, resumed.statuses) == (
        SagaState.COMPLETED,
        (_SKIPPED, _DONE, _DONE, _SKIPPED),
    )
    assert "yuebao" not in calls and "mark_paid" not in calls


def test_a_wallet_payment_from_the_balance_skips_every_yuebao_and_huabei_step() -> None:
    not_called: Any = None
    saga = wallet_payment_saga(
        not_called, not_called, WealthLedger(not_called), loan=not_called, loan_ledger=not_called
    )

    def skipped(funding: tuple[tuple[PaymentMethod, int], ...]) -> set[str]:
        order = WalletPaymentInput(
            payer_account_id="2088000000000001",
            target=BillTarget("westlake-water", "3301061234"),
            amount=Money(sum(fen for _, fen in funding)),
            funding=funding,
        )
        return {step.name for step in saga.steps if step.skipped_for(order.to_json())}

    yuebao_steps = {REDEEM_SHARES, CREDIT_BALANCE, MARK_PAYOUT_PAID}
    huabei_steps = {RESERVE_HUABEI, CREDIT_FROM_HUABEI, CAPTURE_HUABEI}
    assert skipped(((PaymentMethod.BALANCE, 1_000),)) == yuebao_steps | huabei_steps
    assert skipped(((PaymentMethod.YUEBAO, 1_000),)) == huabei_steps
    assert skipped(((PaymentMethod.HUABEI, 1_000),)) == yuebao_steps
    assert skipped(((PaymentMethod.BALANCE, 400), (PaymentMethod.YUEBAO, 600))) == huabei_steps
    assert PAY not in skipped(((PaymentMethod.BALANCE, 1_000),))
