"""What a batch of movements is made of (group commit): the asks, what the batch's
transaction read, each movement's outcome, and what the batch writes. batch.py decides.

Pure: no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from chassis.errors import DomainError
from services.payment.activity import Activity
from services.payment.escrow import Trade
from services.payment.holds import Hold
from services.payment.ledger import Account, AccountKind, Posting, PostingKind
from services.payment.payment_authorization import PaymentAuthorization, SecondFactor
from services.payment.payment_code import PaymentCode
from services.payment.risk import PaymentKind
from services.payment.risk_top_up import TopUpDay
from services.payment.screening import RiskDecisionRecord
from services.payment.withholding import Withholding

if TYPE_CHECKING:
    from services.payment.batch import Batch

PEOPLE_AND_MERCHANTS = (AccountKind.PERSONAL, AccountKind.MERCHANT)


def time_statement_key(moment: datetime, sequence: int) -> int:
    """A hot (or once-hot) account's statement key: posting time, then the document sequence."""
    return int(moment.timestamp() * 1_000_000) * 1_000 + sequence % 1_000


@dataclass(frozen=True, slots=True)
class MovementAsk:
    """One payer-to-payee movement as its request asked for it (the request's checks passed).

    A Transfer (the defaults) checks the payee first, as its RPC does; a bill payment
    (payee_may="") checks the payer and risk control first and meets the payee only when
    crediting it, as PayBill does.
    """

    record_id: str  # the idempotency record: "<scope>:<key>"
    fingerprint: str
    idempotency_key: str
    from_account_id: str
    to_account_id: str
    amount_fen: int
    memo: str
    device_id: str
    second_factor: SecondFactor
    posting_kind: PostingKind = PostingKind.TRANSFER
    payment_kind: PaymentKind = PaymentKind.TRANSFER
    reference: str = ""
    payer_may: str = "send transfers"
    payee_may: str = "receive transfers"
    # A trade payment (PayTrade): the trade paid; the amount and the payee come from it.
    trade_id: str = ""


@dataclass(slots=True)
class LedgerDocument:
    """One balance-carrying document (an account's own, or a hot account's sub-account)."""

    document_id: str
    balance_fen: int
    held_fen: int
    sequence: int
    by_time: bool  # statement keys by posting time (hot, or once hot)
    exists: bool = True  # False: a sub-account the batch creates
    shard_of: str = ""
    # Whether the document keeps a KYC level: system accounts keep none, and a top-up of one
    # raises nothing (as the one-transaction path's guarded update does).
    keeps_kyc_level: bool = False


@dataclass(frozen=True, slots=True)
class BatchView:
    """What the batch's transaction read: accounts, their documents, blacklist, records."""

    accounts: Mapping[str, Account]  # main accounts by id (balance_fen: the main document's)
    documents: Mapping[str, LedgerDocument]  # every document read, sub-accounts included
    shards_of: Mapping[str, tuple[str, ...]]  # a hot account's sub-account ids
    credit_shard: Mapping[str, str]  # the sub-account a hot account's credits go to
    blacklisted: Collection[str]
    records: Mapping[str, tuple[str, bytes]]  # idempotency record id -> (fingerprint, response)
    trades: Mapping[str, Trade] = field(default_factory=dict)
    # For the batched jobs (BatchJob): holds by id, the postings of holds read captured, and
    # the active withholding instructions of the merchants whose trades settle.
    holds: Mapping[str, Hold] = field(default_factory=dict)
    postings: Mapping[str, Posting] = field(default_factory=dict)
    withholdings: Mapping[str, Withholding] = field(default_factory=dict)
    payment_codes: Mapping[str, PaymentCode] = field(default_factory=dict)  # by digest
    top_up_days: Mapping[str, TopUpDay] = field(default_factory=dict)  # risk_top_up.py
    # The (account id, card number) bindings asked for that exist (withdrawals).
    bound_cards: Collection[tuple[str, str]] = field(default_factory=frozenset)
    # The payment authorizations offered as second factors, by digest: those not yet used.
    authorizations: Mapping[str, PaymentAuthorization] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One line of one account's statement for one document's movement."""

    posting: Posting
    account_id: str
    ledger_account_id: str
    amount_fen: int
    balance_after_fen: int | None
    sequence: int
    statement_key: int
    counterpart_account_id: str
    counterpart_name: str
    reference: str = ""


@dataclass(frozen=True, slots=True)
class Accepted:
    posting: Posting
    account_after: Account  # the account the answer shows: the payer's, a top-up's payee
    trade: Trade | None = None  # a trade payment's trade, paid


@dataclass(frozen=True, slots=True)
class Replayed:
    response: bytes  # the recorded answer


@dataclass(frozen=True, slots=True)
class ReplayOf:
    index: int  # an earlier movement of this batch with the same key, which succeeded


@dataclass(frozen=True, slots=True)
class Refused:
    error: DomainError


# An event a batched job appends: type, aggregate id, what it carries, when it occurred.
Event = tuple[str, str, Posting | Hold | Trade, datetime]


@dataclass(frozen=True, slots=True)
class Done:
    """A batched job's result (BatchJob; its RPC makes the answer of it) and its events."""

    result: object
    events: tuple[Event, ...] = ()


Outcome = Accepted | Replayed | ReplayOf | Refused | Done


@dataclass(frozen=True, slots=True)
class JobReads:
    """What a job needs the batch's transaction to read, beyond its idempotency record."""

    account_ids: tuple[str, ...] = ()
    trade_ids: tuple[str, ...] = ()
    hold_ids: tuple[str, ...] = ()
    code_digests: tuple[str, ...] = ()  # payment codes (and their payers)
    # Trades whose settlement applies their merchant's withholding instructions.
    settles_trades: bool = False
    # (account id, card number): whether the card is bound to the account (a withdrawal).
    bound_cards: tuple[tuple[str, str], ...] = ()
    # Accounts the job only credits: a hot one's credit lands on a leased sub-account, so
    # batches in flight need not wait on each other for it (rpc_batching._keys).
    credited_only: tuple[str, ...] = ()
    # The payment authorization the job's payer offered (spent if risk control challenges).
    authorization_digests: tuple[str, ...] = ()


class BatchJob(ABC):
    """A batched operation other than a payer-to-payee movement: holds, platform transfers,
    settlements and refunds (batch_holds.py, batch_trades.py). Its decide sees the batch
    as the movements before it left it, and changes it only if it succeeds (a refusal
    raises before any change). record_id "" keeps no idempotency record (a hold or a
    trade is idempotent by its own state)."""

    record_id: str
    fingerprint: str
    idempotency_key: str

    @abstractmethod
    def reads(self) -> JobReads: ...

    @abstractmethod
    def decide(self, batch: Batch, index: int) -> Done: ...


@dataclass
class BatchDecision:
    """Every movement's outcome, and what the batch writes."""

    outcomes: list[Outcome] = field(default_factory=list)
    documents: dict[str, LedgerDocument] = field(default_factory=dict)  # state after
    read_sequences: dict[str, int] = field(default_factory=dict)  # documents moved: as read
    read_balances: dict[str, int] = field(default_factory=dict)
    activities: dict[str, Activity] = field(default_factory=dict)
    top_up_days: dict[str, TopUpDay] = field(default_factory=dict)  # after the batch's top-ups
    kyc_levels: dict[str, int] = field(default_factory=dict)
    trades: dict[str, tuple[Trade, Trade]] = field(default_factory=dict)  # (as read, after)
    lines: list[StatementLine] = field(default_factory=list)
    postings: list[tuple[Posting, str]] = field(default_factory=list)  # with its reference
    decisions: list[RiskDecisionRecord] = field(default_factory=list)
    # Batched jobs (BatchJob): held_fen as read of the documents whose holds changed; holds
    # (as read, None for a new one; after) and withholding instructions (as read, after).
    read_helds: dict[str, int] = field(default_factory=dict)
    holds: dict[str, tuple[Hold | None, Hold]] = field(default_factory=dict)
    withholdings: dict[str, tuple[Withholding, Withholding]] = field(default_factory=dict)
    payment_codes: dict[str, PaymentCode] = field(default_factory=dict)  # used, by digest
    authorizations_used: dict[str, datetime] = field(default_factory=dict)  # digest -> when
