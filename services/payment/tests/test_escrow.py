"""Escrow trades: the state machine (every legal and illegal transition), refunds, the
auto-confirm clock, the acquiring fee and the settlement split."""

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from chassis.errors import DomainError, FailedPrecondition, InvalidArgument, PermissionDenied
from services.payment.escrow import (
    AUTO_CONFIRM_AFTER,
    REFUND_REQUESTS_MAX,
    RefundDecider,
    SettledBy,
    Settlement,
    Trade,
    TradeAction,
    TradeRole,
    TradeState,
    acquiring_fee_fen,
    auto_confirm,
    auto_confirm_due,
    cancel,
    confirm_receipt,
    create_trade,
    decide_refund,
    expire,
    expiry_due,
    mark_shipped,
    party_role,
    pay,
    request_refund,
    require_role,
    settlement_split,
    split_settlement,
)

T0 = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)
AMOUNT_FEN = 10_000


def new_trade(amount_fen: int = AMOUNT_FEN) -> Trade:
    return create_trade(
        trade_id="t1",
        merchant_account_id="2188000000000001",
        buyer_account_id="2088000000000001",
        amount_fen=amount_fen,
        description="  a teapot  ",
        now=T0,
    )


def paid_trade(amount_fen: int = AMOUNT_FEN) -> Trade:
    return pay(new_trade(amount_fen), T0 + HOUR)


def shipped_trade(amount_fen: int = AMOUNT_FEN) -> Trade:
    return mark_shipped(paid_trade(amount_fen), T0 + 2 * HOUR)


def trade_in(state: TradeState) -> Trade:
    """A trade brought to `state` by legal moves only (REFUND_REQUESTED asks for everything)."""
    builders: dict[TradeState, Callable[[], Trade]] = {
        TradeState.CREATED: new_trade,
        TradeState.CLOSED: lambda: cancel(new_trade(), T0 + HOUR),
        TradeState.PAID: paid_trade,
        TradeState.SHIPPED: shipped_trade,
        TradeState.REFUND_REQUESTED: lambda: request_refund(
            shipped_trade(), AMOUNT_FEN, "not as described", T0 + DAY
        ),
        TradeState.SETTLED: lambda: confirm_receipt(shipped_trade(), T0 + 3 * DAY),
        TradeState.REFUNDED: lambda: decide_refund(
            request_refund(paid_trade(), AMOUNT_FEN, "changed my mind", T0 + 3 * HOUR),
            approve=True,
            decided_by=RefundDecider.MERCHANT,
            now=T0 + 4 * HOUR,
        ),
    }
    trade = builders[state]()
    assert trade.state is state
    return trade


# Each action performed at a moment that satisfies its time rule when the state allows it:
# pay within the one-day window, expire after it, auto-confirm after the 10 days.
ACTIONS: dict[TradeAction, Callable[[Trade], Trade]] = {
    TradeAction.PAY: lambda trade: pay(trade, T0 + HOUR),
    TradeAction.CANCEL: lambda trade: cancel(trade, T0 + HOUR),
    TradeAction.EXPIRE: lambda trade: expire(trade, T0 + 2 * DAY),
    TradeAction.SHIP: lambda trade: mark_shipped(trade, T0 + 2 * DAY),
    TradeAction.CONFIRM_RECEIPT: lambda trade: confirm_receipt(trade, T0 + 2 * DAY),
    TradeAction.AUTO_CONFIRM: lambda trade: auto_confirm(trade, T0 + 30 * DAY),
    TradeAction.REQUEST_REFUND: lambda trade: request_refund(
        trade, AMOUNT_FEN, "broken", T0 + 2 * DAY
    ),
    TradeAction.APPROVE_REFUND: lambda trade: decide_refund(
        trade, approve=True, decided_by=RefundDecider.PLATFORM, now=T0 + 2 * DAY
    ),
    TradeAction.REJECT_REFUND: lambda trade: decide_refund(
        trade, approve=False, decided_by=RefundDecider.PLATFORM, now=T0 + 2 * DAY
    ),
}

# The state machine written out by hand (not read from the module): (from, action) -> to.
LEGAL: dict[tuple[TradeState, TradeAction], TradeState] = {
    (TradeState.CREATED, TradeAction.PAY): TradeState.PAID,
    (TradeState.CREATED, TradeAction.CANCEL): TradeState.CLOSED,
    (TradeState.CREATED, TradeAction.EXPIRE): TradeState.CLOSED,
    (TradeState.PAID, TradeAction.SHIP): TradeState.SHIPPED,
    (TradeState.PAID, TradeAction.REQUEST_REFUND): TradeState.REFUND_REQUESTED,
    (TradeState.SHIPPED, TradeAction.CONFIRM_RECEIPT): TradeState.SETTLED,
    (TradeState.SHIPPED, TradeAction.AUTO_CONFIRM): TradeState.SETTLED,
    (TradeState.SHIPPED, TradeAction.REQUEST_REFUND): TradeState.REFUND_REQUESTED,
    # trade_in(REFUND_REQUESTED) asks for the whole amount back, from SHIPPED.
    (TradeState.REFUND_REQUESTED, TradeAction.APPROVE_REFUND): TradeState.REFUNDED,
    (TradeState.REFUND_REQUESTED, TradeAction.REJECT_REFUND): TradeState.SHIPPED,
}
ALL_PAIRS = [(state, action) for state in TradeState for action in TradeAction]
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


def test_the_table_covers_every_state_and_action() -> None:
    assert len(ALL_PAIRS) == 7 * 9
    assert len(LEGAL) == 10
    assert len(ILLEGAL) == 53


@pytest.mark.parametrize(("state", "action"), list(LEGAL))
def test_legal_transition_reaches_its_state(state: TradeState, action: TradeAction) -> None:
    after = ACTIONS[action](trade_in(state))
    assert after.state is LEGAL[(state, action)]


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_illegal_transition_is_refused_naming_state_and_action(
    state: TradeState, action: TradeAction
) -> None:
    trade = trade_in(state)
    with pytest.raises(FailedPrecondition) as refusal:
        ACTIONS[action](trade)
    assert refusal.value.reason == "ILLEGAL_TRANSITION"
    assert state.value in refusal.value.message
    assert action.value in refusal.value.message
    assert refusal.value.metadata == {
        "trade_id": "t1",
        "state": state.value,
        "action": action.value,
    }


def test_happy_path_settles_to_the_merchant_less_the_fee() -> None:
    trade = new_trade()
    assert trade.description == "a teapot"
    assert trade.pay_by == T0 + DAY
    assert trade.escrow_held_fen == 0
    trade = pay(trade, T0 + HOUR)
    assert (trade.paid_at, trade.escrow_held_fen) == (T0 + HOUR, 10_000)
    trade = mark_shipped(trade, T0 + 2 * HOUR)
    assert trade.auto_confirm_at == T0 + 2 * HOUR + 10 * DAY
    trade = confirm_receipt(trade, T0 + 3 * DAY)
    assert (trade.state, trade.settled_by, trade.finished_at) == (
        TradeState.SETTLED,
        SettledBy.BUYER,
        T0 + 3 * DAY,
    )
    assert trade.escrow_held_fen == 0
    # 10000 fen * 0.006 = 60 fen fee; 9940 fen to the merchant.
    assert settlement_split(trade) == Settlement(merchant_fen=9_940, fee_fen=60, refund_fen=0)


def test_payment_is_refused_once_the_window_has_passed() -> None:
    trade = new_trade()
    assert pay(trade, trade.pay_by - MICROSECOND).state is TradeState.PAID
    with pytest.raises(FailedPrecondition) as refusal:
        pay(trade, trade.pay_by)
    assert refusal.value.reason == "TRADE_EXPIRED"


def test_unpaid_trade_expires_exactly_at_pay_by_and_not_before() -> None:
    trade = new_trade()
    assert not expiry_due(trade, trade.pay_by - MICROSECOND)
    assert expiry_due(trade, trade.pay_by)
    with pytest.raises(FailedPrecondition) as refusal:
        expire(trade, trade.pay_by - MICROSECOND)
    assert refusal.value.reason == "TRADE_NOT_DUE"
    closed = expire(trade, trade.pay_by)
    assert (closed.state, closed.finished_at) == (TradeState.CLOSED, trade.pay_by)
    assert not expiry_due(paid_trade(), T0 + 100 * DAY)


def test_auto_confirm_is_due_ten_days_after_shipment_and_not_a_microsecond_before() -> None:
    trade = shipped_trade()
    due_at = T0 + 2 * HOUR + AUTO_CONFIRM_AFTER
    assert timedelta(days=10) == AUTO_CONFIRM_AFTER
    assert not auto_confirm_due(trade, due_at - MICROSECOND)
    assert auto_confirm_due(trade, due_at)
    with pytest.raises(FailedPrecondition) as refusal:
        auto_confirm(trade, due_at - MICROSECOND)
    assert refusal.value.reason == "TRADE_NOT_DUE"
    settled = auto_confirm(trade, due_at)
    assert (settled.state, settled.settled_by) == (TradeState.SETTLED, SettledBy.AUTO_CONFIRM)


def test_a_paid_but_unshipped_trade_never_auto_confirms() -> None:
    assert not auto_confirm_due(paid_trade(), T0 + 365 * DAY)


def test_an_open_refund_request_pauses_the_auto_confirm_clock() -> None:
    shipped = shipped_trade()  # shipped at T0+2h, due at T0+2h+10d
    requested = request_refund(shipped, 3_000, "scratched", T0 + 2 * DAY)
    assert not auto_confirm_due(requested, T0 + 100 * DAY)
    # Open for 3 days (T0+2d to T0+5d): the deadline moves 3 days on.
    rejected = decide_refund(
        requested, approve=False, decided_by=RefundDecider.MERCHANT, now=T0 + 5 * DAY
    )
    assert rejected.state is TradeState.SHIPPED
    assert rejected.auto_confirm_at == T0 + 2 * HOUR + 13 * DAY
    assert rejected.refund_fen == 0
    assert rejected.refund_decided_by is RefundDecider.MERCHANT
    assert not auto_confirm_due(rejected, T0 + 2 * HOUR + 13 * DAY - MICROSECOND)
    assert auto_confirm_due(rejected, T0 + 2 * HOUR + 13 * DAY)


def test_approved_partial_refund_returns_to_shipped_and_settles_the_rest_on_receipt() -> None:
    requested = request_refund(shipped_trade(), 2_500, "one cup broken", T0 + DAY)
    assert (requested.state_before_refund, requested.refund_requested_fen) == (
        TradeState.SHIPPED,
        2_500,
    )
    approved = decide_refund(
        requested, approve=True, decided_by=RefundDecider.MERCHANT, now=T0 + 2 * DAY
    )
    assert approved.state is TradeState.SHIPPED
    assert (approved.refund_fen, approved.escrow_held_fen, approved.refundable_fen) == (
        2_500,
        7_500,
        7_500,
    )
    settled = confirm_receipt(approved, T0 + 3 * DAY)
    # 10000 paid - 2500 refunded = 7500 settled; 7500 * 0.006 = 45 fee; 7455 to the merchant.
    assert settlement_split(settled) == Settlement(merchant_fen=7_455, fee_fen=45, refund_fen=2_500)


def test_partial_refunds_that_reach_the_whole_amount_make_the_trade_refunded() -> None:
    trade = paid_trade()
    trade = request_refund(trade, 4_000, "only need half", T0 + 2 * HOUR)
    trade = decide_refund(trade, approve=True, decided_by=RefundDecider.MERCHANT, now=T0 + DAY)
    assert (trade.state, trade.refundable_fen) == (TradeState.PAID, 6_000)
    trade = mark_shipped(trade, T0 + DAY)
    trade = request_refund(trade, 6_000, "never arrived", T0 + 5 * DAY)
    trade = decide_refund(trade, approve=True, decided_by=RefundDecider.PLATFORM, now=T0 + 6 * DAY)
    assert (trade.state, trade.refund_fen, trade.escrow_held_fen) == (
        TradeState.REFUNDED,
        10_000,
        0,
    )
    assert trade.auto_confirm_at is None
    # Nothing settled, so no fee: everything back to the buyer.
    assert settlement_split(trade) == Settlement(merchant_fen=0, fee_fen=0, refund_fen=10_000)


def test_rejected_refund_from_paid_returns_to_paid_without_a_deadline() -> None:
    requested = request_refund(paid_trade(), 10_000, "changed my mind", T0 + 2 * HOUR)
    rejected = decide_refund(
        requested, approve=False, decided_by=RefundDecider.PLATFORM, now=T0 + DAY
    )
    assert (rejected.state, rejected.auto_confirm_at, rejected.escrow_held_fen) == (
        TradeState.PAID,
        None,
        10_000,
    )


@pytest.mark.parametrize("refund_fen", [0, -1, 10_001])
def test_refund_outside_what_is_in_escrow_is_refused(refund_fen: int) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        request_refund(shipped_trade(), refund_fen, "broken", T0 + DAY)
    assert refusal.value.reason == "INVALID_AMOUNT"


def test_refund_above_what_is_left_after_a_partial_refund_is_refused() -> None:
    trade = request_refund(shipped_trade(), 9_000, "broken", T0 + DAY)
    trade = decide_refund(trade, approve=True, decided_by=RefundDecider.MERCHANT, now=T0 + DAY)
    with pytest.raises(InvalidArgument):
        request_refund(trade, 1_001, "more", T0 + 2 * DAY)
    assert request_refund(trade, 1_000, "the rest", T0 + 2 * DAY).refund_requested_fen == 1_000


def test_refund_requests_are_bounded_per_trade() -> None:
    trade = shipped_trade()
    for attempt in range(REFUND_REQUESTS_MAX):
        trade = request_refund(trade, 100, f"try {attempt}", T0 + DAY)
        trade = decide_refund(trade, approve=False, decided_by=RefundDecider.MERCHANT, now=T0 + DAY)
    with pytest.raises(FailedPrecondition) as refusal:
        request_refund(trade, 100, "once more", T0 + DAY)
    assert refusal.value.reason == "REFUND_NOT_ALLOWED"


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_refund_reason_must_be_present_and_short(reason: str) -> None:
    with pytest.raises(InvalidArgument):
        request_refund(shipped_trade(), 100, reason, T0 + DAY)


def test_create_refuses_a_merchant_trading_with_itself() -> None:
    with pytest.raises(InvalidArgument) as refusal:
        create_trade(
            trade_id="t",
            merchant_account_id="a",
            buyer_account_id="a",
            amount_fen=1,
            description="x",
            now=T0,
        )
    assert refusal.value.reason == "SAME_ACCOUNT"


@pytest.mark.parametrize(
    ("amount_fen", "description", "payment_window"),
    [
        (0, "x", DAY),
        (1_000_000_000_001, "x", DAY),
        (1, "", DAY),
        (1, "x" * 129, DAY),
        (1, "x", timedelta(seconds=59)),
        (1, "x", timedelta(days=15, seconds=1)),
    ],
)
def test_create_refuses_bad_arguments(
    amount_fen: int, description: str, payment_window: timedelta
) -> None:
    with pytest.raises(InvalidArgument):
        create_trade(
            trade_id="t",
            merchant_account_id="m",
            buyer_account_id="b",
            amount_fen=amount_fen,
            description=description,
            now=T0,
            payment_window=payment_window,
        )


def test_naive_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        pay(new_trade(), datetime(2026, 11, 11, 1, 0))


@pytest.mark.parametrize(
    "state", [TradeState.CREATED, TradeState.PAID, TradeState.SHIPPED, TradeState.CLOSED]
)
def test_only_finished_trades_have_a_settlement_split(state: TradeState) -> None:
    with pytest.raises(ValueError):
        settlement_split(trade_in(state))


def test_a_trade_value_refuses_a_refund_above_its_amount() -> None:
    with pytest.raises(AssertionError):
        replace(paid_trade(), refund_fen=10_001)


@pytest.mark.parametrize(
    ("settled_fen", "fee_fen"),
    [
        (0, 0),
        (1, 0),  # 0.006 -> 0
        (83, 0),  # 0.498 -> 0
        (84, 1),  # 0.504 -> 1
        (250, 2),  # 1.5 -> 2 (half to even: 2 is even, rounds up)
        (350, 2),  # 2.1 -> 2
        (750, 4),  # 4.5 -> 4 (half to even: 4 is even, rounds down)
        (1_750, 10),  # 10.5 -> 10 (down to even)
        (2_250, 14),  # 13.5 -> 14 (up to even)
        (7_250, 44),  # 43.5 -> 44 (up to even)
        (8_250, 50),  # 49.5 -> 50 (up to even)
        (8_333, 50),  # 49.998 -> 50
        (10_000, 60),  # 60 exactly
        (10_750, 64),  # 64.5 -> 64 (down to even; half-up would give 65)
        (1_000_000_000_000, 6_000_000_000),  # the largest movement: 6,000,000,000 exactly
    ],
)
def test_acquiring_fee_is_six_per_mille_rounded_half_even(settled_fen: int, fee_fen: int) -> None:
    assert acquiring_fee_fen(settled_fen) == fee_fen


def test_acquiring_fee_refuses_a_negative_amount() -> None:
    with pytest.raises(ValueError):
        acquiring_fee_fen(-1)


@pytest.mark.parametrize(
    ("paid_fen", "refund_fen", "expected"),
    [
        (10_000, 0, Settlement(9_940, 60, 0)),  # fee 60
        (10_000, 10_000, Settlement(0, 0, 10_000)),  # all refunded, no fee
        (10_750, 0, Settlement(10_686, 64, 0)),  # 64.5 -> 64
        (11_000, 250, Settlement(10_686, 64, 250)),  # settles 10750 -> same fee 64
        (1, 0, Settlement(1, 0, 0)),  # fee rounds to nothing
    ],
)
def test_split_settlement_table(paid_fen: int, refund_fen: int, expected: Settlement) -> None:
    assert split_settlement(paid_fen, refund_fen) == expected


@given(
    paid_fen=st.integers(min_value=1, max_value=1_000_000_000_000),
    data=st.data(),
)
def test_split_always_sums_to_the_paid_amount_and_no_part_is_negative(
    paid_fen: int, data: st.DataObject
) -> None:
    refund_fen = data.draw(st.integers(min_value=0, max_value=paid_fen))
    settlement = split_settlement(paid_fen, refund_fen)
    assert settlement.merchant_fen + settlement.fee_fen + settlement.refund_fen == paid_fen
    assert min(settlement.merchant_fen, settlement.fee_fen, settlement.refund_fen) >= 0
    assert settlement.refund_fen == refund_fen


STEPS_MAX = 25


@given(amount_fen=st.integers(min_value=1, max_value=10**9), data=st.data())
def test_any_sequence_of_actions_conserves_the_escrowed_money(
    amount_fen: int, data: st.DataObject
) -> None:
    """Replay random actions (refused ones change nothing) and follow the money like a ledger."""
    trade = new_trade(amount_fen)
    now = T0
    escrow_fen = buyer_refunded_fen = 0
    for _ in range(data.draw(st.integers(min_value=0, max_value=STEPS_MAX))):
        # Half the time an action the hand-written table allows, so trades get somewhere;
        # otherwise any action at all.
        legal = [action for (state, action) in LEGAL if state is trade.state] or list(TradeAction)
        action = data.draw(st.one_of(st.sampled_from(legal), st.sampled_from(TradeAction)))
        # Mostly a few hours (a trade is payable for one day), sometimes up to 20 days
        # (past the 10-day auto-confirm).
        hours = data.draw(st.one_of(st.integers(0, 3), st.integers(0, 20 * 24)))
        asked_fen = data.draw(st.integers(min_value=1, max_value=amount_fen))
        now += timedelta(hours=hours)
        before = trade
        try:
            trade = perform(trade, action, now, asked_fen)
        except DomainError:
            continue
        if before.state is TradeState.CREATED and trade.state is TradeState.PAID:
            escrow_fen += amount_fen
        if trade.refund_fen > before.refund_fen:
            moved_fen = trade.refund_fen - before.refund_fen
            assert moved_fen == before.refund_requested_fen
            escrow_fen -= moved_fen
            buyer_refunded_fen += moved_fen
        if trade.state is TradeState.SETTLED and before.state is not TradeState.SETTLED:
            split = settlement_split(trade)
            escrow_fen -= split.merchant_fen + split.fee_fen
        assert escrow_fen == trade.escrow_held_fen
        assert 0 <= trade.refund_fen <= amount_fen
        assert before.state not in (TradeState.CLOSED, TradeState.SETTLED, TradeState.REFUNDED)
    assert buyer_refunded_fen == trade.refund_fen
    event(f"ended {trade.state.value}, refunded: {trade.refund_fen > 0}")
    if trade.state in (TradeState.SETTLED, TradeState.REFUNDED):
        assert escrow_fen == 0
        assert settlement_split(trade).total_fen == amount_fen


def perform(trade: Trade, action: TradeAction, now: datetime, asked_fen: int) -> Trade:
    if action is TradeAction.PAY:
        return pay(trade, now)
    if action is TradeAction.CANCEL:
        return cancel(trade, now)
    if action is TradeAction.EXPIRE:
        return expire(trade, now)
    if action is TradeAction.SHIP:
        return mark_shipped(trade, now)
    if action is TradeAction.CONFIRM_RECEIPT:
        return confirm_receipt(trade, now)
    if action is TradeAction.AUTO_CONFIRM:
        return auto_confirm(trade, now)
    if action is TradeAction.REQUEST_REFUND:
        return request_refund(trade, min(asked_fen, trade.refundable_fen), "why", now)
    return decide_refund(
        trade,
        approve=action is TradeAction.APPROVE_REFUND,
        decided_by=RefundDecider.PLATFORM,
        now=now,
    )


# Who may do what, written out by hand.
ROLES = {
    TradeAction.PAY: {TradeRole.BUYER},
    TradeAction.CANCEL: {TradeRole.BUYER, TradeRole.MERCHANT},
    TradeAction.EXPIRE: {TradeRole.SYSTEM},
    TradeAction.SHIP: {TradeRole.MERCHANT},
    TradeAction.CONFIRM_RECEIPT: {TradeRole.BUYER},
    TradeAction.AUTO_CONFIRM: {TradeRole.SYSTEM},
    TradeAction.REQUEST_REFUND: {TradeRole.BUYER},
    TradeAction.APPROVE_REFUND: {TradeRole.MERCHANT, TradeRole.PLATFORM},
    TradeAction.REJECT_REFUND: {TradeRole.MERCHANT, TradeRole.PLATFORM},
}


@pytest.mark.parametrize(("action", "role"), [(a, r) for a in TradeAction for r in TradeRole])
def test_only_the_right_role_may_take_each_action(action: TradeAction, role: TradeRole) -> None:
    if role in ROLES[action]:
        require_role(new_trade(), action, role)
    else:
        with pytest.raises(PermissionDenied):
            require_role(new_trade(), action, role)


def test_party_role_knows_the_buyer_and_the_merchant_and_no_one_else() -> None:
    trade = new_trade()
    assert party_role(trade, "2088000000000001") is TradeRole.BUYER
    assert party_role(trade, "2188000000000001") is TradeRole.MERCHANT
    with pytest.raises(PermissionDenied):
        party_role(trade, "2088000000000999")
