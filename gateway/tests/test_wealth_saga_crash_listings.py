"""Crash tests of the last two wealth sagas: buying a listed holding (变现), a reservation's buy.

The method and the helpers of test_wealth_saga_crash_lines: a ``python -m gateway`` process
with the test-only failpoint (gateway.sagas.failpoints) kills itself at a point of a saga
read from the definitions the gateway runs (gateway.sagas.catalogue.define_sagas), and a
restarted gateway's recovery loop must finish the saga alone.

- transfer_purchase (gateway.wealth.sagas.transfer_purchase): an investor buys a holding the
  seller listed (POST /v1/wealth/listings/{holding_id}/purchases, at the listing's price).
  Killed after every step's call answered, unrecorded, and after the last step was
  recorded; and, with the capture refused (the fixed-term omnibus frozen while no gateway
  runs), after each compensation's call answered. A completed purchase leaves the holding
  with the buyer only (the seller's TRANSFERRED, the buyer's new one, whose id is the
  operation's, HELD), off the market, and the seller's proceeds (the price less the
  0.2%-of-principal fee) and the fee owed as DUE payouts: the business-date job pays them
  (gateway.wealth.jobs, run in-process here), and the seller's balance and the platform's
  fee income move by exactly that. A compensated one leaves the listing on sale, unreserved,
  the seller's, and nothing owed.
- reservation_purchase (gateway.wealth.sagas.reservation_purchase): started by the gateway, not by
  the investor. An operator's POST /v1/admin/wealth/products lists a product, and in the
  same request the gateway matches the live reservations (gateway.wealth.reservations): the
  wealth service allocates the quota (a pending purchase, quota taken) and the gateway runs
  one saga per allocation, owned by the investor, inline. So the gateway that dies is the
  one serving the operator's request: the operator gets a dropped connection, the investor
  an operation they can follow. The saga's id (derived from the allocation's purchase id,
  which only the wealth service and the saga log know) is read from the gateway's saga log.
  Killed at the same points as the purchase above (its try, check_allocation, comes first:
  the allocation was made by the wealth service). After the restart the purchase is
  completed, the reservation reports what it bought (FULFILLED, its purchase listed), the
  product's quota taken is exactly that, and the operator's retry of the same request (the
  same call, by product id) buys nothing more. With the capture refused, it is compensated:
  the allocation cancelled, its amount handed back to the reservation (ACTIVE, nothing
  filled), the quota released; the operator's retry (the investor's balance being what it
  was, the allocation is keyed by it) replays that same compensated allocation.
  Every per-step point is reachable this way. Not covered: a crash after
  AllocateReservations answered and before the saga was written, which no failpoint reaches
  (it is outside any saga); there, gateway.wealth.reservations relies on the operator's
  retry with unchanged balances replaying the allocation and starting its saga.

The wealth service runs on the module's ManualClock (a holding changes hands from its value
date, the day after its subscription: the set-up moves the clock a day). Every case ends
with the books: each party's balance (all of it available: nothing held), the holdings of
both investors, the fixed-term omnibus holding exactly the principal of the live holdings,
the fee income, the payment ledger's audit and the wealth audit (wealth_support.Books).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from pymongo.asynchronous.collection import AsyncCollection

from chassis.clock import ManualClock, business_date_of
from chassis.errors import DomainError
from chassis.mongo import Document, MongoClient
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from colony.wealth.v1 import wealth_pb2 as wpb
from gateway.app import SAGAS_COLLECTION
from gateway.clients import ServiceChannels
from gateway.sagas.definition import SagaDefinition
from gateway.sagas.failpoints import Phase
from gateway.tests.conftest import CARD, personal_registration
from gateway.tests.saga_support import (
    REQUEST_TIMEOUT,
    GatewayProcess,
    Party,
    gateway_environment,
    new_key,
    register,
    setup_gateway,
)
from gateway.tests.test_wealth_saga_crash import _finished
from gateway.tests.test_wealth_saga_crash_lines import (
    SAGAS,
    LinesWorld,
    _completed_after_restart,
    _finished_after_restart,
    _hold_state,
    _post,
    _purchase_state,
    _request_and_die,
    _set_status,
    failpoint,
    purchase_points,
    undoable_steps,
)
from gateway.tests.wealth_support import Books
from gateway.wealth.jobs import WealthJobs
from gateway.wealth.ledger import FIXED_TERM_OMNIBUS_ACCOUNT_ID, WealthLedger
from services.payment.ledger import AccountStatus
from services.payment.rpc_base import PLATFORM_FEE_INCOME_ACCOUNT_ID

pytestmark = pytest.mark.slow

TRANSFER_PURCHASE = SAGAS.transfer_purchase
RESERVATION_PURCHASE = SAGAS.reservation_purchase


def compensation_points(definition: SagaDefinition) -> list[str]:
    """After each compensation's call answered, of a saga whose capture was refused."""
    return [
        failpoint(definition, name, Phase.COMPENSATION_CALLED)
        for name in undoable_steps(definition)
    ]


def last_undoable_done(definition: SagaDefinition) -> str:
    """Every step that can be undone is done: the next one is past the point of no return."""
    return failpoint(definition, undoable_steps(definition)[-1], Phase.DONE)


TRANSFER_POINTS = purchase_points(TRANSFER_PURCHASE)
TRANSFER_COMPENSATION_POINTS = compensation_points(TRANSFER_PURCHASE)
RESERVATION_POINTS = purchase_points(RESERVATION_PURCHASE)
RESERVATION_COMPENSATION_POINTS = compensation_points(RESERVATION_PURCHASE)

# The seller's holdings: one listed for each transfer case.
LISTINGS = len(TRANSFER_POINTS) + len(TRANSFER_COMPENSATION_POINTS)
PRINCIPAL_FEN = 10_000
# Above the principal, below what the holding pays at maturity (10,105 fen: 91 days at 4.20%).
PRICE_FEN = 10_050
FEE_FEN = PRINCIPAL_FEN * 2 // 1_000  # 0.2% of the principal, from the seller's price
PROCEEDS_FEN = PRICE_FEN - FEE_FEN
SELLER_TOP_UP_FEN = LISTINGS * PRINCIPAL_FEN
# The buyer buys every listing and every reservation's share, with money to spare.
BUYER_TOP_UP_FEN = 200_000
RESERVED_FEN = 10_000
TERM_DAYS = 91
ANNUAL_YIELD = "0.0420"
PAGE_SIZE = 100
# Why a capture into a frozen omnibus account is refused (services.payment.ledger).
REFUSED_CAPTURE = "ACCOUNT_NOT_ACTIVE"


@dataclass(kw_only=True)
class ListingsWorld(LinesWorld):
    """The lines' crash world (its investor is the buyer and the reserver; product_id is the
    seller's product), with the seller, the operator and what they must hold."""

    seller: Party
    operator: Party
    clock: ManualClock
    sagas: AsyncCollection[Document]
    # The seller's holdings listed and not yet sold, in the order the cases take them.
    listed: list[str]
    seller_fen: int = 0
    # The principal of the seller's holdings still theirs.
    seller_holdings_fen: int = LISTINGS * PRINCIPAL_FEN
    fee_income_fen: int = 0
    fee_income_at_start_fen: int = 0


@dataclass(frozen=True, slots=True)
class ListingsSetUp:
    buyer: Party
    seller: Party
    operator: Party
    product_id: str
    listed: list[str]


@pytest.fixture(scope="module")
def service_addresses(wealth_service_addresses: dict[str, str]) -> dict[str, str]:
    """The real payment service and a real wealth service on the module's ManualClock."""
    return wealth_service_addresses


def _product_body(clock: ManualClock, prefix: str, quota_fen: int) -> dict[str, Any]:
    now = clock.now()
    return {
        "product_id": f"{prefix}-{new_key()[:8]}",
        "issuer": "浙商小贷 Zheshang Microcredit",
        "insurer": "国泰财险 Guotai Property Insurance",
        "term_days": TERM_DAYS,
        "expected_annual_yield": ANNUAL_YIELD,
        "amount_min_fen": 1_000,
        "quota_fen": quota_fen,
        "sale_starts_at": (now - timedelta(hours=1)).isoformat(),
        "sale_ends_at": (now + timedelta(days=30)).isoformat(),
    }


async def _set_up(
    session: aiohttp.ClientSession, url: str, operator_phone: str, clock: ManualClock
) -> ListingsSetUp:
    """The buyer and the seller funded; the seller's holdings of a product, all listed."""
    buyer = await register(session, url, personal_registration())
    seller = await register(session, url, personal_registration())
    operator = await register(session, url, personal_registration(phone=operator_phone))
    for party, amount_fen in ((buyer, BUYER_TOP_UP_FEN), (seller, SELLER_TOP_UP_FEN)):
        body = {"amount_fen": amount_fen, "bank_card_number": CARD}
        await _post(session, f"{url}/v1/topups", party, body)
    listed = await _post(
        session,
        f"{url}/v1/admin/wealth/products",
        operator,
        _product_body(clock, "ztb-listed", SELLER_TOP_UP_FEN),
    )
    assert listed["reservation_purchases"] == [], listed
    product_id = str(listed["product"]["product_id"])
    holding_ids = []
    for _ in range(LISTINGS):
        subscribed = await _post(
            session,
            f"{url}/v1/wealth/products/{product_id}/subscriptions",
            seller,
            {"amount_fen": PRINCIPAL_FEN},
        )
        assert subscribed["state"] == "completed", subscribed
        holding_ids.append(str(subscribed["result"]["holding"]["holding_id"]))
    # A holding changes hands from its value date, the day after its subscription.
    clock.advance(timedelta(days=1))
    for holding_id in holding_ids:
        listing = await _post(
            session,
            f"{url}/v1/wealth/holdings/{holding_id}/listing",
            seller,
            {"price_fen": PRICE_FEN},
        )
        terms = listing["terms"]
        assert (terms["fee"]["amount_fen"], terms["seller_proceeds"]["amount_fen"]) == (
            FEE_FEN,
            PROCEEDS_FEN,
        ), listing
    return ListingsSetUp(buyer, seller, operator, product_id, holding_ids)


@pytest.fixture(scope="module")
def environ(
    mongo_url: str, database_name: str, service_addresses: dict[str, str], operator_phone: str
) -> dict[str, str]:
    """Every gateway's environment: each has the operator (the reservation cases list
    products through it)."""
    return {
        **gateway_environment(mongo_url, database_name, service_addresses),
        "COLONY_OPERATOR_PHONES": operator_phone,
    }


@pytest.fixture(scope="module")
def books(channels: ServiceChannels, mongo_client: MongoClient, database_name: str) -> Books:
    return Books.of(channels, mongo_client, database_name)


@pytest.fixture(scope="module")
def sagas(mongo_client: MongoClient, database_name: str) -> AsyncCollection[Document]:
    """The gateways' saga log, where a reservation's operation is found."""
    return mongo_client[f"{database_name}_gateway"][SAGAS_COLLECTION]


@pytest.fixture(scope="module")
async def world(
    environ: dict[str, str],
    books: Books,
    sagas: AsyncCollection[Document],
    clock: ManualClock,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ListingsWorld]:
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        log_dir = tmp_path_factory.mktemp("gateway-logs")
        async with setup_gateway(session, environ, log_dir) as setup:
            set_up = await _set_up(session, setup.url, environ["COLONY_OPERATOR_PHONES"], clock)
        fee_income = await books.payment.get_account(PLATFORM_FEE_INCOME_ACCOUNT_ID)
        world = ListingsWorld(
            environ=environ,
            log_dir=log_dir,
            session=session,
            books=books,
            investor=set_up.buyer,
            balance_fen=BUYER_TOP_UP_FEN,
            product_id=set_up.product_id,
            seller=set_up.seller,
            operator=set_up.operator,
            clock=clock,
            sagas=sagas,
            listed=list(set_up.listed),
            fee_income_fen=fee_income.balance.amount_fen,
            fee_income_at_start_fen=fee_income.balance.amount_fen,
        )
        await _check_books(world)
        try:
            yield world
        finally:
            await world.stop()


async def _holdings(world: ListingsWorld, party: Party) -> list[wpb.Holding]:
    response = await world.books.wealth.list_holdings(
        wpb.ListHoldingsRequest(
            investor_id=party.account_id, page=paging_pb2.PageRequest(page_size=PAGE_SIZE)
        )
    )
    return list(response.holdings)


async def _check_books(world: ListingsWorld) -> None:
    """Every party's money where the cases so far put it, nothing held or owed, books clean."""
    books = world.books
    for party, expected_fen in (
        (world.investor, world.balance_fen),
        (world.seller, world.seller_fen),
    ):
        account = await books.payment.get_account(party.account_id)
        # All of it available: nothing left held.
        assert (account.balance.amount_fen, account.available.amount_fen) == (expected_fen,) * 2, (
            party
        )
    buyer_holdings = await _holdings(world, world.investor)
    assert {h.state for h in buyer_holdings} <= {wpb.HOLDING_STATE_HELD}
    assert sum(h.principal.amount_fen for h in buyer_holdings) == world.holdings_fen
    seller_holdings = await _holdings(world, world.seller)
    assert {h.state for h in seller_holdings} <= {
        wpb.HOLDING_STATE_LISTED,
        wpb.HOLDING_STATE_TRANSFERRED,
    }
    live = [h for h in seller_holdings if h.state == wpb.HOLDING_STATE_LISTED]
    assert sum(h.principal.amount_fen for h in live) == world.seller_holdings_fen
    assert [
        h.holding_id for h in buyer_holdings + seller_holdings if h.pending_purchase_id
    ] == [], "a listing left reserved"
    # Transfers take no quota: the seller's product is sold exactly once.
    product = await books.wealth.get_product(wpb.GetProductRequest(product_id=world.product_id))
    assert product.product.sold.amount_fen == SELLER_TOP_UP_FEN

    # The omnibus holds the principal of every live holding: no price left in it unpaid.
    omnibus = await books.payment.get_account(FIXED_TERM_OMNIBUS_ACCOUNT_ID)
    owed_fen = world.seller_holdings_fen + world.holdings_fen
    assert (omnibus.balance.amount_fen, omnibus.available.amount_fen) == (owed_fen,) * 2
    fee_income = await books.payment.get_account(PLATFORM_FEE_INCOME_ACCOUNT_ID)
    assert fee_income.balance.amount_fen == world.fee_income_fen
    fees_fen = world.fee_income_fen - world.fee_income_at_start_fen
    assert (
        world.balance_fen + world.seller_fen + owed_fen + fees_fen
        == BUYER_TOP_UP_FEN + SELLER_TOP_UP_FEN
    )
    await books.check(settled=True)


async def _holding(world: ListingsWorld, holding_id: str) -> wpb.Holding:
    response = await world.books.wealth.get_holding(wpb.GetHoldingRequest(holding_id=holding_id))
    return response.holding


async def _not_found(call: Awaitable[object]) -> None:
    with pytest.raises(DomainError) as refused:
        await call
    assert refused.value.reason == "NOT_FOUND", refused.value


async def _listed_ids(world: ListingsWorld) -> set[str]:
    response = await world.books.wealth.list_transfer_listings(
        wpb.ListTransferListingsRequest(
            product_id=world.product_id, page=paging_pb2.PageRequest(page_size=PAGE_SIZE)
        )
    )
    return {listing.holding.holding_id for listing in response.listings}


async def _live_holders(world: ListingsWorld, holding_id: str) -> list[str]:
    """Who holds (or still lists) the holding or the one bought from it."""
    return [
        holding.investor_id
        for party in (world.seller, world.investor)
        for holding in await _holdings(world, party)
        if holding_id in (holding.holding_id, holding.acquired_from_holding_id)
        and holding.state in (wpb.HOLDING_STATE_HELD, wpb.HOLDING_STATE_LISTED)
    ]


async def _payout(world: ListingsWorld, payout_id: str) -> wpb.Payout:
    response = await world.books.wealth.get_payout(wpb.GetPayoutRequest(payout_id=payout_id))
    return response.payout


def _buy_request(holding_id: str) -> tuple[str, dict[str, Any]]:
    return f"/v1/wealth/listings/{holding_id}/purchases", {"price_fen": PRICE_FEN}


@pytest.mark.parametrize("point", TRANSFER_POINTS)
async def test_a_listing_bought_killed_at_a_step_changes_hands_after_restart(
    world: ListingsWorld, point: str
) -> None:
    holding_id = world.listed.pop(0)
    sent = await _request_and_die(world, point, *_buy_request(holding_id))
    operation_id = await _completed_after_restart(world, sent)
    world.balance_fen -= PRICE_FEN
    world.holdings_fen += PRINCIPAL_FEN
    world.seller_holdings_fen -= PRINCIPAL_FEN
    assert await _purchase_state(world, operation_id) == wpb.PURCHASE_STATE_CONFIRMED
    assert await _hold_state(world, operation_id) == pb.HOLD_STATE_CAPTURED

    # The buyer's new holding (its id the operation's) is the rest of the seller's term.
    bought = await _holding(world, operation_id)
    sold = await _holding(world, holding_id)
    assert (
        bought.investor_id,
        bought.state,
        bought.principal.amount_fen,
        bought.cost.amount_fen,
        bought.acquired_from_holding_id,
        bought.maturity_date,
    ) == (
        world.investor.account_id,
        wpb.HOLDING_STATE_HELD,
        PRINCIPAL_FEN,
        PRICE_FEN,
        holding_id,
        sold.maturity_date,
    )
    assert (sold.investor_id, sold.state) == (
        world.seller.account_id,
        wpb.HOLDING_STATE_TRANSFERRED,
    )
    assert await _live_holders(world, holding_id) == [world.investor.account_id]
    assert holding_id not in await _listed_ids(world)

    # The seller is paid by the business-date job: the proceeds and the fee are owed until
    # it runs, then paid once.
    payouts = {
        f"{operation_id}:proceeds": (world.seller.account_id, PROCEEDS_FEN),
        f"{operation_id}:fee": (PLATFORM_FEE_INCOME_ACCOUNT_ID, FEE_FEN),
    }
    for payout_id, (to_account_id, amount_fen) in payouts.items():
        payout = await _payout(world, payout_id)
        assert (
            payout.state,
            payout.from_account_id,
            payout.to_account_id,
            payout.amount.amount_fen,
        ) == (wpb.PAYOUT_STATE_DUE, FIXED_TERM_OMNIBUS_ACCOUNT_ID, to_account_id, amount_fen)
    await world.books.check()  # the payouts owed are in the omnibus's expected balance
    jobs = WealthJobs(world.books.wealth, WealthLedger(world.books.payment))
    report = await jobs.run(business_date_of(world.clock.now()))
    assert (report.payouts_paid, report.payouts_paid_fen, report.payouts_failed) == (
        2,
        PRICE_FEN,
        0,
    ), report
    for payout_id in payouts:
        assert (await _payout(world, payout_id)).state == wpb.PAYOUT_STATE_PAID
    world.seller_fen += PROCEEDS_FEN
    world.fee_income_fen += FEE_FEN
    await _check_books(world)


@pytest.mark.parametrize("point", TRANSFER_COMPENSATION_POINTS)
async def test_a_refused_listing_purchase_killed_while_undone_leaves_it_on_sale(
    world: ListingsWorld, point: str
) -> None:
    holding_id = world.listed.pop(0)
    sent = await _request_and_die(
        world, last_undoable_done(TRANSFER_PURCHASE), *_buy_request(holding_id)
    )
    operation_id = sent.operation_id(world)
    # While no gateway runs the omnibus account is frozen: the capture will be refused, so
    # the saga must undo the steps before it; the first restart dies in the middle of it.
    await _set_status(world, FIXED_TERM_OMNIBUS_ACCOUNT_ID, AccountStatus.FROZEN)
    try:
        compensating = await world.gateway(failpoint=point).spawn()
        await compensating.killed()
        state, status, problem = await _finished_after_restart(world, sent)
    finally:
        await _set_status(world, FIXED_TERM_OMNIBUS_ACCOUNT_ID, AccountStatus.ACTIVE)
    assert state == "compensated"
    # The retry is answered with the refusal that undid the operation.
    assert (status, problem["reason"]) == (422, REFUSED_CAPTURE), problem
    assert problem["metadata"]["operation_id"] == operation_id, problem
    assert await _purchase_state(world, operation_id) == wpb.PURCHASE_STATE_CANCELLED
    assert await _hold_state(world, operation_id) == pb.HOLD_STATE_VOIDED

    # The listing is the seller's again, unreserved, on sale at its price; nothing is owed.
    listing = await _holding(world, holding_id)
    assert (
        listing.investor_id,
        listing.state,
        listing.pending_purchase_id,
        listing.listing_price.amount_fen,
    ) == (world.seller.account_id, wpb.HOLDING_STATE_LISTED, "", PRICE_FEN)
    assert await _live_holders(world, holding_id) == [world.seller.account_id]
    assert holding_id in await _listed_ids(world)
    await _not_found(_holding(world, operation_id))
    for part in ("proceeds", "fee"):
        await _not_found(
            world.books.wealth.get_payout(wpb.GetPayoutRequest(payout_id=f"{operation_id}:{part}"))
        )
    await _check_books(world)


# Reservations.


async def _get(world: ListingsWorld, gateway: GatewayProcess, path: str) -> dict[str, Any]:
    async with world.session.get(
        f"{gateway.url}{path}", headers=world.investor.headers()
    ) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def _reserve(world: ListingsWorld, gateway: GatewayProcess) -> str:
    """A reservation of the investor's that the next product listed matches."""
    reservation = await _post(
        world.session,
        f"{gateway.url}/v1/wealth/reservations",
        world.investor,
        {"amount_fen": RESERVED_FEN, "annual_yield_min": "0.0400", "term_days_max": 180},
    )
    assert reservation["state"] == "active", reservation
    world.clock.advance(timedelta(seconds=1))  # made before the product is listed
    return str(reservation["reservation_id"])


async def _list_product_and_die(
    world: ListingsWorld, gateway: GatewayProcess, product: dict[str, Any]
) -> None:
    """The operator lists a product; the gateway dies buying it for the reservation."""
    with pytest.raises(aiohttp.ClientError):
        async with world.session.post(
            f"{gateway.url}/v1/admin/wealth/products",
            json=product,
            headers=world.operator.headers(),
        ) as response:
            raise AssertionError(f"answered {response.status}: {await response.text()}")
    await gateway.killed()


async def _reservation_operation(world: ListingsWorld, reservation_id: str) -> tuple[str, str]:
    """The operation buying the reservation's allocation (from the saga log), and the
    allocation's purchase id."""
    documents = [
        document
        async for document in world.sagas.find(
            {"saga": RESERVATION_PURCHASE.name, "input.reservation_id": reservation_id}
        )
    ]
    assert len(documents) == 1, documents
    [document] = documents
    # The investor's operation: they can follow it.
    assert document["owner_user_id"] == world.investor.user_id, document
    return str(document["_id"]), str(document["input"]["purchase_id"])


async def _reservation_of(
    world: ListingsWorld, gateway: GatewayProcess, reservation_id: str
) -> dict[str, Any]:
    listed = await _get(world, gateway, f"/v1/wealth/reservations?page_size={PAGE_SIZE}")
    [reservation] = [r for r in listed["reservations"] if r["reservation_id"] == reservation_id]
    return dict(reservation)


async def _relist(
    world: ListingsWorld, gateway: GatewayProcess, product: dict[str, Any]
) -> dict[str, Any]:
    """The operator's retry of the request the gateway died serving (the same call)."""
    return await _post(
        world.session, f"{gateway.url}/v1/admin/wealth/products", world.operator, product
    )


async def _sold_fen(world: ListingsWorld, product_id: str) -> int:
    response = await world.books.wealth.get_product(wpb.GetProductRequest(product_id=product_id))
    return response.product.sold.amount_fen


@pytest.mark.parametrize("point", RESERVATION_POINTS)
async def test_a_reservation_purchase_killed_at_a_step_completes_after_restart(
    world: ListingsWorld, point: str
) -> None:
    dying = await world.gateway(failpoint=point).start(world.session)
    reservation_id = await _reserve(world, dying)
    product = _product_body(world.clock, "ztb-reserved", 3 * RESERVED_FEN)
    product_id = product["product_id"]
    await _list_product_and_die(world, dying, product)
    operation_id, purchase_id = await _reservation_operation(world, reservation_id)

    restarted = await world.gateway().start(world.session)
    try:
        state = await _finished(world, restarted, operation_id)
        operation = await _get(world, restarted, f"/v1/operations/{operation_id}")
        reservation = await _reservation_of(world, restarted, reservation_id)
        relisted = await _relist(world, restarted, product)
    finally:
        await restarted.stop()

    assert state == "completed"
    result = operation["result"]
    assert (
        result["reservation_id"],
        result["product_id"],
        result["amount"]["amount_fen"],
        result["holding_id"],
    ) == (reservation_id, product_id, RESERVED_FEN, purchase_id), operation
    # The reservation reports what it bought, and is done.
    assert (reservation["state"], reservation["filled"]["amount_fen"]) == (
        "fulfilled",
        RESERVED_FEN,
    )
    assert [(p["product_id"], p["amount"]["amount_fen"]) for p in reservation["purchases"]] == [
        (product_id, RESERVED_FEN)
    ], reservation
    # The operator's retry lists the same product and buys nothing more.
    assert relisted["reservation_purchases"] == [], relisted
    assert relisted["product"]["sold"]["amount_fen"] == RESERVED_FEN, relisted
    assert await _sold_fen(world, product_id) == RESERVED_FEN

    world.balance_fen -= RESERVED_FEN
    world.holdings_fen += RESERVED_FEN
    assert await _purchase_state(world, purchase_id) == wpb.PURCHASE_STATE_CONFIRMED
    assert await _hold_state(world, operation_id) == pb.HOLD_STATE_CAPTURED
    holding = await _holding(world, purchase_id)
    assert (
        holding.investor_id,
        holding.product_id,
        holding.principal.amount_fen,
        holding.state,
    ) == (
        world.investor.account_id,
        product_id,
        RESERVED_FEN,
        wpb.HOLDING_STATE_HELD,
    )
    await _check_books(world)


async def _undone_after_restart(
    world: ListingsWorld, point: str, operation_id: str
) -> GatewayProcess:
    """A gateway restarted after one died at point while undoing the operation, once it
    compensated the operation; still running, the omnibus thawed.

    While no gateway runs the omnibus account is frozen: the capture will be refused, so
    the saga must void the hold and cancel the allocation; the first restart dies in it.
    """
    await _set_status(world, FIXED_TERM_OMNIBUS_ACCOUNT_ID, AccountStatus.FROZEN)
    try:
        compensating = await world.gateway(failpoint=point).spawn()
        await compensating.killed()
        restarted = await world.gateway().start(world.session)
        assert await _finished(world, restarted, operation_id) == "compensated"
    finally:
        await _set_status(world, FIXED_TERM_OMNIBUS_ACCOUNT_ID, AccountStatus.ACTIVE)
    return restarted


@pytest.mark.parametrize("point", RESERVATION_COMPENSATION_POINTS)
async def test_a_refused_reservation_purchase_killed_while_undone_hands_the_amount_back(
    world: ListingsWorld, point: str
) -> None:
    dying = await world.gateway(failpoint=last_undoable_done(RESERVATION_PURCHASE)).start(
        world.session
    )
    reservation_id = await _reserve(world, dying)
    product = _product_body(world.clock, "ztb-refused", 3 * RESERVED_FEN)
    product_id = product["product_id"]
    await _list_product_and_die(world, dying, product)
    operation_id, purchase_id = await _reservation_operation(world, reservation_id)

    restarted = await _undone_after_restart(world, point, operation_id)
    try:
        operation = await _get(world, restarted, f"/v1/operations/{operation_id}")
        reservation = await _reservation_of(world, restarted, reservation_id)
        relisted = await _relist(world, restarted, product)
        # Done with: cancelled, so that it matches no later case's product.
        cancelled = await _post(
            world.session,
            f"{restarted.url}/v1/wealth/reservations/{reservation_id}/cancel",
            world.investor,
            {},
        )
    finally:
        await restarted.stop()

    assert operation["state"] == "compensated", operation
    # The refusal that undid it: the capture into the frozen omnibus.
    assert operation["error"]["reason"] == REFUSED_CAPTURE, operation
    assert await _purchase_state(world, purchase_id) == wpb.PURCHASE_STATE_CANCELLED
    assert await _hold_state(world, operation_id) == pb.HOLD_STATE_VOIDED
    # The amount is handed back to the reservation, the quota to the product.
    assert (
        reservation["state"],
        reservation["filled"]["amount_fen"],
        reservation["purchases"],
    ) == (
        "active",
        0,
        [],
    ), reservation
    assert await _sold_fen(world, product_id) == 0
    # The investor's balance is what it was when matched: the retry replays that allocation.
    assert [(p["operation_id"], p["state"]) for p in relisted["reservation_purchases"]] == [
        (operation_id, "compensated")
    ], relisted
    assert cancelled["state"] == "cancelled", cancelled
    await _not_found(_holding(world, purchase_id))
    await _check_books(world)
