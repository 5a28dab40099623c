"""Batched jobs beyond payer-to-payee movements (group commit): what they share, and the
platform's own transfers.

A job (batch_model.BatchJob) decides inside a batch (batch.py) as its one-transaction RPC
would, in the same order of checks, against the batch's documents as the jobs and
movements before it left them; it changes them only once nothing more can refuse it.
post() applies a posting of any number of legs as the store's apply_posting does: entries
in order, each debit under the balance guard (a hot account's drawn from its
sub-accounts, an external one's allowed below zero), each credit to an active account (a
hot one's to the sub-account the batch leased).

Pure: no I/O; ids come from uuid, moments from the batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from services.payment.batch import Batch
from services.payment.batch_model import BatchJob, Done, Event, JobReads
from services.payment.holds import Hold
from services.payment.ledger import (
    Account,
    AccountKind,
    Posting,
    PostingKind,
    plan_movement,
    require_active,
    require_kind,
)

POSTING_RECORDED = "payment.posting.recorded"


def posting_event(posting: Posting) -> Event:
    return (POSTING_RECORDED, posting.posting_id, posting, posting.posted_at)


def post(batch: Batch, posting: Posting, reference: str = "") -> dict[str, Account]:
    """Apply the posting to the batch (refusing before any change); the parties after it."""
    moves: list[tuple[str, str, int]] = []
    parties: list[Account] = []
    for entry in posting.entries:
        account = batch.account(entry.account_id)
        parties.append(account)
        if entry.amount_fen > 0:
            moves += batch.plan_credit(account, entry.amount_fen)
        elif account.is_hot and account.may_go_negative:
            require_active(account)  # an external party's: its sub-account goes below zero
            shard = batch.view.credit_shard[account.account_id]
            moves.append((account.account_id, shard, entry.amount_fen))
        else:
            moves += batch.plan_debit(account, -entry.amount_fen)
    after = batch.apply(posting, reference, moves, *parties)
    batch.decision.postings.append((posting, reference))
    return after


def current_hold(batch: Batch, hold_id: str) -> Hold | None:
    """The hold as the batch has it now (made or changed by an earlier job, or as read)."""
    changed = batch.decision.holds.get(hold_id)
    return changed[1] if changed is not None else batch.view.holds.get(hold_id)


def save_hold(batch: Batch, after: Hold) -> None:
    """Keep the hold's new state (written with the batch: inserted, or replaced as read)."""
    first = batch.decision.holds.get(after.hold_id, (batch.view.holds.get(after.hold_id), after))
    batch.decision.holds[after.hold_id] = (first[0], after)


def change_held(batch: Batch, account_id: str, fen: int) -> None:
    """Reserve (fen > 0) or release (fen < 0) held money on an account's own document."""
    document = batch.decision.documents[account_id]
    batch.decision.read_sequences.setdefault(account_id, document.sequence)
    batch.decision.read_balances.setdefault(account_id, document.balance_fen)
    batch.decision.read_helds.setdefault(account_id, document.held_fen)
    document.held_fen += fen


def account_now(batch: Batch, account_id: str) -> Account:
    """The account as a read in the batch's transaction would return it now."""
    account = batch.with_balance(batch.account(account_id))
    return replace(account, held_fen=batch.decision.documents[account_id].held_fen)


@dataclass(slots=True)
class PlatformTransferJob(BatchJob):
    """PlatformTransfer: the platform's (or an external party's) own money, paid out."""

    record_id: str
    fingerprint: str
    idempotency_key: str
    from_account_id: str
    to_account_id: str
    amount_fen: int
    memo: str
    reference: str

    def reads(self) -> JobReads:
        return JobReads(account_ids=(self.from_account_id, self.to_account_id))

    def decide(self, batch: Batch, index: int) -> Done:
        payer = batch.account(self.from_account_id)
        # Only the platform's own money moves this way; a person's needs their consent.
        require_kind(payer, (AccountKind.PLATFORM, AccountKind.EXTERNAL), "pay out")
        batch.account(self.to_account_id)
        posting = plan_movement(
            posting_id=uuid.uuid4().hex,
            kind=PostingKind.PLATFORM_TRANSFER,
            from_account_id=self.from_account_id,
            to_account_id=self.to_account_id,
            amount_fen=self.amount_fen,
            posted_at=batch.now,
            memo=self.memo,
        )
        post(batch, posting, self.reference)
        batch.recorded[self.record_id] = (self.fingerprint, index)
        return Done(posting, (posting_event(posting),))
