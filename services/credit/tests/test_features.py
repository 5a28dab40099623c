"""Facts of upstream events, and the features they keep (pure; loan events hand-built)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import any_pb2

from chassis.wire import money_to_proto, timestamp_to_proto
from colony.common.v1 import events_pb2
from colony.credit.v1 import credit_pb2
from colony.wealth.v1 import wealth_pb2
from services.credit.features import (
    BalanceMoved,
    KycRaised,
    PaymentMade,
    PaymentReceived,
    PersonFeatures,
    PostingEntry,
    PostingRecorded,
    apply_fact,
    facts_of_posting,
)
from services.credit.feeds.decoders import decode_event

NOW = datetime(2025, 6, 15, 4, 0, tzinfo=UTC)
ALICE, BOB, SHOP = "2088000000000001", "2088000000000002", "2188000000000001"


def event(event_type: str, payload, position: int = 1) -> events_pb2.Event:
    packed = any_pb2.Any()
    packed.Pack(payload)
    return events_pb2.Event(
        event_id=f"e{position}",
        position=str(position),
        type=event_type,
        aggregate_id="x",
        occurred_at=timestamp_to_proto(NOW),
        payload=packed,
    )


def test_a_transfer_moves_balances_and_links_payer_and_payee() -> None:
    posting = PostingRecorded(
        "transfer", (PostingEntry(ALICE, -5_000), PostingEntry(BOB, 5_000)), NOW
    )
    assert facts_of_posting(posting) == (
        BalanceMoved(ALICE, -5_000),
        BalanceMoved(BOB, 5_000),
        PaymentMade(ALICE, 5_000, NOW, BOB),
        PaymentReceived(BOB, ALICE),
    )


def test_a_top_up_verifies_the_bank_card() -> None:
    posting = PostingRecorded(
        "top_up", (PostingEntry("platform:bank", -100), PostingEntry(ALICE, 100)), NOW
    )
    assert KycRaised(ALICE, 3) in facts_of_posting(posting)


def test_payments_accumulate_per_month_and_counterparts_once() -> None:
    alice = PersonFeatures(ALICE)
    for fen in (1_000, 2_000):
        alice = apply_fact(alice, PaymentMade(ALICE, fen, NOW, SHOP))
    assert [(m.month, m.payments, m.spent_fen) for m in alice.months] == [("2025-06", 2, 3_000)]
    assert alice.counterparts == (SHOP,)
    assert alice.payments_total == 2


def apply_all(person: PersonFeatures, events) -> PersonFeatures:
    for decoded in events:
        for fact in decoded.facts or ():
            person = apply_fact(person, fact)
    return person


def report(loan_id: str, days_overdue: int = 0) -> credit_pb2.RepaymentReport:
    return credit_pb2.RepaymentReport(
        person_id=ALICE,
        loan_id=loan_id,
        amount=money_to_proto(10_000),
        days_overdue=days_overdue,
        occurred_at=timestamp_to_proto(NOW),
    )


def test_loan_events_keep_the_repayment_record() -> None:
    events = [
        decode_event("loan", event("loan.repayment.on_time", report("l1"), 1)),
        decode_event("loan", event("loan.repayment.on_time", report("l1"), 2)),
        decode_event("loan", event("loan.repayment.late", report("l2", 12), 3)),
        decode_event("loan", event("loan.overdue.entered_90", report("l3", 90), 4)),
    ]
    alice = apply_all(PersonFeatures(ALICE), events)
    assert (alice.repayments_on_time, alice.repayments_late) == (2, 1)
    assert alice.last_late_at == NOW
    assert alice.overdue_90_loans == ("l3",)
    assert not alice.in_good_standing
    settled = decode_event("loan", event("loan.overdue.settled", report("l3"), 5))
    assert apply_all(alice, [settled]).overdue_90_loans == ()


def test_an_unknown_event_type_decodes_to_no_facts_at_all() -> None:
    decoded = decode_event("loan", event("loan.something.new", report("l1")))
    assert decoded.facts is None
    known_but_irrelevant = decode_event(
        "wealth", event("wealth.fund.created", wealth_pb2.Fund(fund_id="f"))
    )
    assert known_but_irrelevant.facts == ()


def test_wealth_events_keep_assets_held() -> None:
    subscribe = wealth_pb2.Purchase(
        investor_id=ALICE,
        kind=wealth_pb2.PURCHASE_KIND_YUEBAO_SUBSCRIPTION,
        amount=money_to_proto(50_000),
    )
    income = wealth_pb2.IncomeCredited(
        income=wealth_pb2.YuebaoIncome(investor_id=ALICE), shares_after=money_to_proto(50_007)
    )
    holding = wealth_pb2.Holding(investor_id=ALICE, principal=money_to_proto(100_000))
    redeemed = wealth_pb2.Redemption(investor_id=ALICE, amount=money_to_proto(7))
    events = [
        decode_event("wealth", event("wealth.purchase.confirmed", subscribe, 1)),
        decode_event("wealth", event("wealth.yuebao.income_credited", income, 2)),
        decode_event("wealth", event("wealth.fixed_term.holding_opened", holding, 3)),
        decode_event("wealth", event("wealth.yuebao.shares_redeemed", redeemed, 4)),
    ]
    alice = apply_all(PersonFeatures(ALICE), events)
    assert (alice.yuebao_fen, alice.fixed_term_fen) == (50_000, 100_000)
