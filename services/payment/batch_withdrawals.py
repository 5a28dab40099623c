"""Withdrawals in a batch (group commit): Withdraw's reserve as a job, and the withdrawal.

A withdrawal moves money in three steps, and the bank is never asked inside a transaction
(docs/performance.md "Withdrawals: reserve, pay out, settle"):

1. Reserve (this job, in a batch, or Withdraw's one transaction): in rpc_accounts.Withdraw's
   order, the account (a person's or a merchant's), the card bound to it in its real name
   (CARD_NOT_BOUND), risk control of the withdrawal (a refusal's decision kept) and the
   debit under the balance guard into the withdrawals-in-transit account
   (WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID, a platform account: never negative), with a pending
   withdrawal record (Withdrawal) and the request's idempotency record. The payer's
   statement shows the withdrawal from here on.
2. The payout, asked of the bank outside any transaction by the withdrawal's key (the
   bank port answers a repeated key with the same answer: bank_channel.BankChannel).
3. Settle, one transaction conditional on the record being pending: paid, in-transit to
   the bank's clearing account; declined, in-transit back to the payer
   (rpc_withdrawal_payouts.py). A withdrawal left pending by a crash is driven through 2 and 3
   by the payment service's recovery job, or by a replay of its request.

Pure: no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.payment.batch import Batch
from services.payment.batch_jobs import posting_event
from services.payment.batch_model import PEOPLE_AND_MERCHANTS, BatchJob, Done, JobReads, MovementAsk
from services.payment.cards import card_not_bound
from services.payment.ledger import Posting, PostingKind, plan_movement, require_kind
from services.payment.payment_authorization import SecondFactor
from services.payment.risk import PaymentKind

# Withdrawals reserved and not settled yet: a platform account, never negative; at rest it
# holds exactly the pending withdrawals' sum (the audit checks it). Hot: every reserve
# credits it.
WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID = "platform:withdrawals_in_transit"
WITHDRAWALS_IN_TRANSIT_HOT_SHARDS = 16


class WithdrawalState(StrEnum):
    PENDING = "pending"  # reserved: the payer debited into in-transit; the bank not settled
    PAID = "paid"  # the bank paid out: in-transit moved to the bank's clearing account
    DECLINED = "declined"  # the bank declined: in-transit moved back to the payer


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """One withdrawal's record, by its idempotency key (the bank's request id)."""

    key: str
    account_id: str
    card_number: str
    amount_fen: int
    state: WithdrawalState
    created_at: datetime
    posting_id: str = ""  # the reserve's posting
    settled_at: datetime | None = None
    bank_reference: str = ""  # paid: the bank's reference
    declined_reason: str = ""  # declined: the bank's reason code and message
    declined_message: str = ""


def withdrawal_memo(card_number: str) -> str:
    return f"withdrawal to card ending {card_number[-4:]}"


def pending_withdrawal(
    key: str, account_id: str, card_number: str, amount_fen: int, posting: Posting
) -> Withdrawal:
    """The record a reserve writes with its posting (payer -> in-transit)."""
    return Withdrawal(
        key=key,
        account_id=account_id,
        card_number=card_number,
        amount_fen=amount_fen,
        state=WithdrawalState.PENDING,
        created_at=posting.posted_at,
        posting_id=posting.posting_id,
    )


@dataclass(slots=True)
class WithdrawJob(BatchJob):
    """Withdraw's reserve: amount_fen from the account into withdrawals in transit."""

    record_id: str  # "withdraw:<key>", the one-transaction path's record
    fingerprint: str
    idempotency_key: str  # also the withdrawal's key and the bank's request id
    account_id: str
    amount_fen: int
    bank_card_number: str
    device_id: str
    second_factor: SecondFactor

    def reads(self) -> JobReads:
        return JobReads(
            account_ids=(self.account_id, WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID),
            bound_cards=((self.account_id, self.bank_card_number),),
            credited_only=(WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,),
            authorization_digests=(self.second_factor.authorization_digest,),
        )

    def decide(self, batch: Batch, index: int) -> Done:
        account = batch.with_balance(batch.account(self.account_id))
        require_kind(account, PEOPLE_AND_MERCHANTS, "withdraw")
        if (self.account_id, self.bank_card_number) not in batch.view.bound_cards:
            raise card_not_bound(self.bank_card_number)
        ask = MovementAsk(
            record_id="",
            fingerprint="",
            idempotency_key="",
            from_account_id=self.account_id,
            to_account_id=WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
            amount_fen=self.amount_fen,
            memo="",
            device_id=self.device_id,
            second_factor=self.second_factor,
            payment_kind=PaymentKind.WITHDRAWAL,
        )
        screening = batch.screen(account, ask, self.amount_fen)
        posting = plan_movement(
            posting_id=uuid.uuid4().hex,
            kind=PostingKind.WITHDRAWAL,
            from_account_id=self.account_id,
            to_account_id=WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
            amount_fen=self.amount_fen,
            posted_at=batch.now,
            memo=withdrawal_memo(self.bank_card_number),
        )
        in_transit = batch.account(WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID)
        moves = batch.plan_debit(account, self.amount_fen)
        moves += batch.plan_credit(in_transit, self.amount_fen)
        after = batch.apply(posting, "", moves, account, in_transit)
        batch.proceed(account, screening)
        batch.decision.postings.append((posting, ""))
        batch.recorded[self.record_id] = (self.fingerprint, index)
        return Done((posting, after[self.account_id]), (posting_event(posting),))

    def pending(self, posting: Posting) -> Withdrawal:
        """The withdrawal record its reserve writes."""
        return pending_withdrawal(
            self.idempotency_key, self.account_id, self.bank_card_number, self.amount_fen, posting
        )
