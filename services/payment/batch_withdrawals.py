"""Withdrawals in a batch (group commit): Withdraw as a job.

In rpc_accounts.Withdraw's order: the account (a person's or a merchant's), the card bound
to it in its real name (CARD_NOT_BOUND), risk control of the withdrawal (a refusal's
decision kept), the debit under the balance guard and the credit of the bank's clearing
account, and only then the bank's answer to the payout: a declined payout fails the
withdrawal alone and changes nothing, as it aborts the one-transaction path's debit.

The payout itself is asked for by the batcher (rpc_batching.py), once the batch decided
the withdrawal and inside the batch's transaction, with the request's idempotency key as
the bank's request id (a repeated key is the same payout at the bank, as for the
one-transaction path); its answer is kept for the rest of the request's life, so a batch
that reruns or splits decides on that answer and never asks the bank again. The answers
reach decide through Batch.bank (record id -> the memo, or the bank's refusal); a
withdrawal with no answer yet is decided as paid out, and a declined one makes the batcher
decide the batch again without it.

Pure: no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from chassis.errors import DomainError
from services.payment.batch import Batch
from services.payment.batch_jobs import posting_event
from services.payment.batch_model import PEOPLE_AND_MERCHANTS, BatchJob, Done, JobReads, MovementAsk
from services.payment.cards import card_not_bound
from services.payment.ledger import PostingKind, plan_movement, require_kind
from services.payment.payment_authorization import SecondFactor
from services.payment.risk import PaymentKind


def withdrawal_memo(card_number: str) -> str:
    return f"withdrawal to card ending {card_number[-4:]}"


@dataclass(slots=True)
class WithdrawJob(BatchJob):
    """Withdraw: amount_fen from the account to its bound card, through the bank's clearing."""

    record_id: str  # "withdraw:<key>", the one-transaction path's record
    fingerprint: str
    idempotency_key: str  # also the bank's request id for the payout
    account_id: str
    clearing_account_id: str
    amount_fen: int
    bank_card_number: str
    device_id: str
    second_factor: SecondFactor

    def reads(self) -> JobReads:
        return JobReads(
            account_ids=(self.account_id, self.clearing_account_id),
            bound_cards=((self.account_id, self.bank_card_number),),
            credited_only=(self.clearing_account_id,),
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
            to_account_id=self.clearing_account_id,
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
            to_account_id=self.clearing_account_id,
            amount_fen=self.amount_fen,
            posted_at=batch.now,
            memo=withdrawal_memo(self.bank_card_number),
        )
        clearing = batch.account(self.clearing_account_id)
        moves = batch.plan_debit(account, self.amount_fen)
        moves += batch.plan_credit(clearing, self.amount_fen)
        paid = batch.bank.get(self.record_id)
        if isinstance(paid, DomainError):
            raise paid  # the bank declined the payout: nothing moves
        after = batch.apply(posting, "", moves, account, clearing)
        batch.proceed(account, screening)
        batch.decision.postings.append((posting, ""))
        batch.recorded[self.record_id] = (self.fingerprint, index)
        return Done((posting, after[self.account_id]), (posting_event(posting),))
