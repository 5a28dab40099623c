"""Upstream events ⇄ credit facts: what each event type of each feed says about people.

The decoders are tables, one per feed, from event type to a function of the event; a feed
added later (loans, insurance) is one more table. A type no table names is skipped and
counted (never fatal); a known type with no credit meaning decodes to no facts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from colony.common.v1 import events_pb2
from colony.credit.v1 import credit_pb2
from colony.insurance.v1 import insurance_pb2
from colony.payment.v1 import payment_pb2
from colony.wealth.v1 import wealth_pb2
from services.credit.features import (
    AccountOpened,
    Asset,
    AssetMoved,
    AssetValued,
    Fact,
    OverdueEntered90,
    OverdueSettled,
    PostingEntry,
    PostingRecorded,
    Repayment,
    TradeFinished,
    facts_of_posting,
)

M = TypeVar("M", bound=Message)
Decoder = Callable[[events_pb2.Event], tuple[Fact, ...]]
# The field the payment service is to add to Account (docs/credit.md "What payment adds").

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """One upstream event as the intake needs it; facts None for an unknown type."""

    position: int
    event_type: str
    occurred_at: datetime
    facts: tuple[Fact, ...] | None


def _payload(event: events_pb2.Event, message_type: type[M]) -> M:
    message = message_type()
    if not event.payload.Unpack(message):
        raise ValueError(f"{event.type} at {event.position} does not carry a {message_type}")
    return message


def _moment(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _account_opened(event: events_pb2.Event) -> tuple[Fact, ...]:
    account = _payload(event, payment_pb2.Account)
    if account.kind != payment_pb2.ACCOUNT_KIND_PERSONAL:
        return ()
    return (
        AccountOpened(
            account.account_id,
            account.kyc_level,
            _moment(account.opened_at),
            account.resident_id_hash,
        ),
    )


def _posting(event: events_pb2.Event) -> tuple[Fact, ...]:
    posting = _payload(event, payment_pb2.Posting)
    return facts_of_posting(
        PostingRecorded(
            kind=posting.kind,
            entries=tuple(PostingEntry(e.account_id, e.amount.amount_fen) for e in posting.entries),
            posted_at=_moment(posting.posted_at),
        )
    )


def _trade_settled(event: events_pb2.Event) -> tuple[Fact, ...]:
    trade = _payload(event, payment_pb2.Trade)
    return (TradeFinished(trade.buyer_account_id, trade.merchant_account_id, refunded=False),)


def _trade_refund_decided(event: events_pb2.Event) -> tuple[Fact, ...]:
    trade = _payload(event, payment_pb2.Trade)
    if trade.state != payment_pb2.TRADE_STATE_REFUNDED:
        return ()
    return (TradeFinished(trade.buyer_account_id, trade.merchant_account_id, refunded=True),)


def _no_facts(event: events_pb2.Event) -> tuple[Fact, ...]:
    del event
    return ()


PAYMENT_DECODERS: Mapping[str, Decoder] = {
    "payment.account.opened": _account_opened,
    "payment.posting.recorded": _posting,
    "payment.trade.settled": _trade_settled,
    "payment.trade.refund_decided": _trade_refund_decided,
    # Known, no credit meaning (the money moves in the postings they come with).
    **{
        f"payment.{name}": _no_facts
        for name in (
            "trade.created",
            "trade.paid",
            "trade.shipped",
            "trade.refund_requested",
            "trade.closed",
            "hold.created",
            "hold.captured",
            "hold.voided",
            "hold.expired",
        )
    },
}


def _purchase_confirmed(event: events_pb2.Event) -> tuple[Fact, ...]:
    purchase = _payload(event, wealth_pb2.Purchase)
    if purchase.kind != wealth_pb2.PURCHASE_KIND_YUEBAO_SUBSCRIPTION:
        return ()  # products and funds arrive as holding_opened / order_funded
    return (AssetMoved(purchase.investor_id, Asset.YUEBAO, purchase.amount.amount_fen),)


def _income_credited(event: events_pb2.Event) -> tuple[Fact, ...]:
    credited = _payload(event, wealth_pb2.IncomeCredited)
    investor_id = credited.income.investor_id
    return (AssetValued(investor_id, Asset.YUEBAO, credited.shares_after.amount_fen),)


def _shares_redeemed(event: events_pb2.Event) -> tuple[Fact, ...]:
    redemption = _payload(event, wealth_pb2.Redemption)
    return (AssetMoved(redemption.investor_id, Asset.YUEBAO, -redemption.amount.amount_fen),)


def _redemption_cancelled(event: events_pb2.Event) -> tuple[Fact, ...]:
    redemption = _payload(event, wealth_pb2.Redemption)
    if redemption.cancelled_before_created:
        return ()  # no shares were taken
    return (AssetMoved(redemption.investor_id, Asset.YUEBAO, redemption.amount.amount_fen),)


def _holding(sign: int) -> Decoder:
    def decode(event: events_pb2.Event) -> tuple[Fact, ...]:
        holding = _payload(event, wealth_pb2.Holding)
        delta_fen = sign * holding.principal.amount_fen
        return (AssetMoved(holding.investor_id, Asset.FIXED_TERM, delta_fen),)

    return decode


def _fund_order(side: int, sign: int) -> Decoder:
    def decode(event: events_pb2.Event) -> tuple[Fact, ...]:
        order = _payload(event, wealth_pb2.FundOrder)
        if order.side != side:
            return ()
        return (AssetMoved(order.investor_id, Asset.FUNDS, sign * order.amount.amount_fen),)

    return decode


WEALTH_DECODERS: Mapping[str, Decoder] = {
    "wealth.purchase.confirmed": _purchase_confirmed,
    "wealth.yuebao.income_credited": _income_credited,
    "wealth.yuebao.shares_redeemed": _shares_redeemed,
    "wealth.yuebao.redemption_cancelled": _redemption_cancelled,
    "wealth.fixed_term.holding_opened": _holding(+1),
    "wealth.fixed_term.holding_matured": _holding(-1),
    "wealth.fixed_term.holding_transferred": _holding(-1),
    # Funds at cost: a buy adds what was paid once funded, a sale takes its proceeds off.
    "wealth.fund.order_funded": _fund_order(wealth_pb2.ORDER_SIDE_BUY, +1),
    "wealth.fund.order_priced": _fund_order(wealth_pb2.ORDER_SIDE_SELL, -1),
    **{
        f"wealth.{name}": _no_facts
        for name in (
            "purchase.tried",
            "purchase.cancelled",
            "payout.recorded",
            "payout.paid",
            "yuebao.portfolio_set",
            "yuebao.income_run_started",
            "yuebao.income_distributed",
            "fixed_term.product_created",
            "fixed_term.product_closed",
            "fixed_term.holding_listed",
            "fixed_term.listing_withdrawn",
            "fixed_term.reservation_created",
            "fixed_term.reservation_cancelled",
            "fixed_term.reservation_allocated",
            "fixed_term.reservation_expired",
            "fund.created",
            "fund.nav_published",
            "fund.risk_profile_assessed",
            "fund.order_placed",
            "fund.order_cancelled",
        )
    },
}


# The loan feed (when it lands): every credit-relevant loan event carries the credit
# service's RepaymentReport, and each type maps to one fact (docs/credit.md "Loan events").
LOAN_REPORT_FACTS: Mapping[str, Callable[[credit_pb2.RepaymentReport], Fact]] = {
    "loan.repayment.on_time": lambda r: Repayment(
        r.person_id, r.loan_id, on_time=True, repaid_at=_moment(r.occurred_at)
    ),
    "loan.repayment.late": lambda r: Repayment(
        r.person_id, r.loan_id, on_time=False, repaid_at=_moment(r.occurred_at)
    ),
    "loan.overdue.entered_90": lambda r: OverdueEntered90(
        r.person_id, r.loan_id, _moment(r.occurred_at)
    ),
    "loan.overdue.settled": lambda r: OverdueSettled(
        r.person_id, r.loan_id, _moment(r.occurred_at)
    ),
}


def _loan_report(event: events_pb2.Event) -> tuple[Fact, ...]:
    report = _payload(event, credit_pb2.RepaymentReport)
    return (LOAN_REPORT_FACTS[event.type](report),)


LOAN_DECODERS: Mapping[str, Decoder] = dict.fromkeys(LOAN_REPORT_FACTS, _loan_report)


def _checked(message_type: type[Message]) -> Decoder:
    """An event whose payload is checked against its contract and that says nothing new."""

    def decode(event: events_pb2.Event) -> tuple[Fact, ...]:
        _payload(event, message_type)
        return ()

    return decode


# The insurance feed: policies (issued, cancelled, expired) and claims (submitted, approved,
# rejected, paid). Their money already reaches the bureau as payment postings (the premium
# the holder paid, the refund and the claim payout into their balance), so decoding it here
# again would count it twice; the scorecard (models/sesame-2025.1.json) gives holding a
# policy or filing a claim no points. Each event is still decoded against its contract, so
# a payload breaking it is skipped and counted like any other, and the types are known (not
# counted as unknown).
INSURANCE_DECODERS: Mapping[str, Decoder] = {
    **{
        f"insurance.policy.{name}": _checked(insurance_pb2.Policy)
        for name in ("issued", "cancelled", "expired")
    },
    **{
        f"insurance.claim.{name}": _checked(insurance_pb2.Claim)
        for name in ("submitted", "approved", "rejected", "paid")
    },
}

# Feed name → its decoders: the config hook for a new upstream feed.
DECODERS_BY_FEED: Mapping[str, Mapping[str, Decoder]] = {
    "payment": PAYMENT_DECODERS,
    "wealth": WEALTH_DECODERS,
    "loan": LOAN_DECODERS,
    "insurance": INSURANCE_DECODERS,
}


def decode_event(feed: str, event: events_pb2.Event) -> DecodedEvent:
    """The facts of one upstream event (None for a type this feed's table does not name)."""
    decoder = DECODERS_BY_FEED[feed].get(event.type)
    return DecodedEvent(
        position=int(event.position),
        event_type=event.type,
        occurred_at=_moment(event.occurred_at),
        facts=None if decoder is None else decoder(event),
    )


def decode_or_skip(feed: str, event: events_pb2.Event) -> DecodedEvent:
    """decode_event, except that a payload breaking its contract is skipped, never fatal."""
    try:
        return decode_event(feed, event)
    except ValueError as error:
        log.error("feed %s: undecodable event %s: %s", feed, event.position, error)
        return DecodedEvent(int(event.position), event.type, _moment(event.occurred_at), None)
