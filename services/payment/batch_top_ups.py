"""Top-ups in a batch (group commit): TopUp's reserve as a job, and the top-up record.

A top-up moves money in three steps, and the bank is never asked inside a transaction
(docs/performance.md "Top-ups: reserve, charge, settle"):

1. Reserve (this job, in a batch, or TopUp's one transaction): in rpc_accounts.TopUp's
   order, the account (a person's or a merchant's), the most one top-up may bring and the
   day's top-ups (risk_top_up.py; the day's figure counts this one from here on), the
   card number's form and the account being active (the credit would refuse a frozen one);
   then a pending top-up record (TopUp) with the request's idempotency
   record. No money moves yet: it comes from outside, so there is nothing to hold.
2. The card charge, asked of the bank outside any transaction by the top-up's key (the bank
   port answers a repeated key with the same answer: bank_channel.BankChannel).
3. Settle, one transaction conditional on the record being pending: charged, the bank's
   clearing account credits the account (state credited, the answer kept on the record);
   declined, state declined and the day's figure given back (rpc_top_up_charges.py). A
   top-up left pending by a crash is driven through 2 and 3 by the payment service's
   recovery job, or by a replay of its request.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.payment.bank_channel import validate_card_number
from services.payment.batch import Batch
from services.payment.batch_model import PEOPLE_AND_MERCHANTS, BatchJob, Done, JobReads
from services.payment.ledger import require_active, require_kind
from services.payment.risk_top_up import (
    require_top_up_within_day_limit,
    require_top_up_within_limit,
    top_up_day_after,
    topped_up_today,
)


class TopUpState(StrEnum):
    PENDING = "pending"  # reserved: counted in the day's figure; the bank not settled
    CREDITED = "credited"  # the bank charged the card: the account credited from clearing
    DECLINED = "declined"  # the bank declined: nothing credited, the day's figure given back


@dataclass(frozen=True, slots=True)
class TopUp:
    """One top-up's record, by its idempotency key (the bank's request id)."""

    key: str
    account_id: str
    card_number: str
    amount_fen: int
    state: TopUpState
    created_at: datetime
    settled_at: datetime | None = None
    posting_id: str = ""  # credited: the credit's posting
    bank_reference: str = ""  # credited: the bank's reference
    response: bytes = b""  # credited: TopUp's answer (pb.TopUpResponse), replayed as is
    declined_reason: str = ""  # declined: the bank's reason code and message
    declined_message: str = ""


def top_up_memo(card_last4: str) -> str:
    return f"top-up from card ending {card_last4}"


def pending_top_up(
    key: str, account_id: str, card_number: str, amount_fen: int, now: datetime
) -> TopUp:
    """The record a reserve writes."""
    return TopUp(
        key=key,
        account_id=account_id,
        card_number=card_number,
        amount_fen=amount_fen,
        state=TopUpState.PENDING,
        created_at=now,
    )


@dataclass(slots=True)
class TopUpJob(BatchJob):
    """TopUp's reserve: the checks, the day's figure, the pending record (no money moves)."""

    record_id: str  # "top-up:<key>", the one-transaction path's record
    fingerprint: str
    idempotency_key: str  # also the top-up's key and the bank's request id
    account_id: str
    amount_fen: int
    bank_card_number: str

    def reads(self) -> JobReads:
        return JobReads(account_ids=(self.account_id,))

    def decide(self, batch: Batch, index: int) -> Done:
        account = batch.with_balance(batch.account(self.account_id))  # as TopUp reads it
        require_kind(account, PEOPLE_AND_MERCHANTS, "top up")
        require_top_up_within_limit(account.kyc_level, self.amount_fen)
        day = batch.decision.top_up_days.get(self.account_id) or batch.view.top_up_days.get(
            self.account_id
        )
        require_top_up_within_day_limit(
            account.kyc_level, topped_up_today(day, batch.now), self.amount_fen
        )
        validate_card_number(self.bank_card_number)  # as the bank's charge checked it
        require_active(account)  # as the credit would: never charge a card for a frozen one
        batch.decision.top_up_days[self.account_id] = top_up_day_after(
            day, batch.now, self.amount_fen
        )
        batch.recorded[self.record_id] = (self.fingerprint, index)
        return Done(
            pending_top_up(
                self.idempotency_key,
                self.account_id,
                self.bank_card_number,
                self.amount_fen,
                batch.now,
            )
        )
