"""Payout RPCs (money the wealth accounts owe) and the audit of the omnibus accounts
(audit.py holds its rules, store/audit.py its reads)."""

from __future__ import annotations

import logging

from chassis.clock import parse_business_date
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.paging import decode_page_token, encode_page_token
from chassis.wire import next_page, page_size_of
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.payouts import mark_paid
from services.wealth.rpc_base import WealthRpcBase, require_id
from services.wealth.store.audit import read_wealth_audit
from services.wealth.wire import payout_to_proto, wealth_audit_to_proto

log = logging.getLogger(__name__)


class PayoutsRpc(WealthRpcBase):
    """Payouts, paid by the gateway in the payment ledger, and the wealth audit."""

    async def ListDuePayouts(
        self, request: pb.ListDuePayoutsRequest, context: Context
    ) -> pb.ListDuePayoutsResponse:
        business_date = parse_business_date(request.business_date)
        query = f"due-payouts:{business_date.isoformat()}"
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, query, 2)
        payouts = await self._store.list_due_payouts(business_date, page_size, after)
        return pb.ListDuePayoutsResponse(
            payouts=[payout_to_proto(payout) for payout in payouts],
            page=next_page(
                len(payouts),
                page_size,
                lambda: encode_page_token(
                    query, payouts[-1].due_on.isoformat(), payouts[-1].payout_id
                ),
            ),
        )

    async def MarkPayoutPaid(
        self, request: pb.MarkPayoutPaidRequest, context: Context
    ) -> pb.MarkPayoutPaidResponse:
        payout_id = require_id(request.payout_id, "payout_id")
        posting_id = require_id(request.payment_posting_id, "payment_posting_id")

        async def mark(session: Session) -> pb.MarkPayoutPaidResponse:
            payout = await self._store.get_payout(payout_id, session)
            paid = mark_paid(payout, posting_id, self._clock.now())
            if paid is payout:
                return pb.MarkPayoutPaidResponse(payout=payout_to_proto(payout))
            await self._store.save_payout(session, payout, paid)
            message = payout_to_proto(paid)
            await self._events.append(session, "wealth.payout.paid", payout_id, message)
            return pb.MarkPayoutPaidResponse(payout=message)

        return await self._idempotent("mark-payout-paid", request, pb.MarkPayoutPaidResponse, mark)

    async def GetPayout(
        self, request: pb.GetPayoutRequest, context: Context
    ) -> pb.GetPayoutResponse:
        payout = await self._store.get_payout(require_id(request.payout_id, "payout_id"))
        return pb.GetPayoutResponse(payout=payout_to_proto(payout))

    async def GetWealthAudit(
        self, request: pb.GetWealthAuditRequest, context: Context
    ) -> pb.GetWealthAuditResponse:
        return wealth_audit_to_proto(await read_wealth_audit(self._store))
