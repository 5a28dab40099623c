"""Property: random sequences of money movements keep every ledger invariant (hypothesis).

Top-ups, transfers, holds (create, capture, void, expiry by the sweeper) and escrow trades
(create, pay, ship, confirm, refund request and decision) run against the real service, in
random order, between a handful of accounts. A plain-Python model of the expected balances
predicts each outcome, success or refusal reason, and after every step:

- the ledger audit and the escrow reconciliation find nothing;
- every balance matches the model and none is negative;
- available = balance - the open holds, and held funds match the holds collection.

Risk rules are switched off for this module (an empty rule list): they are tested in
test_risk_server.py, and here they would only add refusals unrelated to the ledger.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chassis.clock import ManualClock
from chassis.mongo import MongoClient
from colony.payment.v1 import payment_pb2 as pb
from services.payment.escrow import REFUND_REQUESTS_MAX
from services.payment.store import PaymentStore
from services.payment.tests.support import Stub, cny, open_merchant, open_person, top_up
from services.payment.tests.support import transfer as send
from services.payment.tests.trade_support import (
    Parties,
    RunningPayment,
    assert_books_balance,
    cancel,
    confirm,
    create_trade,
    decide_refund,
    error_info,
    escrow_fen,
    fee_income_fen,
    manual_clock,
    pay_trade,
    request_refund,
    running_payment,
    ship,
)

PERSONS = 3
MERCHANT = PERSONS  # the index of the one merchant; the persons are 0 .. PERSONS - 1
ACCOUNTS = PERSONS + 1
STEPS_MIN = 6
STEPS_MAX = 16
OPENING_FEN = 20_000
AMOUNT_FEN_MAX = 30_000
HOLD_TTL = timedelta(minutes=15)


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return manual_clock()


@pytest.fixture(scope="module")
async def payment(
    mongo_url: str, mongo_client: MongoClient, database_name: str, clock: ManualClock
) -> AsyncIterator[RunningPayment]:
    async with running_payment(
        mongo_url, mongo_client, f"{database_name}_payment", clock
    ) as running:
        await running.stub.SetRiskRules(pb.SetRiskRulesRequest(rules_json="[]"))
        yield running


@dataclass
class HoldModel:
    hold_id: str
    account: int
    amount_fen: int
    state: str = "held"
    captured_fen: int = 0
    credit: int = -1


@dataclass
class TradeModel:
    trade: pb.Trade
    buyer: int
    amount_fen: int
    state: str = "created"
    refunded_fen: int = 0
    requested_fen: int = 0
    state_before_refund: str = ""
    refund_requests: int = 0

    @property
    def in_escrow_fen(self) -> int:
        if self.state in ("paid", "shipped", "refund_requested"):
            return self.amount_fen - self.refunded_fen
        return 0


@dataclass
class LedgerModel:
    """What the balances should be; the accounts are indexes into account_ids."""

    account_ids: list[str]
    balances_fen: list[int] = field(default_factory=lambda: [0] * ACCOUNTS)
    held_fen: list[int] = field(default_factory=lambda: [0] * ACCOUNTS)
    holds: list[HoldModel] = field(default_factory=list)
    trades: list[TradeModel] = field(default_factory=list)
    escrow_fen: int = 0
    fee_fen: int = 0

    def available_fen(self, account: int) -> int:
        return self.balances_fen[account] - self.held_fen[account]


def acquiring_fee_fen(settled_fen: int) -> int:
    """0.6% of the settled amount, rounded half-even to the fen."""
    fee = (Decimal(settled_fen) * Decimal("0.006")).quantize(Decimal(1), ROUND_HALF_EVEN)
    return int(fee)


fen = st.integers(1, AMOUNT_FEN_MAX)
account = st.integers(0, ACCOUNTS - 1)
person = st.integers(0, PERSONS - 1)
# Which hold or trade, counted back from the newest: small, so that a trade's life goes on.
pick = st.integers(0, 2)
# Zero means "all of it" (the whole hold, everything left in escrow).
all_or_part = st.one_of(st.just(0), fen)
TRADE_ACTIONS = ("pay", "cancel", "ship", "confirm", "refund", "decide")
# Each operation's arguments; the name is drawn uniformly first (sampled_from).
# "trade_step" takes the trade a legal step further (mostly), so that trades reach their
# ends; "trade_action" tries any action, legal or not.
ARGUMENTS = {
    "top_up": (account, fen),
    "transfer": (account, account, fen),
    "hold": (account, fen),
    "capture": (pick, all_or_part, account),
    "void": (pick,),
    "expire_holds": (),
    "trade": (person, fen),
    "trade_step": (pick, st.integers(0, 5), all_or_part, st.booleans()),
    "trade_action": (pick, st.sampled_from(TRADE_ACTIONS), all_or_part, st.booleans()),
}
operations = st.sampled_from([*ARGUMENTS, "trade_step", "trade_step"]).flatmap(
    lambda name: st.tuples(st.just(name), *ARGUMENTS[name])
)
# The one state each money-neutral trade action is legal in.
STATE_ACCEPTING = {
    "cancel": "created",
    "ship": "paid",
    "confirm": "shipped",
    "decide": "refund_requested",
}
# What a trade_step does in each state: its choice (0-5) indexes this list.
NEXT_STEPS = {
    "created": ["pay"] * 5 + ["cancel"],
    "paid": ["ship"] * 4 + ["refund"] * 2,
    "shipped": ["confirm"] * 4 + ["refund"] * 2,
    "refund_requested": ["decide"] * 6,
}


async def outcome_of(call) -> str:
    """ "ok", or the reason the service refused the call with."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error_info(error).reason
    return "ok"


class Run:
    """One example: the service, the model, and each operation's prediction and effect."""

    def __init__(self, payment: RunningPayment, clock: ManualClock, model: LedgerModel) -> None:
        self.stub: Stub = payment.stub
        self.payment = payment
        self.clock = clock
        self.model = model

    def id_of(self, account: int) -> str:
        return self.model.account_ids[account]

    async def top_up(self, account: int, amount_fen: int) -> str:
        outcome = await outcome_of(top_up(self.stub, self.id_of(account), amount_fen))
        if outcome == "ok":
            self.model.balances_fen[account] += amount_fen
        return outcome

    async def transfer(self, source: int, target: int, amount_fen: int) -> str:
        call = send(self.stub, self.id_of(source), self.id_of(target), amount_fen)
        outcome = await outcome_of(call)
        if outcome == "ok":
            self.model.balances_fen[source] -= amount_fen
            self.model.balances_fen[target] += amount_fen
        return outcome

    def expect_transfer(self, source: int, target: int, amount_fen: int) -> str:
        if source == target:
            return "SAME_ACCOUNT"
        if self.model.available_fen(source) < amount_fen:
            return "INSUFFICIENT_FUNDS"
        return "ok"

    async def hold(self, account: int, amount_fen: int) -> str:
        hold = HoldModel(f"prop-{uuid.uuid4().hex}", account, amount_fen)
        call = self.stub.CreateHold(
            pb.CreateHoldRequest(
                hold_id=hold.hold_id, account_id=self.id_of(account), amount=cny(amount_fen)
            )
        )
        outcome = await outcome_of(call)
        if outcome == "ok":
            self.model.holds.append(hold)
            self.model.held_fen[account] += amount_fen
        return outcome

    def expect_hold(self, account: int, amount_fen: int) -> str:
        return "ok" if self.model.available_fen(account) >= amount_fen else "INSUFFICIENT_FUNDS"

    async def capture(self, hold: HoldModel, amount_fen: int, credit: int) -> str:
        call = self.stub.CaptureHold(
            pb.CaptureHoldRequest(
                hold_id=hold.hold_id,
                amount=cny(amount_fen) if amount_fen else None,
                credit_account_id=self.id_of(credit),
            )
        )
        outcome = await outcome_of(call)
        if outcome == "ok" and hold.state == "held":
            captured_fen = amount_fen or hold.amount_fen
            self.model.held_fen[hold.account] -= hold.amount_fen
            self.model.balances_fen[hold.account] -= captured_fen
            self.model.balances_fen[credit] += captured_fen
            hold.state, hold.captured_fen, hold.credit = "captured", captured_fen, credit
        return outcome

    def expect_capture(self, hold: HoldModel, amount_fen: int, credit: int) -> str:
        captured_fen = amount_fen or hold.amount_fen
        if hold.state == "captured":
            same = (hold.captured_fen, hold.credit) == (captured_fen, credit)
            return "ok" if same else "HOLD_ALREADY_CAPTURED"
        if hold.state == "voided":
            return "HOLD_VOIDED"
        if hold.state == "expired":
            return "HOLD_EXPIRED"
        if captured_fen > hold.amount_fen:
            return "INVALID_AMOUNT"
        if credit == hold.account:
            return "INVALID_ARGUMENT"
        return "ok"

    async def void(self, hold: HoldModel) -> str:
        outcome = await outcome_of(self.stub.VoidHold(pb.VoidHoldRequest(hold_id=hold.hold_id)))
        if outcome == "ok" and hold.state == "held":
            self.model.held_fen[hold.account] -= hold.amount_fen
            hold.state = "voided"
        return outcome

    def expect_void(self, hold: HoldModel) -> str:
        return "HOLD_ALREADY_CAPTURED" if hold.state == "captured" else "ok"

    async def expire_holds(self) -> str:
        """Time passes beyond every open hold's TTL, and the sweeper runs once."""
        self.clock.advance(HOLD_TTL + timedelta(minutes=1))
        await self.payment.service.run_job_now("hold-sweeper")
        for hold in self.model.holds:
            if hold.state == "held":
                self.model.held_fen[hold.account] -= hold.amount_fen
                hold.state = "expired"
        return "ok"

    async def open_trade(self, buyer: int, amount_fen: int) -> str:
        parties = Parties(buyer=self.id_of(buyer), merchant=self.id_of(MERCHANT))
        trade = await create_trade(self.stub, parties, amount_fen)
        self.model.trades.append(TradeModel(trade, buyer, amount_fen))
        return "ok"

    async def pay(self, trade: TradeModel) -> str:
        outcome = await outcome_of(pay_trade(self.stub, trade.trade))
        if outcome == "ok":
            self.model.balances_fen[trade.buyer] -= trade.amount_fen
            self.model.escrow_fen += trade.amount_fen
            trade.state = "paid"
        return outcome

    def expect_pay(self, trade: TradeModel) -> str:
        if trade.state != "created":
            return "ILLEGAL_TRANSITION"
        if self.model.available_fen(trade.buyer) < trade.amount_fen:
            return "INSUFFICIENT_FUNDS"
        return "ok"

    async def cancel(self, trade: TradeModel) -> str:
        outcome = await outcome_of(cancel(self.stub, trade.trade))
        if outcome == "ok":
            trade.state = "closed"
        return outcome

    async def ship(self, trade: TradeModel) -> str:
        outcome = await outcome_of(ship(self.stub, trade.trade))
        if outcome == "ok":
            trade.state = "shipped"
        return outcome

    async def confirm(self, trade: TradeModel) -> str:
        outcome = await outcome_of(confirm(self.stub, trade.trade))
        if outcome == "ok":
            settled_fen = trade.amount_fen - trade.refunded_fen
            fee_fen = acquiring_fee_fen(settled_fen)
            self.model.balances_fen[MERCHANT] += settled_fen - fee_fen
            self.model.fee_fen += fee_fen
            self.model.escrow_fen -= settled_fen
            trade.state = "settled"
        return outcome

    async def refund(self, trade: TradeModel, amount_fen: int) -> str:
        outcome = await outcome_of(request_refund(self.stub, trade.trade, fen=amount_fen))
        if outcome == "ok":
            trade.requested_fen = amount_fen or trade.amount_fen - trade.refunded_fen
            trade.state_before_refund = trade.state
            trade.refund_requests += 1
            trade.state = "refund_requested"
        return outcome

    def expect_refund(self, trade: TradeModel, amount_fen: int) -> str:
        if trade.state not in ("paid", "shipped"):
            return "ILLEGAL_TRANSITION"
        if amount_fen > trade.amount_fen - trade.refunded_fen:
            return "INVALID_AMOUNT"
        if trade.refund_requests >= REFUND_REQUESTS_MAX:
            return "REFUND_NOT_ALLOWED"
        return "ok"

    async def decide(self, trade: TradeModel, approve: bool) -> str:
        outcome = await outcome_of(decide_refund(self.stub, trade.trade, approve=approve))
        if outcome == "ok":
            trade.state = trade.state_before_refund
            if approve:
                trade.refunded_fen += trade.requested_fen
                self.model.balances_fen[trade.buyer] += trade.requested_fen
                self.model.escrow_fen -= trade.requested_fen
                if trade.refunded_fen == trade.amount_fen:
                    trade.state = "refunded"
        return outcome

    async def step(self, operation: tuple) -> tuple[str, str] | None:
        """Run one operation; (expected, actual) outcome, or None if it had nothing to act on."""
        name, *args = operation
        model = self.model
        if name == "top_up":
            return "ok", await self.top_up(*args)
        if name == "transfer":
            return self.expect_transfer(*args), await self.transfer(*args)
        if name == "hold":
            return self.expect_hold(*args), await self.hold(*args)
        if name == "expire_holds":
            return "ok", await self.expire_holds()
        if name == "trade":
            return "ok", await self.open_trade(*args)
        if name in ("capture", "void"):
            if not model.holds:
                return None
            hold = model.holds[-1 - args[0] % len(model.holds)]
            if name == "capture":
                expected = self.expect_capture(hold, *args[1:])
                return expected, await self.capture(hold, *args[1:])
            return self.expect_void(hold), await self.void(hold)
        if not model.trades:
            return None
        back, choice, amount_fen, approve = args
        trade = model.trades[-1 - back % len(model.trades)]
        if name == "trade_step":
            steps = NEXT_STEPS.get(trade.state, TRADE_ACTIONS)
            action = steps[choice % len(steps)]
        else:
            action = choice
        return await self.trade_action(trade, action, amount_fen, approve)

    async def trade_action(
        self, trade: TradeModel, action: str, amount_fen: int, approve: bool
    ) -> tuple[str, str]:
        expected, actual = await self._trade_action(trade, action, amount_fen, approve)
        event(f"a trade reached {trade.state}")
        return expected, actual

    async def _trade_action(
        self, trade: TradeModel, action: str, amount_fen: int, approve: bool
    ) -> tuple[str, str]:
        if action == "pay":
            return self.expect_pay(trade), await self.pay(trade)
        if action == "refund":
            return self.expect_refund(trade, amount_fen), await self.refund(trade, amount_fen)
        expected = "ok" if trade.state == STATE_ACCEPTING[action] else "ILLEGAL_TRANSITION"
        if action == "cancel":
            return expected, await self.cancel(trade)
        if action == "ship":
            return expected, await self.ship(trade)
        if action == "confirm":
            return expected, await self.confirm(trade)
        return expected, await self.decide(trade, approve)


async def assert_invariants(
    store: PaymentStore, model: LedgerModel, escrow_start_fen: int, fee_start_fen: int
) -> None:
    await assert_books_balance(store)
    open_holds_fen = [0] * ACCOUNTS
    cursor = store.holds.find({"account_id": {"$in": model.account_ids}, "state": "held"})
    async for document in cursor:
        open_holds_fen[model.account_ids.index(document["account_id"])] += document["amount_fen"]
    for index, account_id in enumerate(model.account_ids):
        account = await store.get_account(account_id)
        assert account.balance_fen == model.balances_fen[index] >= 0, account_id
        assert account.held_fen == model.held_fen[index] == open_holds_fen[index], account_id
        assert account.available_fen == account.balance_fen - open_holds_fen[index] >= 0
    for index in range(PERSONS):
        in_escrow_fen = sum(t.in_escrow_fen for t in model.trades if t.buyer == index)
        assert await store.in_escrow_fen(model.account_ids[index]) == in_escrow_fen
    for trade in model.trades:
        stored = await store.get_trade(trade.trade.trade_id)
        assert stored.state.value == trade.state, trade.trade.trade_id
        assert stored.refund_fen == trade.refunded_fen, trade.trade.trade_id
    assert await escrow_fen(store) == escrow_start_fen + model.escrow_fen
    assert await fee_income_fen(store) == fee_start_fen + model.fee_fen


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=st.lists(operations, min_size=STEPS_MIN, max_size=STEPS_MAX))
async def test_random_movements_keep_every_ledger_invariant(
    payment: RunningPayment, clock: ManualClock, steps: list[tuple]
) -> None:
    stub, store = payment.stub, payment.store
    persons = [(await open_person(stub)).account_id for _ in range(PERSONS)]
    merchant = (await open_merchant(stub)).account_id
    model = LedgerModel(account_ids=[*persons, merchant])
    run = Run(payment, clock, model)
    for index in range(ACCOUNTS):
        await run.top_up(index, OPENING_FEN)
    escrow_start_fen, fee_start_fen = await escrow_fen(store), await fee_income_fen(store)
    await assert_invariants(store, model, escrow_start_fen, fee_start_fen)

    for number, operation in enumerate(steps):
        outcome = await run.step(operation)
        if outcome is None:
            continue
        expected, actual = outcome
        event(f"{operation[0]}: {actual}")
        assert actual == expected, (number, operation)
        await assert_invariants(store, model, escrow_start_fen, fee_start_fen)
