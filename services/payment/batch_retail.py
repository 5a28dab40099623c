"""Payment codes charged in a batch (group commit): ChargePaymentCode as a job.

In rpc_retail.py's order: the code (known, unused, unexpired, as the batch has it: a code
charged earlier in the batch is used), the merchant charging it, the payer who showed it,
risk control of the payment (from the payer's latest device), the posting under the
balance guard; the code is marked used and the payer's activity kept only once nothing
more can refuse it. A challenge answered by the payer's payment authorization spends it
with the batch (Batch.require_authorization, Batch.proceed).

Pure: no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.payment.batch import Batch
from services.payment.batch_jobs import post, posting_event
from services.payment.batch_model import BatchJob, Done, JobReads, MovementAsk
from services.payment.identity import mask_name
from services.payment.ledger import AccountKind, require_kind
from services.payment.payment_authorization import SecondFactor
from services.payment.payment_code import (
    code_payment,
    code_payment_posting,
    mark_used,
    require_known,
    require_usable,
)


@dataclass(slots=True)
class ChargeCodeJob(BatchJob):
    """ChargePaymentCode: the merchant charges amount_fen on the code with this digest."""

    record_id: str
    fingerprint: str
    idempotency_key: str
    code_digest: str
    merchant_account_id: str
    amount_fen: int
    memo: str
    second_factor: SecondFactor

    def reads(self) -> JobReads:
        return JobReads(
            account_ids=(self.merchant_account_id,),
            code_digests=(self.code_digest,),
            authorization_digests=(self.second_factor.authorization_digest,),
        )

    def decide(self, batch: Batch, index: int) -> Done:
        now = batch.now
        code = batch.decision.payment_codes.get(self.code_digest)
        code = require_known(code or batch.view.payment_codes.get(self.code_digest))
        require_usable(code, now)
        merchant = batch.account(self.merchant_account_id)
        require_kind(merchant, (AccountKind.MERCHANT,), "charge payment codes")
        payer = batch.with_balance(batch.account(code.account_id))
        payment = code_payment(payer, merchant.account_id, self.amount_fen)
        ask = MovementAsk(
            record_id="",
            fingerprint="",
            idempotency_key="",
            from_account_id=payer.account_id,
            to_account_id=payment.payee_account_id,
            amount_fen=self.amount_fen,
            memo="",
            device_id=payment.device_id,
            second_factor=self.second_factor,
            payment_kind=payment.payment_kind,
        )
        screening = batch.screen(payer, ask, self.amount_fen)
        posting = code_payment_posting(
            code, merchant, self.amount_fen, self.memo, now, posting_id=uuid.uuid4().hex
        )
        used = mark_used(code, now)
        post(batch, posting)
        batch.proceed(payer, screening)
        batch.decision.payment_codes[self.code_digest] = used
        batch.recorded[self.record_id] = (self.fingerprint, index)
        return Done((posting, mask_name(payer.display_name)), (posting_event(posting),))
