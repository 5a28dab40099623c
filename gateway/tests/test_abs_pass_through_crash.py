"""Crash tests of an ABS pool's pass-through (the abs_pass_through saga): SIGKILL a real
gateway inside it, as test_loan_funding_crash does for the loan business's funding.

Real payment and loan services (the loan service on the module's ManualClock). Set up with
real money: capital paid in, a merchant's 50,000-yuan fixed part paid out of
platform:loan:merchant, an investor's 60,000 yuan of units bought through a gateway, and
the pool's purchase of the fixed part. Each case moves the business date a day, the
merchant repays the day's interest and 100 yuan of principal, and the operator's
pass-through runs through a gateway that kills itself once the saga was written, and before
every step's call, after it answered (unrecorded) and after it was recorded. A restarted
gateway's recovery loop must finish it: completed, one period recorded, every leg posted
once (its postings keyed by the period), the investor paid the coupon once, and `colony
audit` clean (the pool's account holds its cash, platform:loan:merchant what its books and
the pool's flows say).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from chassis.clock import ManualClock
from chassis.money import Money
from chassis.mongo import MongoClient
from chassis.settings import SERVICE_NAMES
from colony.common.v1 import money_pb2
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.payment.v1 import payment_pb2 as pb
from conftest import service_settings
from gateway.app import SAGAS_COLLECTION
from gateway.clients import PaymentClient, ServiceChannels
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.loans.merchant.abs_sagas import pass_through_saga, pool_account_id
from gateway.loans.merchant.funding import (
    CAPITAL_ACCOUNT_ID,
    SHAREHOLDERS_ACCOUNT_ID,
    FundingAccounts,
)
from gateway.loans.merchant.ledger import MerchantLoanLedger
from gateway.sagas.definition import SagaState, derive_saga_id
from gateway.sagas.log import SagaLog
from gateway.tests.abs_crash_support import forward_points, recovered
from gateway.tests.conftest import merchant_registration, personal_registration
from gateway.tests.saga_support import (
    REQUEST_TIMEOUT,
    GatewayProcess,
    Party,
    gateway_environment,
    new_key,
    register,
)
from infra.cli import audit
from services.payment.store import PaymentStore

pytestmark = pytest.mark.slow

POOL = "abs-pt-crash"
YUAN = 100
FUNDER = "platform:test:abs-pt-funder"
UNITS_FEN = 60_000 * YUAN
FACILITY_ID = "abs-pt-crash-facility"
_NOT_CALLED: Any = None
SAGA = pass_through_saga(_NOT_CALLED, _NOT_CALLED)
FORWARD_POINTS = forward_points(SAGA)


@pytest.fixture(scope="module")
def service_addresses(
    payment_address: str, unreachable_address: str, manual_loan_address: str
) -> dict[str, str]:
    addresses = {name: unreachable_address for name in SERVICE_NAMES}
    return {**addresses, "payment": payment_address, "loan": manual_loan_address}


def _money(fen: int) -> money_pb2.Money:
    return money_pb2.Money(amount_fen=fen, currency="CNY")


@dataclass
class World:
    environ: dict[str, str]
    session: aiohttp.ClientSession
    payment: PaymentClient
    lending: MerchantLendingClient
    ledger: MerchantLoanLedger
    store: PaymentStore
    operator: Party
    investor: Party
    merchant: Party
    mongo_url: str
    database_name: str
    log_dir: Any
    runs: int = 0
    paid_to_investor_fen: int = 0

    def gateway(self, failpoint: str | None = None) -> GatewayProcess:
        self.runs += 1
        environ = dict(self.environ)
        if failpoint is not None:
            environ["COLONY_SAGA_FAILPOINT"] = failpoint
        return GatewayProcess(environ, self.log_dir / f"gateway-{self.runs:02d}.log")

    async def audit(self) -> list[str]:
        return await audit(
            service_settings("payment", self.mongo_url, f"{self.database_name}_payment"),
            loan_settings=service_settings("loan", self.mongo_url, f"{self.database_name}_loan"),
        )

    async def balance(self, account_id: str) -> int:
        return int((await self.payment.get_account(account_id)).balance.amount_fen)


async def _transfer(world: World, source: str, destination: str, fen: int) -> str:
    response = await world.payment.platform_transfer(
        pb.PlatformTransferRequest(
            idempotency_key=new_key(),
            from_account_id=source,
            to_account_id=destination,
            amount=_money(fen),
            memo="test set-up",
            reference="abs-pt-crash",
        )
    )
    return str(response.posting.posting_id)


async def _set_up_money(world: World, gateway: GatewayProcess) -> None:
    """Capital, the fixed part paid out, the investor's units, the pool's purchase."""
    await FundingAccounts(world.payment).ensure()
    await world.lending.pay_in_capital(
        mpb.PayInCapitalRequest(idempotency_key=new_key(), amount=_money(100_000 * YUAN))
    )
    await _transfer(world, SHAREHOLDERS_ACCOUNT_ID, CAPITAL_ACCOUNT_ID, 100_000 * YUAN)
    await world.lending.apply_facility(
        mpb.ApplyFacilityRequest(
            idempotency_key=new_key(),
            facility_id=FACILITY_ID,
            merchant_id=world.merchant.account_id,
            amount=_money(100_000 * YUAN),
            fixed_amount=_money(50_000 * YUAN),
            figures=mpb.MerchantFigures(
                months_with_settlements=12,
                settled_sales=_money(10_000_000 * YUAN),
                refunded=_money(0),
            ),
        )
    )
    posting = await world.ledger.lend(
        "loan-facility:" + FACILITY_ID,
        world.merchant.account_id,
        Money(50_000 * YUAN),
        reference=FACILITY_ID,
    )
    await world.lending.confirm_facility_disbursement(
        mpb.ConfirmFacilityDisbursementRequest(
            idempotency_key=new_key(), facility_id=FACILITY_ID, payment_posting_id=posting
        )
    )
    await world.lending.create_abs_pool(
        mpb.CreateAbsPoolRequest(
            idempotency_key=new_key(),
            pool_id=POOL,
            coupon_rate="0.06",
            revolving_until="2099-12-31",
            eligibility=mpb.AbsEligibility(
                require_current=True, min_remaining_days=30, max_borrower_share="1"
            ),
        )
    )
    for path, party, body in (
        (f"/v1/abs-pools/{POOL}/units", world.investor, {"amount_fen": UNITS_FEN}),
        (f"/v1/admin/loans/abs-pools/{POOL}/purchases", world.operator, {}),
    ):
        async with world.session.post(
            gateway.url + path, json=body, headers=party.headers(new_key())
        ) as response:
            assert response.status == 201, await response.text()
            assert (await response.json())["state"] == "completed"


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    channels = ServiceChannels.open(service_addresses)
    payment = PaymentClient(channels.payment, 5.0)
    operator_body = personal_registration()
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        environ = {
            **gateway_environment(mongo_url, database_name, service_addresses),
            "COLONY_OPERATOR_PHONES": operator_body["phone"],
        }
        log_dir = tmp_path_factory.mktemp("gateway-logs")
        setup = GatewayProcess(environ, log_dir / "gateway-setup.log")
        await setup.start(session)
        try:
            world = World(
                environ=environ,
                session=session,
                payment=payment,
                lending=MerchantLendingClient(channels.loan, 5.0),
                ledger=MerchantLoanLedger(payment),
                store=PaymentStore(mongo_client[f"{database_name}_payment"]),
                operator=await register(session, setup.url, operator_body),
                investor=await register(session, setup.url, personal_registration()),
                merchant=await register(session, setup.url, merchant_registration()),
                mongo_url=mongo_url,
                database_name=database_name,
                log_dir=log_dir,
            )
            await payment.ensure_platform_account(
                pb.EnsurePlatformAccountRequest(
                    account_id=FUNDER, display_name="ABS test funder", external_party=True
                )
            )
            await _transfer(world, FUNDER, world.investor.account_id, UNITS_FEN)
            await _set_up_money(world, setup)
        finally:
            await setup.stop()
        try:
            yield world
        finally:
            await channels.close()


@pytest.fixture(scope="module")
def saga_log(mongo_client: MongoClient, database_name: str) -> SagaLog:
    return SagaLog(mongo_client[f"{database_name}_gateway"][SAGAS_COLLECTION])


async def _repay_a_day(world: World) -> None:
    """The fixed part's interest owed today and 100 yuan of principal, from the balance."""
    facility = (
        await world.lending.get_facility(mpb.GetFacilityRequest(facility_id=FACILITY_ID))
    ).facility
    fen = facility.fixed.interest_owed.amount_fen + 100 * YUAN
    repayment_id = new_key()
    await world.lending.try_facility_repayment(
        mpb.TryFacilityRepaymentRequest(
            idempotency_key=new_key(),
            repayment_id=repayment_id,
            facility_id=FACILITY_ID,
            part=mpb.FACILITY_PART_FIXED,
            amount=_money(fen),
        )
    )
    hold_id = new_key()
    await world.ledger.hold(hold_id, world.merchant.account_id, Money(fen), "test repayment")
    posting = await world.ledger.capture(hold_id, "test repayment")
    await world.lending.confirm_facility_repayment(
        mpb.ConfirmFacilityRepaymentRequest(
            idempotency_key=new_key(), repayment_id=repayment_id, payment_posting_id=posting
        )
    )


async def _pass_through_and_die(world: World, gateway: GatewayProcess) -> str:
    key = new_key()
    with pytest.raises(aiohttp.ClientError):
        async with world.session.post(
            f"{gateway.url}/v1/admin/loans/abs-pools/{POOL}/pass-through",
            json={},
            headers=world.operator.headers(key),
        ) as response:
            raise AssertionError(f"answered {response.status}: {await response.text()}")
    await gateway.killed()
    return derive_saga_id(world.operator.user_id, key)


async def _recovered(world: World, saga_log: SagaLog, operation_id: str) -> str:
    return await recovered(world.gateway(), world.session, saga_log, operation_id)


@pytest.mark.parametrize("point", FORWARD_POINTS)
async def test_a_pass_through_killed_at_any_step_completes_after_restart(
    world: World, saga_log: SagaLog, clock: ManualClock, point: str
) -> None:
    clock.advance(timedelta(days=1))
    await _repay_a_day(world)
    crashing = await world.gateway(failpoint=point).start(world.session)
    try:
        operation_id = await _pass_through_and_die(world, crashing)
    finally:
        await crashing.stop()
    left = await saga_log.get(operation_id)
    assert left is not None
    assert (left.state, left.statuses) == (SagaState.RUNNING, FORWARD_POINTS[point])

    assert await _recovered(world, saga_log, operation_id) == "completed"
    pool = (await world.lending.get_abs_pool(mpb.GetAbsPoolRequest(pool_id=POOL))).pool
    period = pool.periods[-1]
    assert period.interest_collected.amount_fen > 0 and period.principal_collected.amount_fen
    (share,) = period.shares
    world.paid_to_investor_fen += share.interest.amount_fen
    legs = await world.store.postings.count_documents(
        {"reference": {"$regex": f"^abs:{period.period_id}:"}}
    )
    # collected in, the investor's coupon, the excess spread out (nothing bought or returned)
    assert legs == 3, "every leg posted once"
    assert await world.balance(world.investor.account_id) == world.paid_to_investor_fen
    assert await world.balance(pool_account_id(POOL)) == pool.cash.amount_fen
    # 10,000 yuan of units the purchase left, and every period's principal (nothing to buy)
    collected = sum(p.principal_collected.amount_fen for p in pool.periods)
    assert pool.cash.amount_fen == UNITS_FEN - 50_000 * YUAN + collected
    assert await world.audit() == []
