"""What the credit bureau (芝麻信用, DOMAIN.md §3) knows about a person, kept incrementally.

Every upstream event becomes zero or more *facts* (plain values, no protos); a fact changes
one person's features by a constant amount of work, so a person's features are never rebuilt
by rescanning history. The scorecard then reads a flat vector of named integers
(``feature_vector``) computed from the features at a given instant.

The person key is the payment personal account id: wealth's investor id is the same id and
the loan and insurance lines use it as borrower and policy-holder id (docs/credit.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum

from chassis.clock import business_date_of

# Bounds: a person's stored features stay small whatever their history.
MONTHS_KEPT = 13  # the scoring window is the last 12 calendar months; one more for rollover
COUNTERPARTS_KEPT_MAX = 500  # distinct counterparts remembered; beyond, the count saturates
OVERDUE_LOANS_KEPT_MAX = 50
NEVER_LATE_MONTHS = 999  # months_since_late of a person never late
DAYS_PER_MONTH = 30
FEN_PER_YUAN = 100
KYC_LEVEL_BANK_CARD = 3


class PostingKind(StrEnum):
    """The payment ledger's posting kinds (colony.payment.v1.Posting.kind)."""

    TOP_UP = "top_up"
    WITHDRAWAL = "withdrawal"
    TRANSFER = "transfer"
    HOLD_CAPTURE = "hold_capture"
    TRADE_PAYMENT = "trade_payment"
    TRADE_SETTLEMENT = "trade_settlement"
    TRADE_REFUND = "trade_refund"
    CODE_PAYMENT = "code_payment"
    BILL_PAYMENT = "bill_payment"
    PLATFORM_TRANSFER = "platform_transfer"


# Money a person sends out that counts as a payment (volume and regularity).
SPENDING_KINDS = frozenset(
    {
        PostingKind.TRANSFER,
        PostingKind.HOLD_CAPTURE,
        PostingKind.TRADE_PAYMENT,
        PostingKind.CODE_PAYMENT,
        PostingKind.BILL_PAYMENT,
    }
)
# Postings whose other side is a person or a merchant (never a platform account): the
# accounts on the other side are the person's counterparts.
COUNTERPART_KINDS = frozenset(
    {PostingKind.TRANSFER, PostingKind.CODE_PAYMENT, PostingKind.BILL_PAYMENT}
)


class Asset(StrEnum):
    YUEBAO = "yuebao"
    FIXED_TERM = "fixed_term"
    FUNDS = "funds"


class Education(IntEnum):
    """Self-declared education, ordered (the scorecard bins on the number)."""

    NONE = 0
    SECONDARY = 1
    VOCATIONAL = 2
    BACHELOR = 3
    POSTGRADUATE = 4


@dataclass(frozen=True, slots=True)
class Declaration:
    """Self-declared data: unverified, so the scorecard weighs it less (docs/credit.md)."""

    monthly_income_fen: int = 0
    education: Education = Education.NONE
    employer: str = ""
    declared_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MonthActivity:
    """A calendar month's outgoing payments (month as "YYYY-MM", in China Standard Time)."""

    month: str
    payments: int
    spent_fen: int


@dataclass(frozen=True, slots=True)
class PersonFeatures:
    """Everything the scorecard reads about one person, each kept up to date by facts."""

    person_id: str
    opened_at: datetime | None = None
    kyc_level: int = 0
    resident_id_hash: str = ""
    balance_fen: int = 0
    yuebao_fen: int = 0
    fixed_term_fen: int = 0
    funds_fen: int = 0
    months: tuple[MonthActivity, ...] = ()  # oldest first, at most MONTHS_KEPT
    payments_total: int = 0
    trades_completed: int = 0
    trades_refunded: int = 0
    repayments_on_time: int = 0
    repayments_late: int = 0
    last_late_at: datetime | None = None
    overdue_90_loans: tuple[str, ...] = ()
    counterparts: tuple[str, ...] = ()
    declaration: Declaration = field(default_factory=Declaration)
    blacklisted: bool = False

    @property
    def assets_fen(self) -> int:
        return self.balance_fen + self.yuebao_fen + self.fixed_term_fen + self.funds_fen

    @property
    def in_good_standing(self) -> bool:
        """Not blacklisted and no loan 90+ days overdue: what counterparts are judged by."""
        return not self.blacklisted and not self.overdue_90_loans


# Facts: what an upstream event says about one person (decoded in feeds/decoders.py).


@dataclass(frozen=True, slots=True)
class AccountOpened:
    person_id: str
    kyc_level: int
    opened_at: datetime
    resident_id_hash: str = ""


@dataclass(frozen=True, slots=True)
class KycRaised:
    person_id: str
    kyc_level: int


@dataclass(frozen=True, slots=True)
class BalanceMoved:
    person_id: str
    delta_fen: int


@dataclass(frozen=True, slots=True)
class PaymentMade:
    person_id: str
    amount_fen: int
    paid_at: datetime
    counterpart_id: str = ""


@dataclass(frozen=True, slots=True)
class PaymentReceived:
    person_id: str
    counterpart_id: str


@dataclass(frozen=True, slots=True)
class TradeFinished:
    person_id: str
    merchant_id: str
    refunded: bool


@dataclass(frozen=True, slots=True)
class AssetMoved:
    person_id: str
    asset: Asset
    delta_fen: int


@dataclass(frozen=True, slots=True)
class AssetValued:
    """The asset's whole value as the upstream reports it (Yu'e Bao shares after income)."""

    person_id: str
    asset: Asset
    value_fen: int


@dataclass(frozen=True, slots=True)
class Repayment:
    person_id: str
    loan_id: str
    on_time: bool
    repaid_at: datetime


@dataclass(frozen=True, slots=True)
class OverdueEntered90:
    person_id: str
    loan_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class OverdueSettled:
    person_id: str
    loan_id: str
    at: datetime


Fact = (
    AccountOpened
    | KycRaised
    | BalanceMoved
    | PaymentMade
    | PaymentReceived
    | TradeFinished
    | AssetMoved
    | AssetValued
    | Repayment
    | OverdueEntered90
    | OverdueSettled
)


@dataclass(frozen=True, slots=True)
class PostingEntry:
    account_id: str
    amount_fen: int  # signed: negative debits, positive credits


@dataclass(frozen=True, slots=True)
class PostingRecorded:
    """A ledger posting as the payment feed reports it (entries sum to zero)."""

    kind: str
    entries: tuple[PostingEntry, ...]
    posted_at: datetime


def facts_of_posting(posting: PostingRecorded) -> tuple[Fact, ...]:
    """The facts a posting states about each account in it (non-persons are ignored later)."""
    assert sum(e.amount_fen for e in posting.entries) == 0, "a posting's entries sum to zero"
    facts: list[Fact] = [BalanceMoved(e.account_id, e.amount_fen) for e in posting.entries]
    payers = [e for e in posting.entries if e.amount_fen < 0]
    payees = [e for e in posting.entries if e.amount_fen > 0]
    with_counterparts = posting.kind in COUNTERPART_KINDS
    if posting.kind in SPENDING_KINDS:
        for payer in payers:
            counterpart = payees[0].account_id if with_counterparts and len(payees) == 1 else ""
            facts.append(
                PaymentMade(payer.account_id, -payer.amount_fen, posting.posted_at, counterpart)
            )
    if with_counterparts and len(payers) == 1:
        facts.extend(PaymentReceived(p.account_id, payers[0].account_id) for p in payees)
    if posting.kind == PostingKind.TOP_UP:
        # A top-up verifies the bank card: the payment service raises the KYC level to 3.
        facts.extend(KycRaised(p.account_id, KYC_LEVEL_BANK_CARD) for p in payees)
    return tuple(facts)


def month_of(moment: datetime) -> str:
    return business_date_of(moment).strftime("%Y-%m")


def _with_counterpart(features: PersonFeatures, counterpart_id: str) -> PersonFeatures:
    if (
        not counterpart_id
        or counterpart_id == features.person_id
        or counterpart_id in features.counterparts
        or len(features.counterparts) >= COUNTERPARTS_KEPT_MAX
    ):
        return features
    return dataclasses.replace(features, counterparts=(*features.counterparts, counterpart_id))


def _record_payment(features: PersonFeatures, fact: PaymentMade) -> PersonFeatures:
    month = month_of(fact.paid_at)
    months = list(features.months)
    if months and months[-1].month == month:
        last = months[-1]
        months[-1] = MonthActivity(month, last.payments + 1, last.spent_fen + fact.amount_fen)
    elif not months or months[-1].month < month:
        months.append(MonthActivity(month, 1, fact.amount_fen))
    else:  # an older month (events of two feeds interleave): update it in place if kept
        months = [
            MonthActivity(m.month, m.payments + 1, m.spent_fen + fact.amount_fen)
            if m.month == month
            else m
            for m in months
        ]
    paid = dataclasses.replace(
        features, months=tuple(months[-MONTHS_KEPT:]), payments_total=features.payments_total + 1
    )
    return _with_counterpart(paid, fact.counterpart_id)


def _move_asset(features: PersonFeatures, asset: Asset, value_fen: int) -> PersonFeatures:
    # Clamped at zero: a sale's proceeds may exceed the cost the buy recorded.
    value_fen = max(0, value_fen)
    if asset is Asset.YUEBAO:
        return dataclasses.replace(features, yuebao_fen=value_fen)
    if asset is Asset.FIXED_TERM:
        return dataclasses.replace(features, fixed_term_fen=value_fen)
    return dataclasses.replace(features, funds_fen=value_fen)


def _asset_fen(features: PersonFeatures, asset: Asset) -> int:
    return {
        Asset.YUEBAO: features.yuebao_fen,
        Asset.FIXED_TERM: features.fixed_term_fen,
        Asset.FUNDS: features.funds_fen,
    }[asset]


def _open(features: PersonFeatures, fact: AccountOpened) -> PersonFeatures:
    return dataclasses.replace(
        features,
        opened_at=fact.opened_at,
        kyc_level=max(features.kyc_level, fact.kyc_level),
        resident_id_hash=fact.resident_id_hash or features.resident_id_hash,
    )


def _repay(features: PersonFeatures, fact: Repayment) -> PersonFeatures:
    if fact.on_time:
        return dataclasses.replace(features, repayments_on_time=features.repayments_on_time + 1)
    last_late = fact.repaid_at
    if features.last_late_at is not None:
        last_late = max(last_late, features.last_late_at)
    return dataclasses.replace(
        features, repayments_late=features.repayments_late + 1, last_late_at=last_late
    )


def _enter_overdue(features: PersonFeatures, fact: OverdueEntered90) -> PersonFeatures:
    loans = features.overdue_90_loans
    if fact.loan_id in loans or len(loans) >= OVERDUE_LOANS_KEPT_MAX:
        return features
    return dataclasses.replace(features, overdue_90_loans=(*loans, fact.loan_id))


def _settle_overdue(features: PersonFeatures, fact: OverdueSettled) -> PersonFeatures:
    loans = tuple(loan for loan in features.overdue_90_loans if loan != fact.loan_id)
    return dataclasses.replace(features, overdue_90_loans=loans)


def _finish_trade(features: PersonFeatures, fact: TradeFinished) -> PersonFeatures:
    if fact.refunded:
        return dataclasses.replace(features, trades_refunded=features.trades_refunded + 1)
    completed = dataclasses.replace(features, trades_completed=features.trades_completed + 1)
    return _with_counterpart(completed, fact.merchant_id)


def apply_fact(features: PersonFeatures, fact: Fact) -> PersonFeatures:
    """The person's features after one fact about them."""
    assert fact.person_id == features.person_id, "a fact is applied to the person it names"
    match fact:
        case AccountOpened():
            return _open(features, fact)
        case KycRaised():
            return dataclasses.replace(features, kyc_level=max(features.kyc_level, fact.kyc_level))
        case BalanceMoved():
            return dataclasses.replace(features, balance_fen=features.balance_fen + fact.delta_fen)
        case PaymentMade():
            return _record_payment(features, fact)
        case PaymentReceived():
            return _with_counterpart(features, fact.counterpart_id)
        case TradeFinished():
            return _finish_trade(features, fact)
        case AssetMoved():
            held_fen = _asset_fen(features, fact.asset)
            return _move_asset(features, fact.asset, held_fen + fact.delta_fen)
        case AssetValued():
            return _move_asset(features, fact.asset, fact.value_fen)
        case Repayment():
            return _repay(features, fact)
        case OverdueEntered90():
            return _enter_overdue(features, fact)
        case OverdueSettled():
            return _settle_overdue(features, fact)


def declare(features: PersonFeatures, declaration: Declaration) -> PersonFeatures:
    return dataclasses.replace(features, declaration=declaration)


def _months_between(earlier: datetime, later: datetime) -> int:
    return max(0, (later - earlier) // timedelta(days=DAYS_PER_MONTH))


def _recent_months(now: datetime) -> frozenset[str]:
    """The last 12 calendar months, this one included ("YYYY-MM", CST)."""
    today = business_date_of(now)
    months = set()
    year, month = today.year, today.month
    for _ in range(12):
        months.add(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return frozenset(months)


def feature_vector(
    features: PersonFeatures, counterparts_in_good_standing: int, now: datetime
) -> dict[str, int]:
    """The named integers the scorecard bins, as of now (names documented in docs/credit.md)."""
    recent = _recent_months(now)
    active = [m for m in features.months if m.month in recent]
    finished_trades = features.trades_completed + features.trades_refunded
    counterparts = len(features.counterparts)
    declaration = features.declaration
    return {
        "repayments_on_time": features.repayments_on_time,
        "repayments_late": features.repayments_late,
        "months_since_late": (
            NEVER_LATE_MONTHS
            if features.last_late_at is None
            else _months_between(features.last_late_at, now)
        ),
        "overdue_90_loans": len(features.overdue_90_loans),
        "blacklisted": int(features.blacklisted),
        "months_active_12m": sum(1 for m in active if m.payments > 0),
        "payments_12m": sum(m.payments for m in active),
        "spent_yuan_12m": sum(m.spent_fen for m in active) // FEN_PER_YUAN,
        "trades_completed": features.trades_completed,
        "trade_refund_pct": (
            features.trades_refunded * 100 // finished_trades if finished_trades else 0
        ),
        "assets_yuan": max(0, features.assets_fen) // FEN_PER_YUAN,
        "declared_income_yuan": declaration.monthly_income_fen // FEN_PER_YUAN,
        "kyc_level": features.kyc_level,
        "account_age_days": (
            0 if features.opened_at is None else max(0, (now - features.opened_at).days)
        ),
        "declared_education": int(declaration.education),
        "declared_employer": int(bool(declaration.employer)),
        "counterparts": counterparts,
        "counterparts_good_standing_pct": (
            counterparts_in_good_standing * 100 // counterparts if counterparts else 0
        ),
    }


FEATURE_NAMES = tuple(feature_vector(PersonFeatures(""), 0, datetime(2000, 1, 1, tzinfo=UTC)))
