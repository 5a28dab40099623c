"""Crash tests of the other wealth sagas: a fixed-term subscription, a fund buy, a redemption.

The method of test_saga_crash and test_wealth_saga_crash: a ``python -m gateway`` process
with the test-only failpoint (gateway.sagas.failpoints) kills itself at an exact point of a
saga it runs for a REST request, and a restarted gateway's recovery loop must finish the
saga alone. The kill points are not written out: they are read from the definitions the
gateway itself runs (gateway.sagas.catalogue.define_sagas), so renaming, adding or removing
a step moves them along:

- Zhaocaibao (招财宝) subscription and fund buy (the PURCHASE template): after every step's
  call answered, unrecorded; and after the last step was recorded, the saga not yet
  finished. (The template's other points are covered on Yu'e Bao by test_wealth_saga_crash.)
- Yu'e Bao redemption to the balance (fast): after every step's call answered and after
  it was recorded.
- A Zhaocaibao subscription whose capture is refused, and a redemption whose payout is
  refused (the omnibus account frozen while no gateway runs), killed after each
  compensation's call answered.

After every case the operation is completed (or compensated), and: the investor's balance,
Yu'e Bao shares, holdings and fund orders add up to the top-up and move exactly by the
outcome; nothing is left held on the investor or on an omnibus account; the purchase (or
the hold) is in its final state; the product's quota taken is what was bought; the payment
ledger's audit is clean; and every omnibus account holds what the wealth service owes
(wealth_support.Books, GetWealthAudit), no payout left owed.

The fund is above the investor's risk level (a C1 investor, an R3 fund): each buy passes
the suitability check by acknowledging the risk. Nothing publishes a NAV, so a buy stays
PENDING_NAV whichever side of the 15:00 cut-off (and whatever day) the module runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from chassis.errors import DomainError
from chassis.mongo import MongoClient
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.clients import PaymentClient, ServiceChannels, WealthClient
from gateway.sagas.catalogue import define_sagas
from gateway.sagas.definition import SagaDefinition, derive_saga_id, step_key
from gateway.sagas.failpoints import Failpoint, Phase
from gateway.tests.conftest import CARD, next_phone, personal_registration
from gateway.tests.saga_support import (
    REQUEST_TIMEOUT,
    GatewayProcess,
    Party,
    gateway_environment,
    new_key,
    register,
)
from gateway.tests.test_wealth_saga_crash import CrashWorld, _finished, service_addresses
from gateway.tests.wealth_support import Books
from gateway.wealth.ledger import (
    FIXED_TERM_OMNIBUS_ACCOUNT_ID,
    FUNDS_OMNIBUS_ACCOUNT_ID,
    YUEBAO_OMNIBUS_ACCOUNT_ID,
    WealthLedger,
)
from gateway.wealth.sagas.purchase import RESERVE_FUNDS
from services.payment.ledger import AccountStatus
from services.payment.store import PaymentStore

pytestmark = pytest.mark.slow

# The module's services: the real payment and wealth services (the fixture of the Yu'e Bao
# subscription's crash module).
__all__ = ["service_addresses"]

TOP_UP_FEN = 200_000
# Shares bought in the set-up, for the redemptions to redeem (well under the fast cap).
YUEBAO_SEED_FEN = 50_000
AMOUNT_FEN = 1_000
PAGE_SIZE = 100
CAUTIOUS_ANSWERS = [1] * 10  # a C1 investor
FUND_RISK_LEVEL = "R3"  # above C1: bought only with the risk acknowledged

# The definitions the gateway runs, built only for their names and steps: nothing here
# calls a service, so the clients are never used.
_NOT_CALLED: Any = None
SAGAS = define_sagas(
    _NOT_CALLED,
    _NOT_CALLED,
    WealthLedger(_NOT_CALLED),
    hold_ttl_seconds=60,
    loan=_NOT_CALLED,
    loan_ledger=_NOT_CALLED,
    insurance=_NOT_CALLED,
    insurance_ledger=_NOT_CALLED,
)
PRODUCT_SUBSCRIPTION = SAGAS.product_subscription
FUND_PURCHASE = SAGAS.fund_purchase
YUEBAO_REDEMPTION = SAGAS.yuebao_redemption


def failpoint(definition: SagaDefinition, step_name: str, phase: Phase) -> str:
    return str(Failpoint(definition.name, step_name, phase))


def purchase_points(definition: SagaDefinition) -> list[str]:
    """Every step's call answered but unrecorded, and the last step recorded."""
    return [
        *(failpoint(definition, name, Phase.CALLED) for name in definition.step_names),
        failpoint(definition, definition.step_names[-1], Phase.DONE),
    ]


def every_point(definition: SagaDefinition) -> list[str]:
    """Every step's call answered but unrecorded, and every step recorded."""
    return [
        failpoint(definition, name, phase)
        for name in definition.step_names
        for phase in (Phase.CALLED, Phase.DONE)
    ]


# The sagas whose step past the point of no return can be refused (an omnibus account
# frozen: the capture into it, the payout from it), and the account to freeze.
REFUSABLE = (
    (PRODUCT_SUBSCRIPTION, FIXED_TERM_OMNIBUS_ACCOUNT_ID),
    (YUEBAO_REDEMPTION, YUEBAO_OMNIBUS_ACCOUNT_ID),
)


def undoable_steps(definition: SagaDefinition) -> list[str]:
    """The steps undone when a later one is refused; once the last is done, the next step
    is past the point of no return."""
    return [step.name for step in definition.steps if not step.retries_forward]


COMPENSATION_CASES = [
    pytest.param(definition, omnibus_id, point, id=point)
    for definition, omnibus_id in REFUSABLE
    for point in (
        failpoint(definition, name, Phase.COMPENSATION_CALLED)
        for name in undoable_steps(definition)
    )
]


@dataclass
class LinesWorld(CrashWorld):
    """The crash world of the Yu'e Bao subscription, with a product, a fund and their sums."""

    product_id: str = ""
    fund_id: str = ""
    # What the investor must hold after the cases run so far (balance_fen, shares_fen: the
    # balance and the Yu'e Bao shares, in CrashWorld).
    holdings_fen: int = 0
    fund_buys_fen: int = 0


@dataclass(frozen=True, slots=True)
class LinesSetUp:
    investor: Party
    product_id: str
    fund_id: str


async def _post(
    session: aiohttp.ClientSession, url: str, party: Party, body: dict[str, Any]
) -> dict[str, Any]:
    async with session.post(url, json=body, headers=party.headers(new_key())) as response:
        assert response.status in (200, 201), await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def _set_up(session: aiohttp.ClientSession, url: str, operator_phone: str) -> LinesSetUp:
    """The investor (funded, profiled, holding Yu'e Bao), a product and a fund on sale."""
    investor = await register(session, url, personal_registration())
    operator = await register(session, url, personal_registration(phone=operator_phone))
    await _post(
        session, f"{url}/v1/topups", investor, {"amount_fen": TOP_UP_FEN, "bank_card_number": CARD}
    )
    now = datetime.now(UTC)
    product = await _post(
        session,
        f"{url}/v1/admin/wealth/products",
        operator,
        {
            "product_id": f"ztb-crash-{new_key()[:8]}",
            "issuer": "浙商小贷 Zheshang Microcredit",
            "insurer": "国泰财险 Guotai Property Insurance",
            "term_days": 91,
            "expected_annual_yield": "0.0420",
            "amount_min_fen": AMOUNT_FEN,
            "quota_fen": 100 * AMOUNT_FEN,
            "sale_starts_at": (now - timedelta(hours=1)).isoformat(),
            "sale_ends_at": (now + timedelta(days=30)).isoformat(),
        },
    )
    fund_id = f"fund-crash-{new_key()[:8]}"
    await _post(
        session,
        f"{url}/v1/admin/wealth/funds",
        operator,
        {
            "fund_id": fund_id,
            "name": "Balanced",
            "category": "mixed",
            "risk_level": FUND_RISK_LEVEL,
        },
    )
    profile = await _post(
        session, f"{url}/v1/wealth/risk-profile", investor, {"answer_scores": CAUTIOUS_ANSWERS}
    )
    assert profile["level"] == "C1", profile
    subscribed = await _post(
        session, f"{url}/v1/wealth/yuebao/subscriptions", investor, {"amount_fen": YUEBAO_SEED_FEN}
    )
    assert subscribed["state"] == "completed", subscribed
    return LinesSetUp(investor, str(product["product"]["product_id"]), fund_id)


@pytest.fixture(scope="module")
async def world(
    mongo_url: str,
    mongo_client: MongoClient,
    database_name: str,
    service_addresses: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[LinesWorld]:
    channels = ServiceChannels.open(service_addresses)
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        environ = gateway_environment(mongo_url, database_name, service_addresses)
        log_dir = tmp_path_factory.mktemp("gateway-logs")
        # Only the set-up gateway has an operator (to list the product and the fund).
        operator_phone = next_phone()
        setup = GatewayProcess(
            {**environ, "COLONY_OPERATOR_PHONES": operator_phone}, log_dir / "gateway-setup.log"
        )
        await setup.start(session)
        try:
            set_up = await _set_up(session, setup.url, operator_phone)
        finally:
            await setup.stop()
        world = LinesWorld(
            environ=environ,
            log_dir=log_dir,
            session=session,
            books=Books(
                payment=PaymentClient(channels.payment, 5.0),
                wealth=WealthClient(channels.wealth, 5.0),
                store=PaymentStore(mongo_client[f"{database_name}_payment"]),
            ),
            investor=set_up.investor,
            balance_fen=TOP_UP_FEN - YUEBAO_SEED_FEN,
            shares_fen=YUEBAO_SEED_FEN,
            product_id=set_up.product_id,
            fund_id=set_up.fund_id,
        )
        await _check(world)
        try:
            yield world
        finally:
            await world.close(channels)


@dataclass(frozen=True, slots=True)
class Sent:
    """A request a gateway died serving, and the operation it started."""

    path: str
    body: dict[str, Any]
    key: str

    def operation_id(self, world: LinesWorld) -> str:
        return derive_saga_id(world.investor.user_id, self.key)


async def _request_and_die(world: LinesWorld, point: str, path: str, body: dict[str, Any]) -> Sent:
    """Send the request to a gateway that dies serving it (at point)."""
    sent = Sent(path, body, new_key())
    gateway = await world.gateway(failpoint=point).start(world.session)
    with pytest.raises(aiohttp.ClientError):
        async with world.session.post(
            f"{gateway.url}{path}", json=body, headers=world.investor.headers(sent.key)
        ) as response:
            raise AssertionError(f"answered {response.status}: {await response.text()}")
    await gateway.killed()
    return sent


async def _finished_after_restart(world: LinesWorld, sent: Sent) -> tuple[str, int, Any]:
    """The operation's final state once a restarted gateway finished it, and the answer to
    the client's retry of the request (the same operation, as it ended)."""
    operation_id = sent.operation_id(world)
    restarted = await world.gateway().start(world.session)
    try:
        state = await _finished(world, restarted, operation_id)
        async with world.session.post(
            f"{restarted.url}{sent.path}", json=sent.body, headers=world.investor.headers(sent.key)
        ) as response:
            answer = (response.status, await response.json(content_type=None))
    finally:
        await restarted.stop()
    return state, *answer


async def _completed_after_restart(world: LinesWorld, sent: Sent) -> str:
    """The id of the operation a restarted gateway completed (and answers a retry with)."""
    operation_id = sent.operation_id(world)
    state, status, answer = await _finished_after_restart(world, sent)
    assert state == "completed"
    assert (status, answer["operation_id"], answer["state"]) == (201, operation_id, state), answer
    return operation_id


async def _hold_state(world: LinesWorld, operation_id: str) -> pb.HoldState.ValueType | None:
    try:
        hold = await world.books.payment.get_hold(step_key(operation_id, RESERVE_FUNDS))
    except DomainError as error:
        assert error.reason == "NOT_FOUND", error
        return None
    return hold.state


async def _purchase_state(world: LinesWorld, operation_id: str) -> wpb.PurchaseState.ValueType:
    response = await world.books.wealth.get_purchase(
        wpb.GetPurchaseRequest(purchase_id=operation_id)
    )
    return response.purchase.state


async def _check(world: LinesWorld) -> None:
    """Money conserved, nothing held, what each omnibus holds = what the wealth side owes."""
    books, investor_id = world.books, world.investor.account_id
    account = await books.payment.get_account(investor_id)
    assert account.balance.amount_fen == world.balance_fen
    assert account.available.amount_fen == world.balance_fen, "money left held"

    yuebao = await books.wealth.get_yuebao_account(
        wpb.GetYuebaoAccountRequest(investor_id=investor_id)
    )
    assert yuebao.account.shares.amount_fen == world.shares_fen
    assert yuebao.account.pending_subscriptions.amount_fen == 0
    page = paging_pb2.PageRequest(page_size=PAGE_SIZE)
    holdings = await books.wealth.list_holdings(
        wpb.ListHoldingsRequest(investor_id=investor_id, page=page)
    )
    assert {holding.state for holding in holdings.holdings} <= {wpb.HOLDING_STATE_HELD}
    assert sum(h.principal.amount_fen for h in holdings.holdings) == world.holdings_fen
    orders = await books.wealth.list_fund_orders(
        wpb.ListFundOrdersRequest(investor_id=investor_id, page=page)
    )
    # Never priced (no NAV is published), never cancelled once its money was captured.
    assert {order.state for order in orders.orders} <= {wpb.FUND_ORDER_STATE_PENDING_NAV}
    assert sum(order.amount.amount_fen for order in orders.orders) == world.fund_buys_fen
    assert (
        world.balance_fen + world.shares_fen + world.holdings_fen + world.fund_buys_fen
        == TOP_UP_FEN
    )

    product = await books.wealth.get_product(wpb.GetProductRequest(product_id=world.product_id))
    assert product.product.sold.amount_fen == world.holdings_fen, "quota taken and not bought"
    # Only this investor has wealth in this module's databases: each omnibus holds exactly
    # their part, and holds nothing back (no hold left open on it).
    for omnibus_id, owed_fen in (
        (YUEBAO_OMNIBUS_ACCOUNT_ID, world.shares_fen),
        (FIXED_TERM_OMNIBUS_ACCOUNT_ID, world.holdings_fen),
        (FUNDS_OMNIBUS_ACCOUNT_ID, world.fund_buys_fen),
    ):
        omnibus = await books.payment.get_account(omnibus_id)
        assert (omnibus.balance.amount_fen, omnibus.available.amount_fen) == (owed_fen,) * 2, (
            omnibus_id
        )
    await books.check(settled=True)


async def _check_purchase_completed(world: LinesWorld, operation_id: str) -> None:
    assert await _purchase_state(world, operation_id) == wpb.PURCHASE_STATE_CONFIRMED
    assert await _hold_state(world, operation_id) == pb.HOLD_STATE_CAPTURED
    await _check(world)


def _request_for(world: LinesWorld, definition: SagaDefinition) -> tuple[str, dict[str, Any]]:
    """The REST request (path, body) that starts the saga."""
    if definition is PRODUCT_SUBSCRIPTION:
        return f"/v1/wealth/products/{world.product_id}/subscriptions", {"amount_fen": AMOUNT_FEN}
    if definition is FUND_PURCHASE:
        body = {"amount_fen": AMOUNT_FEN, "risk_acknowledged": True}
        return f"/v1/wealth/funds/{world.fund_id}/purchases", body
    assert definition is YUEBAO_REDEMPTION, definition.name
    return "/v1/wealth/yuebao/redemptions", {"amount_fen": AMOUNT_FEN}


@pytest.mark.parametrize("point", purchase_points(PRODUCT_SUBSCRIPTION))
async def test_a_fixed_term_subscription_killed_at_a_step_completes_after_restart(
    world: LinesWorld, point: str
) -> None:
    sent = await _request_and_die(world, point, *_request_for(world, PRODUCT_SUBSCRIPTION))
    operation_id = await _completed_after_restart(world, sent)
    world.balance_fen -= AMOUNT_FEN
    world.holdings_fen += AMOUNT_FEN
    # The new holding's id is the operation's.
    holding = await world.books.wealth.get_holding(wpb.GetHoldingRequest(holding_id=operation_id))
    assert (holding.holding.product_id, holding.holding.principal.amount_fen) == (
        world.product_id,
        AMOUNT_FEN,
    )
    await _check_purchase_completed(world, operation_id)


@pytest.mark.parametrize("point", purchase_points(FUND_PURCHASE))
async def test_a_fund_buy_killed_at_a_step_completes_after_restart(
    world: LinesWorld, point: str
) -> None:
    sent = await _request_and_die(world, point, *_request_for(world, FUND_PURCHASE))
    operation_id = await _completed_after_restart(world, sent)
    world.balance_fen -= AMOUNT_FEN
    world.fund_buys_fen += AMOUNT_FEN
    # The order's id is its purchase's, which is the operation's.
    order = await world.books.wealth.get_fund_order(wpb.GetFundOrderRequest(order_id=operation_id))
    assert (order.order.fund_id, order.order.amount.amount_fen) == (world.fund_id, AMOUNT_FEN)
    assert order.order.risk_acknowledged
    await _check_purchase_completed(world, operation_id)


@pytest.mark.parametrize("point", every_point(YUEBAO_REDEMPTION))
async def test_a_redemption_killed_at_a_step_is_paid_after_restart(
    world: LinesWorld, point: str
) -> None:
    sent = await _request_and_die(world, point, *_request_for(world, YUEBAO_REDEMPTION))
    await _completed_after_restart(world, sent)
    # Well within the day's fast allowance: all of it is paid to the balance now.
    world.shares_fen -= AMOUNT_FEN
    world.balance_fen += AMOUNT_FEN
    await _check(world)


async def _set_status(world: LinesWorld, account_id: str, status: AccountStatus) -> None:
    """Freeze or thaw an account (no RPC does this: straight to its ledger)."""
    await world.books.store.accounts.update_one(
        {"_id": account_id}, {"$set": {"status": status.value}}
    )


@pytest.mark.parametrize(("definition", "omnibus_id", "point"), COMPENSATION_CASES)
async def test_a_refused_operation_killed_while_undone_is_compensated_after_restart(
    world: LinesWorld, definition: SagaDefinition, omnibus_id: str, point: str
) -> None:
    # Dies once every step that can be undone is done: the next one is past the point of
    # no return.
    last_undoable = undoable_steps(definition)[-1]
    sent = await _request_and_die(
        world, failpoint(definition, last_undoable, Phase.DONE), *_request_for(world, definition)
    )
    operation_id = sent.operation_id(world)
    # While no gateway runs the omnibus account is frozen: that next step will be refused,
    # so the saga must undo the steps before it; the first restart dies in the middle of it.
    await _set_status(world, omnibus_id, AccountStatus.FROZEN)
    try:
        compensating = await world.gateway(failpoint=point).spawn()
        await compensating.killed()
        state, status, problem = await _finished_after_restart(world, sent)
    finally:
        await _set_status(world, omnibus_id, AccountStatus.ACTIVE)
    assert state == "compensated"
    # The retry is answered with the refusal that undid the operation.
    assert 400 <= status < 500, problem
    assert problem["metadata"]["operation_id"] == operation_id, problem
    if definition is PRODUCT_SUBSCRIPTION:
        assert await _purchase_state(world, operation_id) == wpb.PURCHASE_STATE_CANCELLED
        assert await _hold_state(world, operation_id) == pb.HOLD_STATE_VOIDED
    # Nothing moved: the world's sums are unchanged.
    await _check(world)
