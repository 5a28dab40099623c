"""PlatformTransfer under group commit: the platform's own payouts share batches.

Every loan, insurance and wealth saga in the gateway moves the platform's money with
PlatformTransfer. With group commit on (rpc_batching.py) it is a job of the batch
(batch_jobs.PlatformTransferJob: the same checks, in the same order, as AccountsRpc's
one-transaction path, which serves it with group commit off); its idempotency record is
the one that path keeps ("platform-transfer:<key>"), so a replay finds either's answer.
"""

from __future__ import annotations

from typing import cast

from chassis.grpc_server import Context
from chassis.idempotency import fingerprint_request, require_idempotency_key
from chassis.wire import amount_from_proto
from colony.payment.v1 import payment_pb2 as pb
from services.payment.batch_jobs import PlatformTransferJob
from services.payment.ledger import Posting
from services.payment.rpc_accounts import AccountsRpc
from services.payment.rpc_base import require_account_id
from services.payment.wire import posting_to_proto


class PlatformTransferRpc(AccountsRpc):
    """AccountsRpc, with PlatformTransfer batched when group commit is on."""

    async def PlatformTransfer(
        self, request: pb.PlatformTransferRequest, context: Context
    ) -> pb.PlatformTransferResponse:
        if self._batcher is None:
            return await super().PlatformTransfer(request, context)
        key = require_idempotency_key(request.idempotency_key)
        amount_fen = amount_from_proto(request.amount)
        job = PlatformTransferJob(
            record_id=f"platform-transfer:{key}",
            fingerprint=fingerprint_request(request),
            idempotency_key=key,
            from_account_id=require_account_id(request.from_account_id, "from_account_id"),
            to_account_id=require_account_id(request.to_account_id, "to_account_id"),
            amount_fen=amount_fen,
            memo=request.memo,
            reference=request.reference,
        )
        return await self._batcher.submit_job(
            job, pb.PlatformTransferResponse, platform_transfer_response
        )


def platform_transfer_response(result: object) -> pb.PlatformTransferResponse:
    return pb.PlatformTransferResponse(posting=posting_to_proto(cast(Posting, result)))
