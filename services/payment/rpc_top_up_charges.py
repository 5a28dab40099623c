"""A reserved top-up's card charge and settlement: steps 2 and 3 (batch_top_ups.py).

TopUpCharges.complete(key) asks the bank to charge the card outside any transaction, by the
top-up's key (the bank answers a repeated key with the same answer), then settles in one
transaction conditional on the record being pending: charged, the bank's clearing account
credits the account (the posting TopUp always made; a top-up raises no KYC level) and the
answer is kept on the record; declined, the record is declined and the day's top-up figure
given back. Driving, the per-process memory of the bank's answer and the recovery job
(complete_pending, the top-up-recovery job) are shared with withdrawals:
rpc_bank_requests.py.

No card is charged and left uncredited at rest: the record is written before the bank is
asked, and the recovery job settles every pending one by asking the bank again by its key.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from chassis.mongo import Session, run_in_transaction
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import BankDeclined, BankReceipt
from services.payment.batch_top_ups import TopUp, TopUpState, top_up_memo
from services.payment.ledger import PostingKind, plan_movement
from services.payment.risk_top_up import top_up_day_given_back
from services.payment.rpc_bank_requests import BankAnswer, BankRequests
from services.payment.store.top_ups import top_up_reference
from services.payment.wire import account_to_proto, posting_to_proto


class TopUpCharges(BankRequests[TopUp]):
    """Drives reserved top-ups to credited or declined (see module docstring)."""

    what = "top-up"

    async def answer(self, key: str) -> pb.TopUpResponse | None:
        """Complete the top-up: TopUp's answer if credited, the bank's refusal raised if
        declined; None if there is no record (a top-up credited before reserve-first,
        whose idempotency record holds its answer)."""
        top_up = await self.complete(key)
        if top_up is None:
            return None
        if top_up.state is TopUpState.DECLINED:
            raise BankDeclined(top_up.declined_message, reason=top_up.declined_reason)
        return pb.TopUpResponse.FromString(top_up.response)

    async def _load(self, key: str) -> TopUp | None:
        return await self._store.get_top_up(key)

    def _is_pending(self, record: TopUp) -> bool:
        return record.state is TopUpState.PENDING

    async def _due(self, created_before: datetime, limit: int) -> list[tuple[str, TopUp]]:
        return [(t.key, t) for t in await self._store.pending_top_ups(created_before, limit)]

    async def _ask_bank(self, record: TopUp) -> BankReceipt:
        return await self._bank.charge_card(record.key, record.card_number, record.amount_fen)

    async def _settle(self, top_up: TopUp, answer: BankAnswer) -> None:
        """One transaction: mark the record settled (only if pending), then credit the
        account (charged) or give the day's figure back (declined)."""

        async def credit(session: Session, receipt: BankReceipt) -> None:
            now = self._clock.now()
            posting = plan_movement(
                posting_id=uuid.uuid4().hex,
                kind=PostingKind.TOP_UP,
                from_account_id=self._bank.clearing_account_id,
                to_account_id=top_up.account_id,
                amount_fen=top_up.amount_fen,
                posted_at=now,
                memo=top_up_memo(receipt.card_last4),
            )
            marked = await self._store.credit_top_up(
                session,
                top_up.key,
                now,
                posting_id=posting.posting_id,
                bank_reference=receipt.bank_reference,
            )
            if not marked:
                return  # settled already, by another driver
            clearing = await self._store.get_account(
                self._bank.clearing_account_id, session, with_balance=False
            )
            account = await self._store.get_account(top_up.account_id, session)
            after = await self._store.apply_posting(
                session,
                posting,
                top_up_reference(top_up.key),
                known={clearing.account_id: clearing, account.account_id: account},
            )
            message = posting_to_proto(posting)
            response = pb.TopUpResponse(
                posting=message, account=account_to_proto(after[top_up.account_id])
            )
            await self._store.keep_top_up_response(
                session, top_up.key, response.SerializeToString()
            )
            await self._events.append(
                session, "payment.posting.recorded", posting.posting_id, message, occurred_at=now
            )

        async def decline(session: Session, refused: BankDeclined) -> None:
            now = self._clock.now()
            marked = await self._store.decline_top_up(
                session, top_up.key, now, reason=refused.reason, message=refused.message
            )
            if not marked:
                return  # settled already, by another driver
            day = await self._store.get_top_up_day(session, top_up.account_id)
            given_back = top_up_day_given_back(day, top_up.created_at, top_up.amount_fen)
            await self._store.record_top_up_day(session, top_up.account_id, given_back)

        async def settle(session: Session) -> None:
            if isinstance(answer, BankDeclined):
                await decline(session, answer)
            else:
                await credit(session, answer)

        with self._store.shard_leases():
            await run_in_transaction(self._client, settle)
