"""A reserved withdrawal's payout and settlement: steps 2 and 3 (batch_withdrawals.py).

WithdrawalPayouts.complete(key) asks the bank for the payout outside any transaction, by
the withdrawal's key (the bank answers a repeated key with the same answer), then settles
in one transaction conditional on the record being pending: paid, in-transit -> the bank's
clearing account; declined, in-transit -> back to the payer. Both steps are idempotent, so
a withdrawal may be driven again after any crash: by a replay of its request, or by the
recovery job (complete_pending), which drives withdrawals left pending longer than
PENDING_GRACE. One driver at a time per withdrawal in a process (a keyed lock), and the
bank's answer kept until its settle commits, keep a process from asking the bank twice for
one withdrawal; across processes a second ask is the same payout at the bank and a second
settle finds the record settled.

Nothing is paid out without a debit (the payer was debited before the bank is asked) and
no debit stays without a payout or a refund (the recovery job settles every pending one).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from chassis.clock import Clock
from chassis.keyed_lock import KeyedLock
from chassis.mongo import MongoClient, Session, run_in_transaction
from chassis.outbox import EventLog
from services.payment.bank_channel import BankChannel, BankDeclined
from services.payment.batch_withdrawals import (
    WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
    Withdrawal,
    WithdrawalState,
)
from services.payment.ledger import PostingKind, plan_movement
from services.payment.store import PaymentStore
from services.payment.wire import posting_to_proto

log = logging.getLogger(__name__)

# A pending withdrawal younger than this is left to the request that reserved it.
PENDING_GRACE = timedelta(seconds=5)
# How often the recovery job looks, and how many it drives a round.
RECOVERY_INTERVAL_SECONDS = 2.0
RECOVERY_BATCH_MAX = 100


class WithdrawalPayouts:
    """Drives reserved withdrawals to paid or declined (see module docstring)."""

    def __init__(
        self, client: MongoClient, store: PaymentStore, bank: BankChannel, clock: Clock
    ) -> None:
        self._client = client
        self._store = store
        self._bank = bank
        self._clock = clock
        self._events = EventLog(store.outbox, clock)
        self._driving = KeyedLock()
        # The bank's answers not settled yet (the settle failed: a conflict, say): the next
        # driver in this process settles on it without asking the bank again.
        self._answers: dict[str, str | BankDeclined] = {}

    async def complete(self, key: str) -> Withdrawal | None:
        """The withdrawal, settled (paid or declined); None if there is no such record (a
        withdrawal paid inside its transaction before reserve-first)."""
        async with self._driving.hold((key,)):
            withdrawal = await self._store.get_withdrawal(key)
            if withdrawal is None or withdrawal.state is not WithdrawalState.PENDING:
                return withdrawal
            answer = self._answers.get(key)
            if answer is None:
                answer = self._answers[key] = await self._pay_out(withdrawal)
            await self._settle(withdrawal, answer)
            del self._answers[key]
            settled = await self._store.get_withdrawal(key)
            assert settled is not None and settled.state is not WithdrawalState.PENDING
            return settled

    async def answer(self, key: str) -> None:
        """Complete the withdrawal; raise the bank's refusal if it declined the payout."""
        withdrawal = await self.complete(key)
        if withdrawal is not None and withdrawal.state is WithdrawalState.DECLINED:
            raise BankDeclined(withdrawal.declined_message, reason=withdrawal.declined_reason)

    async def complete_pending(self) -> int:
        """The recovery job: drive every withdrawal pending longer than PENDING_GRACE."""
        due = await self._store.pending_withdrawals(
            self._clock.now() - PENDING_GRACE, RECOVERY_BATCH_MAX
        )
        completed = 0
        for withdrawal in due:
            try:
                await self.complete(withdrawal.key)
            except Exception:  # the bank unreachable, say: the next round tries again
                log.exception("a pending withdrawal could not be completed, retried later")
                continue
            completed += 1
        return completed

    async def _pay_out(self, withdrawal: Withdrawal) -> str | BankDeclined:
        """Ask the bank, outside any transaction: its reference if paid, else its refusal.
        Anything else (the bank unreachable) propagates and leaves the withdrawal pending."""
        try:
            receipt = await self._bank.pay_out(
                withdrawal.key, withdrawal.card_number, withdrawal.amount_fen
            )
        except BankDeclined as refused:
            return refused
        return receipt.bank_reference

    async def _settle(self, withdrawal: Withdrawal, answer: str | BankDeclined) -> None:
        """One transaction: mark the record settled (only if pending) and move in-transit."""
        last4 = withdrawal.card_number[-4:]
        declined = answer if isinstance(answer, BankDeclined) else None
        reference = answer if isinstance(answer, str) else ""
        if declined is None:
            state, to_id = WithdrawalState.PAID, self._bank.clearing_account_id
            memo = f"withdrawal to card ending {last4} paid out"
        else:
            state, to_id = WithdrawalState.DECLINED, withdrawal.account_id
            memo = f"withdrawal to card ending {last4} declined by the bank: returned"

        async def settle(session: Session) -> None:
            now = self._clock.now()
            marked = await self._store.settle_withdrawal(
                session,
                withdrawal.key,
                state,
                now,
                bank_reference=reference,
                declined_reason="" if declined is None else declined.reason,
                declined_message="" if declined is None else declined.message,
            )
            if not marked:
                return  # settled already, by another driver
            in_transit = await self._store.get_account(
                WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID, session, with_balance=False
            )
            payee = await self._store.get_account(to_id, session, with_balance=False)
            posting = plan_movement(
                posting_id=uuid.uuid4().hex,
                kind=PostingKind.WITHDRAWAL,
                from_account_id=WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
                to_account_id=to_id,
                amount_fen=withdrawal.amount_fen,
                posted_at=now,
                memo=memo,
            )
            await self._store.apply_posting(
                session,
                posting,
                f"withdrawal:{withdrawal.key}",
                known={in_transit.account_id: in_transit, payee.account_id: payee},
            )
            await self._events.append(
                session,
                "payment.posting.recorded",
                posting.posting_id,
                posting_to_proto(posting),
                occurred_at=now,
            )

        with self._store.shard_leases():
            await run_in_transaction(self._client, settle)
