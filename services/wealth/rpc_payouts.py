"""Payout RPCs (money the wealth accounts owe) and the audit of the omnibus accounts."""

from __future__ import annotations

import logging

from chassis.clock import parse_business_date
from chassis.grpc_server import Context
from chassis.mongo import Session
from chassis.wire import money_to_proto
from colony.wealth.v1 import wealth_pb2 as pb
from services.wealth.payouts import (
    FIXED_TERM_OMNIBUS_ACCOUNT_ID,
    FUNDS_OMNIBUS_ACCOUNT_ID,
    YUEBAO_OMNIBUS_ACCOUNT_ID,
    PayoutKind,
    PayoutState,
    mark_paid,
)
from services.wealth.purchases import PurchaseKind, PurchaseState
from services.wealth.rpc_base import (
    WealthRpcBase,
    next_page,
    page_size_of,
    require_id,
)
from services.wealth.store import WealthStore, decode_page_token, encode_page_token
from services.wealth.wire import payout_to_proto

log = logging.getLogger(__name__)


def omnibus_figures(
    account_id: str,
    *,
    liabilities_fen: int,
    payouts_owed_fen: int,
    receivable_fen: int,
    pending_purchases_fen: int,
) -> pb.OmnibusFigures:
    """What the account's payment balance must be at rest: owed to investors, less receivable."""
    return pb.OmnibusFigures(
        account_id=account_id,
        liabilities=money_to_proto(liabilities_fen),
        payouts_owed=money_to_proto(payouts_owed_fen),
        receivable=money_to_proto(receivable_fen),
        expected_balance=money_to_proto(liabilities_fen + payouts_owed_fen - receivable_fen),
        pending_purchases=money_to_proto(pending_purchases_fen),
    )


async def audit_wealth(store: WealthStore) -> pb.GetWealthAuditResponse:
    """Each omnibus account's expected balance at rest, and every internal breach found."""
    breaches: list[str] = []
    # Yu'e Bao: the omnibus holds a fen for every share, plus the redemptions not yet
    # paid out, less the income credited as shares whose cash is still to come in.
    shares_fen = await store.shares_outstanding_fen()
    issued_fen = await store.purchases_fen(
        PurchaseKind.YUEBAO_SUBSCRIPTION, PurchaseState.CONFIRMED
    )
    income_fen = await store.income_credited_fen()
    redeemed_fen = await store.redeemed_fen()
    if shares_fen != issued_fen + income_fen - redeemed_fen:
        breaches.append(
            f"Yu'e Bao shares outstanding {shares_fen} fen != confirmed issues {issued_fen} "
            f"+ income {income_fen} - redemptions {redeemed_fen}"
        )
    yuebao = omnibus_figures(
        YUEBAO_OMNIBUS_ACCOUNT_ID,
        liabilities_fen=shares_fen,
        payouts_owed_fen=await store.payouts_due_fen(from_account_id=YUEBAO_OMNIBUS_ACCOUNT_ID),
        receivable_fen=await store.payouts_due_fen(to_account_id=YUEBAO_OMNIBUS_ACCOUNT_ID)
        + await store.running_income_credited_fen(),
        pending_purchases_fen=await store.pending_purchases_fen([PurchaseKind.YUEBAO_SUBSCRIPTION]),
    )
    # Zhaocaibao: principal of every unmatured holding, plus payouts not yet paid.
    fixed_term = omnibus_figures(
        FIXED_TERM_OMNIBUS_ACCOUNT_ID,
        liabilities_fen=await store.principal_outstanding_fen(),
        payouts_owed_fen=await store.payouts_due_fen(from_account_id=FIXED_TERM_OMNIBUS_ACCOUNT_ID),
        receivable_fen=0,
        pending_purchases_fen=await store.pending_purchases_fen(
            [PurchaseKind.PRODUCT_SUBSCRIPTION, PurchaseKind.TRANSFER]
        ),
    )
    breaches.extend(await store.product_sales_breaches())
    # Funds: the cash of confirmed buys, less the sale proceeds owed or paid.
    sales_fen = await store.payouts_fen(PayoutKind.FUND_SALE, [PayoutState.DUE, PayoutState.PAID])
    funds = omnibus_figures(
        FUNDS_OMNIBUS_ACCOUNT_ID,
        liabilities_fen=await store.purchases_fen(PurchaseKind.FUND_BUY, PurchaseState.CONFIRMED)
        - sales_fen,
        payouts_owed_fen=await store.payouts_due_fen(from_account_id=FUNDS_OMNIBUS_ACCOUNT_ID),
        receivable_fen=0,
        pending_purchases_fen=await store.pending_purchases_fen([PurchaseKind.FUND_BUY]),
    )
    return pb.GetWealthAuditResponse(omnibus=[yuebao, fixed_term, funds], breaches=breaches)


class PayoutsRpc(WealthRpcBase):
    """Payouts, paid by the gateway in the payment ledger, and the wealth audit."""

    async def ListDuePayouts(
        self, request: pb.ListDuePayoutsRequest, context: Context
    ) -> pb.ListDuePayoutsResponse:
        business_date = parse_business_date(request.business_date)
        page_size = page_size_of(request.page)
        after = decode_page_token(request.page.page_token, 2)
        payouts = await self._store.list_due_payouts(business_date, page_size, after)
        return pb.ListDuePayoutsResponse(
            payouts=[payout_to_proto(payout) for payout in payouts],
            page=next_page(
                len(payouts),
                page_size,
                lambda: encode_page_token(payouts[-1].due_on.isoformat(), payouts[-1].payout_id),
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
        return await audit_wealth(self._store)
