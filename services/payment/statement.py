"""An account's statement (对账单): its lines, newest first, and how counterparts are named."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.payment.identity import mask_name
from services.payment.ledger import Account, AccountKind, PostingKind


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One line of an account's statement.

    ``sequence`` is the line's statement key (the account's entry sequence, or a
    posting-time key once the account has been hot); lines are listed by it, newest first.
    ``balance_after_fen`` is None on a line whose running balance is not known (hot).
    """

    entry_id: str
    posting_id: str
    kind: PostingKind
    amount_fen: int
    balance_after_fen: int | None
    counterpart_account_id: str
    counterpart_name: str
    memo: str
    posted_at: datetime
    sequence: int
    reference: str = ""


def public_name(account: Account) -> str:
    """How an account is named on someone else's statement: people masked, businesses not."""
    if account.kind is AccountKind.PERSONAL:
        return mask_name(account.display_name)
    return account.display_name


def has_lines_before(entry: StatementEntry) -> bool:
    """Whether a statement may go on below this line (an account's first line ends it)."""
    return entry.sequence > 1
