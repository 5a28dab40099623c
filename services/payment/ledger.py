"""The double-entry ledger's rules (DESIGN.md "Money movement and consistency").

A posting is a set of entries that sum to zero, applied in one transaction together
with the balances it changes. Personal, merchant and platform accounts never go below
zero; only an external party's clearing account (the bank's) may.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chassis.errors import AlreadyExists, FailedPrecondition, InsufficientFunds, InvalidArgument
from chassis.money import require_positive_amount
from services.payment.activity import Activity

MEMO_LENGTH_MAX = 64

PERSONAL_ACCOUNT_ID_PREFIX = "2088"  # Alipay's user ids start with 2088
MERCHANT_ACCOUNT_ID_PREFIX = "2188"
ACCOUNT_ID_RANDOM_DIGITS = 12
PLATFORM_ACCOUNT_ID_PREFIX = "platform:"
PLATFORM_FEE_INCOME_ACCOUNT_ID = "platform:fee_income"
HOT_SHARDS_MAX = 64
# The bank clearing account takes every top-up and withdrawal: the hottest account there is.
BANK_CLEARING_HOT_SHARDS = 16


class AccountKind(StrEnum):
    PERSONAL = "personal"
    MERCHANT = "merchant"
    PLATFORM = "platform"
    EXTERNAL = "external"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


class PostingKind(StrEnum):
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


@dataclass(frozen=True, slots=True)
class Account:
    """An account and its balances as of one read."""

    account_id: str
    kind: AccountKind
    status: AccountStatus
    display_name: str
    owner_ref: str = ""
    phone: str = ""
    resident_id_masked: str = ""
    balance_fen: int = 0
    held_fen: int = 0
    opened_at: datetime | None = None
    hot_shards: int = 0
    kyc_level: int = 1
    payment_password_set: bool = False
    activity: Activity = field(default_factory=Activity)
    # The credit blacklist's entries (source:case) naming the holder, as the credit feed said.
    credit_listings: tuple[str, ...] = ()

    @property
    def available_fen(self) -> int:
        """Posted balance less open holds."""
        return self.balance_fen - self.held_fen

    @property
    def dishonest_debtor(self) -> bool:
        """On the credit blacklist (失信被执行人) under at least one entry."""
        return bool(self.credit_listings)

    @property
    def is_hot(self) -> bool:
        """Credits spread over sub-accounts (DESIGN.md "Hot accounts")."""
        return self.hot_shards > 0

    @property
    def may_go_negative(self) -> bool:
        """Only an external party's clearing account is allowed below zero."""
        return self.kind is AccountKind.EXTERNAL


@dataclass(frozen=True, slots=True)
class Entry:
    """One side of a posting: negative debits, positive credits."""

    account_id: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Posting:
    """A balanced movement of money; the constructor refuses an unbalanced one."""

    posting_id: str
    kind: PostingKind
    entries: tuple[Entry, ...]
    posted_at: datetime
    memo: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The ledger's first invariant, asserted where postings are made, not only in tests.
        if len(self.entries) < 2:
            raise AssertionError(f"posting {self.posting_id} has fewer than two entries")
        if any(entry.amount_fen == 0 for entry in self.entries):
            raise AssertionError(f"posting {self.posting_id} has a zero entry")
        if sum(entry.amount_fen for entry in self.entries) != 0:
            raise AssertionError(f"posting {self.posting_id} entries do not sum to zero")

    def counterpart_of(self, account_id: str) -> str:
        """The other account of a two-entry posting; empty for a multi-leg posting."""
        others = {entry.account_id for entry in self.entries if entry.account_id != account_id}
        return others.pop() if len(others) == 1 else ""


def new_account_id(kind: AccountKind) -> str:
    """A fresh random id for a person's or a merchant's account."""
    digits = "".join(secrets.choice("0123456789") for _ in range(ACCOUNT_ID_RANDOM_DIGITS))
    prefix = (
        PERSONAL_ACCOUNT_ID_PREFIX if kind is AccountKind.PERSONAL else MERCHANT_ACCOUNT_ID_PREFIX
    )
    return prefix + digits


def require_platform_account_id(account_id: str) -> str:
    """Refuse a platform or external account id without the platform prefix."""
    if not account_id.startswith(PLATFORM_ACCOUNT_ID_PREFIX):
        raise InvalidArgument(f"platform account ids start with {PLATFORM_ACCOUNT_ID_PREFIX!r}")
    return account_id


def require_ensured_as(account: Account, kind: AccountKind) -> Account:
    """Refuse ensuring an account that already exists as another kind."""
    if account.kind is not kind:
        raise AlreadyExists(
            f"account {account.account_id} exists as a {account.kind.value} account",
            reason="ALREADY_REGISTERED",
        )
    return account


def require_shard_count(hot_shards: int) -> int:
    """The number of sub-accounts asked for a hot account, if within 0..HOT_SHARDS_MAX."""
    if not 0 <= hot_shards <= HOT_SHARDS_MAX:
        raise InvalidArgument(f"hot_shards must be between 0 and {HOT_SHARDS_MAX}")
    return hot_shards


def require_can_go_hot(account: Account, hot_shards: int) -> None:
    """Refuse making an account with open holds hot (holds live on the main document only)."""
    if hot_shards and account.held_fen:
        raise InvalidArgument("an account with open holds cannot be made hot")


def plan_draw_from_shards(
    account_id: str, available_fen_by_document: Mapping[str, int], needed_fen: int
) -> list[tuple[str, int]]:
    """How a debit of needed_fen is drawn from a hot account's documents: largest first.

    Returns (document id, fen taken) pairs that sum to needed_fen, at most one per
    document; refuses with INSUFFICIENT_FUNDS when all of them together do not cover it.
    """
    available_fen = sum(available_fen_by_document.values())
    if available_fen < needed_fen:
        raise InsufficientFunds(account_id, needed_fen, available_fen)
    draws: list[tuple[str, int]] = []
    remaining_fen = needed_fen
    for document_id, balance_fen in sorted(
        available_fen_by_document.items(), key=lambda item: -item[1]
    ):
        take_fen = min(balance_fen, remaining_fen)
        if take_fen > 0:
            draws.append((document_id, take_fen))
            remaining_fen -= take_fen
    assert remaining_fen == 0, "the documents' available funds cover the debit"
    return draws


def validate_memo(memo: str) -> str:
    """Return the trimmed memo if it fits a statement line."""
    trimmed = memo.strip()
    if len(trimmed) > MEMO_LENGTH_MAX:
        raise InvalidArgument(f"memo is longer than {MEMO_LENGTH_MAX} characters")
    return trimmed


def plan_movement(
    *,
    posting_id: str,
    kind: PostingKind,
    from_account_id: str,
    to_account_id: str,
    amount_fen: int,
    posted_at: datetime,
    memo: str = "",
) -> Posting:
    """A two-entry posting that moves amount_fen from one account to another."""
    require_positive_amount(amount_fen)
    if from_account_id == to_account_id:
        raise InvalidArgument("cannot move money from an account to itself", reason="SAME_ACCOUNT")
    return Posting(
        posting_id=posting_id,
        kind=kind,
        entries=(Entry(from_account_id, -amount_fen), Entry(to_account_id, amount_fen)),
        posted_at=posted_at,
        memo=validate_memo(memo),
    )


def require_active(account: Account) -> None:
    """Refuse any movement on a frozen or closed account."""
    if account.status is not AccountStatus.ACTIVE:
        raise FailedPrecondition(
            f"account {account.account_id} is {account.status.value}",
            reason="ACCOUNT_NOT_ACTIVE",
            metadata={"account_id": account.account_id, "status": account.status.value},
        )


def require_can_debit(account: Account, amount_fen: int) -> None:
    """Refuse a debit that would take a non-negative account below zero available."""
    require_active(account)
    if not account.may_go_negative and account.available_fen < amount_fen:
        raise InsufficientFunds(account.account_id, amount_fen, account.available_fen)


def require_kind(account: Account, allowed: Iterable[AccountKind], operation: str) -> None:
    """Refuse an operation the account's kind does not take part in."""
    allowed_kinds = frozenset(allowed)
    if account.kind not in allowed_kinds:
        raise FailedPrecondition(
            f"{account.kind.value} accounts cannot {operation}",
            reason="ACCOUNT_KIND_NOT_ALLOWED",
        )


def ledger_breaches(
    balances_fen: Mapping[str, int], entry_sums_fen: Mapping[str, int]
) -> list[str]:
    """Every way the ledger breaks its invariants: balance != sum of entries, total != 0."""
    breaches = [
        f"account {account_id}: balance {balances_fen.get(account_id, 0)} fen, "
        f"entries sum to {entry_sums_fen.get(account_id, 0)} fen"
        for account_id in sorted(set(balances_fen) | set(entry_sums_fen))
        if balances_fen.get(account_id, 0) != entry_sums_fen.get(account_id, 0)
    ]
    total_fen = sum(balances_fen.values())
    if total_fen != 0:
        breaches.append(f"all balances sum to {total_fen} fen, not zero")
    return breaches
