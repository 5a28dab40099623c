"""Crash tests of the insurance sagas: SIGKILL a real gateway inside the premium saga
(policy_premium) and the claim payout saga (claim_payout), as test_loan_repayment_crash does
for repayments.

Real payment and insurance services (the other lines unreachable: the premium is paid from
the balance, so the Yu'e Bao and Huabei steps run and skip). Each case runs a ``python -m
gateway`` process with the test-only failpoint (gateway.sagas.failpoints), killed once the
saga was written, and for every step before its call, after its call answered (unrecorded)
and after it was recorded. A restarted gateway's recovery loop must finish the saga alone:

- a travel policy bought (25 yuan): completed, the policy ACTIVE, the premium captured once
  into platform:insurance:omnibus, the net premium passed to the insurer once, nothing left
  held, the buyer's balance down by exactly the premium;
- an approved travel claim paid (1 yuan): completed, the claim PAID, the insurer funding it
  once, the beneficiary's balance up by exactly the claim.

After every case money is conserved: the ledger's audit is clean, and every insurance account
holds what GetInsuranceAudit says it must (nothing pending): the omnibus the commission
kept, each insurer its net premiums less the claims it funded.
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
from chassis.settings import SERVICE_NAMES
from colony.insurance.v1 import insurance_pb2 as ipb
from colony.payment.v1 import payment_pb2 as pb
from gateway.app import SAGAS_COLLECTION
from gateway.clients import InsuranceClient, PaymentClient, ServiceChannels
from gateway.insurance.ledger import claim_payout_key, premium_key
from gateway.insurance.sagas.funding import FundingSteps
from gateway.insurance.sagas.payout import claim_payout_saga
from gateway.insurance.sagas.premium import HOLD, policy_premium_saga
from gateway.sagas.definition import SagaDefinition, StepStatus, derive_saga_id, step_key
from gateway.sagas.failpoints import SAGA_POINT, Failpoint, Phase
from gateway.sagas.log import SagaLog
from gateway.tests.conftest import CARD, personal_registration
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
from services.payment.store import PaymentStore

pytestmark = pytest.mark.slow

TOP_UP_FEN = 100_000
PREMIUM_FEN = 2_500  # travel, age 30, 10 days
CLAIM_FEN = 100
TRAVEL = {"product_id": "travel", "insured_age": 30, "duration_days": 10}

_NOT_CALLED: Any = None
PREMIUM = policy_premium_saga(
    _NOT_CALLED,
    _NOT_CALLED,
    _NOT_CALLED,
    FundingSteps(_NOT_CALLED, _NOT_CALLED, _NOT_CALLED, _NOT_CALLED),
)
PAYOUT = claim_payout_saga(_NOT_CALLED, _NOT_CALLED)
_PENDING, _STARTED, _DONE = StepStatus.PENDING, StepStatus.STARTED, StepStatus.DONE


def _points(definition: SagaDefinition) -> dict[str, tuple[StepStatus, ...]]:
    """Every kill point of a saga that only goes forward, and the statuses it leaves."""
    steps = definition.step_names

    def after(index: int, phase: Phase) -> tuple[StepStatus, ...]:
        at_kill = _DONE if phase is Phase.DONE else _STARTED
        return (_DONE,) * index + (at_kill,) + (_PENDING,) * (len(steps) - index - 1)

    return {
        str(Failpoint(definition.name, SAGA_POINT, Phase.CREATED)): (_PENDING,) * len(steps),
        **{
            str(Failpoint(definition.name, name, phase)): after(index, phase)
            for index, name in enumerate(steps)
            for phase in (Phase.STARTED, Phase.CALLED, Phase.DONE)
        },
    }


PREMIUM_POINTS = _points(PREMIUM)
PAYOUT_POINTS = _points(PAYOUT)


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, manual_insurance_address: str, unreachable_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return addresses | {"payment": payment_address, "insurance": manual_insurance_address}


@dataclass(kw_only=True)
class InsuranceWorld(GatewayRuns):
    payment: PaymentClient
    insurance: InsuranceClient
    store: PaymentStore
    saga_log: SagaLog
    buyer: Party
    operator: Party
    policy_id: str
    balance_fen: int


async def _call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    party: Party,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    async with session.request(method, url, json=body, headers=party.headers(key)) as response:
        return response.status, json.loads(await response.text())


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[InsuranceWorld]:
    channels = ServiceChannels.open(service_addresses)
    operator_body = personal_registration()
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        environ = {
            **gateway_environment(mongo_url, database_name, service_addresses),
            "COLONY_INSURANCE_JOBS_INTERVAL_SECONDS": "0",
            "COLONY_OPERATOR_PHONES": operator_body["phone"],
        }
        log_dir = tmp_path_factory.mktemp("gateway-logs")
        async with setup_gateway(session, environ, log_dir) as setup:
            buyer = await register(session, setup.url, personal_registration())
            operator = await register(session, setup.url, operator_body)
            status, _ = await _call(
                session,
                "POST",
                f"{setup.url}/v1/topups",
                buyer,
                {"amount_fen": TOP_UP_FEN, "bank_card_number": CARD},
                key=new_key(),
            )
            assert status == 201
            # One policy whose claims the payout cases pay.
            status, quote = await _call(
                session, "POST", f"{setup.url}/v1/insurance/quotes", buyer, TRAVEL
            )
            assert status == 201, quote
            status, bought = await _call(
                session,
                "POST",
                f"{setup.url}/v1/insurance/policies",
                buyer,
                {"quote_id": quote["quote_id"]},
                key=new_key(),
            )
            assert status == 201 and bought["state"] == "completed", bought
        world = InsuranceWorld(
            environ=environ,
            log_dir=log_dir,
            session=session,
            payment=PaymentClient(channels.payment, 5.0),
            insurance=InsuranceClient(channels.insurance, 5.0),
            store=PaymentStore(mongo_client[f"{database_name}_payment"]),
            saga_log=SagaLog(mongo_client[f"{database_name}_gateway"][SAGAS_COLLECTION]),
            buyer=buyer,
            operator=operator,
            policy_id=bought["result"]["policy_id"],
            balance_fen=TOP_UP_FEN - PREMIUM_FEN,
        )
        try:
            yield world
        finally:
            await world.close(channels)


async def _killed_during(world: InsuranceWorld, gateway: GatewayProcess, request: Any) -> None:
    """Make the request the failpoint kills the gateway inside; wait for it to die."""
    with pytest.raises(aiohttp.ClientError):
        await request
    await gateway.killed()


async def _finish(world: InsuranceWorld, operation_id: str, statuses: tuple[Any, ...]) -> None:
    """The saga as the kill left it, then completed by a restarted gateway's recovery."""
    left = await world.saga_log.get(operation_id)
    assert left is not None, f"no saga {operation_id}"
    assert left.state.value == "running" and left.statuses == statuses, left
    # Money is conserved at the kill point too: every posting balanced, nothing half-posted.
    assert await world.store.audit_ledger() == []
    restarted = await world.gateway().start(world.session)
    try:

        async def final() -> str | None:
            record = await world.saga_log.get(operation_id)
            assert record is not None
            assert record.state.value != "parked", record
            return record.state.value if record.state.is_final else None

        state = await eventually(final, FINISHED_WITHIN_SECONDS, f"{operation_id} finishes")
        assert state == "completed"
    finally:
        await restarted.stop()


async def _references(world: InsuranceWorld, reference: str) -> int:
    return await world.store.postings.count_documents({"reference": reference})


async def _check_money(world: InsuranceWorld) -> None:
    """Money conserved across payment and insurance; the buyer holds exactly what is due."""
    account = await world.payment.get_account(world.buyer.account_id)
    assert (account.balance.amount_fen, account.available.amount_fen) == (world.balance_fen,) * 2
    assert await world.store.audit_ledger() == []
    report = await world.insurance.get_insurance_audit()
    assert list(report.breaches) == []
    for figures in report.accounts:
        assert figures.pending.amount_fen == 0, figures
        try:
            balance = (await world.payment.get_account(figures.account_id)).balance.amount_fen
        except DomainError:
            balance = 0
        assert balance == figures.expected_balance_fen, (figures, balance)


@pytest.mark.parametrize("point", PREMIUM_POINTS)
async def test_a_premium_killed_at_any_step_completes_after_restart(
    world: InsuranceWorld, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    _, quote = await _call(
        world.session, "POST", f"{crashing.url}/v1/insurance/quotes", world.buyer, TRAVEL
    )
    key = new_key()
    await _killed_during(
        world,
        crashing,
        _call(
            world.session,
            "POST",
            f"{crashing.url}/v1/insurance/policies",
            world.buyer,
            {"quote_id": quote["quote_id"]},
            key=key,
        ),
    )
    operation_id = derive_saga_id(world.buyer.user_id, key)
    await _finish(world, operation_id, PREMIUM_POINTS[point])
    world.balance_fen -= PREMIUM_FEN

    record = await world.saga_log.get(operation_id)
    assert record is not None
    policy_id = record.input["policy_id"]
    policy = await world.insurance.get_policy(policy_id)
    assert policy.state == ipb.POLICY_STATE_ACTIVE
    hold_id = step_key(operation_id, HOLD)
    assert (await world.payment.get_hold(hold_id)).state == pb.HOLD_STATE_CAPTURED
    assert await _references(world, premium_key(policy_id)) == 1
    await _check_money(world)


@pytest.mark.parametrize("point", PAYOUT_POINTS)
async def test_a_claim_payout_killed_at_any_step_completes_after_restart(
    world: InsuranceWorld, point: str
) -> None:
    crashing = await world.gateway(failpoint=point).start(world.session)
    status, claim = await _call(
        world.session,
        "POST",
        f"{crashing.url}/v1/insurance/claims",
        world.buyer,
        {"policy_id": world.policy_id, "event_reference": new_key(), "amount_fen": CLAIM_FEN},
        key=new_key(),
    )
    assert status == 201 and claim["state"] == "adjudicating", claim
    await _killed_during(
        world,
        crashing,
        _call(
            world.session,
            "POST",
            f"{crashing.url}/v1/admin/insurance/claims/{claim['claim_id']}/review",
            world.operator,
            {"decision": "approve"},
        ),
    )
    operation_id = derive_saga_id(
        world.buyer.user_id, f"insurance-claim-payout:{claim['claim_id']}"
    )
    await _finish(world, operation_id, PAYOUT_POINTS[point])
    world.balance_fen += CLAIM_FEN

    paid = await world.insurance.get_claim(claim["claim_id"])
    assert paid.state == ipb.CLAIM_STATE_PAID
    assert await _references(world, claim_payout_key(claim["claim_id"])) == 1
    await _check_money(world)
