"""Escrow trades (担保交易) over real gRPC against a real mongod, on a manual clock.

Every flow ends with the books checked: the ledger invariants hold and the escrow account
holds exactly what the trades in escrow hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import grpc
import pytest

from chassis.clock import ManualClock
from colony.common.v1 import paging_pb2
from colony.payment.v1 import payment_pb2 as pb
from services.payment.tests.support import Stub, new_key, open_merchant, open_person
from services.payment.tests.trade_support import (
    assert_books_balance,
    balance_fen,
    cancel,
    confirm,
    create_trade,
    decide_refund,
    entries_of,
    error_info,
    escrow_fen,
    fee_income_fen,
    get_account,
    get_trade,
    pay_trade,
    refusal_of,
    refused,
    request_refund,
    ship,
    trade_in_state,
    trade_parties,
)

CREATED = pb.TRADE_STATE_CREATED
CLOSED = pb.TRADE_STATE_CLOSED
PAID = pb.TRADE_STATE_PAID
SHIPPED = pb.TRADE_STATE_SHIPPED
REFUND_REQUESTED = pb.TRADE_STATE_REFUND_REQUESTED
SETTLED = pb.TRADE_STATE_SETTLED
REFUNDED = pb.TRADE_STATE_REFUNDED
ALL_STATES = (CREATED, CLOSED, PAID, SHIPPED, REFUND_REQUESTED, SETTLED, REFUNDED)

# 10,750 fen * 0.6% = 64.5 fen, rounded half-even to 64: the merchant gets 10,686.
TRADE_FEN = 10_750
TRADE_FEE_FEN = 64


def state_name(state: pb.TradeState.ValueType) -> str:
    """The state as the domain names it in refusals ("refund_requested")."""
    return pb.TradeState.Name(state).removeprefix("TRADE_STATE_").lower()


# --- the happy path ------------------------------------------------------------------------


async def test_a_trade_paid_shipped_and_confirmed_settles_to_the_merchant_less_the_fee(
    stub, store
) -> None:
    parties = await trade_parties(stub, buyer_fen=20_000)
    escrow_before = await escrow_fen(store)
    fee_before = await fee_income_fen(store)

    trade = await create_trade(stub, parties, TRADE_FEN)
    assert trade.state == CREATED
    assert trade.in_escrow.amount_fen == 0

    paid = await pay_trade(stub, trade)
    assert paid.trade.state == PAID
    assert paid.trade.in_escrow.amount_fen == TRADE_FEN
    assert paid.posting.kind == "trade_payment"
    assert entries_of(paid.posting) == {parties.buyer: -TRADE_FEN, "platform:escrow": TRADE_FEN}
    buyer = await get_account(stub, parties.buyer)
    assert buyer.balance.amount_fen == 20_000 - TRADE_FEN
    assert buyer.in_escrow.amount_fen == TRADE_FEN
    assert await escrow_fen(store) == escrow_before + TRADE_FEN
    assert await balance_fen(stub, parties.merchant) == 0
    await assert_books_balance(store)

    shipped = await ship(stub, trade)
    assert shipped.state == SHIPPED
    assert (shipped.auto_confirm_at.ToDatetime() - shipped.shipped_at.ToDatetime()) == timedelta(
        days=10
    )

    confirmed = await confirm(stub, trade)
    assert confirmed.trade.state == SETTLED
    assert confirmed.trade.settled_by == "buyer"
    assert confirmed.trade.merchant_settled.amount_fen == TRADE_FEN - TRADE_FEE_FEN
    assert confirmed.trade.acquiring_fee.amount_fen == TRADE_FEE_FEN
    assert confirmed.trade.in_escrow.amount_fen == 0
    assert confirmed.posting.kind == "trade_settlement"
    assert entries_of(confirmed.posting) == {
        "platform:escrow": -TRADE_FEN,
        parties.merchant: TRADE_FEN - TRADE_FEE_FEN,
        "platform:fee_income": TRADE_FEE_FEN,
    }
    assert await balance_fen(stub, parties.merchant) == 10_686
    assert await fee_income_fen(store) == fee_before + TRADE_FEE_FEN
    assert await escrow_fen(store) == escrow_before
    assert (await get_account(stub, parties.buyer)).in_escrow.amount_fen == 0
    assert (await get_trade(stub, trade.trade_id)).state == SETTLED
    await assert_books_balance(store)


async def test_paying_again_with_the_same_key_replays_the_payment_and_moves_money_once(
    stub, store
) -> None:
    parties = await trade_parties(stub, buyer_fen=20_000)
    trade = await create_trade(stub, parties, TRADE_FEN)
    key = new_key()
    first = await pay_trade(stub, trade, key=key)
    again = await pay_trade(stub, trade, key=key)
    assert again.posting.posting_id == first.posting.posting_id
    assert again.trade == first.trade
    assert await balance_fen(stub, parties.buyer) == 20_000 - TRADE_FEN
    other = await create_trade(stub, parties, 100)
    code, reason = await refusal_of(pay_trade(stub, other, key=key))
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED")
    await assert_books_balance(store)


# --- the state machine: every transition over the wire -------------------------------------


async def _pay(stub: Stub, trade: pb.Trade) -> pb.Trade:
    return (await pay_trade(stub, trade)).trade


async def _ship(stub: Stub, trade: pb.Trade) -> pb.Trade:
    return await ship(stub, trade)


async def _confirm(stub: Stub, trade: pb.Trade) -> pb.Trade:
    return (await confirm(stub, trade)).trade


async def _request_refund(stub: Stub, trade: pb.Trade) -> pb.Trade:
    return await request_refund(stub, trade)


async def _request_part_refund(stub: Stub, trade: pb.Trade) -> pb.Trade:
    return await request_refund(stub, trade, fen=1_000)


async def _approve(stub: Stub, trade: pb.Trade) -> pb.Trade:
    return (await decide_refund(stub, trade, approve=True)).trade


async def _reject(stub: Stub, trade: pb.Trade) -> pb.Trade:
    return (await decide_refund(stub, trade, approve=False)).trade


async def _buyer_cancels(stub: Stub, trade: pb.Trade) -> pb.Trade:
    return await cancel(stub, trade, trade.buyer_account_id)


async def _merchant_cancels(stub: Stub, trade: pb.Trade) -> pb.Trade:
    return await cancel(stub, trade, trade.merchant_account_id)


Action = Callable[[Stub, pb.Trade], Awaitable[pb.Trade]]

# Every action a party can take over the RPCs, taken by the party allowed to take it.
ACTIONS: dict[str, Action] = {
    "pay": _pay,
    "ship": _ship,
    "confirm_receipt": _confirm,
    "request_refund": _request_refund,
    "approve_refund": _approve,
    "reject_refund": _reject,
    "cancel": _merchant_cancels,
}
LEGAL_ACTIONS = {
    CREATED: {"pay", "cancel"},
    PAID: {"ship", "request_refund"},
    SHIPPED: {"confirm_receipt", "request_refund"},
    REFUND_REQUESTED: {"approve_refund", "reject_refund"},
}


@pytest.mark.parametrize("state", ALL_STATES, ids=state_name)
async def test_every_illegal_action_is_refused_naming_the_current_state(
    stub, store, state: pb.TradeState.ValueType
) -> None:
    trade = await trade_in_state(stub, state)
    before = await get_trade(stub, trade.trade_id)
    buyer_before = await balance_fen(stub, trade.buyer_account_id)
    illegal = sorted(set(ACTIONS) - LEGAL_ACTIONS.get(state, set()))
    assert illegal, "every state refuses something"
    for action in illegal:
        error = await refused(ACTIONS[action](stub, trade))
        info = error_info(error)
        assert (error.code(), info.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "ILLEGAL_TRANSITION",
        ), action
        assert info.metadata["state"] == state_name(state), action
        assert state_name(state) in (error.details() or ""), action
    assert await get_trade(stub, trade.trade_id) == before
    assert await balance_fen(stub, trade.buyer_account_id) == buyer_before
    await assert_books_balance(store)


@pytest.mark.parametrize(
    ("start", "steps", "expected"),
    [
        (CREATED, (_pay,), PAID),
        (CREATED, (_buyer_cancels,), CLOSED),
        (CREATED, (_merchant_cancels,), CLOSED),
        (PAID, (_ship,), SHIPPED),
        (PAID, (_request_refund,), REFUND_REQUESTED),
        (SHIPPED, (_confirm,), SETTLED),
        (SHIPPED, (_request_refund,), REFUND_REQUESTED),
        (PAID, (_request_refund, _approve), REFUNDED),
        (SHIPPED, (_request_refund, _approve), REFUNDED),
        (PAID, (_request_part_refund, _approve), PAID),
        (SHIPPED, (_request_part_refund, _approve), SHIPPED),
        (PAID, (_request_refund, _reject), PAID),
        (SHIPPED, (_request_refund, _reject), SHIPPED),
    ],
    ids=lambda value: (
        state_name(value)
        if isinstance(value, int)
        else "+".join(step.__name__.strip("_") for step in value)
    ),
)
async def test_every_legal_transition_reaches_its_state(
    stub,
    store,
    start: pb.TradeState.ValueType,
    steps: tuple[Action, ...],
    expected: pb.TradeState.ValueType,
) -> None:
    trade = await trade_in_state(stub, start)
    for step in steps:
        trade = await step(stub, trade)
    assert trade.state == expected
    assert (await get_trade(stub, trade.trade_id)).state == expected
    await assert_books_balance(store)


# --- who may act ---------------------------------------------------------------------------


async def test_someone_not_party_to_a_trade_is_told_it_does_not_exist(stub, store) -> None:
    created = await trade_in_state(stub, CREATED)
    shipped = await trade_in_state(stub, SHIPPED)
    paid = await trade_in_state(stub, PAID)
    stranger = (await open_person(stub)).account_id
    stranger_shop = (await open_merchant(stub)).account_id
    attempts = {
        "pay": pay_trade(stub, created, buyer=stranger),
        "cancel": cancel(stub, created, stranger),
        "ship": ship(stub, paid, merchant=stranger_shop),
        "confirm": confirm(stub, shipped, buyer=stranger),
        "request_refund": request_refund(stub, shipped, buyer=stranger),
    }
    for name, attempt in attempts.items():
        assert await refusal_of(attempt) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND"), name
    await assert_books_balance(store)


async def test_someone_not_party_to_a_trade_cannot_learn_it_exists_by_deciding_its_refund(
    stub,
) -> None:
    trade = await trade_in_state(stub, REFUND_REQUESTED)
    stranger_shop = (await open_merchant(stub)).account_id
    attempt = decide_refund(stub, trade, approve=True, merchant=stranger_shop)
    assert await refusal_of(attempt) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")


async def test_each_party_may_take_only_its_own_actions(stub, store) -> None:
    created = await trade_in_state(stub, CREATED)
    paid = await trade_in_state(stub, PAID)
    shipped = await trade_in_state(stub, SHIPPED)
    asking = await trade_in_state(stub, REFUND_REQUESTED)
    denied = (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    assert await refusal_of(confirm(stub, shipped, buyer=shipped.merchant_account_id)) == denied
    assert await refusal_of(ship(stub, paid, merchant=paid.buyer_account_id)) == denied
    assert await refusal_of(pay_trade(stub, created, buyer=created.merchant_account_id)) == denied
    assert await refusal_of(request_refund(stub, paid, buyer=paid.merchant_account_id)) == denied
    assert (
        await refusal_of(
            decide_refund(stub, asking, approve=True, merchant=asking.buyer_account_id)
        )
        == denied
    )
    assert (await get_trade(stub, shipped.trade_id)).state == SHIPPED
    assert (await get_trade(stub, asking.trade_id)).state == REFUND_REQUESTED
    await assert_books_balance(store)


# --- refunds -------------------------------------------------------------------------------


async def test_a_partial_refund_then_confirmation_charges_the_fee_on_the_settled_part(
    stub, store
) -> None:
    parties = await trade_parties(stub, buyer_fen=TRADE_FEN)
    escrow_before = await escrow_fen(store)
    fee_before = await fee_income_fen(store)
    trade = await create_trade(stub, parties, TRADE_FEN)
    await pay_trade(stub, trade)
    await ship(stub, trade)

    asked = await request_refund(stub, trade, fen=2_000)
    assert asked.state == REFUND_REQUESTED
    assert asked.refund_requested.amount_fen == 2_000
    decided = await decide_refund(stub, trade, approve=True)
    assert decided.trade.state == SHIPPED
    assert decided.trade.refunded.amount_fen == 2_000
    assert decided.trade.in_escrow.amount_fen == TRADE_FEN - 2_000
    assert entries_of(decided.posting) == {"platform:escrow": -2_000, parties.buyer: 2_000}
    buyer = await get_account(stub, parties.buyer)
    assert (buyer.balance.amount_fen, buyer.in_escrow.amount_fen) == (2_000, 8_750)
    await assert_books_balance(store)

    settled = (await confirm(stub, trade)).trade
    # The fee is on the 8,750 fen settled: 52.5 fen, rounded half-even to 52.
    assert settled.state == SETTLED
    assert settled.acquiring_fee.amount_fen == 52
    assert settled.merchant_settled.amount_fen == 8_698
    assert settled.refunded.amount_fen == 2_000
    assert await balance_fen(stub, parties.merchant) == 8_698
    assert await fee_income_fen(store) == fee_before + 52
    assert await escrow_fen(store) == escrow_before
    assert await balance_fen(stub, parties.buyer) == 2_000
    await assert_books_balance(store)


async def test_a_full_refund_returns_everything_and_charges_no_fee(stub, store) -> None:
    parties = await trade_parties(stub, buyer_fen=TRADE_FEN)
    escrow_before = await escrow_fen(store)
    fee_before = await fee_income_fen(store)
    trade = await create_trade(stub, parties, TRADE_FEN)
    await pay_trade(stub, trade)

    asked = await request_refund(stub, trade)  # no amount: everything in escrow
    assert asked.refund_requested.amount_fen == TRADE_FEN
    decided = await decide_refund(stub, trade, approve=True)
    assert decided.trade.state == REFUNDED
    assert decided.trade.refunded.amount_fen == TRADE_FEN
    assert decided.trade.in_escrow.amount_fen == 0
    assert not decided.trade.HasField("merchant_settled")
    assert await balance_fen(stub, parties.buyer) == TRADE_FEN
    assert await balance_fen(stub, parties.merchant) == 0
    assert await fee_income_fen(store) == fee_before
    assert await escrow_fen(store) == escrow_before
    await assert_books_balance(store)


async def test_the_platform_decides_a_refund_when_no_merchant_is_named(stub, store) -> None:
    approved = await trade_in_state(stub, REFUND_REQUESTED)
    decided = await decide_refund(stub, approved, approve=True, merchant="")
    assert decided.trade.state == REFUNDED
    assert await balance_fen(stub, approved.buyer_account_id) == TRADE_FEN

    rejected = await trade_in_state(stub, REFUND_REQUESTED)
    decided = await decide_refund(stub, rejected, approve=False, merchant="")
    assert decided.trade.state == PAID
    assert not decided.HasField("posting")
    await assert_books_balance(store)


async def test_a_rejected_refund_returns_the_trade_to_where_it_was_and_moves_nothing(
    stub, store
) -> None:
    parties = await trade_parties(stub, buyer_fen=TRADE_FEN)
    trade = await create_trade(stub, parties, TRADE_FEN)
    await pay_trade(stub, trade)
    escrow_before = await escrow_fen(store)
    await request_refund(stub, trade, fen=5_000)
    decided = await decide_refund(stub, trade, approve=False)
    assert decided.trade.state == PAID
    assert decided.trade.refunded.amount_fen == 0
    assert decided.trade.in_escrow.amount_fen == TRADE_FEN
    assert not decided.HasField("posting")
    assert await balance_fen(stub, parties.buyer) == 0
    assert await escrow_fen(store) == escrow_before
    # The whole amount is still there to settle.
    await ship(stub, trade)
    settled = (await confirm(stub, trade)).trade
    assert settled.acquiring_fee.amount_fen == TRADE_FEE_FEN
    await assert_books_balance(store)


async def test_refund_requests_are_bounded_in_amount_and_in_number(stub, store) -> None:
    trade = await trade_in_state(stub, PAID)
    too_much = request_refund(stub, trade, fen=TRADE_FEN + 1)
    assert await refusal_of(too_much) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_AMOUNT")
    for _ in range(3):
        await request_refund(stub, trade, fen=100)
        await decide_refund(stub, trade, approve=False)
    fourth = request_refund(stub, trade, fen=100)
    assert await refusal_of(fourth) == (grpc.StatusCode.FAILED_PRECONDITION, "REFUND_NOT_ALLOWED")
    assert (await get_trade(stub, trade.trade_id)).state == PAID
    await assert_books_balance(store)


# --- unpaid trades -------------------------------------------------------------------------


async def test_cancelling_an_unpaid_trade_closes_it_and_moves_no_money(stub, store) -> None:
    parties = await trade_parties(stub, buyer_fen=TRADE_FEN)
    trade = await create_trade(stub, parties, TRADE_FEN)
    closed = await cancel(stub, trade, parties.merchant)
    assert closed.state == CLOSED
    assert closed.HasField("finished_at")
    assert await balance_fen(stub, parties.buyer) == TRADE_FEN
    await assert_books_balance(store)


async def test_a_trade_paid_after_its_pay_by_is_refused_as_expired(
    stub, store, clock: ManualClock
) -> None:
    parties = await trade_parties(stub, buyer_fen=2 * TRADE_FEN)
    in_time = await create_trade(stub, parties, TRADE_FEN, payment_window_seconds=60)
    too_late = await create_trade(stub, parties, TRADE_FEN, payment_window_seconds=60)
    clock.advance(timedelta(seconds=59))
    assert (await pay_trade(stub, in_time)).trade.state == PAID
    clock.advance(timedelta(seconds=1))  # now == pay_by: the window has closed
    error = await refused(pay_trade(stub, too_late))
    assert (error.code(), error_info(error).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "TRADE_EXPIRED",
    )
    assert (await get_trade(stub, too_late.trade_id)).state == CREATED
    assert await balance_fen(stub, parties.buyer) == TRADE_FEN
    await assert_books_balance(store)


async def test_check_trade_payable_applies_the_pay_rules_and_moves_nothing(
    stub, store, clock: ManualClock
) -> None:
    parties = await trade_parties(stub, buyer_fen=2 * TRADE_FEN)
    trade = await create_trade(stub, parties, TRADE_FEN, payment_window_seconds=60)
    stranger = (await open_person(stub)).account_id

    def check(trade_id: str, buyer: str) -> Awaitable[pb.CheckTradePayableResponse]:
        return stub.CheckTradePayable(
            pb.CheckTradePayableRequest(trade_id=trade_id, buyer_account_id=buyer)
        )

    assert (await check(trade.trade_id, parties.buyer)).trade.trade_id == trade.trade_id
    assert await refusal_of(check(trade.trade_id, stranger)) == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND",
    )
    assert await refusal_of(check(trade.trade_id, parties.merchant)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    clock.advance(timedelta(seconds=60))  # the payment window has closed
    assert await refusal_of(check(trade.trade_id, parties.buyer)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "TRADE_EXPIRED",
    )
    paid = await pay_trade(stub, await create_trade(stub, parties, TRADE_FEN))
    assert await refusal_of(check(paid.trade.trade_id, parties.buyer)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ILLEGAL_TRANSITION",
    )
    assert (await get_trade(stub, trade.trade_id)).state == CREATED
    assert await balance_fen(stub, parties.buyer) == TRADE_FEN
    await assert_books_balance(store)


# --- listing -------------------------------------------------------------------------------


async def list_all_trades(
    stub: Stub, account_id: str, page_size: int, state: pb.TradeState.ValueType = 0
) -> list[pb.Trade]:
    """Follow the page tokens to the end (bounded: a page at least every round)."""
    trades: list[pb.Trade] = []
    token = ""
    for _ in range(100):
        page = await stub.ListTrades(
            pb.ListTradesRequest(
                account_id=account_id,
                page=paging_pb2.PageRequest(page_size=page_size, page_token=token),
                state=state,
            )
        )
        trades.extend(page.trades)
        token = page.page.next_page_token
        if not token:
            return trades
    raise AssertionError("ListTrades never reached the last page")


async def test_listing_trades_page_by_page_returns_every_trade_once_newest_first(
    stub, clock: ManualClock
) -> None:
    parties = await trade_parties(stub, buyer_fen=1_000)
    # Seven trades created at one instant (the tie-breaker is the id), then three later.
    created = [await create_trade(stub, parties, 100 + n) for n in range(7)]
    clock.advance(timedelta(seconds=1))
    created += [await create_trade(stub, parties, 200 + n) for n in range(3)]
    expected = {trade.trade_id for trade in created}

    for account_id in (parties.merchant, parties.buyer):
        for page_size in (1, 3, 10, 100):
            listed = await list_all_trades(stub, account_id, page_size)
            ids = [trade.trade_id for trade in listed]
            assert len(ids) == len(set(ids)) == 10, (account_id, page_size)
            assert set(ids) == expected
            moments = [trade.created_at.ToDatetime() for trade in listed]
            assert moments == sorted(moments, reverse=True)

    await pay_trade(stub, created[0])
    await pay_trade(stub, created[8])
    paid = await list_all_trades(stub, parties.buyer, 1, state=PAID)
    assert {trade.trade_id for trade in paid} == {created[0].trade_id, created[8].trade_id}

    forged = stub.ListTrades(
        pb.ListTradesRequest(
            account_id=parties.buyer, page=paging_pb2.PageRequest(page_token="not a token")
        )
    )
    assert await refusal_of(forged) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


# --- concurrency ---------------------------------------------------------------------------


async def test_ten_concurrent_payments_of_one_trade_pay_it_exactly_once(stub, store) -> None:
    parties = await trade_parties(stub, buyer_fen=10 * TRADE_FEN)
    trade = await create_trade(stub, parties, TRADE_FEN)
    escrow_before = await escrow_fen(store)
    outcomes = await asyncio.gather(
        *(pay_trade(stub, trade) for _ in range(10)), return_exceptions=True
    )
    payments = [o for o in outcomes if isinstance(o, pb.PayTradeResponse)]
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(payments) == 1
    assert len(refusals) == 9
    assert {error_info(e).reason for e in refusals} == {"ILLEGAL_TRANSITION"}
    assert await balance_fen(stub, parties.buyer) == 9 * TRADE_FEN
    assert await escrow_fen(store) == escrow_before + TRADE_FEN
    postings = await store.postings.count_documents({"reference": trade.trade_id})
    assert postings == 1
    await assert_books_balance(store)


async def test_ten_concurrent_confirmations_settle_exactly_once(stub, store) -> None:
    trade = await trade_in_state(stub, SHIPPED)
    outcomes = await asyncio.gather(
        *(confirm(stub, trade) for _ in range(10)), return_exceptions=True
    )
    settlements = [o for o in outcomes if isinstance(o, pb.ConfirmTradeReceiptResponse)]
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(settlements) == 1
    assert len(refusals) == 9
    assert {error_info(e).reason for e in refusals} == {"ILLEGAL_TRANSITION"}
    assert await balance_fen(stub, trade.merchant_account_id) == TRADE_FEN - TRADE_FEE_FEN
    settled = await store.postings.count_documents(
        {"reference": trade.trade_id, "kind": "trade_settlement"}
    )
    assert settled == 1
    await assert_books_balance(store)
