"""The saga engine against real mongod and the real payment service (hold steps).

The engines here are built by hand over a saga log of their own (not the module gateway's),
so only the test drives them: no recovery loop runs behind its back. The module's
ManualClock decides when a lease has expired.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import grpc
import pytest
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import ManualClock
from chassis.errors import DomainError, Unavailable
from chassis.money import Money
from chassis.mongo import MongoClient
from chassis.settings import SERVICE_NAMES
from colony.common.v1 import money_pb2
from colony.payment.v1 import payment_pb2 as pb
from gateway.clients import PaymentClient, ServiceChannels
from gateway.payment.sagas.merchant_payment import (
    CAPTURE_TO_MERCHANT,
    MERCHANT_PAYMENT,
    RESERVE_FUNDS,
    merchant_payment_input,
    merchant_payment_saga,
)
from gateway.sagas.definition import (
    RETRY_FORWARD,
    JsonObject,
    SagaDefinition,
    SagaState,
    Step,
    StepContext,
    StepStatus,
    step_key,
)
from gateway.sagas.engine import SagaEngine
from gateway.sagas.failpoints import Failpoint, Failpoints, Phase
from gateway.sagas.log import LeaseLost, SagaLog, SagaRecord
from gateway.sagas.retry import RetryPolicy
from gateway.tests.conftest import User
from gateway.tests.saga_support import Client, eventually, funded_payer, funds_of, new_key

LEASE_SECONDS = 30.0
# Tiny waits so retries cost nothing; two attempts per pass, four in all.
FAST_RETRY = RetryPolicy(
    attempts_per_pass=2, attempts_max=4, backoff_seconds_first=0.001, backoff_seconds_max=0.002
)
HOLD_TTL_SECONDS = 900
MISSING_MERCHANT = "2188000000000000"


@pytest.fixture(scope="module")
async def saga_log(mongo_client: MongoClient, database_name: str) -> AsyncIterator[SagaLog]:
    """A saga log no gateway app reads: only the engines of these tests drive it."""
    collection: AsyncCollection[dict[str, Any]] = mongo_client[f"{database_name}_engine"]["sagas"]
    log = SagaLog(collection)
    await log.ensure_indexes()
    yield log


@pytest.fixture(scope="module")
def payment(channels: ServiceChannels) -> PaymentClient:
    return PaymentClient(channels.payment, 5.0)


EngineFactory = Callable[..., SagaEngine]
Parties = Callable[[int], Awaitable[tuple[User, User]]]


@pytest.fixture(scope="module")
def parties(gateway: Client, new_user: Any, new_merchant: Any) -> Parties:
    """parties(balance_fen): a payer topped up with balance_fen, and a merchant."""

    async def register(balance_fen: int) -> tuple[User, User]:
        return await funded_payer(gateway, new_user, balance_fen), await new_merchant()

    return register


@pytest.fixture
async def engine_for(saga_log: SagaLog, clock: ManualClock) -> AsyncIterator[EngineFactory]:
    """engine_for(*definitions, instance_id=..., retry=..., failpoints=...): a replica."""
    engines: list[SagaEngine] = []

    def build(
        *definitions: SagaDefinition,
        instance_id: str = "replica-a",
        retry: RetryPolicy = FAST_RETRY,
        failpoints: Failpoints | None = None,
    ) -> SagaEngine:
        engine = SagaEngine(
            saga_log,
            definitions,
            clock,
            instance_id=instance_id,
            lease_seconds=LEASE_SECONDS,
            retry=retry,
            failpoints=failpoints,
        )
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        await engine.close()


async def start_payment(
    engine: SagaEngine,
    definition: SagaDefinition,
    payer: User,
    merchant_account_id: str,
    amount_fen: int,
) -> SagaRecord:
    return await engine.start(
        definition,
        saga_id=new_key().replace("-", ""),
        owner_user_id=payer.user_id,
        saga_input=merchant_payment_input(
            payer_account_id=payer.account_id,
            merchant_account_id=merchant_account_id,
            amount=Money(amount_fen),
            memo="test",
        ),
        fingerprint="f",
        wait_seconds=30.0,
    )


async def hold_state(payment: PaymentClient, hold_id: str) -> str:
    return pb.HoldState.Name((await payment.get_hold(hold_id)).state)


async def test_a_merchant_payment_reserves_then_captures(
    parties: Parties, payment: PaymentClient, engine_for: EngineFactory
) -> None:
    payer, merchant = await parties(10_000)
    definition = merchant_payment_saga(payment, HOLD_TTL_SECONDS)
    engine = engine_for(definition)

    record = await start_payment(engine, definition, payer, merchant.account_id, 2_500)

    assert record.state is SagaState.COMPLETED
    assert record.statuses == (StepStatus.DONE, StepStatus.DONE)
    assert [step.attempts for step in record.steps] == [1, 1]
    assert record.result is not None
    assert record.result["amount"]["amount_fen"] == 2_500
    assert record.result["merchant_account_id"] == merchant.account_id
    assert record.lease_owner is None
    hold_id = step_key(record.saga_id, RESERVE_FUNDS)
    assert await hold_state(payment, hold_id) == "HOLD_STATE_CAPTURED"
    payer_funds = await funds_of(payment, payer.account_id)
    assert (payer_funds.balance_fen, payer_funds.available_fen) == (7_500, 7_500)
    assert (await funds_of(payment, merchant.account_id)).balance_fen == 2_500


async def test_a_refused_capture_voids_the_hold_and_restores_available(
    gateway: Client, new_user: Any, payment: PaymentClient, engine_for: EngineFactory
) -> None:
    payer = await funded_payer(gateway, new_user, 10_000)
    definition = merchant_payment_saga(payment, HOLD_TTL_SECONDS)
    engine = engine_for(definition)

    # The capture's credit account does not exist: NOT_FOUND, a refusal that moved nothing.
    record = await start_payment(engine, definition, payer, MISSING_MERCHANT, 4_000)

    assert record.state is SagaState.COMPENSATED
    assert record.statuses == (StepStatus.COMPENSATED, StepStatus.REFUSED)
    assert record.error is not None and record.error.code == "NOT_FOUND"
    assert record.steps[0].compensation_attempts == 1
    assert await hold_state(payment, step_key(record.saga_id, RESERVE_FUNDS)) == (
        "HOLD_STATE_VOIDED"
    )
    payer_funds = await funds_of(payment, payer.account_id)
    assert (payer_funds.balance_fen, payer_funds.available_fen) == (10_000, 10_000)


class FlakyPayment(PaymentClient):
    """The real payment client, but the first create_hold calls fail as if it were away."""

    def __init__(self, channel: grpc.aio.Channel, failures: int) -> None:
        super().__init__(channel, 5.0)
        self.failures_left = failures
        self.capture_down = False

    async def create_hold(self, request: pb.CreateHoldRequest) -> pb.CreateHoldResponse:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise Unavailable("the payment service is unavailable")
        return await super().create_hold(request)

    async def capture_hold(self, request: pb.CaptureHoldRequest) -> pb.CaptureHoldResponse:
        if self.capture_down:
            raise Unavailable("the payment service is unavailable")
        return await super().capture_hold(request)


async def test_a_transient_failure_is_retried_with_the_same_hold_id(
    parties: Parties,
    channels: ServiceChannels,
    payment: PaymentClient,
    engine_for: EngineFactory,
) -> None:
    payer, merchant = await parties(10_000)
    flaky = FlakyPayment(channels.payment, failures=1)
    definition = merchant_payment_saga(flaky, HOLD_TTL_SECONDS)
    engine = engine_for(definition)

    record = await start_payment(engine, definition, payer, merchant.account_id, 1_000)

    assert record.state is SagaState.COMPLETED
    assert [step.attempts for step in record.steps] == [2, 1]
    assert (await funds_of(payment, merchant.account_id)).balance_fen == 1_000


async def test_a_saga_out_of_attempts_for_this_pass_waits_for_the_next(
    parties: Parties, payment: PaymentClient, engine_for: EngineFactory, unreachable_address: str
) -> None:
    payer, merchant = await parties(10_000)
    cut_off = ServiceChannels.open({name: unreachable_address for name in SERVICE_NAMES})
    try:
        away = PaymentClient(cut_off.payment, 1.0)
        stranded = engine_for(merchant_payment_saga(away, HOLD_TTL_SECONDS), instance_id="a")
        record = await start_payment(
            stranded, stranded.definition(MERCHANT_PAYMENT), payer, merchant.account_id, 700
        )
    finally:
        await cut_off.close()

    # Two real UNAVAILABLE answers, then the lease is let go at once for the next pass.
    assert record.state is SagaState.RUNNING
    assert record.steps[0].status is StepStatus.STARTED
    assert record.steps[0].attempts == FAST_RETRY.attempts_per_pass
    assert record.steps[0].last_error is not None
    assert record.steps[0].last_error.code == "UNAVAILABLE"
    assert record.lease_owner is None

    healthy = engine_for(merchant_payment_saga(payment, HOLD_TTL_SECONDS), instance_id="b")
    assert await healthy.recover_once() >= 1
    finished = await healthy.get(record.saga_id)
    assert finished is not None and finished.state is SagaState.COMPLETED
    assert [step.attempts for step in finished.steps] == [3, 1]
    assert (await funds_of(payment, merchant.account_id)).balance_fen == 700


def _hold_step(
    name: str,
    payment: PaymentClient,
    account_id: str,
    amount_fen: int,
    compensated: list[str],
) -> Step:
    async def reserve(context: StepContext) -> JsonObject:
        await payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=context.key,
                account_id=account_id,
                amount=money_pb2.Money(amount_fen=amount_fen, currency="CNY"),
                ttl_seconds=HOLD_TTL_SECONDS,
            )
        )
        return {}

    async def release(context: StepContext) -> JsonObject:
        compensated.append(context.step_name)
        await payment.void_hold(pb.VoidHoldRequest(hold_id=context.key))
        return {}

    return Step(name, reserve, compensation=release)


async def test_compensations_run_in_reverse_order_of_the_steps(
    gateway: Client, new_user: Any, payment: PaymentClient, engine_for: EngineFactory
) -> None:
    payer = await funded_payer(gateway, new_user, 1_000)
    compensated: list[str] = []
    definition = SagaDefinition(
        name="three_holds_then_too_much",
        steps=(
            _hold_step("first", payment, payer.account_id, 100, compensated),
            _hold_step("second", payment, payer.account_id, 200, compensated),
            _hold_step("third", payment, payer.account_id, 300, compensated),
            # 400 fen more than is left available: INSUFFICIENT_FUNDS.
            _hold_step("too_much", payment, payer.account_id, 800, compensated),
        ),
        outcome=lambda saga_input, results: {},
    )
    engine = engine_for(definition)

    record = await engine.start(
        definition,
        saga_id=new_key().replace("-", ""),
        owner_user_id=payer.user_id,
        saga_input={},
        fingerprint="f",
        wait_seconds=30.0,
    )

    assert record.state is SagaState.COMPENSATED
    assert compensated == ["third", "second", "first"]
    assert record.error is not None and record.error.reason == "INSUFFICIENT_FUNDS"
    assert record.statuses == (
        StepStatus.COMPENSATED,
        StepStatus.COMPENSATED,
        StepStatus.COMPENSATED,
        StepStatus.REFUSED,
    )
    for name in ("first", "second", "third"):
        assert await hold_state(payment, step_key(record.saga_id, name)) == "HOLD_STATE_VOIDED"
    with pytest.raises(DomainError) as refused:
        await payment.get_hold(step_key(record.saga_id, "too_much"))
    assert refused.value.reason == "NOT_FOUND"
    assert (await funds_of(payment, payer.account_id)).available_fen == 1_000


async def test_a_saga_leased_by_a_live_replica_is_not_driven_by_another(
    parties: Parties,
    payment: PaymentClient,
    saga_log: SagaLog,
    clock: ManualClock,
    engine_for: EngineFactory,
) -> None:
    payer, merchant = await parties(10_000)
    definition = merchant_payment_saga(payment, HOLD_TTL_SECONDS)
    saga_id = new_key().replace("-", "")
    # Replica A created the saga and holds its lease (then, say, stalls in a long GC).
    created = await saga_log.create(
        definition,
        saga_id=saga_id,
        owner_user_id=payer.user_id,
        fingerprint="f",
        saga_input=merchant_payment_input(
            payer_account_id=payer.account_id,
            merchant_account_id=merchant.account_id,
            amount=Money(900),
            memo="",
        ),
        lease_owner="replica-a",
        lease_token="token-a",
        lease_until=clock.now() + timedelta(seconds=LEASE_SECONDS),
        now=clock.now(),
    )
    assert created is not None
    replica_b = engine_for(definition, instance_id="replica-b")

    assert await replica_b.resume(saga_id) is None
    assert await replica_b.recover_once() == 0
    untouched = await saga_log.get(saga_id)
    assert untouched is not None and untouched.lease_owner == "replica-a"
    assert untouched.statuses == (StepStatus.PENDING, StepStatus.PENDING)

    # A's lease runs out without a renewal: B takes the saga over and finishes it.
    clock.advance(timedelta(seconds=LEASE_SECONDS + 1))
    assert await replica_b.recover_once() == 1
    finished = await saga_log.get(saga_id)
    assert finished is not None and finished.state is SagaState.COMPLETED
    assert (await funds_of(payment, merchant.account_id)).balance_fen == 900

    # A wakes up: its lease is gone, so nothing it writes lands.
    assert not await saga_log.renew(saga_id, "token-a", clock.now())
    with pytest.raises(LeaseLost):
        await saga_log.step_done(
            saga_id, "token-a", 0, {}, now=clock.now(), lease_until=clock.now()
        )


async def test_a_retry_forward_step_out_of_attempts_parks_and_an_operator_retry_finishes_it(
    parties: Parties,
    channels: ServiceChannels,
    payment: PaymentClient,
    engine_for: EngineFactory,
) -> None:
    payer, merchant = await parties(10_000)
    flaky = FlakyPayment(channels.payment, failures=0)
    flaky.capture_down = True
    definition = merchant_payment_saga(flaky, HOLD_TTL_SECONDS)
    engine = engine_for(definition)

    record = await start_payment(engine, definition, payer, merchant.account_id, 3_000)
    for _ in range(FAST_RETRY.attempts_max):  # a bounded number of recovery rounds
        if record.state is not SagaState.RUNNING:
            break
        resumed = await engine.resume(record.saga_id)
        assert resumed is not None
        record = resumed

    # Past the point of no return the saga is never undone: it waits for an operator,
    # with the money still held.
    assert record.state is SagaState.PARKED
    assert record.parked_from is SagaState.RUNNING
    assert "capture_to_merchant" in record.parked_reason
    assert record.steps[1].attempts == FAST_RETRY.attempts_max
    assert (await funds_of(payment, payer.account_id)).available_fen == 7_000
    assert await engine.recover_once() == 0

    flaky.capture_down = False
    unparked = await engine.retry_parked(record.saga_id)
    assert unparked is not None and unparked.state is SagaState.RUNNING

    async def completed() -> SagaRecord | None:
        current = await engine.get(record.saga_id)
        assert current is not None
        return current if current.state is SagaState.COMPLETED else None

    await eventually(completed, 10.0, "the retried saga completes")
    assert (await funds_of(payment, merchant.account_id)).balance_fen == 3_000
    assert await engine.retry_parked(record.saga_id) is None


async def test_a_compensable_step_out_of_attempts_is_undone_and_its_hold_id_burnt(
    parties: Parties,
    channels: ServiceChannels,
    payment: PaymentClient,
    engine_for: EngineFactory,
) -> None:
    payer, merchant = await parties(10_000)
    flaky = FlakyPayment(channels.payment, failures=FAST_RETRY.attempts_max)
    definition = merchant_payment_saga(flaky, HOLD_TTL_SECONDS)
    engine = engine_for(definition)

    record = await start_payment(engine, definition, payer, merchant.account_id, 500)
    for _ in range(FAST_RETRY.attempts_max):
        if record.state is not SagaState.RUNNING:
            break
        resumed = await engine.resume(record.saga_id)
        assert resumed is not None
        record = resumed

    # The hold's outcome was never known, so it was voided anyway: the void leaves a
    # tombstone, and a CreateHold arriving late with that id is refused.
    assert record.state is SagaState.COMPENSATED
    assert record.statuses == (StepStatus.COMPENSATED, StepStatus.PENDING)
    assert record.error is not None and record.error.reason == "UNAVAILABLE"
    hold_id = step_key(record.saga_id, RESERVE_FUNDS)
    hold = await payment.get_hold(hold_id)
    assert hold.voided_before_created
    with pytest.raises(DomainError) as late:
        await payment.create_hold(
            pb.CreateHoldRequest(
                hold_id=hold_id,
                account_id=payer.account_id,
                amount=money_pb2.Money(amount_fen=500, currency="CNY"),
            )
        )
    assert late.value.reason == "HOLD_VOIDED"
    assert (await funds_of(payment, payer.account_id)).available_fen == 10_000


async def test_the_failpoint_hook_fires_at_exactly_its_point(
    parties: Parties, payment: PaymentClient, engine_for: EngineFactory
) -> None:
    payer, merchant = await parties(10_000)
    reached: list[str] = []
    failpoint = Failpoint(MERCHANT_PAYMENT, CAPTURE_TO_MERCHANT, Phase.CALLED)
    definition = merchant_payment_saga(payment, HOLD_TTL_SECONDS)
    engine = engine_for(
        definition, failpoints=Failpoints(failpoint, kill=lambda: reached.append("killed"))
    )

    record = await start_payment(engine, definition, payer, merchant.account_id, 100)

    assert record.state is SagaState.COMPLETED
    assert reached == ["killed"]


async def test_a_refusal_past_the_point_of_no_return_parks_without_undoing(
    parties: Parties, payment: PaymentClient, engine_for: EngineFactory
) -> None:
    payer, merchant = await parties(10_000)
    paid = merchant_payment_saga(payment, HOLD_TTL_SECONDS)

    async def settle_a_hold_that_never_was(context: StepContext) -> JsonObject:
        await payment.capture_hold(
            pb.CaptureHoldRequest(hold_id=context.key, credit_account_id=merchant.account_id)
        )
        return {}

    definition = SagaDefinition(
        name="pay_then_fail",
        steps=(
            *paid.steps,
            Step("settle", settle_a_hold_that_never_was, compensation=RETRY_FORWARD),
        ),
        outcome=lambda saga_input, results: {},
    )
    engine = engine_for(definition)

    record = await start_payment(engine, definition, payer, merchant.account_id, 600)

    # The money has moved to the merchant: undoing the hold is no longer possible.
    assert record.state is SagaState.PARKED
    assert record.parked_from is SagaState.RUNNING
    assert record.statuses == (StepStatus.DONE, StepStatus.DONE, StepStatus.REFUSED)
    assert record.error is not None and record.error.reason == "NOT_FOUND"
    assert (await funds_of(payment, merchant.account_id)).balance_fen == 600

    # An operator's retry runs the refused step again (it changed nothing), fresh budget.
    assert await engine.retry_parked(record.saga_id) is not None

    async def parked_again() -> SagaRecord | None:
        current = await engine.get(record.saga_id)
        assert current is not None
        return current if current.state is SagaState.PARKED else None

    again = await eventually(parked_again, 10.0, "the retried saga parks again")
    assert again.steps[2].attempts == 1
    assert (await funds_of(payment, merchant.account_id)).balance_fen == 600


async def test_a_saga_logged_by_another_version_of_its_steps_is_parked_not_driven(
    engine_for: EngineFactory,
) -> None:
    calls: list[str] = []

    async def done(context: StepContext) -> JsonObject:
        calls.append(context.step_name)
        return {}

    async def away(context: StepContext) -> JsonObject:
        calls.append(context.step_name)
        raise Unavailable("the service is away")

    def version(*steps: Step) -> SagaDefinition:
        return SagaDefinition(name="evolving", steps=steps, outcome=lambda i, r: {})

    old = version(Step("reserve", done, compensation=done), Step("pay", away, compensation=done))
    record = await engine_for(old, instance_id="old").start(
        old,
        saga_id=new_key().replace("-", ""),
        owner_user_id="u",
        saga_input={},
        fingerprint="f",
        wait_seconds=30.0,
    )
    assert record.state is SagaState.RUNNING  # "pay" out of attempts for this pass

    # The new version dropped "reserve": by position its first step would look done.
    new = version(
        Step("pay", done, compensation=RETRY_FORWARD),
        Step("mark", done, compensation=RETRY_FORWARD),
    )
    calls.clear()
    engine = engine_for(new, instance_id="new")
    await engine.recover_once()
    parked = await engine.get(record.saga_id)
    assert parked is not None and parked.state is SagaState.PARKED
    assert parked.parked_reason is not None and "reserve, pay" in parked.parked_reason
    assert calls == []
