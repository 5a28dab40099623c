"""A reserved withdrawal's payout and settlement: steps 2 and 3 (batch_withdrawals.py).

WithdrawalPayouts.complete(key) asks the bank for the payout outside any transaction, by
the withdrawal's key (the bank answers a repeated key with the same answer), then settles
in one transaction conditional on the record being pending: paid, in-transit -> the bank's
clearing account; declined, in-transit -> back to the payer. How a request is driven, kept
from being asked twice and recovered after a crash (complete_pending, the
withdrawal-recovery job) is shared with top-ups' card charges: rpc_bank_requests.py.

Nothing is paid out without a debit (the payer was debited before the bank is asked) and
no debit stays without a payout or a refund (the recovery job settles every pending one).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from chassis.mongo import Session, run_in_transaction
from services.payment.bank_channel import BankDeclined, BankReceipt
from services.payment.batch_withdrawals import (
    WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
    Withdrawal,
    WithdrawalState,
)
from services.payment.ledger import PostingKind, plan_movement
from services.payment.rpc_bank_requests import BankAnswer, BankRequests
from services.payment.wire import posting_to_proto


class WithdrawalPayouts(BankRequests[Withdrawal]):
    """Drives reserved withdrawals to paid or declined (see module docstring)."""

    what = "withdrawal"

    async def answer(self, key: str) -> None:
        """Complete the withdrawal; raise the bank's refusal if it declined the payout."""
        withdrawal = await self.complete(key)
        if withdrawal is not None and withdrawal.state is WithdrawalState.DECLINED:
            raise BankDeclined(withdrawal.declined_message, reason=withdrawal.declined_reason)

    async def _load(self, key: str) -> Withdrawal | None:
        return await self._store.get_withdrawal(key)

    def _is_pending(self, record: Withdrawal) -> bool:
        return record.state is WithdrawalState.PENDING

    async def _due(self, created_before: datetime, limit: int) -> list[tuple[str, Withdrawal]]:
        return [(w.key, w) for w in await self._store.pending_withdrawals(created_before, limit)]

    async def _ask_bank(self, record: Withdrawal) -> BankReceipt:
        return await self._bank.pay_out(record.key, record.card_number, record.amount_fen)

    async def _settle(self, withdrawal: Withdrawal, answer: BankAnswer) -> None:
        """One transaction: mark the record settled (only if pending) and move in-transit."""
        last4 = withdrawal.card_number[-4:]
        declined = answer if isinstance(answer, BankDeclined) else None
        reference = answer.bank_reference if isinstance(answer, BankReceipt) else ""
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
